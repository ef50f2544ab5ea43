/* Command-line parsing for the scaleout front: subcommands, run options and job parameters. */
#ifndef SO_OPTIONS_H
#define SO_OPTIONS_H

#include <stdio.h>

#include "scaleout/scaleout.h"

typedef enum so_cmd {
  SO_CMD_RUN,
  SO_CMD_TOPO,
  SO_CMD_JOBS,
  SO_CMD_HELP,
  SO_CMD_VERSION
} so_cmd;

typedef struct so__cli {
  so_cmd cmd;
  const so_job *job;  /* run: the job */
  so_params *params;  /* run: its parameters (owned) */
  so_config cfg;
  int workers;        /* -n/--workers, or -1 when not given */
  const char *json;   /* --json FILE, or NULL */
  const char *job_lib; /* run, jobs: --job-lib FILE, or NULL */
  const char *hostfile; /* run: --hostfile FILE, or NULL */
  const char *hosts;  /* run: --hosts LIST, or NULL */
  const char *hosts_word; /* run: the argv word of whichever of the two was given (the ranks'
                             command line leaves it out), and hosts_words: 2 when its value
                             is the next word, else 1 */
  int hosts_words;
  int oversubscribe;  /* --oversubscribe: a direct run may start any number of workers */
  int help;           /* run --help or run JOB --help */
  char **list;        /* run: where ":::" stands in argv (its words follow), or NULL */
  int sub_argc;       /* topo: the arguments after the subcommand */
  char **sub_argv;
  char *job_options;  /* run: the words of the job's so_job.options (owned; values point here) */
} so__cli;

typedef const so_job *(*so__job_lookup)(const char *name);

/* Parses argv. Returns 0, or SO_EINVAL with a one-line message in err (without the
 * "scaleout: error:" prefix), or SO_ENOMEM. Never prints, never exits. Free with so__cli_free. */
int so__cli_parse(int argc, char **argv, so__job_lookup lookup, const so_job *const *jobs,
                  so__cli *cli, char *err, size_t errlen);
void so__cli_free(so__cli *cli);

/* What so__cli_plugin_args found: no run or jobs command, or which of the two. */
enum { SO_PLUGIN_ARGS_NONE = 0, SO_PLUGIN_ARGS_RUN, SO_PLUGIN_ARGS_JOBS };

/* Before parsing, for the plugin loader: the file of --job-lib (*job_lib) and, for run, the job
 * name (*job), as so__cli_parse will find them; NULL when absent. jobs helps tell an option's
 * value from the job name (flags take none). Returns SO_PLUGIN_ARGS_*. */
int so__cli_plugin_args(int argc, char **argv, const so_job *const *jobs, const char **job_lib,
                        const char **job);

void so__cli_usage(FILE *out);
void so__cli_run_usage(FILE *out, const so_job *const *jobs);
/* The help of one job: summary, where it comes from (from: its plugin file, NULL: built in), its
 * kind (map, task types, pipeline, plain tasks), default engine options and parameters. */
void so__cli_job_usage(FILE *out, const so_job *job, const char *from);
/* Where a job comes from, for the listing: its plugin file, or NULL for a built-in job. */
typedef const char *(*so__job_origin)(const so_job *job);
void so__cli_jobs(FILE *out, const so_job *const *jobs, so__job_origin origin);

#endif

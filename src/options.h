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
  int oversubscribe;  /* --oversubscribe: a direct run may start any number of workers */
  int help;           /* run --help or run JOB --help */
  char **list;        /* run: where ":::" stands in argv (its words follow), or NULL */
  int sub_argc;       /* topo: the arguments after the subcommand */
  char **sub_argv;
} so__cli;

typedef const so_job *(*so__job_lookup)(const char *name);

/* Parses argv. Returns 0, or SO_EINVAL with a one-line message in err (without the
 * "scaleout: error:" prefix), or SO_ENOMEM. Never prints, never exits. Free with so__cli_free. */
int so__cli_parse(int argc, char **argv, so__job_lookup lookup, const so_job *const *jobs,
                  so__cli *cli, char *err, size_t errlen);
void so__cli_free(so__cli *cli);

void so__cli_usage(FILE *out);
void so__cli_run_usage(FILE *out, const so_job *const *jobs);
void so__cli_job_usage(FILE *out, const so_job *job);
void so__cli_jobs(FILE *out, const so_job *const *jobs);

#endif

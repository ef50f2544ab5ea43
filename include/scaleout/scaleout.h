/*
 * The public engine API: build a job's parameters, run the job on an MPI communicator and read
 * back what happened. docs/api.md is the guide to embedding the engine in a program.
 *
 * Every function says who may call it: "any rank" (no MPI, not collective, any thread unless
 * said otherwise), "master only" (rank 0 of the run's communicator), "worker only", or
 * "collective" (every rank of the communicator, together).
 */
#ifndef SCALEOUT_H
#define SCALEOUT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scaleout/job.h"
#include "scaleout/map.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SO_VERSION "0.1.0"

typedef enum so_discipline { SO_QUEUE_FIFO = 0, SO_QUEUE_LIFO, SO_QUEUE_PRIORITY } so_discipline;

typedef enum so_bind_policy {
  SO_BIND_CORE = 0,
  SO_BIND_PU,
  SO_BIND_NUMA,
  SO_BIND_PACKAGE,
  SO_BIND_NONE
} so_bind_policy;

/* A job's parameter values, checked against its so_param_def table; built with so_params_new
 * and so_params_set (or by the command line), read by the job with so_ctx_int() and friends. */
typedef struct so_params so_params;

/* so_config.prefetch: choose the low-water mark from the measured task duration. */
#define SO_PREFETCH_AUTO UINT32_MAX

typedef struct so_config {
  so_discipline discipline;
  uint32_t batch;      /* tasks per message; 0 adapts it to the measured task duration */
  uint32_t prefetch;   /* a worker asks for more while it holds this many tasks or fewer; 0:
                          only once it has none; SO_PREFETCH_AUTO (the default): from the
                          measured task duration */
  uint32_t window;     /* most tasks the master generates ahead (lifo/priority); 0 = default */
  so_bind_policy bind;
  int quiet;           /* no warnings on stderr */
  unsigned slots;      /* tasks a worker runs at once (--threads): run() tasks, each in a
                          thread (MPI must then be initialised at MPI_THREAD_FUNNELED or
                          above), or an asynchronous job's started tasks; 0 = 1 */
  uint32_t retries;    /* reruns of a failed task, on another worker when there is one */
  int keep_tasks;      /* keep each task's payload until its result is merged (for merge()) */
  double grace;        /* seconds a signal-stopped run lets running tasks finish; <0: no
                          signal handling (the default action applies) */
  FILE *task_out;      /* where the master writes the tasks' output (so_ctx_output); NULL: */
  FILE *task_err;      /* stdout and stderr */
  /* Where this run's workers may run on each node, for several engines side by side or one
   * after another: cpuset, a list of OS PU indices ("0-3", "4,6"), or NULL for the set the
   * process was started with; then core_offset skips that many cores of it and core_count (0:
   * all the rest) limits how many are used. */
  const char *cpuset;
  int core_offset;
  int core_count;
  so_schedule schedule; /* map jobs: --schedule; kind SO_SCHED_DEFAULT (0): the job's own */
} so_config;

/* Fills a configuration with the defaults (fifo, adaptive batches and prefetch, core binding, no
 * signal handling). Any rank, no MPI. */
void so_config_default(so_config *cfg);

/* --- Parameters. Any rank, any thread, no MPI, not collective: each rank that calls so_run
 * builds its own, with the same values (so_run reads them on every rank). --- */

/* A store holding the defaults of job's parameters. Returns NULL, after one line on stderr, when
 * the job is of another API major version, one of its defaults does not parse (the job's bug),
 * or memory runs out. Free it with so_params_free; it must outlive every so_run that uses it,
 * and job must outlive it. */
so_params *so_params_new(const so_job *job);

/* Frees the store; accepts NULL. */
void so_params_free(so_params *p);

/* Sets parameter name from value as a user would type it ("1e9", "1_000", "0.25", "out.txt";
 * a flag takes "1" or "0"), checked against the job's definition: type and range. Returns 0, or
 * SO_EINVAL with one sentence naming the parameter and the problem in err[errlen] (an unknown
 * name, a bad number, out of range); the value it had is kept. */
int so_params_set(so_params *p, const char *name, const char *value, char *err, size_t errlen);

/* Sets the words the job reads with so_ctx_args (the command line's words after ":::"), copied.
 * Returns 0; SO_EINVAL (err says why) when the job's flags lack SO_JOB_TAKES_ARGS; SO_ENOMEM. */
int so_params_set_args(so_params *p, int argc, const char *const *argv, char *err,
                       size_t errlen);

/* Says whether the store is ready to run: every required parameter (default NULL) was given;
 * the others hold their defaults. Returns 0 or SO_EINVAL with the missing one named in err.
 * so_run checks nothing else about parameters before the job's own check(). */
int so_params_ready(const so_params *p, char *err, size_t errlen);

/* Where one worker ran and how much it did, as the master learnt at the end of the run. */
typedef struct so_worker_report {
  int rank;
  uint64_t tasks;
  uint64_t failed;
  double busy;          /* seconds spent inside run() */
  char host[64];
  char cpuset[128];      /* the cpuset the worker was bound to, as a list ("2" or "0-3") */
  char bound_by[16];    /* "scaleout", "launcher", "none" */
  int last_pu;          /* OS index of the PU the worker last ran on, -1 if unknown */
  int last_core;        /* logical index of that PU's core, -1 if unknown */
} so_worker_report;

/* One task type of a job with several (so_job.types): its tasks and its own batch statistics. */
typedef struct so_type_report {
  char name[32];
  uint64_t tasks, failed;
  double mean;          /* seconds one task took, as the master estimated it */
  uint32_t batch;       /* the largest batch of this type handed out */
} so_type_report;

/* One stage of a pipeline (so_job.stages), as the master saw it. */
typedef struct so_stage_report {
  char name[32];
  uint32_t capacity;      /* so_stage.capacity; 0 unbounded */
  uint32_t max_occupancy; /* most items seen between this stage and the one before (queued
                             here, running here, running in the stage before) */
  uint64_t held;          /* times a worker could have had a task of the stage before but did
                             not, because this stage was full (back-pressure) */
  double held_seconds;    /* time the stage before had work waiting while this one was full */
} so_stage_report;

typedef struct so_report {
  uint64_t tasks;       /* tasks completed */
  uint64_t failed;      /* tasks whose run() returned non-zero */
  uint64_t messages;    /* task batches sent */
  double wall;          /* seconds from the first task handed out to the last result merged */
  double master_cpu;    /* CPU seconds the master used during the run */
  int nworkers;
  int stopped;          /* 0 ran to the end; SO_HALT_SOON/NOW: the job halted it;
                           SO_STOPPED_SIGNAL: a signal stopped it (resumable) */
  int signal;           /* the signal, when stopped by one */
  int abandoned;        /* workers still inside run() when the grace ran out: the master
                           reported without them, and the communicator is no longer usable
                           (end the job, e.g. with MPI_Abort) */
  so_worker_report *workers; /* nworkers entries, owned by the report */
  struct so_answer *answer;  /* the job's named figures */
  /* Task parallelism. */
  uint64_t not_run;          /* tasks that never ran because a task they wait for failed */
  char not_run_names[256];   /* the first few of them, comma separated ("#id" when unnamed) */
  int ntypes;                /* task types of a job with so_job.types, else 0 */
  so_type_report *types;     /* ntypes entries, owned by the report */
  int nstages;               /* stages of a pipeline job, else 0 */
  so_stage_report *stages;   /* nstages entries, owned by the report */
} so_report;

/* Frees what a report owns (not the so_report itself); accepts NULL. Master only (the rank whose
 * report so_run filled); any thread, no MPI. */
void so_report_free(so_report *rep);

/* --- Reading a report. On the rank whose report so_run filled (the master), any thread, no
 * MPI. The answer is the set of named figures the job's finish() gave (so_answer_int...). --- */

/* How many figures the answer has, and the name of the i-th (0 <= i < count; else NULL), in
 * the order the job gave them. */
int so_report_answer_count(const so_report *rep);
const char *so_report_answer_name(const so_report *rep, int i);

/* Reads one figure by name into *out. Returns 0, or SO_EINVAL when the answer has no figure of
 * that name and type (*out untouched). An integer figure also reads as a double. A string stays
 * owned by the report. */
int so_report_answer_int(const so_report *rep, const char *name, int64_t *out);
int so_report_answer_double(const so_report *rep, const char *name, double *out);
int so_report_answer_string(const so_report *rep, const char *name, const char **out);

/* The exit status the job chose for its program with so_ctx_set_exit, or -1 when it chose none
 * (the program then decides from so_run's code and the report, see so_job.exit). */
int so_report_exit(const so_report *rep);

/* Writes the summary the scaleout command prints: the answer, the totals, one line per worker,
 * and a line when the answer is partial or incomplete. cfg: what the run was given (NULL: the
 * defaults). */
void so_report_print(FILE *out, const so_report *rep, const so_job *job, const so_config *cfg);

/* Writes the report as one line of JSON (the scaleout command's --json) and a newline: job,
 * parameters (params may be NULL), configuration, answer, exit_status, totals and workers.
 * Returns 0, SO_ENOMEM or SO_EIO (the write failed). */
int so_report_json(FILE *out, const so_report *rep, const so_job *job, const so_params *params,
                   const so_config *cfg);

/*
 * Runs a job on the ranks of comm: rank 0 is the master, every other rank a worker.
 * Collective over comm: every rank calls it with the same job, equal params and cfg. It may be
 * called again, on the same or another communicator. The engine duplicates comm and never talks
 * on it directly. A job table of another API major version is refused (SO_EINVAL, one line
 * naming the job and both versions); an older minor version's shorter table is read with its
 * missing fields as zero. MPI must be initialized, by the caller.
 * On the master, fills *rep (which the caller frees with so_report_free); on workers rep may be
 * NULL. Returns 0 or an SO_E* code; the error has then been printed to stderr by the rank that
 * found it. When a stop signal's grace ran out while workers were inside run(), which nothing
 * can interrupt, the master returns at once with rep->abandoned set and those workers never
 * return: the caller must end the job (MPI_Abort, or its launcher's kill).
 */
int so_run(MPI_Comm comm, const so_job *job, const so_params *params, const so_config *cfg,
           so_report *rep);

#ifdef __cplusplus
}
#endif

#endif

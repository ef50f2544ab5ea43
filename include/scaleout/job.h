/* The public job API: what a job author writes against to plug work into the scaleout engine. */
#ifndef SCALEOUT_JOB_H
#define SCALEOUT_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "scaleout/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A job is a table of callbacks. The engine calls them on three kinds of rank:
 *
 *   every rank   init, fini
 *   master only  next (produce the next task), merge (take one result), finish (report the answer)
 *   worker only  run (execute one task and write its result)
 *
 * Tasks are produced lazily: the master calls next() only when it needs more tasks to hand out,
 * so a job of 10^9 tasks never holds them all. Task ids are assigned by the engine in generation
 * order (0, 1, 2, ...); next() sees the id it is producing, so a job whose task is fully described
 * by its index needs no payload at all.
 *
 * Callbacks return 0 (or, for next, 1) on success and a negative SO_E* code or a positive job
 * specific code on failure; a job reports why with so_ctx_errorf() before returning the error.
 */

typedef struct so_ctx so_ctx;       /* per-rank view of a running job; owned by the engine */
typedef struct so_result so_result; /* a result being written on a worker; owned by the engine */

/* Types of job parameters. Numbers accept 1e9 and 1_000_000 forms; ranges are inclusive. */
typedef enum so_param_type {
  SO_PARAM_INT = 1, /* int64_t */
  SO_PARAM_DOUBLE,  /* double */
  SO_PARAM_STRING,  /* const char *, owned by the engine */
  SO_PARAM_FLAG,    /* given as --NAME alone; read with so_ctx_int as 0 or 1; default "0" */
  SO_PARAM_OUTPUT   /* a file the job writes, read with so_ctx_string: inside a batch job
                       (SLURM_JOB_ID or PBS_JOBID set) its default carries the job id before the
                       extension (mandelbrot.pgm -> mandelbrot-1234.pgm), so two jobs started in
                       one directory do not overwrite each other; a name given is kept as is */
} so_param_type;

/* One job parameter, given on the command line as --NAME VALUE or --NAME=VALUE. */
typedef struct so_param_def {
  const char *name;
  so_param_type type;
  const char *defval; /* the default, as the user would type it; NULL means required */
  const char *help;
  double min, max;    /* numeric range; min > max means unbounded */
} so_param_def;

/* A task as the worker sees it. The data pointer is valid only during run(). */
typedef struct so_task {
  uint64_t id;
  uint32_t type; /* job defined; lets one job mix different kinds of task */
  const void *data;
  size_t len;
} so_task;

/* A task being produced on the master by next(). */
typedef struct so_task_out {
  uint64_t id;      /* set by the engine before next() is called */
  uint32_t type;    /* job defined, 0 by default */
  int64_t priority; /* larger runs first under the priority discipline, 0 by default */
} so_task_out;

/* A result as the master sees it in merge(). The data pointer is valid only during merge(). */
typedef struct so_task_result {
  uint64_t id;
  int32_t status; /* what run() returned: 0 for success */
  int worker;     /* rank of the worker that ran it */
  const void *data;
  size_t len;
  uint32_t attempts;     /* runs of this task so far, retries included (1 without retries) */
  uint32_t type;         /* the task's type */
  const void *task_data; /* the task's own payload, when the engine kept it (config keep_tasks
                            or retries); NULL otherwise */
  size_t task_len;
} so_task_result;

/* What next() returns when it has no task ready yet but more may come (a stream it must not wait
 * on, such as a pipe whose writer is slow). The master goes on answering its workers and asks
 * again every few milliseconds while a worker waits for work; a task produced then is handed
 * out at once. */
#define SO_NEXT_LATER 2

/* What next() returns when it has nothing now but may have more after a result is merged (tasks
 * made from results): the master does not poll, it calls next() again after the next merge().
 * When nothing is in flight and next() says SO_NEXT_WAIT, the run ends (nothing can come). */
#define SO_NEXT_WAIT 3

/* The major and minor version of this job API. A job (and a plugin) carries the major version
 * it was compiled for; the engine refuses a job of another major version. Minor versions only
 * add fields at the end of so_job, which the engine reads as zero for an older job. */
#define SO_API_MAJOR 2
#define SO_API_MINOR 0

/* so_job.flags: general properties any job may declare. */
enum {
  SO_JOB_KEEP_TASKS = 1u << 0,   /* merge() needs each task's own payload (task_data): the engine
                                    keeps it while the task is in flight */
  SO_JOB_FEW_TASKS_OK = 1u << 1, /* a declared task count below the number of workers, or of
                                    zero, is fine (e.g. a resumed run with little left); without
                                    it that is refused as bad input */
  SO_JOB_TAKES_ARGS = 1u << 2,   /* the job reads the words after ":::" (so_ctx_args); without it
                                    a command line with ":::" is refused as bad input */
  SO_JOB_OWNS_STDOUT = 1u << 3   /* the job's results go to standard output (its tasks' output,
                                    or a listing it writes): the scaleout command then prints its
                                    summary on standard error. A map that gathers to standard
                                    output has it without asking. */
};

/* Exit statuses of the scaleout command for a job; 0 keeps the default of each. */
typedef struct so_exit_codes {
  int usage;   /* bad input (default 2) */
  int failure; /* the run failed (default 1) */
  int stopped; /* a stop signal ended it before every task ran (default 4) */
} so_exit_codes;

/* One kind of task of a job that mixes several (task parallelism): tasks of type i run
 * types[i].run on the workers, and the engine keeps batch statistics (mean duration, batch size)
 * per type, so short and long kinds are each batched to their own measure. */
typedef struct so_task_type {
  const char *name; /* shown in reports ("square", "wash") */
  int (*run)(so_ctx *ctx, const so_task *task, so_result *res);
} so_task_type;

/* One stage of a pipeline (so_job.stages). Stage i runs tasks of type i (so_job.types[i]). The
 * result of a stage-i task becomes, unchanged, the payload of one stage-(i+1) task; results of
 * the last stage go to merge(), as do failed tasks of any stage (res->type says which). Stage 0's
 * tasks come from next() or so_ctx_submit; an item keeps its task id through every stage. */
typedef struct so_stage {
  const char *name;
  uint32_t capacity; /* most items between this stage and the one before it: queued for this
                        stage or running in it (plus items running in the stage before, which
                        will land here). While it is reached, the stage before is held back
                        (back-pressure). 0: unbounded. Ignored for stage 0. Read after init(),
                        so check() or init() may set it from the parameters. */
} so_stage;

typedef struct so_map so_map; /* a data-parallel map, see scaleout/map.h */

typedef struct so_job {
  /* Set both with SO_JOB_VERSION as the first initializer: the API major version the job was
   * compiled for, and the size of so_job it knows (so the table can grow). abi, size and name
   * open the table in every major version, so an engine can name a job it refuses. so_run
   * refuses another major version (SO_EINVAL, with a sentence naming the job and both
   * versions) and reads a shorter table of this major version with its missing fields as 0. */
  uint32_t abi;
  uint32_t size;

  const char *name;
  const char *summary;        /* one line for `scaleout jobs` */
  const so_param_def *params; /* terminated by an entry with a NULL name */

  /* Optional: checks the parameters alone and, when they tell it, declares the task count with
   * so_ctx_set_total. It must do nothing else (no files, no state, no output): the command line
   * calls it before any rank starts, without MPI (so_ctx_role is master, so_ctx_workers the
   * workers to be started), so a direct run is refused at once, and the engine calls it on the
   * master before init(). Returns 0, or nonzero after so_ctx_errorf: the input is bad (exit 2). */
  int (*check)(so_ctx *ctx);
  int (*init)(so_ctx *ctx);                     /* every rank, optional */
  int (*next)(so_ctx *ctx, so_task_out *task);  /* master: 1 produced, 0 no more, <0 error,
                                                   SO_NEXT_LATER or SO_NEXT_WAIT; optional when
                                                   the tasks come from so_ctx_submit or map */
  int (*run)(so_ctx *ctx, const so_task *task, so_result *res); /* worker (when no types) */
  int (*merge)(so_ctx *ctx, const so_task_result *res);         /* master, optional */
  int (*finish)(so_ctx *ctx);                   /* master: report the answer, optional */
  void (*fini)(so_ctx *ctx);                    /* every rank, optional; frees the state */

  /*
   * Asynchronous execution, for tasks that mostly wait (shell commands, I/O). A job that sets
   * start and progress instead of run lets each worker keep so_ctx_slots() tasks going at once:
   * start() begins a task and returns; progress() lets started tasks advance, waiting at most
   * timeout_ms, and reports every task that ended with so_task_done(). cancel() ends every
   * started task at once (the run is halting now); they still report so_task_done().
   * All three run on the worker, in the worker's only thread.
   */
  int (*start)(so_ctx *ctx, const so_task *task);  /* 0, or <0: the worker cannot go on */
  int (*progress)(so_ctx *ctx, int timeout_ms);    /* tasks ended (>= 0), or <0 as above */
  void (*cancel)(so_ctx *ctx);

  /* Worker only, optional: receives what the master sent with so_ctx_notify (len bytes, valid
   * during the call), between the worker's other calls, in the order sent (with --threads, on
   * the worker's main thread while run() tasks go on in the others). 0, or <0: the worker
   * cannot go on. */
  int (*notice)(so_ctx *ctx, const void *data, size_t len);

  so_exit_codes exit; /* the scaleout command's exit statuses for this job (bad input, failure,
                         stopped); a completed run may choose its own with so_ctx_set_exit */
  unsigned flags;     /* SO_JOB_* */

  /* Default engine options for this job, as a user would type them ("--grace 10 --prefetch 0"):
   * a general mechanism for a job whose tasks want other engine settings than most (the command
   * farm's commands wait, so it sets "--grace 10"). The scaleout command applies them with its
   * own option parser before the user's options, which win; only run options that take a value
   * are allowed, anything else is refused naming the job. so_run does not read them: a program
   * that embeds the engine sets its so_config itself. NULL: none. */
  const char *options;

  /* Task parallelism: the job's kinds of task, terminated by an entry with a NULL name. A task of
   * type i runs types[i].run; NULL: every task runs run(). */
  const so_task_type *types;
  /* A pipeline: its stages, terminated by an entry with a NULL name (needs types, one per
   * stage). NULL: not a pipeline. */
  const so_stage *stages;
  /* A data-parallel map (scaleout/map.h): the engine supplies next, run and merge. */
  const so_map *map;
} so_job;

/* The first initializer of every so_job: { SO_JOB_VERSION, .name = "pi", ... }. */
#define SO_JOB_VERSION .abi = SO_API_MAJOR, .size = (uint32_t)sizeof(so_job)

/* What a plugin exports, under the symbol name SO_PLUGIN_SYMBOL: the API version it was built
 * for and its jobs. Define it with SO_PLUGIN(...), e.g. SO_PLUGIN(&myjob). */
typedef struct so_plugin {
  uint32_t api_major, api_minor;
  const so_job *const *jobs; /* terminated by NULL */
} so_plugin;
#define SO_PLUGIN_SYMBOL "scaleout_plugin"
#define SO_PLUGIN(...)                                                                        \
  static const so_job *const so_plugin_jobs_[] = {__VA_ARGS__, NULL};                        \
  __attribute__((visibility("default"))) const so_plugin scaleout_plugin = {                 \
      SO_API_MAJOR, SO_API_MINOR, so_plugin_jobs_}

/* A task added by the job itself (so_ctx_submit): from init() (a declared graph, checked before
 * anything runs), next() or merge() (tasks made from results, while the run goes on). */
typedef struct so_task_spec {
  uint32_t type;            /* so_job.types index, 0 by default */
  int64_t priority;         /* as so_task_out.priority */
  const void *data;         /* payload, copied */
  size_t len;
  const char *name;         /* optional, unique in the run: lets other tasks wait for this one */
  const char *const *after; /* optional, NULL-terminated: names of the tasks that must succeed
                               before this one is ready. A failed task's dependents (and theirs)
                               never run and are reported as not run. */
} so_task_spec;

typedef enum so_role { SO_ROLE_MASTER = 0, SO_ROLE_WORKER = 1 } so_role;

/*
 * The calls a job makes on its so_ctx. None is collective and none waits for another rank; each
 * says where it may be called: "any rank" (master or worker, from any callback between check()
 * or init() and fini()), "master only" or "worker only", and from which callbacks. They make no
 * MPI calls of their own on the caller's thread except where said.
 */

/* Any rank: whether this rank is the master or a worker. */
so_role so_ctx_role(const so_ctx *ctx);
/* Any rank: this rank in the engine's communicator (the master is 0). */
int so_ctx_rank(const so_ctx *ctx);
/* Any rank: the number of worker ranks. */
int so_ctx_workers(const so_ctx *ctx);
/* Any rank, any thread: a parameter's value (so_params). A name the job does not define, or of
 * another type, is the job author's mistake: it prints one line and returns 0 / NULL. */
int64_t so_ctx_int(const so_ctx *ctx, const char *param);
double so_ctx_double(const so_ctx *ctx, const char *param);
const char *so_ctx_string(const so_ctx *ctx, const char *param);
/* Any rank, any thread: the words after ":::" on the command line (GNU parallel's argument list;
 * so_params_set_args for an embedding program), and their count; *argv is NULL when there was
 * no ":::" at all. The strings stay valid for the whole run. */
int so_ctx_args(const so_ctx *ctx, const char *const **argv);
/* Any rank: the job's own per-rank state, set usually in init() and freed in fini(). */
void so_ctx_set_state(so_ctx *ctx, void *state);
void *so_ctx_state(const so_ctx *ctx);

/* Any rank, from any callback: reports why the job failed (before the callback returns its
 * error); the engine prints it as one line on stderr. For a task whose
 * run() fails, the first few failed tasks of the run are printed with their reasons and the
 * rest counted; for init() on the workers, the first worker's message is printed and the others
 * counted. */
void so_ctx_errorf(so_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Master only, from check() or init(): the number of tasks next() will produce, when known.
 * It enables the progress figures, the end-of-run batch shrinking and the check that there are
 * not more workers than tasks. */
void so_ctx_set_total(so_ctx *ctx, uint64_t total);

/* Master only, from next(): attaches a payload to the task being produced (copied). */
int so_task_set_data(so_ctx *ctx, so_task_out *task, const void *data, size_t len);

/* Worker only, from run(): appends bytes to the task's result (copied). */
int so_result_write(so_result *res, const void *data, size_t len);

/* Worker only: how many tasks this worker runs at once (--threads T): up to T run() calls, each
 * in its own thread (run() must then be thread-safe; so_ctx_errorf, so_result_write and
 * so_ctx_output act on the calling thread's task), or T started tasks of an asynchronous job. */
unsigned so_ctx_slots(const so_ctx *ctx);

/* Worker only, asynchronous jobs: ends a started task with its status (0 success) and result
 * bytes (copied). Returns 0 or an SO_E* code. */
int so_task_done(so_ctx *ctx, uint64_t id, int32_t status, const void *data, size_t len);

/* Worker only: sends output to the master's standard output (stream 1) or error (stream 2).
 * The master writes whole lines only, so lines from different workers never mix; pass partial
 * = 1 when data ends inside a line that a later call completes (for the same task and stream).
 * A call with partial = 0 ends the held line as it is, without adding a newline (an empty one
 * does that when a task's output ended inside a line). Output is streamed, never gathered whole.
 * Returns 0 or an SO_E* code. */
int so_ctx_output(so_ctx *ctx, uint64_t task, int stream, const void *data, size_t len,
                  int partial);

/* Any rank: the run was asked to be quiet (-q, so_config.quiet): no warnings, no progress. */
int so_ctx_quiet(const so_ctx *ctx);

/* Worker only: set when the run is halting; a job may stop early on its own. */
int so_ctx_halting(const so_ctx *ctx);

/* Master only, from merge(): stops the run early. SO_HALT_SOON hands out no more tasks and lets
 * the running ones finish; SO_HALT_NOW also cancels the running ones. Tasks handed out but not
 * yet started are given back unrun (they never reach merge). */
enum { SO_HALT_SOON = 1, SO_HALT_NOW = 2 };
void so_ctx_halt(so_ctx *ctx, int how);

/* Master only: sends len bytes (at most 1024) to every worker still running, for the job's
 * notice() callback there, e.g. a limit that changed while tasks run. A worker that has already
 * finished never sees it. Returns 0, SO_EINVAL (too long, or not on the master) or an error of
 * the transport. */
int so_ctx_notify(so_ctx *ctx, const void *data, size_t len);

/* Master only: why the run stopped early: 0 (it did not), SO_HALT_SOON or SO_HALT_NOW (a halt),
 * or SO_STOPPED_SIGNAL (SIGTERM, SIGINT or SIGUSR1; the run can be resumed). */
enum { SO_STOPPED_SIGNAL = 3 };
int so_ctx_stopped(const so_ctx *ctx);

/* Master only, from init(), next() or merge(): adds a task to the run (see so_task_spec). The
 * engine assigns its id (*id, when id is not NULL). Tasks submitted in init() form a declared
 * graph: a reference to an unknown name or a cycle is bad input, reported with the names before
 * any task runs. Later, a reference to a name no task has yet is an error naming both tasks.
 * Returns 0, SO_EINVAL (after a message on stderr: duplicate name, unknown reference, cycle,
 * type out of range) or SO_ENOMEM. */
int so_ctx_submit(so_ctx *ctx, const so_task_spec *spec, uint64_t *id);

/* Master only, from finish(): the exit status (0 to 255) the program running the job should end
 * with, for a run that completed: a general mechanism for a job whose outcome is not simply
 * "every task succeeded" (the command farm gives the number of failed commands). The scaleout
 * command exits with it, and then adds no "answer is incomplete" verdict about failed tasks (the
 * job accounts for them); an embedding program reads it with so_report_exit, and it is the
 * JSON report's exit_status. Without it the statuses of so_job.exit apply. A status outside 0 to
 * 255 is ignored; on a worker it does nothing. */
void so_ctx_set_exit(so_ctx *ctx, int status);

/* Master only, from finish(): adds one named figure to the answer, printed in the summary and
 * written to the JSON report. Names are short identifiers ("pi", "primes"). */
void so_answer_int(so_ctx *ctx, const char *name, int64_t value);
void so_answer_double(so_ctx *ctx, const char *name, double value);
void so_answer_string(so_ctx *ctx, const char *name, const char *value);

#ifdef __cplusplus
}
#endif

#endif

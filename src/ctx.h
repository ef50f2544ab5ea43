/* The job context behind the public so_ctx_* calls, the result writer and the answer list. */
#ifndef SO_CTX_H
#define SO_CTX_H

#include <stdio.h>

#include "buf.h"
#include "scaleout/scaleout.h"

typedef enum so__answer_kind { SO_ANSWER_INT, SO_ANSWER_DOUBLE, SO_ANSWER_STRING } so__answer_kind;

typedef struct so__answer_item {
  char name[32];
  so__answer_kind kind;
  int64_t i;
  double d;
  char *s;
} so__answer_item;

/* The job's named figures, in the order the job added them. */
typedef struct so_answer {
  size_t n, cap;
  so__answer_item *items;
  int failed; /* an item could not be stored (out of memory) */
  int has_exit;    /* finish() chose the command's exit status (so_ctx_set_exit) */
  int exit_status;
  /* The host the master ran on, so the report counts its node even when no worker ran there
   * ("" when unknown). Kept here, in the engine's own part of the report, because so_report's
   * layout is public. */
  char master_host[64];
} so_answer;

struct so_ctx {
  const so_job *job;
  const so_params *params;
  so_role role;
  int rank;
  int workers;
  void *state;
  void *map;          /* a map job's own per-rank state (map.c), beside the job's state */
  uint64_t total;     /* tasks next() will produce, when has_total */
  int has_total;
  so__buf *task_data;  /* master: where so_task_set_data() puts the payload of the task in next() */
  so_answer *answer;  /* master: where finish() puts its figures */
  char error[512];    /* the job's own account of its failure */
  unsigned slots;     /* worker: tasks an asynchronous job may run at once */
  int quiet;
  int stopped;        /* master: why the run stopped early (so_ctx_stopped) */
  int halting;        /* worker: the master asked the run to halt */
  /* The master or worker owning this context, and what the public calls ask of it. */
  void *engine;
  int (*task_done)(void *engine, uint64_t id, int32_t status, const void *data, size_t len);
  int (*output)(void *engine, uint64_t task, int stream, const void *data, size_t len, int partial);
  void (*halt)(void *engine, int how);
  int (*notify)(void *engine, const void *data, size_t len);
  int (*submit)(void *engine, const so_task_spec *spec, uint64_t *id);
};

/* The result being written: bytes go straight into the outgoing message buffer. */
struct so_result {
  so__buf *buf;
  int failed; /* an append ran out of memory */
};

/* Prepares a context; no allocation. The caller owns params, answer and task_data. */
void so__ctx_init(so_ctx *ctx, const so_job *job, const so_params *params, so_role role, int rank,
                  int workers);

/* Calls a callback's error path: prints the job's message (or a generic one) naming the job and
 * what was being done, and returns SO_EINVAL when rc was SO_EINVAL (bad input), else SO_EJOB. */
int so__ctx_fail(so_ctx *ctx, const char *what, int rc);
/* The same without printing: the line goes into msg[len] (without the "scaleout: error: "). */
int so__ctx_failmsg(so_ctx *ctx, const char *what, int rc, char *msg, size_t len);

/* The function that runs tasks of this type: types[type].run for a job with task types, run()
 * otherwise; NULL when the type is out of range (the task fails). */
typedef int (*so__run_fn)(so_ctx *ctx, const so_task *task, so_result *res);
so__run_fn so__task_runner(const so_job *job, uint32_t type);

so_answer *so__answer_new(void);
void so__answer_free(so_answer *a); /* accepts NULL */
/* Prints "name = value" lines. */
void so__answer_print(FILE *out, const so_answer *a);

/* Runs a job in this one process, task after task (next, run, merge, finish), with no MPI:
 * tasks the job submits (with their dependencies) and pipeline stages too, each ready task in
 * the order it became ready, before next() is asked again. It is the reference the distributed runs must agree with, and lets jobs be unit tested.
 * Fills *answer (free with so__answer_free). Returns 0 or an SO_E* code (already printed). */
int so__run_serial(const so_job *job, const so_params *params, uint64_t *tasks, so_answer **answer);

#endif

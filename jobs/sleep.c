/* The sleep job: tasks that only wait, a stand-in for I/O-bound work. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs_list.h"

enum { SLEEP_ENOMEM = 1, SLEEP_ECLOCK, SLEEP_ERESULT }; /* job-specific failure codes */

static const so_param_def sleep_params[] = {
    {"tasks", SO_PARAM_INT, "100", "number of tasks", 1, 1e12},
    {"ms", SO_PARAM_INT, "50", "milliseconds each task waits", 0, 3600000},
    {NULL, 0, NULL, NULL, 0, 0},
};

typedef struct sleep_state {
  uint64_t tasks;
  int64_t ms;
  uint64_t merged;   /* master: results merged */
  int64_t slept_ms;  /* master: milliseconds the workers reported sleeping */
} sleep_state;

/* Any parameters in range are good; the task count is known before any rank starts. */
static int sleep_check(so_ctx *ctx) {
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    so_ctx_set_total(ctx, (uint64_t)so_ctx_int(ctx, "tasks"));
  return 0;
}

static int sleep_init(so_ctx *ctx) {
  sleep_state *s = calloc(1, sizeof *s);
  if (!s) {
    so_ctx_errorf(ctx, "out of memory");
    return SLEEP_ENOMEM;
  }
  s->tasks = (uint64_t)so_ctx_int(ctx, "tasks");
  s->ms = so_ctx_int(ctx, "ms");
  so_ctx_set_state(ctx, s);
  return sleep_check(ctx);
}

static int sleep_next(so_ctx *ctx, so_task_out *task) {
  const sleep_state *s = so_ctx_state(ctx);
  return task->id < s->tasks ? 1 : 0;
}

/* Waits the full time: a signal (MPI runtimes use them) only shortens one nanosleep() call, and
 * the loop goes back to sleep for what remains. */
static int sleep_run(so_ctx *ctx, const so_task *task, so_result *res) {
  const sleep_state *s = so_ctx_state(ctx);
  struct timespec left = {.tv_sec = s->ms / 1000, .tv_nsec = (s->ms % 1000) * 1000000L};
  while (nanosleep(&left, &left) != 0) {
    if (errno != EINTR) {
      so_ctx_errorf(ctx, "task %llu: nanosleep failed: %s", (unsigned long long)task->id,
                    strerror(errno));
      return SLEEP_ECLOCK;
    }
  }
  /* The result says how long this task slept, so the total is what the workers did. */
  int64_t ms = s->ms;
  return so_result_write(res, &ms, sizeof ms) ? SLEEP_ENOMEM : 0;
}

static int sleep_merge(so_ctx *ctx, const so_task_result *res) {
  sleep_state *s = so_ctx_state(ctx);
  if (res->status != 0)
    return 0; /* a task that failed to sleep is not counted */
  int64_t ms;
  if (res->len != sizeof ms) {
    so_ctx_errorf(ctx, "task %llu sent a %zu-byte result, expected 8 bytes",
                  (unsigned long long)res->id, res->len);
    return SLEEP_ERESULT;
  }
  memcpy(&ms, res->data, sizeof ms);
  s->merged++;
  s->slept_ms += ms;
  return 0;
}

static int sleep_finish(so_ctx *ctx) {
  const sleep_state *s = so_ctx_state(ctx);
  so_answer_int(ctx, "tasks", (int64_t)s->merged);
  so_answer_int(ctx, "slept_ms", s->slept_ms);
  return 0;
}

static void sleep_fini(so_ctx *ctx) {
  free(so_ctx_state(ctx));
  so_ctx_set_state(ctx, NULL);
}

const so_job so_job_sleep = {
    SO_JOB_VERSION,
    .name = "sleep",
    .summary = "tasks that each wait --ms milliseconds (a stand-in for I/O-bound work)",
    .params = sleep_params,
    .check = sleep_check,
    .init = sleep_init,
    .next = sleep_next,
    .run = sleep_run,
    .merge = sleep_merge,
    .finish = sleep_finish,
    .fini = sleep_fini,
};

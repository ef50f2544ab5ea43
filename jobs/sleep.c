/* The sleep job: tasks that only wait, a stand-in for I/O-bound work. With --threads T a worker
 * sleeps T tasks at once; the answer's concurrency says how many it actually ran at once. */
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
  int64_t peak;      /* master: the most tasks one worker reported running at once */
  /* Worker, shared by its threads (atomic): tasks inside run() now, and the most there were. */
  int64_t running, most;
} sleep_state;

/* What a task sends back: how long it slept, and the most tasks its worker had run at once by
 * the time it ended (so the last result of each worker carries that worker's figure). */
typedef struct sleep_result {
  int64_t ms;
  int64_t most;
} sleep_result;

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
  sleep_state *s = so_ctx_state(ctx);
  /* Counted directly, not inferred from timings: a busy machine cannot make it wrong. */
  int64_t now = __atomic_add_fetch(&s->running, 1, __ATOMIC_SEQ_CST);
  int64_t most = __atomic_load_n(&s->most, __ATOMIC_SEQ_CST);
  while (now > most &&
         !__atomic_compare_exchange_n(&s->most, &most, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
    ;
  struct timespec left = {.tv_sec = s->ms / 1000, .tv_nsec = (s->ms % 1000) * 1000000L};
  int rc = 0;
  while (!rc && nanosleep(&left, &left) != 0) {
    if (errno != EINTR) {
      so_ctx_errorf(ctx, "task %llu: nanosleep failed: %s", (unsigned long long)task->id,
                    strerror(errno));
      rc = SLEEP_ECLOCK;
    }
  }
  __atomic_sub_fetch(&s->running, 1, __ATOMIC_SEQ_CST);
  if (rc)
    return rc;
  /* The result says how long this task slept, so the total is what the workers did. */
  sleep_result r = {s->ms, __atomic_load_n(&s->most, __ATOMIC_SEQ_CST)};
  return so_result_write(res, &r, sizeof r) ? SLEEP_ENOMEM : 0;
}

static int sleep_merge(so_ctx *ctx, const so_task_result *res) {
  sleep_state *s = so_ctx_state(ctx);
  if (res->status != 0)
    return 0; /* a task that failed to sleep is not counted */
  sleep_result r;
  if (res->len != sizeof r) {
    so_ctx_errorf(ctx, "task %llu sent a %zu-byte result, expected %zu bytes",
                  (unsigned long long)res->id, res->len, sizeof r);
    return SLEEP_ERESULT;
  }
  memcpy(&r, res->data, sizeof r);
  s->merged++;
  s->slept_ms += r.ms;
  if (r.most > s->peak)
    s->peak = r.most;
  return 0;
}

static int sleep_finish(so_ctx *ctx) {
  const sleep_state *s = so_ctx_state(ctx);
  so_answer_int(ctx, "tasks", (int64_t)s->merged);
  so_answer_int(ctx, "slept_ms", s->slept_ms);
  so_answer_int(ctx, "concurrency", s->peak); /* the most tasks one worker ran at once */
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

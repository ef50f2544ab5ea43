/* The noop job: empty tasks for benchmarking the dispatcher and checking exactly-once delivery. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs_list.h"

enum { NOOP_ENOMEM = 1, NOOP_EIO, NOOP_EID }; /* job-specific failure codes */

/* Above this many tasks the master does not track ids: the bitmap would pass 125 MB. */
#define NOOP_TRACK_MAX 1000000000u

static const so_param_def noop_params[] = {
    {"tasks", SO_PARAM_INT, "1e6", "number of tasks", 1, 1e18},
    {"trace", SO_PARAM_STRING, "", "workers append each task id run to TRACE.<rank>", 1, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

typedef struct noop_state {
  uint64_t tasks;
  /* Master side. */
  uint8_t *seen;        /* bit per task id, NULL when there are too many tasks to track */
  uint64_t merged, distinct, duplicates;
  /* Worker side. */
  int trace;            /* the trace file, -1 unless --trace was given */
  int trace_errno;      /* why a write to it failed; every later task then fails too */
  char path[4096];
} noop_state;

/* Closes the trace file and frees the state; copes with NULL and half-built state. */
static void noop_fini(so_ctx *ctx) {
  noop_state *s = so_ctx_state(ctx);
  if (!s)
    return;
  if (s->trace >= 0)
    close(s->trace);
  free(s->seen);
  free(s);
  so_ctx_set_state(ctx, NULL);
}

/* Any parameters in range are good; the task count is known before any rank starts. */
static int noop_check(so_ctx *ctx) {
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    so_ctx_set_total(ctx, (uint64_t)so_ctx_int(ctx, "tasks"));
  return 0;
}

static int noop_init(so_ctx *ctx) {
  noop_state *s = calloc(1, sizeof *s);
  if (!s) {
    so_ctx_errorf(ctx, "out of memory");
    return NOOP_ENOMEM;
  }
  s->trace = -1;
  so_ctx_set_state(ctx, s);
  s->tasks = (uint64_t)so_ctx_int(ctx, "tasks");
  if (so_ctx_role(ctx) == SO_ROLE_MASTER) {
    noop_check(ctx);
    if (s->tasks <= NOOP_TRACK_MAX) {
      s->seen = calloc((size_t)((s->tasks + 7) / 8), 1);
      if (!s->seen) {
        so_ctx_errorf(ctx, "out of memory for the bitmap of %llu task ids",
                      (unsigned long long)s->tasks);
        noop_fini(ctx);
        return NOOP_ENOMEM;
      }
    }
    return 0;
  }
  const char *trace = so_ctx_string(ctx, "trace");
  if (trace && trace[0]) {
    int n = snprintf(s->path, sizeof s->path, "%s.%d", trace, so_ctx_rank(ctx));
    if (n < 0 || (size_t)n >= sizeof s->path) {
      so_ctx_errorf(ctx, "--trace path is too long");
      noop_fini(ctx);
      return NOOP_EIO;
    }
    /* Append, so a worker that is restarted into the same file adds to what it wrote. */
    s->trace = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (s->trace < 0) {
      so_ctx_errorf(ctx, "cannot open trace file %s: %s", s->path, strerror(errno));
      noop_fini(ctx);
      return NOOP_EIO;
    }
  }
  return 0;
}

static int noop_next(so_ctx *ctx, so_task_out *task) {
  const noop_state *s = so_ctx_state(ctx);
  return task->id < s->tasks ? 1 : 0;
}

/* With --trace, a task succeeds only once its id is in the trace file: each id is one write(),
 * unbuffered, so a full disk fails the very task whose line was lost (a buffered stream would
 * fail some later task, or only fclose, and report lost lines as traced). After a failed or
 * short write the file may end in half a line, so every later task of this worker fails too. */
static int noop_run(so_ctx *ctx, const so_task *task, so_result *res) {
  noop_state *s = so_ctx_state(ctx);
  if (s->trace < 0)
    return 0;
  if (!s->trace_errno) {
    char line[24];
    int n = snprintf(line, sizeof line, "%llu\n", (unsigned long long)task->id);
    ssize_t w = write(s->trace, line, (size_t)n);
    if (w == n)
      return 0;
    s->trace_errno = w < 0 ? errno : ENOSPC;
  }
  so_ctx_errorf(ctx, "cannot write the trace of task %llu to %s: %s", (unsigned long long)task->id,
                s->path, strerror(s->trace_errno));
  return NOOP_EIO;
}

/* Runs millions of times a second on the master: a counter, and a bit test when tracking. */
static int noop_merge(so_ctx *ctx, const so_task_result *res) {
  noop_state *s = so_ctx_state(ctx);
  s->merged++;
  if (res->status != 0)
    return 0; /* it did not run as asked: its id counts as missing, not as seen */
  if (!s->seen)
    return 0;
  uint64_t id = res->id;
  if (id >= s->tasks) {
    so_ctx_errorf(ctx, "a result arrived for task %llu, but the job has only %llu tasks",
                  (unsigned long long)id, (unsigned long long)s->tasks);
    return NOOP_EID;
  }
  uint8_t bit = (uint8_t)(1u << (id & 7));
  uint8_t *byte = &s->seen[id >> 3];
  if (*byte & bit) {
    s->duplicates++;
  } else {
    *byte |= bit;
    s->distinct++;
  }
  return 0;
}

/* Without the bitmap there is nothing to say about distinct ids, so only `tasks` is reported. */
static int noop_finish(so_ctx *ctx) {
  const noop_state *s = so_ctx_state(ctx);
  so_answer_int(ctx, "tasks", (int64_t)s->merged);
  if (s->seen) {
    so_answer_int(ctx, "distinct", (int64_t)s->distinct);
    so_answer_int(ctx, "duplicates", (int64_t)s->duplicates);
    so_answer_int(ctx, "missing", (int64_t)(s->tasks - s->distinct));
  }
  return 0;
}

const so_job so_job_noop = {
    SO_JOB_VERSION,
    .name = "noop",
    .summary = "empty tasks (dispatcher benchmark; --trace records which worker ran each id)",
    .params = noop_params,
    .check = noop_check,
    .init = noop_init,
    .next = noop_next,
    .run = noop_run,
    .merge = noop_merge,
    .finish = noop_finish,
    .fini = noop_fini,
};

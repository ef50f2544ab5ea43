/* An example job plugin: the sum of the squares 1^2 + ... + n^2, in tasks of --chunk numbers.
 *
 * Built on its own against an installed scaleout, with no file of this project but the public
 * header:
 *   cc -shared -fPIC hello_sum.c $(pkg-config --cflags --libs scaleout) -o hello_sum.so
 *   scaleout run --job-lib ./hello_sum.so hello_sum --n 1000000
 * The answer is exact (n(n+1)(2n+1)/6 fits 64 bits up to n = 3,000,000), so it checks itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <scaleout/job.h>

static const so_param_def hello_params[] = {
    {"n", SO_PARAM_INT, "1000", "add the squares of 1 to n", 1, 3000000},
    {"chunk", SO_PARAM_INT, "100", "numbers per task", 1, 1e9},
    {NULL, 0, NULL, NULL, 0, 0},
};

typedef struct hello_state {
  uint64_t n, chunk;
  uint64_t sum; /* master: the squares merged so far */
} hello_state;

static uint64_t task_count(so_ctx *ctx) {
  uint64_t n = (uint64_t)so_ctx_int(ctx, "n"), chunk = (uint64_t)so_ctx_int(ctx, "chunk");
  return (n + chunk - 1) / chunk;
}

/* The task count is known from the parameters alone, before any rank starts. */
static int hello_check(so_ctx *ctx) {
  so_ctx_set_total(ctx, task_count(ctx));
  return 0;
}

static int hello_init(so_ctx *ctx) {
  hello_state *s = calloc(1, sizeof *s);
  if (!s) {
    so_ctx_errorf(ctx, "out of memory");
    return 1;
  }
  s->n = (uint64_t)so_ctx_int(ctx, "n");
  s->chunk = (uint64_t)so_ctx_int(ctx, "chunk");
  so_ctx_set_state(ctx, s);
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    so_ctx_set_total(ctx, task_count(ctx));
  return 0;
}

/* Task i covers the numbers i*chunk+1 .. (i+1)*chunk: its id says it all, no payload. */
static int hello_next(so_ctx *ctx, so_task_out *task) {
  const hello_state *s = so_ctx_state(ctx);
  return task->id * s->chunk < s->n ? 1 : 0;
}

static int hello_run(so_ctx *ctx, const so_task *task, so_result *res) {
  const hello_state *s = so_ctx_state(ctx);
  uint64_t first = task->id * s->chunk + 1, last = first + s->chunk - 1, sum = 0;
  if (last > s->n)
    last = s->n;
  for (uint64_t i = first; i <= last; i++)
    sum += i * i;
  return so_result_write(res, &sum, sizeof sum) ? 1 : 0;
}

static int hello_merge(so_ctx *ctx, const so_task_result *res) {
  hello_state *s = so_ctx_state(ctx);
  uint64_t part;
  if (res->status != 0 || res->len != sizeof part) {
    so_ctx_errorf(ctx, "task %llu failed or sent %zu bytes", (unsigned long long)res->id, res->len);
    return 1;
  }
  memcpy(&part, res->data, sizeof part);
  s->sum += part;
  return 0;
}

static int hello_finish(so_ctx *ctx) {
  const hello_state *s = so_ctx_state(ctx);
  so_answer_int(ctx, "sum", (int64_t)s->sum);
  return 0;
}

static void hello_fini(so_ctx *ctx) {
  free(so_ctx_state(ctx));
}

static const so_job hello_sum = {
    SO_JOB_VERSION,
    .name = "hello_sum",
    .summary = "example plugin: the sum of the squares 1..n, exact",
    .params = hello_params,
    .check = hello_check,
    .init = hello_init,
    .next = hello_next,
    .run = hello_run,
    .merge = hello_merge,
    .finish = hello_finish,
    .fini = hello_fini,
};

/* The one symbol scaleout looks for: the API version this file was built for, and its jobs. */
SO_PLUGIN(&hello_sum);

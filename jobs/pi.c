/* The pi job: a Monte Carlo estimate of pi that gives the same bits at any worker count. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs_list.h"

enum { PI_ENOMEM = 1, PI_ERESULT }; /* job-specific failure codes */

static const so_param_def pi_params[] = {
    {"samples", SO_PARAM_INT, "1e9", "points thrown in the unit square", 1, 1e18},
    {"tasks", SO_PARAM_INT, "1000", "tasks the samples are split into", 1, 1e18},
    {"seed", SO_PARAM_INT, "1", "seed of the random streams", 0, 9e18},
    {NULL, 0, NULL, NULL, 0, 0},
};

typedef struct pi_state {
  uint64_t samples, tasks, seed;
  uint64_t per_task;   /* samples every task takes ... */
  uint64_t extra;      /* ... plus one more for the first `extra` tasks, so the total is exact */
  uint64_t hits;       /* master: hits merged so far */
  uint64_t merged;     /* master: samples behind those hits */
} pi_state;

/* The splitmix64 finaliser: a bijective 64-bit mix, used to spread seeds, never as the stream. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

static uint64_t task_samples(const pi_state *s, uint64_t id) {
  return s->per_task + (id < s->extra ? 1 : 0);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/*
 * Counts hits among n points of task `id`. The stream is xoshiro256** seeded by splitmix64 from
 * (seed, id) alone, so a task gives the same count wherever and whenever it runs, and integer
 * sums make the merge order irrelevant.
 *
 * Each 64-bit draw gives both coordinates as 32-bit halves x, y in [0, 2^32). The point is inside
 * the quarter circle of radius 2^32 when x^2 + y^2 < 2^64, which is exactly "the 64-bit sum did
 * not wrap": so the test is one add and one compare, with no floating point. The lattice bias is
 * about 2^-31 of the answer, far below the sampling noise of any feasible run.
 */
static uint64_t count_hits(uint64_t seed, uint64_t id, uint64_t n) {
  uint64_t sm = mix64(seed + 0x9E3779B97F4A7C15u) ^ mix64(~id);
  uint64_t st[4];
  for (int k = 0; k < 4; k++) {
    sm += 0x9E3779B97F4A7C15u;
    st[k] = mix64(sm);
  }
  /* Splitmix outputs are a bijection of distinct counters, so at most one word is zero and the
   * xoshiro state is never all zero. Locals keep the state in registers in the hot loop. */
  uint64_t s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];
  uint64_t hits = 0;
  for (uint64_t k = 0; k < n; k++) {
    uint64_t r = rotl(s1 * 5, 7) * 9;
    uint64_t t = s1 << 17;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 45);
    uint64_t x = r >> 32, y = r & 0xFFFFFFFFu;
    uint64_t xx = x * x, sum = xx + y * y;
    hits += sum >= xx;
  }
  return hits;
}

/* The parameters alone, before any rank starts (so_job.check): every task needs a sample. */
static int pi_check(so_ctx *ctx) {
  int64_t samples = so_ctx_int(ctx, "samples"), tasks = so_ctx_int(ctx, "tasks");
  if (tasks > samples) {
    so_ctx_errorf(ctx, "--tasks (%lld) must not exceed --samples (%lld): every task needs a sample",
                  (long long)tasks, (long long)samples);
    return SO_EINVAL;
  }
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    so_ctx_set_total(ctx, (uint64_t)tasks);
  return 0;
}

static int pi_init(so_ctx *ctx) {
  int rc = pi_check(ctx);
  if (rc)
    return rc;
  int64_t samples = so_ctx_int(ctx, "samples"), tasks = so_ctx_int(ctx, "tasks");
  pi_state *s = calloc(1, sizeof *s);
  if (!s) {
    so_ctx_errorf(ctx, "out of memory");
    return PI_ENOMEM;
  }
  s->samples = (uint64_t)samples;
  s->tasks = (uint64_t)tasks;
  s->seed = (uint64_t)so_ctx_int(ctx, "seed");
  s->per_task = s->samples / s->tasks;
  s->extra = s->samples % s->tasks;
  so_ctx_set_state(ctx, s);
  return 0;
}

/* A task is fully described by its id, so it carries no payload. */
static int pi_next(so_ctx *ctx, so_task_out *task) {
  const pi_state *s = so_ctx_state(ctx);
  return task->id < s->tasks ? 1 : 0;
}

static int pi_run(so_ctx *ctx, const so_task *task, so_result *res) {
  const pi_state *s = so_ctx_state(ctx);
  uint64_t hits = count_hits(s->seed, task->id, task_samples(s, task->id));
  return so_result_write(res, &hits, sizeof hits) ? PI_ENOMEM : 0;
}

/* A failed task contributes nothing: the estimate is then over the samples actually merged,
 * which finish() reports, rather than biased by a missing count. */
static int pi_merge(so_ctx *ctx, const so_task_result *res) {
  pi_state *s = so_ctx_state(ctx);
  if (res->status != 0)
    return 0;
  uint64_t hits;
  if (res->id >= s->tasks) {
    so_ctx_errorf(ctx, "a result arrived for task %llu, but the job has only %llu tasks",
                  (unsigned long long)res->id, (unsigned long long)s->tasks);
    return PI_ERESULT;
  }
  if (res->len != sizeof hits) {
    so_ctx_errorf(ctx, "task %llu sent a %zu-byte result, expected an 8-byte hit count",
                  (unsigned long long)res->id, res->len);
    return PI_ERESULT;
  }
  memcpy(&hits, res->data, sizeof hits);
  s->hits += hits;
  s->merged += task_samples(s, res->id);
  return 0;
}

static int pi_finish(so_ctx *ctx) {
  const pi_state *s = so_ctx_state(ctx);
  double pi = s->merged ? 4.0 * (double)s->hits / (double)s->merged : 0.0;
  so_answer_double(ctx, "pi", pi);
  so_answer_int(ctx, "hits", (int64_t)s->hits);
  so_answer_int(ctx, "samples", (int64_t)s->merged);
  return 0;
}

static void pi_fini(so_ctx *ctx) {
  free(so_ctx_state(ctx));
  so_ctx_set_state(ctx, NULL);
}

const so_job so_job_pi = {
    SO_JOB_VERSION,
    .name = "pi",
    .summary = "Monte Carlo estimate of pi (CPU-bound, same bits at any worker count)",
    .params = pi_params,
    .check = pi_check,
    .init = pi_init,
    .next = pi_next,
    .run = pi_run,
    .merge = pi_merge,
    .finish = pi_finish,
    .fini = pi_fini,
};

/* The pi job: a Monte Carlo estimate of pi that gives the same bits at any worker count. */
#include <stdint.h>

#include "jobs_list.h"
#include "scaleout/map.h"

static const so_param_def pi_params[] = {
    {"samples", SO_PARAM_INT, "1e9", "points thrown in the unit square", 1, 1e18},
    {"tasks", SO_PARAM_INT, "1000", "tasks the samples are split into", 1, 1e18},
    {"seed", SO_PARAM_INT, "1", "seed of the random streams", 0, 9e18},
    {NULL, 0, NULL, NULL, 0, 0},
};

/* The splitmix64 finaliser: a bijective 64-bit mix, used to spread seeds, never as the stream. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
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

/* Item i of the map is the old task i: the samples split as evenly as --tasks allows, the first
 * samples % tasks items taking one more, so every stream is as before and the bits too. */
static int pi_item(so_ctx *ctx, uint64_t i, const void *rec, size_t len, void *acc, so_result *res) {
  (void)rec, (void)len, (void)res;
  uint64_t samples = (uint64_t)so_ctx_int(ctx, "samples"), tasks = (uint64_t)so_ctx_int(ctx, "tasks");
  uint64_t n = samples / tasks + (i < samples % tasks), *sum = acc;
  sum[0] += count_hits((uint64_t)so_ctx_int(ctx, "seed"), i, n);
  sum[1] += n;
  return 0;
}

static uint64_t pi_count(so_ctx *ctx) { return (uint64_t)so_ctx_int(ctx, "tasks"); }

/* The hits and samples of every item that ran: a failed chunk leaves its samples out of both. */
static int pi_reduced(so_ctx *ctx, const void *total) {
  const uint64_t *sum = total;
  so_answer_double(ctx, "pi", sum[1] ? 4.0 * (double)sum[0] / (double)sum[1] : 0.0);
  so_answer_int(ctx, "hits", (int64_t)sum[0]);
  so_answer_int(ctx, "samples", (int64_t)sum[1]);
  return 0;
}

/* sum(pool.map(count_hits, range(tasks))): one item per stream, dealt one at a time by default
 * (the engine batches them by their measured duration). */
static const so_map pi_map = {.input = SO_MAP_RANGE, .count = pi_count,
                              .schedule = {SO_SCHED_DYNAMIC, 1}, .reduce = SO_REDUCE_SUM,
                              .value = SO_VALUE_U64, .nvalues = 2, .item = pi_item,
                              .reduced = pi_reduced};

const so_job so_job_pi = {
    SO_JOB_VERSION,
    .name = "pi",
    .summary = "Monte Carlo estimate of pi (CPU-bound, same bits at any worker count)",
    .params = pi_params,
    .check = pi_check,
    .map = &pi_map,
};

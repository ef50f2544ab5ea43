/* An example job plugin: the sum of the squares 1^2 + ... + n^2, as a data-parallel map.
 *
 * Built on its own against an installed scaleout, with no file of this project but the public
 * headers:
 *   cc -shared -fPIC hello_sum.c $(pkg-config --cflags --libs scaleout) -o hello_sum.so
 *   scaleout run --job-lib ./hello_sum.so hello_sum --n 1000000 --schedule guided
 * The answer is exact (n(n+1)(2n+1)/6 fits 64 bits up to n = 3,000,000), so it checks itself. */
#include <stdint.h>

#include <scaleout/job.h>
#include <scaleout/map.h>

static const so_param_def hello_params[] = {
    {"n", SO_PARAM_INT, "1000", "add the squares of 1 to n", 1, 3000000},
    {NULL, 0, NULL, NULL, 0, 0},
};

/* The parameters alone, before any rank starts: the map has n items. */
static int hello_check(so_ctx *ctx) {
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    so_ctx_set_total(ctx, (uint64_t)so_ctx_int(ctx, "n"));
  return 0;
}

static uint64_t hello_count(so_ctx *ctx) {
  return (uint64_t)so_ctx_int(ctx, "n");
}

/* Worker: item i adds (i+1)^2 to its chunk's partial sum; a chunk returns one number. */
static int hello_item(so_ctx *ctx, uint64_t i, const void *rec, size_t len, void *acc,
                      so_result *res) {
  (void)ctx, (void)rec, (void)len, (void)res;
  uint64_t *sum = acc;
  sum[0] += (i + 1) * (i + 1);
  return 0;
}

/* Master, once, with the total of every chunk's partial. */
static int hello_reduced(so_ctx *ctx, const void *total) {
  so_answer_int(ctx, "sum", (int64_t)((const uint64_t *)total)[0]);
  return 0;
}

/* sum(pool.map(square, range(1, n + 1))). */
static const so_map hello_map = {.input = SO_MAP_RANGE, .count = hello_count,
                                 .reduce = SO_REDUCE_SUM, .value = SO_VALUE_U64, .nvalues = 1,
                                 .item = hello_item, .reduced = hello_reduced};

static const so_job hello_sum = {
    SO_JOB_VERSION,
    .name = "hello_sum",
    .summary = "example plugin: the sum of the squares 1..n, exact",
    .params = hello_params,
    .check = hello_check,
    .map = &hello_map,
};

/* The one symbol scaleout looks for: the API version this file was built for, and its jobs. */
SO_PLUGIN(&hello_sum);

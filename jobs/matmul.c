/* The matmul job: a blocked dense product C = A*B of seeded matrices, a block of rows of C per
 * map item, reduced to exact checksums and checked against a naive product on the workers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jobs_list.h"
#include "scaleout/map.h"

enum { MM_ENOMEM = 1, MM_ERESULT }; /* job-specific failure codes */

static const so_param_def mm_params[] = {
    {"n", SO_PARAM_INT, "1024", "order of the square matrices", 1, 65536},
    {"rows", SO_PARAM_INT, "32", "rows of C per map item", 1, 65536},
    {"tile", SO_PARAM_INT, "64", "cache tile of the blocked product (columns and depth)", 1, 65536},
    {"seed", SO_PARAM_INT, "1", "seed of the matrices' entries", 0, 9e18},
    {"verify", SO_PARAM_INT, "8",
     "entries per row of C recomputed by the naive product (n or more: every entry)", 0, 1e9},
    {NULL, 0, NULL, NULL, 0, 0},
};

typedef struct mm_state {
  uint64_t n, rows, tile, seed, verify;
  double *b; /* worker: B, n x n row-major, made once in init */
} mm_state;

/* The partial result of some rows of C: sum of entries (wrapping), sum of squares (the
 * Frobenius norm squared, exact below 2^64), entries checked and the largest |C - naive|. */
typedef struct mm_acc {
  uint64_t sum, sumsq, checked;
  double maxerr;
} mm_acc;

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

/*
 * Entry (i, j) of matrix m (0 for A, 1 for B): an integer in [-8, 8] from a hash of the seed and
 * the position, so any rank makes any entry alone. Integer entries keep the product exact in
 * doubles: every partial sum of a row-by-column product is an integer of magnitude at most
 * 64 n <= 2^22, far below 2^53, so each addition is exact in any order and the blocked product
 * equals the naive one bit for bit, however it is tiled. The test's equality is then exact.
 */
static double entry(uint64_t seed, int m, uint64_t n, uint64_t i, uint64_t j) {
  uint64_t h = mix64(mix64(seed * 2 + (uint64_t)m + 0x9E3779B97F4A7C15u) ^ (i * n + j));
  return (double)(int64_t)(h % 17) - 8.0;
}

static int mm_check(so_ctx *ctx) {
  if (so_ctx_int(ctx, "rows") > so_ctx_int(ctx, "n")) {
    so_ctx_errorf(ctx, "--rows (%lld) must not exceed --n (%lld)",
                  (long long)so_ctx_int(ctx, "rows"), (long long)so_ctx_int(ctx, "n"));
    return SO_EINVAL;
  }
  return 0;
}

static int mm_init(so_ctx *ctx) {
  int rc = mm_check(ctx);
  if (rc)
    return rc;
  mm_state *s = calloc(1, sizeof *s);
  if (!s) {
    so_ctx_errorf(ctx, "out of memory");
    return MM_ENOMEM;
  }
  so_ctx_set_state(ctx, s);
  s->n = (uint64_t)so_ctx_int(ctx, "n");
  s->rows = (uint64_t)so_ctx_int(ctx, "rows");
  s->tile = (uint64_t)so_ctx_int(ctx, "tile");
  s->seed = (uint64_t)so_ctx_int(ctx, "seed");
  s->verify = (uint64_t)so_ctx_int(ctx, "verify");
  if (so_ctx_role(ctx) == SO_ROLE_WORKER) {
    s->b = malloc(s->n * s->n * sizeof *s->b);
    if (!s->b) {
      so_ctx_errorf(ctx, "out of memory for B (%llu x %llu doubles)",
                    (unsigned long long)s->n, (unsigned long long)s->n);
      return MM_ENOMEM;
    }
    for (uint64_t i = 0; i < s->n; i++)
      for (uint64_t j = 0; j < s->n; j++)
        s->b[i * s->n + j] = entry(s->seed, 1, s->n, i, j);
  }
  return 0;
}

static uint64_t mm_count(so_ctx *ctx) {
  const mm_state *s = so_ctx_state(ctx);
  return (s->n + s->rows - 1) / s->rows;
}

/* C[r0..r1) = A[r0..r1) * B, tiled over columns (jj) and depth (kk) so a tile of B stays in
 * cache while every row of the block uses it. */
static void blocked(const mm_state *s, const double *a, double *c, uint64_t nr) {
  uint64_t n = s->n, t = s->tile;
  memset(c, 0, nr * n * sizeof *c);
  for (uint64_t kk = 0; kk < n; kk += t) {
    uint64_t ke = kk + t < n ? kk + t : n;
    for (uint64_t jj = 0; jj < n; jj += t) {
      uint64_t je = jj + t < n ? jj + t : n;
      for (uint64_t i = 0; i < nr; i++) {
        double *ci = c + i * n;
        for (uint64_t k = kk; k < ke; k++) {
          double aik = a[i * n + k];
          const double *bk = s->b + k * n;
          for (uint64_t j = jj; j < je; j++)
            ci[j] += aik * bk[j];
        }
      }
    }
  }
}

/* Worker: one block of rows of C, added to the chunk's accumulator; `verify` entries of each
 * row (spread over the columns) are recomputed as plain dot products. */
static int mm_item(so_ctx *ctx, uint64_t index, const void *rec, size_t len, void *accp,
                   so_result *res) {
  const mm_state *s = so_ctx_state(ctx);
  mm_acc *acc = accp;
  uint64_t n = s->n, r0 = index * s->rows, nr = r0 + s->rows < n ? s->rows : n - r0;
  double *a = malloc(2 * nr * n * sizeof *a);
  if (!a) {
    so_ctx_errorf(ctx, "rows %llu+: out of memory", (unsigned long long)r0);
    return MM_ENOMEM;
  }
  double *c = a + nr * n;
  for (uint64_t i = 0; i < nr; i++)
    for (uint64_t k = 0; k < n; k++)
      a[i * n + k] = entry(s->seed, 0, n, r0 + i, k);
  blocked(s, a, c, nr);
  uint64_t nv = s->verify < n ? s->verify : n;
  for (uint64_t i = 0; i < nr; i++) {
    for (uint64_t j = 0; j < n; j++) {
      int64_t v = (int64_t)c[i * n + j];
      acc->sum += (uint64_t)v;
      acc->sumsq += (uint64_t)(v * v);
    }
    for (uint64_t q = 0; q < nv; q++) {
      uint64_t j = nv == n ? q : mix64(s->seed ^ ((r0 + i) * n + q)) % n;
      double naive = 0.0;
      for (uint64_t k = 0; k < n; k++)
        naive += a[i * n + k] * s->b[k * n + j];
      double err = fabs(c[i * n + j] - naive);
      if (err > acc->maxerr)
        acc->maxerr = err;
      acc->checked++;
    }
  }
  free(a);
  return 0;
}

static void *mm_acc_new(so_ctx *ctx) { return calloc(1, sizeof(mm_acc)); }

static int mm_acc_write(so_ctx *ctx, void *acc, so_result *res) {
  return so_result_write(res, acc, sizeof(mm_acc)) ? MM_ENOMEM : 0;
}

/* Sums and counts add, errors take the larger: associative and commutative, as partials come
 * in any order. */
static int mm_combine(so_ctx *ctx, void *totalp, const void *data, size_t len) {
  mm_acc *total = totalp, part;
  if (len != sizeof part) {
    so_ctx_errorf(ctx, "a partial of %zu bytes, expected %zu", len, sizeof part);
    return MM_ERESULT;
  }
  memcpy(&part, data, sizeof part);
  total->sum += part.sum;
  total->sumsq += part.sumsq;
  total->checked += part.checked;
  if (part.maxerr > total->maxerr)
    total->maxerr = part.maxerr;
  return 0;
}

static void mm_acc_free(so_ctx *ctx, void *acc) { free(acc); }

static int mm_reduced(so_ctx *ctx, const void *totalp) {
  const mm_acc *t = totalp;
  so_answer_int(ctx, "sum", (int64_t)t->sum);
  so_answer_int(ctx, "sumsq", (int64_t)t->sumsq);
  so_answer_double(ctx, "frobenius", sqrt((double)t->sumsq));
  so_answer_int(ctx, "checked", (int64_t)t->checked);
  so_answer_double(ctx, "max_error", t->maxerr);
  return 0;
}

static void mm_fini(so_ctx *ctx) {
  mm_state *s = so_ctx_state(ctx);
  if (s)
    free(s->b);
  free(s);
  so_ctx_set_state(ctx, NULL);
}

static const so_map mm_map = {
    .input = SO_MAP_RANGE,
    .count = mm_count,
    .schedule = {SO_SCHED_DYNAMIC, 1},
    .reduce = SO_REDUCE_CUSTOM,
    .item = mm_item,
    .acc_new = mm_acc_new,
    .acc_write = mm_acc_write,
    .combine = mm_combine,
    .acc_free = mm_acc_free,
    .reduced = mm_reduced,
};

const so_job so_job_matmul = {
    SO_JOB_VERSION,
    .name = "matmul",
    .summary = "blocked dense C = A*B of seeded matrices, checked against a naive product",
    .params = mm_params,
    .check = mm_check,
    .init = mm_init,
    .fini = mm_fini,
    .map = &mm_map,
};

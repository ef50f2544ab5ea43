/* The stream job: STREAM's triad a[i] = b[i] + s*c[i] over arrays of n doubles on every worker,
 * one pass per map item, reported as memory bandwidth: the figure that stops growing with the
 * worker count once the cores of a node share one memory bus. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs_list.h"
#include "scaleout/map.h"

enum { ST_ENOMEM = 1, ST_ECLOCK, ST_ERESULT, ST_EVERIFY }; /* job-specific failure codes */

static const so_param_def st_params[] = {
    {"n", SO_PARAM_INT, "4e6", "doubles in each of a worker's three arrays", 1, 1e10},
    {"passes", SO_PARAM_INT, "100", "triad passes in all (one map item each)", 1, 1e12},
    {"scalar", SO_PARAM_INT, "3", "the s of a = b + s*c", -1e6, 1e6},
    {NULL, 0, NULL, NULL, 0, 0},
};

/* One set of arrays. A worker running passes in several threads (--threads) gives each running
 * pass its own set, taken from a free list and made on first need, so passes never share one. */
typedef struct st_arrays {
  double *a, *b, *c;
  struct st_arrays *next;
} st_arrays;

typedef struct st_state {
  uint64_t n;
  double scalar;
  pthread_mutex_t lock; /* guards spare */
  st_arrays *spare;
} st_state;

/* The partial result of some passes: bytes moved and seconds spent in the triad loops, the first
 * start and last end (CLOCK_REALTIME, comparable between the ranks of one node and within a few
 * milliseconds between nodes), and the sum of a over every pass (exact: integers below 2^53). */
typedef struct st_acc {
  double bytes, busy, first, last, sum;
} st_acc;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* b and c hold small integers, so a = b + s*c and its sum are exact and a test can predict it. */
static double b_of(uint64_t i) { return (double)(i & 1023); }
static double c_of(uint64_t i) { return (double)((i * 7) & 1023); }

/* Makes a set of arrays and touches every page (the first touch, not the triad, pays for the
 * page faults); NULL when out of memory. */
static st_arrays *arrays_new(uint64_t n) {
  st_arrays *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->a = malloc(n * sizeof(double));
  s->b = malloc(n * sizeof(double));
  s->c = malloc(n * sizeof(double));
  if (!s->a || !s->b || !s->c) {
    free(s->a), free(s->b), free(s->c), free(s);
    return NULL;
  }
  for (uint64_t i = 0; i < n; i++) {
    s->a[i] = 0.0;
    s->b[i] = b_of(i);
    s->c[i] = c_of(i);
  }
  return s;
}

static void arrays_free(st_arrays *s) {
  while (s) {
    st_arrays *next = s->next;
    free(s->a), free(s->b), free(s->c), free(s);
    s = next;
  }
}

static int st_init(so_ctx *ctx) {
  st_state *s = calloc(1, sizeof *s);
  if (!s) {
    so_ctx_errorf(ctx, "out of memory");
    return ST_ENOMEM;
  }
  s->n = (uint64_t)so_ctx_int(ctx, "n");
  s->scalar = (double)so_ctx_int(ctx, "scalar");
  pthread_mutex_init(&s->lock, NULL);
  so_ctx_set_state(ctx, s);
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    return 0;
  /* The first set is made here, so a worker short of memory fails before any pass runs. */
  s->spare = arrays_new(s->n);
  if (!s->spare) {
    so_ctx_errorf(ctx, "out of memory for 3 arrays of %llu doubles", (unsigned long long)s->n);
    return ST_ENOMEM;
  }
  return 0;
}

static uint64_t st_passes(so_ctx *ctx) { return (uint64_t)so_ctx_int(ctx, "passes"); }

/* Worker: one timed triad pass over a set of arrays, then an untimed sum of a. */
static int st_item(so_ctx *ctx, uint64_t index, const void *rec, size_t len, void *accp,
                   so_result *res) {
  st_state *s = so_ctx_state(ctx);
  st_acc *acc = accp;
  pthread_mutex_lock(&s->lock);
  st_arrays *m = s->spare;
  if (m)
    s->spare = m->next;
  pthread_mutex_unlock(&s->lock);
  if (!m && !(m = arrays_new(s->n))) {
    so_ctx_errorf(ctx, "pass %llu: out of memory for 3 arrays of %llu doubles",
                  (unsigned long long)index, (unsigned long long)s->n);
    return ST_ENOMEM;
  }
  double *restrict a = m->a;
  const double *restrict b = m->b, *restrict c = m->c;
  double q = s->scalar, t0 = now();
  for (uint64_t i = 0; i < s->n; i++)
    a[i] = b[i] + q * c[i];
  double t1 = now(), sum = 0.0;
  for (uint64_t i = 0; i < s->n; i++)
    sum += a[i];
  pthread_mutex_lock(&s->lock);
  m->next = s->spare;
  s->spare = m;
  pthread_mutex_unlock(&s->lock);
  /* STREAM's count: the triad reads b and c and writes a. */
  acc->bytes += 3.0 * sizeof(double) * (double)s->n;
  acc->busy += t1 - t0;
  if (acc->first == 0.0 || t0 < acc->first)
    acc->first = t0;
  if (t1 > acc->last)
    acc->last = t1;
  acc->sum += sum;
  return 0;
}

static void *st_acc_new(so_ctx *ctx) { return calloc(1, sizeof(st_acc)); }

static int st_acc_write(so_ctx *ctx, void *acc, so_result *res) {
  return so_result_write(res, acc, sizeof(st_acc)) ? ST_ENOMEM : 0;
}

/* Bytes, seconds and sums add; the span takes the earliest start and the latest end. */
static int st_combine(so_ctx *ctx, void *totalp, const void *data, size_t len) {
  st_acc *t = totalp, p;
  if (len != sizeof p) {
    so_ctx_errorf(ctx, "a partial of %zu bytes, expected %zu", len, sizeof p);
    return ST_ERESULT;
  }
  memcpy(&p, data, sizeof p);
  t->bytes += p.bytes;
  t->busy += p.busy;
  t->sum += p.sum;
  if (p.first != 0.0 && (t->first == 0.0 || p.first < t->first))
    t->first = p.first;
  if (p.last > t->last)
    t->last = p.last;
  return 0;
}

static void st_acc_free(so_ctx *ctx, void *acc) { free(acc); }

/*
 * gbps: bytes over the span from the first pass's start to the last pass's end on any worker,
 * the node's aggregate bandwidth; pass_gbps: bytes over the seconds spent in passes, what one
 * core saw while the others ran. With one worker they agree; with more, gbps grows with the
 * workers only while the memory bus has bandwidth to spare.
 */
static int st_reduced(so_ctx *ctx, const void *totalp) {
  const st_acc *t = totalp;
  double span = t->last - t->first;
  so_answer_double(ctx, "gbps", span > 0 ? t->bytes / span / 1e9 : 0.0);
  so_answer_double(ctx, "pass_gbps", t->busy > 0 ? t->bytes / t->busy / 1e9 : 0.0);
  so_answer_int(ctx, "bytes", (int64_t)t->bytes);
  so_answer_int(ctx, "sum", (int64_t)t->sum);
  return 0;
}

static void st_fini(so_ctx *ctx) {
  st_state *s = so_ctx_state(ctx);
  if (!s)
    return;
  arrays_free(s->spare);
  pthread_mutex_destroy(&s->lock);
  free(s);
  so_ctx_set_state(ctx, NULL);
}

static const so_map st_map = {
    .input = SO_MAP_RANGE,
    .count = st_passes,
    .schedule = {SO_SCHED_DYNAMIC, 1},
    .reduce = SO_REDUCE_CUSTOM,
    .item = st_item,
    .acc_new = st_acc_new,
    .acc_write = st_acc_write,
    .combine = st_combine,
    .acc_free = st_acc_free,
    .reduced = st_reduced,
};

const so_job so_job_stream = {
    SO_JOB_VERSION,
    .name = "stream",
    .summary = "STREAM triad a = b + s*c per worker, memory bandwidth in GB/s (memory-bound)",
    .params = st_params,
    .init = st_init,
    .fini = st_fini,
    .map = &st_map,
};

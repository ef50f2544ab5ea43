/* The primes job: an exact count of the primes in [from, to) by a segmented sieve of Eratosthenes. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs_list.h"
#include "scaleout/map.h"

enum { PRIMES_ENOMEM = 1 }; /* job-specific failure code */

/* The largest `to` accepted. The arithmetic below is exact far beyond it (p*p and indices fit in
 * 64 bits); the limit is what the tests check against trial division and what runs in sane time. */
#define PRIMES_MAX 1e12

/* Segment bytes: one byte per odd number, so 32 KiB covers 64 Ki numbers and stays in L1. Ranges
 * whose base primes are larger get bigger segments (see seg_bytes) so that most base primes still
 * strike at least once per segment instead of being skipped over many times. */
#define SEG_MIN (32u * 1024)
#define SEG_MAX (1024u * 1024)

static const so_param_def primes_params[] = {
    {"from", SO_PARAM_INT, "0", "first number of the range", 0, PRIMES_MAX},
    {"to", SO_PARAM_INT, "1e9", "end of the range (excluded)", 1, PRIMES_MAX},
    {"tasks", SO_PARAM_INT, "1000", "tasks the range is split into", 1, PRIMES_MAX},
    {NULL, 0, NULL, NULL, 0, 0},
};

typedef struct primes_state {
  uint64_t from, to, tasks;
  uint64_t per_task; /* numbers every task covers ... */
  uint64_t extra;    /* ... plus one more for the first `extra` tasks */
  /* Worker side, built once in init() and only read afterwards. */
  uint32_t *base;    /* the odd primes p with p*p < to, ascending */
  size_t nbase;
  size_t seg_len;
  /* The sieves not in use: with --threads T up to T slices are sieved at once, each with its
   * own; one thread reuses the same one, window and all. */
  pthread_mutex_t lock;
  int locked_init;
  struct sieve *spare;
} primes_state;

/* What sieving a slice writes. */
typedef struct sieve {
  uint64_t *next; /* per base prime: index of its next odd multiple to strike in this slice */
  uint8_t *seg;   /* the segment: seg[j] != 0 when the odd number it stands for is composite */
  /* A sieved window of 2 * seg_len numbers kept across slices, so that slices much narrower
   * than a segment (--tasks 1e7 over 1e9) share one sieve instead of each walking every base
   * prime: win[j] != 0 when win_lo + 1 + 2j is composite, for the numbers in [win_lo, win_hi). */
  uint8_t *win;
  uint64_t win_lo, win_hi; /* win_hi == 0: nothing sieved yet */
  struct sieve *spare;
} sieve;

/* The largest r with r*r <= n. */
static uint64_t isqrt64(uint64_t n) {
  uint64_t r = (uint64_t)sqrt((double)n);
  while (r > 0 && r * r > n)
    r--;
  while ((r + 1) * (r + 1) <= n)
    r++;
  return r;
}

/* Task id covers [*lo, *hi); the first `extra` tasks take one number more so the split is exact. */
static void task_range(const primes_state *s, uint64_t id, uint64_t *lo, uint64_t *hi) {
  *lo = s->from + id * s->per_task + (id < s->extra ? id : s->extra);
  *hi = *lo + s->per_task + (id < s->extra ? 1 : 0);
}

/* Builds the odd base primes up to isqrt(to - 1) with a plain sieve (at most 10^6 numbers). */
static int build_base(primes_state *s) {
  uint64_t r = isqrt64(s->to - 1);
  uint8_t *comp = calloc(r + 1, 1);
  if (!comp)
    return PRIMES_ENOMEM;
  size_t n = 0;
  for (uint64_t i = 3; i <= r; i += 2) {
    if (comp[i])
      continue;
    n++;
    for (uint64_t j = i * i; j <= r; j += 2 * i)
      comp[j] = 1;
  }
  s->base = malloc((n ? n : 1) * sizeof *s->base);
  if (!s->base) {
    free(comp);
    return PRIMES_ENOMEM;
  }
  for (uint64_t i = 3; i <= r; i += 2)
    if (!comp[i])
      s->base[s->nbase++] = (uint32_t)i;
  free(comp);
  return 0;
}

/* Segment size: at least L1-sized, and at least half the largest base prime (in odd-number bytes)
 * so big primes strike about once per segment; capped to stay within L2. */
static size_t seg_bytes(const primes_state *s) {
  size_t want = s->nbase ? s->base[s->nbase - 1] / 2 : 0;
  if (want < SEG_MIN)
    want = SEG_MIN;
  if (want > SEG_MAX)
    want = SEG_MAX;
  return want;
}

/* Counts the primes in [lo, hi) with the worker's base primes; hi <= to. */
static uint64_t count_range(const primes_state *s, sieve *v, uint64_t lo, uint64_t hi) {
  uint64_t count = 0;
  if (lo <= 2 && 2 < hi)
    count++;
  uint64_t start = lo | 1; /* the first odd number >= lo; index j stands for start + 2j */
  if (start >= hi)
    return count;
  uint64_t nodd = (hi - start + 1) / 2;
  /* 1 is odd and no prime strikes it, so the sieve below counts it; take it off at the end. */
  uint64_t not_prime_one = start == 1;

  /* First odd multiple of p to strike: p*p (smaller multiples have a smaller factor), or the first
   * odd multiple at or after start. Only primes with p*p < hi strike anything in the range. */
  size_t np = 0;
  while (np < s->nbase && (uint64_t)s->base[np] * s->base[np] < hi) {
    uint64_t p = s->base[np];
    uint64_t m = p * p;
    if (m < start) {
      m = (start + p - 1) / p * p;
      if ((m & 1) == 0)
        m += p;
    }
    v->next[np++] = (m - start) / 2;
  }

  for (uint64_t j0 = 0; j0 < nodd; j0 += s->seg_len) {
    uint64_t len = nodd - j0 < s->seg_len ? nodd - j0 : s->seg_len;
    uint64_t j1 = j0 + len;
    uint8_t *seg = v->seg;
    memset(seg, 0, len);
    for (size_t i = 0; i < np; i++) {
      uint64_t j = v->next[i];
      if (j >= j1)
        continue; /* p*p lies beyond this segment, or p skips it entirely */
      uint64_t p = s->base[i];
      for (; j < j1; j += p)
        seg[j - j0] = 1;
      v->next[i] = j;
    }
    uint64_t zeros = 0;
    for (uint64_t j = 0; j < len; j++)
      zeros += seg[j] == 0;
    count += zeros;
  }
  return count - not_prime_one;
}

/* Sieves the window [wlo, whi) into v->win; wlo is even, whi <= to. */
static void sieve_window(const primes_state *s, sieve *v, uint64_t wlo, uint64_t whi) {
  uint64_t first = wlo + 1, len = (whi - wlo) / 2; /* the odd numbers first, first + 2, ... */
  memset(v->win, 0, len);
  for (size_t i = 0; i < s->nbase && (uint64_t)s->base[i] * s->base[i] < whi; i++) {
    uint64_t p = s->base[i], m = p * p;
    if (m < first) {
      m = (first + p - 1) / p * p;
      if ((m & 1) == 0)
        m += p;
    }
    for (uint64_t j = (m - first) / 2; j < len; j += p)
      v->win[j] = 1;
  }
  v->win_lo = wlo;
  v->win_hi = whi;
}

/* Counts the primes in [lo, hi), a range narrower than a window, from the cached windows: each
 * window is sieved once for all the tasks that fall in it. */
static uint64_t count_small(const primes_state *s, sieve *v, uint64_t lo, uint64_t hi) {
  uint64_t width = 2 * (uint64_t)s->seg_len, count = 0;
  if (lo <= 2 && 2 < hi)
    count++;
  if (lo <= 1 && 1 < hi)
    count--; /* 1 is odd and unstruck: the zeros below count it, but it is not prime */
  for (uint64_t a = lo; a < hi;) {
    uint64_t wlo = a / width * width, whi = wlo + width < s->to ? wlo + width : s->to;
    if (v->win_hi == 0 || v->win_lo != wlo)
      sieve_window(s, v, wlo, whi);
    uint64_t b = hi < whi ? hi : whi;
    /* Odd numbers of [a, b): indexes (a - wlo) / 2 to (b - wlo) / 2, as wlo is even. */
    for (uint64_t j = (a - wlo) / 2, end = (b - wlo) / 2; j < end; j++)
      count += v->win[j] == 0;
    a = b;
  }
  return count;
}

/* Frees the state; copes with a NULL state and with a half-built one from a failed init(). */
static void primes_fini(so_ctx *ctx) {
  primes_state *s = so_ctx_state(ctx);
  if (!s)
    return;
  free(s->base);
  while (s->spare) {
    sieve *v = s->spare;
    s->spare = v->spare;
    free(v->next);
    free(v->seg);
    free(v->win);
    free(v);
  }
  if (s->locked_init)
    pthread_mutex_destroy(&s->lock);
  free(s);
  so_ctx_set_state(ctx, NULL);
}

/* The parameters alone, before any rank starts (so_job.check): a range, and a number in each
 * task. */
static int primes_check(so_ctx *ctx) {
  int64_t from = so_ctx_int(ctx, "from"), to = so_ctx_int(ctx, "to");
  int64_t tasks = so_ctx_int(ctx, "tasks");
  if (from >= to) {
    so_ctx_errorf(ctx, "--from (%lld) must be below --to (%lld)", (long long)from, (long long)to);
    return SO_EINVAL;
  }
  if (tasks > to - from) {
    so_ctx_errorf(ctx, "--tasks (%lld) must not exceed the %lld numbers in [from, to)",
                  (long long)tasks, (long long)(to - from));
    return SO_EINVAL;
  }
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    so_ctx_set_total(ctx, (uint64_t)tasks);
  return 0;
}

static int primes_init(so_ctx *ctx) {
  int rc = primes_check(ctx);
  if (rc)
    return rc;
  int64_t from = so_ctx_int(ctx, "from"), to = so_ctx_int(ctx, "to");
  int64_t tasks = so_ctx_int(ctx, "tasks");
  primes_state *s = calloc(1, sizeof *s);
  if (!s) {
    so_ctx_errorf(ctx, "out of memory");
    return PRIMES_ENOMEM;
  }
  /* Set at once so that a failure below can release everything through primes_fini(), which
   * leaves the state NULL for a later fini() call by the engine. */
  so_ctx_set_state(ctx, s);
  s->from = (uint64_t)from;
  s->to = (uint64_t)to;
  s->tasks = (uint64_t)tasks;
  s->per_task = (s->to - s->from) / s->tasks;
  s->extra = (s->to - s->from) % s->tasks;
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    return 0;
  if (build_base(s)) {
    so_ctx_errorf(ctx, "out of memory building the base primes up to sqrt(%llu)",
                  (unsigned long long)s->to);
    primes_fini(ctx);
    return PRIMES_ENOMEM;
  }
  s->seg_len = seg_bytes(s);
  s->locked_init = pthread_mutex_init(&s->lock, NULL) == 0;
  if (!s->locked_init) {
    so_ctx_errorf(ctx, "cannot make a mutex");
    primes_fini(ctx);
    return PRIMES_ENOMEM;
  }
  return 0;
}

/* A sieve for one slice: a spare one, or a new one. NULL when out of memory. */
static sieve *sieve_take(primes_state *s) {
  pthread_mutex_lock(&s->lock);
  sieve *v = s->spare;
  if (v)
    s->spare = v->spare;
  pthread_mutex_unlock(&s->lock);
  if (v || !(v = calloc(1, sizeof *v)))
    return v;
  v->next = malloc((s->nbase ? s->nbase : 1) * sizeof *v->next);
  v->seg = malloc(s->seg_len);
  v->win = malloc(s->seg_len);
  if (v->next && v->seg && v->win)
    return v;
  free(v->next);
  free(v->seg);
  free(v->win);
  free(v);
  return NULL;
}

static void sieve_give(primes_state *s, sieve *v) {
  pthread_mutex_lock(&s->lock);
  v->spare = s->spare;
  s->spare = v;
  pthread_mutex_unlock(&s->lock);
}

/* Item i of the map is the old task i: its share of [from, to) sieved. A slice narrower than a
 * window shares a sieved window with its neighbours; a wider one streams its own segments. */
static int primes_item(so_ctx *ctx, uint64_t i, const void *rec, size_t len, void *acc,
                       so_result *res) {
  (void)rec, (void)len, (void)res;
  primes_state *s = so_ctx_state(ctx);
  uint64_t lo, hi, *sum = acc;
  sieve *v = sieve_take(s);
  if (!v) {
    so_ctx_errorf(ctx, "out of memory for two %zu-byte sieve segments", s->seg_len);
    return PRIMES_ENOMEM;
  }
  task_range(s, i, &lo, &hi);
  sum[0] += hi - lo < 2 * (uint64_t)s->seg_len ? count_small(s, v, lo, hi)
                                                : count_range(s, v, lo, hi);
  sum[1] += hi - lo;
  sieve_give(s, v);
  return 0;
}

static uint64_t primes_count(so_ctx *ctx) { return (uint64_t)so_ctx_int(ctx, "tasks"); }

/* A count with a hole in it (failed tasks, or a stop signal: the engine then says the answer is
 * incomplete or partial) says how many numbers it lacks. */
static int primes_reduced(so_ctx *ctx, const void *total) {
  const primes_state *s = so_ctx_state(ctx);
  const uint64_t *sum = total;
  so_answer_int(ctx, "primes", (int64_t)sum[0]);
  so_answer_int(ctx, "from", (int64_t)s->from);
  so_answer_int(ctx, "to", (int64_t)s->to);
  if (sum[1] != s->to - s->from)
    so_answer_int(ctx, "missing_numbers", (int64_t)(s->to - s->from - sum[1]));
  return 0;
}

static const so_map primes_map = {.input = SO_MAP_RANGE, .count = primes_count,
                                  .schedule = {SO_SCHED_DYNAMIC, 1}, .reduce = SO_REDUCE_SUM,
                                  .value = SO_VALUE_U64, .nvalues = 2, .item = primes_item,
                                  .reduced = primes_reduced};

const so_job so_job_primes = {
    SO_JOB_VERSION,
    .name = "primes",
    .summary = "count the primes in [from, to) with a segmented sieve (CPU-bound, exact)",
    .params = primes_params,
    .check = primes_check,
    .init = primes_init,
    .fini = primes_fini,
    .map = &primes_map,
};

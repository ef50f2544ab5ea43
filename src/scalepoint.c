/* Per-point figures, placement comparison and the cheapest configuration (see scalepoint.h). */
#include "scalepoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "scaleout/scaleout.h"

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The median of v[0..n), n >= 1; v is sorted in place. */
static double median_sorted(double *v, size_t n) {
  qsort(v, n, sizeof *v, by_value);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int check_times(const so__fit_sample *s, size_t n, char *err, size_t errlen) {
  if (n == 0) {
    so__seterr(err, errlen, "there are no measurements");
    return SO_EINVAL;
  }
  for (size_t i = 0; i < n; i++)
    if (s[i].workers < 1 || !(s[i].seconds > 0) || !isfinite(s[i].seconds)) {
      so__seterr(err, errlen, "a measurement at %d workers has a time that is not a positive "
                 "number: counts start at 1 and times must be positive", s[i].workers);
      return SO_EINVAL;
    }
  return 0;
}

int so__point_stats_make(const so__fit_sample *s, size_t n, so__scaling sc,
                         so__point_stats **out, int *npoints, char *err, size_t errlen) {
  *out = NULL;
  *npoints = 0;
  int rc = check_times(s, n, err, errlen);
  if (rc != 0)
    return rc;
  so__point_stats *p = calloc(n, sizeof *p);
  double *v = malloc(n * sizeof *v);
  if (!p || !v) {
    free(p);
    free(v);
    return SO_ENOMEM;
  }
  /* Distinct counts, rising: a selection by repeated minimum keeps this simple; a comparison has
   * a few dozen points at most. */
  int np = 0, last = 0;
  for (;;) {
    int next = 0;
    for (size_t i = 0; i < n; i++)
      if (s[i].workers > last && (next == 0 || s[i].workers < next))
        next = s[i].workers;
    if (next == 0)
      break;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (s[i].workers == next)
        v[k++] = s[i].seconds;
    so__point_stats *q = &p[np++];
    q->workers = next;
    q->reps = k;
    q->median = median_sorted(v, k);
    q->min = v[0];
    q->max = v[k - 1];
    last = next;
  }
  /* Speedup is over the one-worker median; a series without that point has none. */
  if (p[0].workers == 1)
    for (int i = 0; i < np; i++) {
      so__point_stats *q = &p[i];
      double w = q->workers;
      q->has_speedup = 1;
      q->speedup = sc == SO_SCALING_STRONG ? p[0].median / q->median : w * p[0].median / q->median;
      q->efficiency = q->speedup / w;
      if (q->workers > 1) {
        q->has_karp_flatt = 1;
        q->karp_flatt = (1 / q->speedup - 1 / w) / (1 - 1 / w);
      }
    }
  free(v);
  *out = p;
  *npoints = np;
  return 0;
}

/* The median of a resample of v[0..n) drawn with replacement, using tmp[0..n). */
static double resampled_median(const double *v, size_t n, double *tmp, unsigned long long *st) {
  for (size_t i = 0; i < n; i++)
    tmp[i] = v[so__fit_rand(st, (unsigned)n)];
  return median_sorted(tmp, n);
}

int so__placement_compare(const double *a, size_t na, const double *b, size_t nb,
                          so__placement_cmp *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->faster = -1;
  if (na == 0 || nb == 0) {
    so__seterr(err, errlen, "a placement without measurements cannot be compared");
    return SO_EINVAL;
  }
  for (size_t i = 0; i < na + nb; i++) {
    double t = i < na ? a[i] : b[i - na];
    if (!(t > 0) || !isfinite(t)) {
      so__seterr(err, errlen, "a time that is not a positive number cannot be compared");
      return SO_EINVAL;
    }
  }
  double *tmp = malloc((na + nb) * sizeof *tmp), *ratios = malloc(SO_FIT_BOOT * sizeof *ratios);
  if (!tmp || !ratios) {
    free(tmp);
    free(ratios);
    return SO_ENOMEM;
  }
  memcpy(tmp, a, na * sizeof *a);
  double ma = median_sorted(tmp, na);
  memcpy(tmp, b, nb * sizeof *b);
  double mb = median_sorted(tmp, nb);
  out->ratio.est = out->ratio.lo = out->ratio.hi = mb / ma;
  /* With a single repetition on a side, resampling it says nothing about its spread. */
  if (na >= 2 && nb >= 2) {
    unsigned long long st = SO_FIT_SEED;
    for (int i = 0; i < SO_FIT_BOOT; i++) {
      double ra = resampled_median(a, na, tmp, &st);
      ratios[i] = resampled_median(b, nb, tmp, &st) / ra;
    }
    so__fit_percentiles(ratios, SO_FIT_BOOT, &out->ratio.lo, &out->ratio.hi);
    out->faster = out->ratio.lo > 1 ? 0 : out->ratio.hi < 1 ? 1 : -1;
  }
  free(tmp);
  free(ratios);
  return 0;
}

int so__cheapest(const so__cost_point *pts, size_t n, double deadline, size_t *best,
                 double *core_hours, char *err, size_t errlen) {
  if (!(deadline > 0) || !isfinite(deadline)) {
    so__seterr(err, errlen, "the deadline must be a positive number of seconds");
    return SO_EINVAL;
  }
  if (n == 0) {
    so__seterr(err, errlen, "there are no measured configurations to choose from");
    return SO_EINVAL;
  }
  for (size_t i = 0; i < n; i++)
    if (pts[i].workers < 1 || !(pts[i].seconds > 0) || !isfinite(pts[i].seconds)) {
      so__seterr(err, errlen, "configuration %zu has %d workers and a time that is not a "
                 "positive number", i + 1, pts[i].workers);
      return SO_EINVAL;
    }
  size_t pick = n, fastest = 0;
  double cost = INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (pts[i].seconds < pts[fastest].seconds)
      fastest = i;
    if (pts[i].seconds > deadline)
      continue;
    double c = pts[i].workers * pts[i].seconds / 3600;
    if (c < cost || (c == cost && pts[i].workers < pts[pick].workers)) {
      cost = c;
      pick = i;
    }
  }
  if (pick == n) {
    so__seterr(err, errlen,
               "no measured configuration finishes within %g s; the fastest, %d workers, takes "
               "%g s", deadline, pts[fastest].workers, pts[fastest].seconds);
    return SO_EINVAL;
  }
  *best = pick;
  *core_hours = cost;
  return 0;
}

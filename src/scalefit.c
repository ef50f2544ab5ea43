/* Amdahl, Gustafson and the universal scalability law fitted with bootstrap intervals (see
 * scalefit.h for the models). */
#include "scalefit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lsq.h"
#include "scaleout/scaleout.h"

unsigned so__fit_rand(unsigned long long *state, unsigned bound) {
  unsigned long long z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (unsigned)(z % bound); /* the modulo bias is below 1e-15 for repetition counts */
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void so__fit_percentiles(double *vals, size_t n, double *lo, double *hi) {
  qsort(vals, n, sizeof *vals, by_value);
  /* Nearest-rank order statistics: with 1000 values the 25th and the 975th. */
  size_t l = (size_t)floor(0.025 * (double)n), h = (size_t)ceil(0.975 * (double)n);
  if (h >= 1)
    h--;
  *lo = vals[l < n ? l : n - 1];
  *hi = vals[h < n ? h : n - 1];
}

/* The samples sorted by worker count, as runs of equal counts. */
typedef struct groups {
  int ng;
  int *workers;   /* ng distinct counts, rising */
  size_t *start;  /* ng: where each count's run begins in the sorted arrays */
  size_t *count;  /* ng: repetitions of each count */
  size_t maxrep;
} groups;

/* Which model: the two serial-fraction laws share one code path, the USL the other. */
enum { MODEL_SERIAL, MODEL_USL };

/* Scratch space for one fit, reused by every bootstrap resample. */
typedef struct scratch {
  double *x, *y, *w, *med;
} scratch;

static double median_of(double *v, size_t n) {
  qsort(v, n, sizeof *v, by_value);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The model's time at n workers from its coefficients p = {t1, f or sigma, kappa}. Infinity when
 * it predicts none (a Gustafson fraction above one, far out). */
static double model_time(int model, so__scaling sc, const double *p, double n) {
  if (model == MODEL_SERIAL) {
    if (sc == SO_SCALING_STRONG)
      return p[0] * (p[1] + (1 - p[1]) / n);
    double rate = 1 - p[1] * (n - 1) / n;
    return rate > 0 ? p[0] / rate : INFINITY;
  }
  double grow = 1 + p[1] * (n - 1) + p[2] * n * (n - 1);
  return sc == SO_SCALING_STRONG ? p[0] * grow / n : p[0] * grow;
}

/*
 * Fits one model to the grouped times t (in group order; g gives the runs) and writes
 * p = {t1, f or sigma, kappa}. Each model is put in a form linear in its coefficients:
 *   serial, strong: T = a + b/N                     (t1 = a + b, f = a / t1)
 *   serial, weak:   1/T = u - v (N-1)/N             (t1 = 1/u, f = v / u)
 *   USL, strong:    N T = c0 + c1 (N-1) + c2 N(N-1) (t1 = c0, sigma = c1/c0, kappa = c2/c0)
 *   USL, weak:      T = the same right-hand side
 * Each sample is weighted by 1/m^2, m the median of its count's left-hand sides, so the fit
 * minimises relative errors: times spanning two orders of magnitude weigh alike, and the USL's
 * N T, which grows with N, does not let the largest counts decide alone.
 * Returns 0, or -1 when the system is degenerate or the result unphysical (t1 <= 0).
 */
static int fit_model(int model, so__scaling sc, const groups *g, const double *t, scratch *s,
                     double p[3]) {
  int np = model == MODEL_SERIAL ? 2 : 3;
  size_t n = 0;
  for (int k = 0; k < g->ng; k++) {
    double nw = g->workers[k];
    for (size_t r = 0; r < g->count[k]; r++, n++) {
      double tt = t[g->start[k] + r], *x = &s->x[n * (size_t)np];
      if (model == MODEL_SERIAL && sc == SO_SCALING_STRONG) {
        s->y[n] = tt;
        x[0] = 1;
        x[1] = 1 / nw;
      } else if (model == MODEL_SERIAL) {
        s->y[n] = 1 / tt;
        x[0] = 1;
        x[1] = -(nw - 1) / nw;
      } else {
        s->y[n] = sc == SO_SCALING_STRONG ? nw * tt : tt;
        x[0] = 1;
        x[1] = nw - 1;
        x[2] = nw * (nw - 1);
      }
      s->med[r] = s->y[n];
    }
    double m = median_of(s->med, g->count[k]);
    for (size_t r = n - g->count[k]; r < n; r++)
      s->w[r] = 1 / (m * m);
  }
  /* Serial strong: both a and b are times and cannot be negative. Serial weak: only the
   * fraction's v is bounded (u is a rate, positive by the data). USL: all three. */
  unsigned bounds = model == MODEL_USL ? 7u : sc == SO_SCALING_STRONG ? 3u : 2u;
  double beta[3] = {0}, ssr;
  if (so__lsq_fit(s->x, s->y, s->w, n, np, bounds, beta, &ssr) != 0)
    return -1;
  /* Gustafson's fraction is at most 1 too (beyond it the model's rate 1/T turns negative), a
   * bound on v - u rather than on one coefficient. When the fit crosses it, the bounded optimum
   * lies on one of its two edges: f = 1 (1/T = u/N) or f = 0 (1/T = u); the better one is kept. */
  if (model == MODEL_SERIAL && sc == SO_SCALING_WEAK && beta[1] > beta[0]) {
    double best = INFINITY, u, e;
    for (int edge = 0; edge < 2; edge++) {
      for (size_t i = 0; i < n; i++) /* column of the edge: x0 + x1 = 1/N when f = 1 */
        s->med[i] = edge == 0 ? s->x[2 * i] + s->x[2 * i + 1] : 1;
      if (so__lsq_fit(s->med, s->y, s->w, n, 1, 1u, &u, &e) == 0 && e < best) {
        best = e;
        beta[0] = u;
        beta[1] = edge == 0 ? u : 0;
      }
    }
    if (!isfinite(best))
      return -1;
  }
  if (model == MODEL_SERIAL && sc == SO_SCALING_STRONG) {
    p[0] = beta[0] + beta[1];
    p[1] = p[0] > 0 ? beta[0] / p[0] : 0;
  } else if (model == MODEL_SERIAL) {
    p[0] = beta[0] > 0 ? 1 / beta[0] : 0;
    p[1] = beta[0] > 0 ? beta[1] / beta[0] : 0;
  } else {
    p[0] = beta[0];
    p[1] = beta[0] > 0 ? beta[1] / beta[0] : 0;
    p[2] = beta[0] > 0 ? beta[2] / beta[0] : 0;
  }
  p[2] = model == MODEL_USL ? p[2] : 0;
  return p[0] > 0 && isfinite(p[0]) ? 0 : -1;
}

/* R^2 and residuals of a fitted model on the measured times (sorted order mapped back to the
 * input order through idx). */
static void goodness(so__fit_model *m, int model, so__scaling sc, const groups *g, const double *t,
                     const size_t *idx, size_t n, const double p[3]) {
  double mean = 0, tot = 0, res = 0;
  for (size_t i = 0; i < n; i++)
    mean += t[i] / (double)n;
  for (int k = 0; k < g->ng; k++)
    for (size_t r = 0; r < g->count[k]; r++) {
      size_t i = g->start[k] + r;
      double e = t[i] - model_time(model, sc, p, g->workers[k]);
      m->resid[idx[i]] = e;
      res += e * e;
      tot += (t[i] - mean) * (t[i] - mean);
    }
  m->r2 = 1 - res / tot; /* tot > 0: equal times were refused before any fit */
}

/* N* = sqrt((1 - sigma)/kappa), or infinity when the fit has no peak. */
static double peak_of(const double p[3]) {
  return p[2] > 0 && p[1] < 1 ? sqrt((1 - p[1]) / p[2]) : INFINITY;
}

static void no_interval(so__fit_value *v) { v->lo = v->hi = v->est; }

/* Fills the model's estimates from p and its intervals from the resampled columns. */
static void fill_model(so__fit_model *m, int model, const double p[3], double *const cols[4],
                       size_t nb, int limit) {
  m->ok = 1;
  m->t1 = p[0];
  m->f.est = p[1];
  m->kappa.est = model == MODEL_USL ? p[2] : 0;
  if (model == MODEL_USL) {
    double peak = peak_of(p);
    m->peak_kind = !isfinite(peak) ? SO_PEAK_NONE : peak > limit ? SO_PEAK_BEYOND : SO_PEAK_AT;
    m->peak.est = m->peak_kind == SO_PEAK_AT ? peak : INFINITY;
  }
  no_interval(&m->f);
  no_interval(&m->kappa);
  no_interval(&m->peak);
  if (nb == 0)
    return;
  so__fit_percentiles(cols[1], nb, &m->f.lo, &m->f.hi);
  if (model == MODEL_USL) {
    so__fit_percentiles(cols[2], nb, &m->kappa.lo, &m->kappa.hi);
    /* A resample without a peak, or with one past the limit, counts as unbounded above. */
    for (size_t b = 0; b < nb; b++)
      if (cols[3][b] > limit)
        cols[3][b] = INFINITY;
    if (m->peak_kind == SO_PEAK_AT)
      so__fit_percentiles(cols[3], nb, &m->peak.lo, &m->peak.hi);
  }
}

void so__fit_free(so__fit *fit) {
  if (!fit)
    return;
  free(fit->serial.resid);
  free(fit->usl.resid);
  fit->serial.resid = fit->usl.resid = NULL;
}

/* Checks the samples and sorts them into runs of equal worker counts. */
static int validate(const so__fit_sample *smp, size_t n, char *err, size_t errlen) {
  if (n == 0) {
    so__seterr(err, errlen, "there are no measurements to fit");
    return SO_EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    if (smp[i].workers < 1) {
      so__seterr(err, errlen, "a measurement has %d workers: counts start at 1", smp[i].workers);
      return SO_EINVAL;
    }
    /* NaN is named in words: printf would write it as "nan", which reads like a figure. */
    if (!isfinite(smp[i].seconds)) {
      so__seterr(err, errlen, "a measurement at %d workers has a time that is not a number",
                 smp[i].workers);
      return SO_EINVAL;
    }
    if (!(smp[i].seconds > 0)) {
      so__seterr(err, errlen,
                 "a measurement at %d workers has a time of %g s: the fits need positive times",
                 smp[i].workers, smp[i].seconds);
      return SO_EINVAL;
    }
  }
  return 0;
}

/* A sample with its place in the input, sorted by worker count (then input order, so equal
 * counts keep their order and the result does not depend on qsort's stability). */
typedef struct placed {
  int workers;
  double seconds;
  size_t at;
} placed;

static int by_workers(const void *a, const void *b) {
  const placed *x = a, *y = b;
  if (x->workers != y->workers)
    return x->workers < y->workers ? -1 : 1;
  return (x->at > y->at) - (x->at < y->at);
}

int so__fit_run(const so__fit_sample *smp, size_t n, so__scaling sc, so__fit *out, char *err,
                size_t errlen) {
  memset(out, 0, sizeof *out);
  out->scaling = sc;
  out->nsamples = n;
  int rc = validate(smp, n, err, errlen);
  if (rc != 0)
    return rc;
  size_t *idx = malloc(n * sizeof *idx);
  placed *sorted = malloc(n * sizeof *sorted);
  double *t = malloc(n * sizeof *t), *tb = malloc(n * sizeof *tb);
  groups g = {0};
  g.workers = malloc(n * sizeof *g.workers);
  g.start = malloc(n * sizeof *g.start);
  g.count = malloc(n * sizeof *g.count);
  scratch s = {malloc(3 * n * sizeof(double)), malloc(n * sizeof(double)),
               malloc(n * sizeof(double)), malloc(n * sizeof(double))};
  double *cols[2][4] = {{0}};
  double *rel[2] = {malloc(n * sizeof(double)), malloc(n * sizeof(double))};
  double *fitted_t[2] = {malloc(n * sizeof(double)), malloc(n * sizeof(double))};
  out->serial.resid = calloc(n, sizeof(double));
  out->usl.resid = calloc(n, sizeof(double));
  rc = SO_ENOMEM;
  if (!rel[0] || !rel[1] || !fitted_t[0] || !fitted_t[1] || !idx || !sorted || !t || !tb || !g.workers || !g.start || !g.count || !s.x || !s.y || !s.w || !s.med ||
      !out->serial.resid || !out->usl.resid)
    goto done;
  for (size_t i = 0; i < n; i++)
    sorted[i] = (placed){smp[i].workers, smp[i].seconds, i};
  qsort(sorted, n, sizeof *sorted, by_workers);
  double lo = INFINITY, hi = 0;
  for (size_t i = 0; i < n; i++) {
    idx[i] = sorted[i].at;
    t[i] = sorted[i].seconds;
    lo = fmin(lo, t[i]);
    hi = fmax(hi, t[i]);
    if (i == 0 || sorted[i].workers != sorted[i - 1].workers) {
      g.workers[g.ng] = sorted[i].workers;
      g.start[g.ng] = i;
      g.count[g.ng++] = 0;
    }
    g.count[g.ng - 1]++;
    if (g.count[g.ng - 1] > g.maxrep)
      g.maxrep = g.count[g.ng - 1];
  }
  out->npoints = g.ng;
  out->max_workers = g.workers[g.ng - 1];
  rc = SO_EINVAL;
  if (g.ng < 2) {
    so__seterr(err, errlen,
               "all measurements are at %d workers: a fit needs at least two different counts",
               g.workers[0]);
    goto done;
  }
  if (hi - lo <= 1e-12 * hi) {
    so__seterr(err, errlen,
               "every time is the same (%g s): the times carry no scaling information (a run too "
               "short for the clock?)", lo);
    goto done;
  }
  rc = SO_ENOMEM;
  for (int m = 0; m < 2; m++)
    for (int c = 0; c < 4; c++)
      if (!(cols[m][c] = malloc(SO_FIT_BOOT * sizeof(double))))
        goto done;
  rc = 0;
  int limit = SO_FIT_EXTRAPOLATE_MAX * out->max_workers;
  so__fit_model *models[2] = {&out->serial, &out->usl};
  double p[2][3] = {{0}};
  int fitted[2];
  for (int m = 0; m < 2; m++) {
    fitted[m] = (m == MODEL_USL && g.ng < 3) ? 0 : fit_model(m, sc, &g, t, &s, p[m]) == 0;
    if (fitted[m])
      continue;
    if (m == MODEL_USL && g.ng < 3)
      snprintf(models[m]->why, sizeof models[m]->why,
               "the universal scalability law needs at least three different worker counts; the "
               "data has %d", g.ng);
    else
      snprintf(models[m]->why, sizeof models[m]->why,
               "the %s model could not be fitted: the times do not determine its terms",
               m == MODEL_USL ? "universal scalability" : sc == SO_SCALING_STRONG ? "Amdahl" :
                                                                                    "Gustafson");
  }
  /* The bootstrap resamples residuals, not cases: each model's relative residuals (measured over
   * fitted time, minus one) are pooled over every sample, widened by sqrt(n / (n - p)) for the
   * terms the fit used up, and drawn with replacement onto the fitted curve; every resample is
   * refitted. Drawing each count's own repetitions instead (a case bootstrap) sees only three
   * values per count at the default --repeat, and its 95% intervals held the true value in
   * 157 to 167 of 200 synthetic trials (1% noise, 3 repetitions); the pooled residuals hold it
   * in 180 to 187 of 200 (see docs/design.md). The residuals
   * still come from repetitions: without a count measured twice they would hold only the
   * model's misfit, so there is no interval then. */
  size_t nb[2] = {0, 0};
  out->intervals = g.maxrep >= 2;
  if (!out->intervals)
    snprintf(out->interval_why, sizeof out->interval_why,
             "no worker count was measured more than once, so there is no interval");
  for (int m = 0; m < 2 && out->intervals; m++) {
    if (!fitted[m])
      continue;
    int np = m == MODEL_SERIAL ? 2 : 3;
    double widen = n > (size_t)np ? sqrt((double)n / (double)(n - (size_t)np)) : 1;
    for (int k = 0; k < g.ng; k++) {
      double ft = model_time(m, sc, p[m], g.workers[k]);
      for (size_t r = 0; r < g.count[k]; r++) {
        fitted_t[m][g.start[k] + r] = ft;
        rel[m][g.start[k] + r] = (t[g.start[k] + r] / ft - 1) * widen;
      }
    }
  }
  unsigned long long state = SO_FIT_SEED;
  for (int b = 0; out->intervals && b < SO_FIT_BOOT; b++)
    for (int m = 0; m < 2; m++) {
      double q[3];
      if (!fitted[m])
        continue;
      for (size_t i = 0; i < n; i++)
        /* A widened residual below -1 (a wild outlier) would make a time negative. */
        tb[i] = fitted_t[m][i] * fmax(1 + rel[m][so__fit_rand(&state, (unsigned)n)], 1e-3);
      if (fit_model(m, sc, &g, tb, &s, q) != 0)
        continue;
      cols[m][0][nb[m]] = q[0];
      cols[m][1][nb[m]] = q[1];
      cols[m][2][nb[m]] = q[2];
      cols[m][3][nb[m]++] = peak_of(q);
    }
  for (int m = 0; m < 2; m++)
    if (fitted[m]) {
      fill_model(models[m], m, p[m], cols[m], nb[m], limit);
      goodness(models[m], m, sc, &g, t, idx, n, p[m]);
    }
done:
  for (int m = 0; m < 2; m++) {
    for (int c = 0; c < 4; c++)
      free(cols[m][c]);
    free(rel[m]);
    free(fitted_t[m]);
  }
  free(s.x);
  free(s.y);
  free(s.w);
  free(s.med);
  free(g.workers);
  free(g.start);
  free(g.count);
  free(idx);
  free(sorted);
  free(t);
  free(tb);
  if (rc != 0)
    so__fit_free(out);
  return rc;
}

/* The model predictions use: the USL when fitted (it holds Amdahl as kappa = 0), else the
 * serial model. */
static const so__fit_model *chosen(const so__fit *fit, int *model) {
  *model = fit->usl.ok ? MODEL_USL : MODEL_SERIAL;
  return fit->usl.ok ? &fit->usl : fit->serial.ok ? &fit->serial : NULL;
}

int so__fit_predict(const so__fit *fit, int workers, double *seconds, char *err, size_t errlen) {
  int model;
  const so__fit_model *m = chosen(fit, &model);
  long limit = (long)SO_FIT_EXTRAPOLATE_MAX * fit->max_workers;
  if (!m) {
    so__seterr(err, errlen, "no scaling model was fitted, so there is nothing to predict from");
    return SO_EINVAL;
  }
  if (workers < 1) {
    so__seterr(err, errlen, "cannot predict a time for %d workers: counts start at 1", workers);
    return SO_EINVAL;
  }
  if (workers > limit) {
    so__seterr(err, errlen,
               "%d workers is more than %d times the largest measured count (%d): scaleout does "
               "not extrapolate past %ld", workers, SO_FIT_EXTRAPOLATE_MAX, fit->max_workers, limit);
    return SO_EINVAL;
  }
  double p[3] = {m->t1, m->f.est, m->kappa.est};
  double v = model_time(model, fit->scaling, p, workers);
  if (!(v > 0) || !isfinite(v)) {
    so__seterr(err, errlen, "the fitted model predicts no finite time at %d workers", workers);
    return SO_EINVAL;
  }
  *seconds = v;
  return 0;
}

int so__fit_efficiency_limit(const so__fit *fit, double min_eff, int *workers, int *capped,
                             char *err, size_t errlen) {
  int model;
  const so__fit_model *m = chosen(fit, &model);
  if (!(min_eff > 0 && min_eff <= 1)) {
    if (isfinite(min_eff))
      so__seterr(err, errlen, "the minimum efficiency must be above 0 and at most 1, not %g",
                 min_eff);
    else
      so__seterr(err, errlen, "the minimum efficiency must be a number above 0 and at most 1");
    return SO_EINVAL;
  }
  if (!m) {
    so__seterr(err, errlen, "no scaling model was fitted, so there is no efficiency to judge");
    return SO_EINVAL;
  }
  double p[3] = {m->t1, m->f.est, m->kappa.est};
  /* Both models' efficiency falls with N (their terms are >= 0), so the counts that qualify are
   * 1..answer: a binary search over [1, limit]. */
  long lo = 1, hi = (long)SO_FIT_EXTRAPOLATE_MAX * fit->max_workers;
  while (lo < hi) {
    long mid = lo + (hi - lo + 1) / 2;
    double tn = model_time(model, fit->scaling, p, (double)mid);
    double eff = fit->scaling == SO_SCALING_STRONG ? p[0] / ((double)mid * tn) : p[0] / tn;
    if (eff >= min_eff)
      lo = mid;
    else
      hi = mid - 1;
  }
  *workers = (int)lo;
  *capped = lo == (long)SO_FIT_EXTRAPOLATE_MAX * fit->max_workers;
  return 0;
}

/* One number with digits significant digits; non-finite values never reach printf's "nan". */
static int num(double v, int digits, char *buf, size_t len) {
  int n = isfinite(v) ? snprintf(buf, len, "%.*g", digits, v)
                      : snprintf(buf, len, "%s", v > 0 ? "unbounded" : "n/a");
  return n < 0 || (size_t)n >= len ? -1 : n;
}

int so__fit_value_str(const so__fit_value *v, int digits, char *buf, size_t len) {
  char a[40], b[40], c[40];
  if (num(v->est, digits, a, sizeof a) < 0 || num(v->lo, digits, b, sizeof b) < 0 ||
      num(v->hi, digits, c, sizeof c) < 0)
    return SO_EINVAL;
  int same = v->lo == v->est && v->hi == v->est;
  int n = same ? snprintf(buf, len, "%s", a) : snprintf(buf, len, "%s [%s, %s]", a, b, c);
  if (n < 0 || (size_t)n >= len) {
    if (len)
      buf[0] = '\0';
    return SO_EINVAL;
  }
  return 0;
}

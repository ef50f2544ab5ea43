/* Scaling models fitted to (workers, time) repetitions: Amdahl's or Gustafson's serial fraction
 * and Gunther's universal scalability law, with bootstrap intervals. Pure: no MPI, no I/O. */
#ifndef SO_SCALEFIT_H
#define SO_SCALEFIT_H

#include <stddef.h>

#include "scaleout/scaleout.h" /* the SO_E* codes returned */

/* One repetition of one configuration. */
typedef struct so__fit_sample {
  int workers;    /* >= 1 */
  double seconds; /* wall time, > 0 */
} so__fit_sample;

typedef enum so__scaling {
  SO_SCALING_STRONG = 0, /* the total work is fixed: time should fall as 1/workers */
  SO_SCALING_WEAK        /* the work per worker is fixed: time should stay flat */
} so__scaling;

/* Never extrapolate past this many times the largest measured worker count. */
#define SO_FIT_EXTRAPOLATE_MAX 4

/* Bootstrap resamples and their fixed seed: the same data always gives the same interval. */
#define SO_FIT_BOOT 1000
#define SO_FIT_SEED 0x5ca1ab1eull

/* An estimate with its 95% interval. lo and hi equal est when there is no interval (see
 * so__fit.interval_why); hi is INFINITY when the interval is unbounded above. */
typedef struct so__fit_value {
  double est, lo, hi;
} so__fit_value;

typedef enum so__fit_peak {
  SO_PEAK_NONE = 0, /* no coherency cost fitted (kappa = 0): the speedup never turns down */
  SO_PEAK_AT,       /* peak.est workers, within the extrapolation limit */
  SO_PEAK_BEYOND    /* past SO_FIT_EXTRAPOLATE_MAX times the largest measured count: not stated */
} so__fit_peak;

typedef struct so__fit_model {
  int ok;           /* fitted; when 0, why says why not and nothing else is set */
  char why[256];
  double t1;        /* the model's time for one worker (fitted, not the measured one) */
  so__fit_value f;     /* serial models: Amdahl's (strong) or Gustafson's (weak) serial fraction;
                          USL: sigma, the contention term */
  so__fit_value kappa; /* USL only: the coherency term */
  so__fit_peak peak_kind; /* USL only */
  so__fit_value peak;  /* USL with SO_PEAK_AT: N* = sqrt((1 - sigma) / kappa) */
  double r2;        /* 1 - SS_res / SS_tot on the times */
  double *resid;    /* one per sample, in input order: measured minus fitted seconds */
} so__fit_model;

typedef struct so__fit {
  so__scaling scaling;
  size_t nsamples;
  int npoints;        /* distinct worker counts */
  int max_workers;    /* the largest measured count: the extrapolation limit is 4x this */
  int intervals;      /* 1 when the bootstrap had repetitions to resample */
  char interval_why[160]; /* when intervals is 0: why there are none */
  so__fit_model serial; /* Amdahl (strong) or Gustafson (weak) */
  so__fit_model usl;
} so__fit;

/*
 * Fits both models to samples[0..n) of one series. Strong scaling fits Amdahl's
 * T(N) = a + b/N (f = a/(a+b)) and the USL as N*T(N) = T1 (1 + sigma (N-1) + kappa N (N-1));
 * weak scaling fits Gustafson's 1/T(N) = (1 - f (N-1)/N) / T1 and the USL as
 * T(N) = T1 (1 + sigma (N-1) + kappa N (N-1)). All are linear in their coefficients and solved
 * by so__lsq_fit with the physical bounds (fractions and terms >= 0), weighted by each worker
 * count's median so every count weighs by its relative error. Intervals: percentile bootstrap
 * of SO_FIT_BOOT resamples, each the fitted curve times relative residuals drawn with replacement
 * from all repetitions (why residuals and not cases: scalefit.c and docs/design.md); none when
 * no worker count was measured twice (interval_why says so).
 * Returns 0 (free out with so__fit_free; a model that could not be fitted has ok = 0 and why),
 * or SO_EINVAL with one sentence in err when the data cannot carry a fit at all: a count below
 * 1, a time that is not a positive number, one worker count only, every time the same;
 * SO_ENOMEM.
 */
int so__fit_run(const so__fit_sample *samples, size_t n, so__scaling scaling, so__fit *out,
                char *err, size_t errlen);

/* Frees the residuals; accepts a zeroed fit and may be called twice. */
void so__fit_free(so__fit *fit);

/*
 * The time the model (the USL when it was fitted, else the serial model) predicts for workers.
 * Returns 0, or SO_EINVAL with one sentence in err: workers below 1, past SO_FIT_EXTRAPOLATE_MAX
 * times the largest measured count (scaleout does not extrapolate that far), no model fitted,
 * or a model predicting no finite time there.
 */
int so__fit_predict(const so__fit *fit, int workers, double *seconds, char *err, size_t errlen);

/*
 * The largest worker count, up to the extrapolation limit, whose modelled efficiency (strong:
 * T1 / (N T(N)); weak: T1 / T(N)) is at least min_eff; *capped is 1 when the limit itself still
 * qualifies (the true answer may be larger and is not stated). Returns 0, or SO_EINVAL with err:
 * min_eff outside (0, 1], or no model fitted.
 */
int so__fit_efficiency_limit(const so__fit *fit, double min_eff, int *workers, int *capped,
                             char *err, size_t errlen);

/* Writes v as "est [lo, hi]" with digits significant digits, "est" alone when lo == hi == est,
 * "unbounded" for an infinite upper end, "n/a" for a value that is not finite: never "nan".
 * Returns 0, or SO_EINVAL when buf is too small. */
int so__fit_value_str(const so__fit_value *v, int digits, char *buf, size_t len);

/* The percentile bootstrap's ends of vals[0..n) (sorted in place; infinities allowed): the 2.5%
 * and 97.5% order statistics. Shared with scalepoint.c. n must be >= 1. */
void so__fit_percentiles(double *vals, size_t n, double *lo, double *hi);

/* A small fixed-seed generator (splitmix64): uniform in [0, bound). */
unsigned so__fit_rand(unsigned long long *state, unsigned bound);

#endif

/* What each measured configuration shows on its own (speedup, efficiency, Karp-Flatt), which of
 * two placements is faster, and the cheapest configuration meeting a deadline. Pure. */
#ifndef SO_SCALEPOINT_H
#define SO_SCALEPOINT_H

#include <stddef.h>

#include "scalefit.h"

typedef struct so__point_stats {
  int workers;
  size_t reps;
  double median, min, max; /* seconds over the repetitions */
  int has_speedup;         /* the series has a one-worker point to compare with */
  double speedup;          /* strong: T1 / T; weak (scaled): N T1 / T; medians */
  double efficiency;       /* speedup / workers */
  int has_karp_flatt;      /* has_speedup and workers > 1 */
  double karp_flatt;       /* (1/S - 1/N) / (1 - 1/N): the serial fraction this point implies */
} so__point_stats;

/*
 * One so__point_stats per distinct worker count of samples[0..n) (one series), rising. Values a
 * point cannot have (speedup without a one-worker point, Karp-Flatt at one worker) are 0 with
 * their has_ flag 0, so nothing prints as NaN. Returns 0 (*out malloc'ed, *npoints set; the
 * caller frees *out), SO_EINVAL with one sentence in err (no samples, a count below 1, a time
 * that is not positive) or SO_ENOMEM.
 */
int so__point_stats_make(const so__fit_sample *samples, size_t n, so__scaling scaling,
                         so__point_stats **out, int *npoints, char *err, size_t errlen);

/* Which of two placements at the same worker count is faster. */
typedef struct so__placement_cmp {
  so__fit_value ratio; /* median time of b over median time of a, 95% bootstrap interval:
                          above 1 means a is faster */
  int faster;          /* 0: a, 1: b, -1: the interval holds 1 or there are too few repetitions */
} so__placement_cmp;

/*
 * Compares the repetitions a[0..na) and b[0..nb) (seconds) by the ratio of their medians, with
 * a percentile bootstrap (SO_FIT_BOOT resamples, SO_FIT_SEED) drawing each side's repetitions
 * with replacement. A winner is named only when each side has at least two repetitions and the
 * interval excludes 1. Returns 0, or SO_EINVAL with err (an empty side, a time not positive).
 */
int so__placement_compare(const double *a, size_t na, const double *b, size_t nb,
                          so__placement_cmp *out, char *err, size_t errlen);

/* One measured configuration's median time, for cost. */
typedef struct so__cost_point {
  int workers;
  double seconds;
} so__cost_point;

/*
 * The configuration finishing within deadline seconds at the least core-hours (workers x
 * seconds / 3600: the cores the workers hold; the master sleeps while it waits and is not
 * counted); ties go to fewer workers. Returns 0 with *best its index and *core_hours its cost,
 * or SO_EINVAL with one sentence in err: a deadline that is not positive, no points, or none
 * meeting the deadline (err then names the fastest and its time).
 */
int so__cheapest(const so__cost_point *pts, size_t n, double deadline, size_t *best,
                 double *core_hours, char *err, size_t errlen);

#endif

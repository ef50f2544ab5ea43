/* Batch statistics per task type, for jobs that mix kinds of task (so_job.types): each type has
 * its own mean duration and so its own batch size. */
#ifndef SO_TYPEBATCH_H
#define SO_TYPEBATCH_H

#include <stdint.h>

#include "batch.h"

/*
 * A worker reports the time it spent on all the tasks of one request, not on each (timing each
 * task would put the clock on the path of tiny ones), and a request may carry results of several
 * types. A request of one type is a direct sample of that type. For a mixed one, each type's
 * share is estimated by least squares over the recent requests: every request says
 * sum_t count_t * mean_t = busy, and the normal equations of these (exponentially forgotten, so
 * the estimate follows tasks that change) give every type's mean once the mixes differ enough
 * to tell the types apart. Until then the time is split in proportion to the means known so far
 * (or evenly per task). Up to SO_TYPEBATCH_SOLVE_MAX types are solved for; more fall back to the
 * split.
 */
#define SO_TYPEBATCH_SOLVE_MAX 16
#define SO_TYPEBATCH_FORGET 0.98 /* weight of the past at each new request */

typedef struct so__typebatch {
  uint32_t n;
  so__batch *b;       /* one per type */
  uint32_t *largest;  /* largest batch size handed out, per type */
  double *A, *y;      /* normal equations (n*n and n), when 2 <= n <= SO_TYPEBATCH_SOLVE_MAX */
  double *work;       /* scratch for the solve */
} so__typebatch;

/* n types (at least 1); the rest as so__batch_init. Returns 0 or SO_ENOMEM. */
int so__typebatch_init(so__typebatch *tb, uint32_t n, int nworkers, uint32_t fixed,
                       uint32_t prefetch);
void so__typebatch_free(so__typebatch *tb);

/* One request's results: counts[t] tasks of type t, busy_ns for all of them. */
void so__typebatch_observe(so__typebatch *tb, const uint64_t *counts, uint64_t busy_ns);

#endif

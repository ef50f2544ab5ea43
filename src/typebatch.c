/* Batch statistics per task type (see typebatch.h for the estimate of mixed requests). */
#include "typebatch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scaleout/errors.h"

int so__typebatch_init(so__typebatch *tb, uint32_t n, int nworkers, uint32_t fixed,
                       uint32_t prefetch) {
  memset(tb, 0, sizeof *tb);
  if (n < 1)
    n = 1;
  tb->n = n;
  tb->b = calloc(n, sizeof *tb->b);
  tb->largest = calloc(n, sizeof *tb->largest);
  if (!tb->b || !tb->largest)
    return SO_ENOMEM;
  for (uint32_t t = 0; t < n; t++)
    so__batch_init(&tb->b[t], nworkers, fixed, prefetch);
  if (n >= 2 && n <= SO_TYPEBATCH_SOLVE_MAX) {
    tb->A = calloc((size_t)n * n, sizeof *tb->A);
    tb->y = calloc(n, sizeof *tb->y);
    tb->work = calloc((size_t)n * (n + 1) + n, sizeof *tb->work);
    if (!tb->A || !tb->y || !tb->work)
      return SO_ENOMEM;
  }
  return 0;
}

void so__typebatch_free(so__typebatch *tb) {
  free(tb->b);
  free(tb->largest);
  free(tb->A);
  free(tb->y);
  free(tb->work);
  memset(tb, 0, sizeof *tb);
}

/* Solves the normal equations restricted to the types seen so far into mean[]; returns 1, or 0
 * when the types seen cannot yet be told apart (a pivot vanishes). */
static int solve(so__typebatch *tb, double *mean) {
  uint32_t n = tb->n, idx[SO_TYPEBATCH_SOLVE_MAX], k = 0;
  double scale = 0;
  for (uint32_t t = 0; t < n; t++)
    if (tb->A[t * n + t] > 0) {
      idx[k++] = t;
      if (tb->A[t * n + t] > scale)
        scale = tb->A[t * n + t];
    }
  double *M = tb->work; /* k rows of k + 1 */
  for (uint32_t i = 0; i < k; i++) {
    for (uint32_t j = 0; j < k; j++)
      M[i * (k + 1) + j] = tb->A[idx[i] * n + idx[j]];
    M[i * (k + 1) + k] = tb->y[idx[i]];
  }
  for (uint32_t c = 0; c < k; c++) {
    uint32_t p = c;
    for (uint32_t r = c + 1; r < k; r++)
      if (fabs(M[r * (k + 1) + c]) > fabs(M[p * (k + 1) + c]))
        p = r;
    /* Relative to the largest diagonal: below this the mixes have not told the types apart. */
    if (fabs(M[p * (k + 1) + c]) < 1e-6 * scale)
      return 0;
    if (p != c)
      for (uint32_t j = 0; j <= k; j++) {
        double tmp = M[c * (k + 1) + j];
        M[c * (k + 1) + j] = M[p * (k + 1) + j];
        M[p * (k + 1) + j] = tmp;
      }
    for (uint32_t r = 0; r < k; r++) {
      if (r == c)
        continue;
      double f = M[r * (k + 1) + c] / M[c * (k + 1) + c];
      for (uint32_t j = c; j <= k; j++)
        M[r * (k + 1) + j] -= f * M[c * (k + 1) + j];
    }
  }
  for (uint32_t i = 0; i < k; i++) {
    double v = M[i * (k + 1) + k] / M[i * (k + 1) + i];
    if (!isfinite(v))
      return 0;
    mean[idx[i]] = v > 0 ? v : 0; /* noise can push a near-zero mean below it */
  }
  return 1;
}

void so__typebatch_observe(so__typebatch *tb, const uint64_t *counts, uint64_t busy_ns) {
  uint32_t n = tb->n, kinds = 0, last = 0;
  uint64_t total = 0;
  for (uint32_t t = 0; t < n; t++)
    if (counts[t]) {
      kinds++;
      last = t;
      total += counts[t];
    }
  if (kinds == 0)
    return;
  if (tb->A) {
    for (uint32_t i = 0; i < n * n; i++)
      tb->A[i] *= SO_TYPEBATCH_FORGET;
    for (uint32_t i = 0; i < n; i++) {
      tb->y[i] *= SO_TYPEBATCH_FORGET;
      if (!counts[i])
        continue;
      tb->y[i] += (double)counts[i] * (double)busy_ns;
      for (uint32_t j = 0; j < n; j++)
        tb->A[i * n + j] += (double)counts[i] * (double)counts[j];
    }
  }
  if (kinds == 1) {
    so__batch_observe(&tb->b[last], counts[last], busy_ns);
    return;
  }
  double mean[SO_TYPEBATCH_SOLVE_MAX];
  if (tb->A && solve(tb, mean)) {
    for (uint32_t t = 0; t < n; t++)
      if (counts[t])
        so__batch_observe(&tb->b[t], counts[t], (uint64_t)llround(mean[t] * (double)counts[t]));
    return;
  }
  /* Not yet told apart: split in proportion to what is known, evenly per task otherwise. */
  double avg = (double)busy_ns / (double)total, wsum = 0;
  for (uint32_t t = 0; t < n; t++)
    if (counts[t])
      wsum += (double)counts[t] * (tb->b[t].mean_ns >= 0 ? fmax(tb->b[t].mean_ns, 1.0) : avg);
  for (uint32_t t = 0; t < n; t++)
    if (counts[t]) {
      double w = (double)counts[t] * (tb->b[t].mean_ns >= 0 ? fmax(tb->b[t].mean_ns, 1.0) : avg);
      so__batch_observe(&tb->b[t], counts[t], (uint64_t)llround((double)busy_ns * w / wsum));
    }
}

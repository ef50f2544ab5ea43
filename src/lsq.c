/* Small bounded weighted least squares by enumerating the faces of the bounds (see lsq.h). */
#include "lsq.h"

#include <math.h>
#include <string.h>

#include "scaleout/scaleout.h"

/* Solves the k x k system a * s = b in place by Gaussian elimination with partial pivoting.
 * Returns 0, or -1 when a pivot is negligible against the matrix's largest entry (the columns
 * were scaled to unit length, so that compares like with like). */
static int solve(double a[SO_LSQ_MAXP][SO_LSQ_MAXP], double *b, int k, double *s) {
  double big = 0;
  for (int r = 0; r < k; r++)
    for (int c = 0; c < k; c++)
      big = fmax(big, fabs(a[r][c]));
  if (!(big > 0))
    return -1;
  for (int c = 0; c < k; c++) {
    int piv = c;
    for (int r = c + 1; r < k; r++)
      if (fabs(a[r][c]) > fabs(a[piv][c]))
        piv = r;
    if (fabs(a[piv][c]) <= 1e-12 * big)
      return -1;
    if (piv != c) {
      for (int j = 0; j < k; j++) {
        double t = a[c][j];
        a[c][j] = a[piv][j];
        a[piv][j] = t;
      }
      double t = b[c];
      b[c] = b[piv];
      b[piv] = t;
    }
    for (int r = c + 1; r < k; r++) {
      double f = a[r][c] / a[c][c];
      for (int j = c; j < k; j++)
        a[r][j] -= f * a[c][j];
      b[r] -= f * b[c];
    }
  }
  for (int r = k - 1; r >= 0; r--) {
    double v = b[r];
    for (int j = r + 1; j < k; j++)
      v -= a[r][j] * s[j];
    s[r] = v / a[r][r];
  }
  return 0;
}

int so__lsq_fit(const double *x, const double *y, const double *w, size_t n, int p,
                unsigned nonneg, double *beta, double *ssr) {
  if (p < 1 || p > SO_LSQ_MAXP || n < (size_t)p)
    return SO_EINVAL;
  double scale[SO_LSQ_MAXP] = {0};
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(y[i]) || !isfinite(w[i]) || w[i] < 0)
      return SO_EINVAL;
    for (int j = 0; j < p; j++) {
      if (!isfinite(x[i * (size_t)p + j]))
        return SO_EINVAL;
      scale[j] += w[i] * x[i * (size_t)p + j] * x[i * (size_t)p + j];
    }
  }
  for (int j = 0; j < p; j++)
    scale[j] = scale[j] > 0 ? sqrt(scale[j]) : 1;
  double best = INFINITY, best_beta[SO_LSQ_MAXP] = {0};
  nonneg &= (1u << p) - 1;
  /* Each subset of the bounded coefficients held at zero is one face; the unbounded ones are
   * always free. */
  for (unsigned held = 0; held < (1u << p); held++) {
    if (held & ~nonneg)
      continue;
    int idx[SO_LSQ_MAXP], k = 0;
    for (int j = 0; j < p; j++)
      if (!(held & (1u << j)))
        idx[k++] = j;
    double b[SO_LSQ_MAXP] = {0}, s[SO_LSQ_MAXP] = {0}, trial[SO_LSQ_MAXP] = {0};
    if (k > 0) {
      double a[SO_LSQ_MAXP][SO_LSQ_MAXP] = {{0}};
      for (size_t i = 0; i < n; i++)
        for (int r = 0; r < k; r++) {
          double xr = x[i * (size_t)p + idx[r]] / scale[idx[r]];
          b[r] += w[i] * xr * y[i];
          for (int c = 0; c < k; c++)
            a[r][c] += w[i] * xr * x[i * (size_t)p + idx[c]] / scale[idx[c]];
        }
      if (solve(a, b, k, s) != 0)
        continue;
    }
    int feasible = 1;
    for (int r = 0; r < k; r++) {
      trial[idx[r]] = s[r] / scale[idx[r]];
      if ((nonneg & (1u << idx[r])) && trial[idx[r]] < 0)
        feasible = 0;
    }
    if (!feasible)
      continue;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
      double r = y[i];
      for (int j = 0; j < p; j++)
        r -= x[i * (size_t)p + j] * trial[j];
      sum += w[i] * r * r;
    }
    /* Strictly less: the face with nothing held is tried first, so an exact tie keeps it. */
    if (sum < best) {
      best = sum;
      memcpy(best_beta, trial, sizeof best_beta);
    }
  }
  if (!isfinite(best))
    return SO_EINVAL;
  memcpy(beta, best_beta, (size_t)p * sizeof *beta);
  if (ssr)
    *ssr = best;
  return 0;
}

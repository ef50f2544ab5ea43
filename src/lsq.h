/* Weighted linear least squares for a handful of coefficients, some held at zero or above. */
#ifndef SO_LSQ_H
#define SO_LSQ_H

#include <stddef.h>

#include "scaleout/scaleout.h" /* the SO_E* codes returned */

#define SO_LSQ_MAXP 3 /* the scaling models have at most three coefficients */

/*
 * Minimises sum_i w[i] * (y[i] - sum_j x[i*p + j] * beta[j])^2 over beta, with beta[j] >= 0 for
 * every j whose bit is set in nonneg. Exact: with p <= 3 every face of the bounds (each bounded
 * coefficient either free or held at 0) is solved in closed form and the best feasible one kept,
 * which for a convex problem is the bounded optimum; there is no starting point to choose and
 * nothing to diverge. Columns are scaled to unit length first, so counts like N(N-1) beside 1
 * do not ruin the normal equations.
 * Pure. Returns 0 with beta[0..p) set and *ssr the weighted residual sum of squares, or SO_EINVAL
 * when p is out of range, n < p, a value is not finite, or no face has a solvable system (the
 * columns are dependent: too few distinct worker counts).
 */
int so__lsq_fit(const double *x, const double *y, const double *w, size_t n, int p,
                unsigned nonneg, double *beta, double *ssr);

#endif

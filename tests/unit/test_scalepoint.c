/* Per-point figures (speedup, efficiency, Karp-Flatt), the faster placement with its interval,
 * and the cheapest configuration within a deadline. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scalepoint.h"
#include "so_test.h"

static double amdahl(double n) { return 100 * (0.05 + 0.95 / n); }

static void test_stats(void) {
  /* Out of order, three repetitions of each count; Amdahl's times exactly, so Karp-Flatt gives
   * back f = 0.05 at every count (its definition inverts Amdahl's law). */
  static const int ns[] = {8, 1, 4, 2};
  so__fit_sample s[12];
  size_t n = 0;
  for (int r = 0; r < 3; r++)
    for (int i = 0; i < 4; i++)
      s[n++] = (so__fit_sample){ns[i], amdahl(ns[i]) * (r == 0 ? 1 : r == 1 ? 1.02 : 0.99)};
  so__point_stats *p;
  int np = 0;
  char err[256] = "";
  CU_ASSERT_EQUAL_FATAL(so__point_stats_make(s, n, SO_SCALING_STRONG, &p, &np, err, sizeof err), 0);
  CU_ASSERT_EQUAL_FATAL(np, 4);
  for (int i = 0; i < 4; i++) {
    CU_ASSERT_EQUAL(p[i].workers, 1 << i);
    CU_ASSERT_EQUAL(p[i].reps, 3);
    CU_ASSERT(fabs(p[i].median - amdahl(1 << i)) < 1e-9);
    CU_ASSERT(fabs(p[i].max - 1.02 * amdahl(1 << i)) < 1e-9);
    CU_ASSERT(fabs(p[i].min - 0.99 * amdahl(1 << i)) < 1e-9);
    CU_ASSERT(p[i].has_speedup);
    double speedup = amdahl(1) / amdahl(1 << i);
    CU_ASSERT(fabs(p[i].speedup - speedup) < 1e-9);
    CU_ASSERT(fabs(p[i].efficiency - speedup / (1 << i)) < 1e-9);
    CU_ASSERT_EQUAL(p[i].has_karp_flatt, i > 0);
    if (i > 0)
      CU_ASSERT(fabs(p[i].karp_flatt - 0.05) < 1e-9);
  }
  free(p);
  /* Weak scaling: the scaled speedup N T1 / T, so flat times give speedup N, efficiency 1. */
  so__fit_sample w[] = {{1, 10}, {2, 10}, {4, 12.5}};
  CU_ASSERT_EQUAL_FATAL(so__point_stats_make(w, 3, SO_SCALING_WEAK, &p, &np, err, sizeof err), 0);
  CU_ASSERT(fabs(p[1].speedup - 2) < 1e-12 && fabs(p[1].efficiency - 1) < 1e-12);
  CU_ASSERT(fabs(p[2].efficiency - 0.8) < 1e-12);
  free(p);
  /* A series without a one-worker point has no speedup, flagged rather than made up. */
  so__fit_sample no1[] = {{2, 10}, {4, 6}};
  CU_ASSERT_EQUAL_FATAL(so__point_stats_make(no1, 2, SO_SCALING_STRONG, &p, &np, err, sizeof err),
                        0);
  CU_ASSERT(!p[0].has_speedup && !p[1].has_speedup && !p[1].has_karp_flatt);
  CU_ASSERT_EQUAL(p[1].speedup, 0);
  free(p);
  so__fit_sample bad[] = {{1, 10}, {2, 0}};
  CU_ASSERT_EQUAL(so__point_stats_make(bad, 2, SO_SCALING_STRONG, &p, &np, err, sizeof err),
                  SO_EINVAL);
  CU_ASSERT_PTR_NULL(p);
  CU_ASSERT_EQUAL(so__point_stats_make(bad, 0, SO_SCALING_STRONG, &p, &np, err, sizeof err),
                  SO_EINVAL);
}

static void test_placement(void) {
  so__placement_cmp c;
  char err[256] = "";
  /* Spread 20% slower than packed, well outside the noise: packed (a) wins. */
  const double packed[] = {1.00, 1.01, 0.99}, spread[] = {1.20, 1.21, 1.19};
  CU_ASSERT_EQUAL_FATAL(so__placement_compare(packed, 3, spread, 3, &c, err, sizeof err), 0);
  CU_ASSERT(fabs(c.ratio.est - 1.2) < 1e-12);
  CU_ASSERT(c.ratio.lo > 1.15 && c.ratio.hi < 1.25 && c.ratio.lo < c.ratio.hi);
  CU_ASSERT_EQUAL(c.faster, 0);
  CU_ASSERT_EQUAL_FATAL(so__placement_compare(spread, 3, packed, 3, &c, err, sizeof err), 0);
  CU_ASSERT_EQUAL(c.faster, 1);
  /* Overlapping repetitions: the interval holds 1 and no winner is named. */
  const double x[] = {1.0, 1.3, 0.8}, y[] = {1.1, 0.9, 1.2};
  CU_ASSERT_EQUAL_FATAL(so__placement_compare(x, 3, y, 3, &c, err, sizeof err), 0);
  CU_ASSERT(c.ratio.lo < 1 && c.ratio.hi > 1);
  CU_ASSERT_EQUAL(c.faster, -1);
  /* One repetition: a ratio but no interval and no winner. */
  CU_ASSERT_EQUAL_FATAL(so__placement_compare(packed, 1, spread, 1, &c, err, sizeof err), 0);
  CU_ASSERT(c.ratio.lo == c.ratio.est && c.ratio.hi == c.ratio.est);
  CU_ASSERT_EQUAL(c.faster, -1);
  CU_ASSERT_EQUAL(so__placement_compare(packed, 0, spread, 3, &c, err, sizeof err), SO_EINVAL);
  const double zero[] = {1, 0};
  CU_ASSERT_EQUAL(so__placement_compare(packed, 3, zero, 2, &c, err, sizeof err), SO_EINVAL);
}

static void test_cheapest(void) {
  const so__cost_point pts[] = {{1, 100}, {2, 52}, {4, 27}, {8, 15}, {16, 9}};
  size_t best = 99;
  double ch = 0;
  char err[256] = "";
  /* Within 30 s: 4 workers (108 core-seconds) beats 8 (120) and 16 (144). */
  CU_ASSERT_EQUAL(so__cheapest(pts, 5, 30, &best, &ch, err, sizeof err), 0);
  CU_ASSERT_EQUAL(best, 2);
  CU_ASSERT(fabs(ch - 4 * 27 / 3600.0) < 1e-12);
  /* A generous deadline takes the single worker: parallelism always costs a little. */
  CU_ASSERT_EQUAL(so__cheapest(pts, 5, 1000, &best, &ch, err, sizeof err), 0);
  CU_ASSERT_EQUAL(best, 0);
  /* Equal cost: fewer workers, in either order. */
  const so__cost_point tie[] = {{4, 10}, {2, 20}}, tie2[] = {{2, 20}, {4, 10}};
  CU_ASSERT_EQUAL(so__cheapest(tie, 2, 30, &best, &ch, err, sizeof err), 0);
  CU_ASSERT_EQUAL(best, 1);
  CU_ASSERT_EQUAL(so__cheapest(tie2, 2, 30, &best, &ch, err, sizeof err), 0);
  CU_ASSERT_EQUAL(best, 0);
  /* Nothing fast enough: refused, naming the fastest. */
  err[0] = '\0';
  CU_ASSERT_EQUAL(so__cheapest(pts, 5, 5, &best, &ch, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "16 workers"));
  CU_ASSERT_EQUAL(so__cheapest(pts, 5, 0, &best, &ch, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(so__cheapest(pts, 0, 10, &best, &ch, err, sizeof err), SO_EINVAL);
  const so__cost_point bad[] = {{2, NAN}};
  CU_ASSERT_EQUAL(so__cheapest(bad, 1, 10, &best, &ch, err, sizeof err), SO_EINVAL);
}

int main(void) {
  static const so_test_case cases[] = {{"speedup, efficiency, Karp-Flatt", test_stats},
                                       {"faster placement", test_placement},
                                       {"cheapest within a deadline", test_cheapest},
                                       {NULL, NULL}};
  return so_test_run("scalepoint", cases);
}

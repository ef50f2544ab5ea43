/* The streaming median: within 0.5% of the exact lower median after every value, in bounded
 * memory, for runtimes of many shapes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "farm/median.h"
#include "so_test.h"

/* Feeds vals one by one and checks the median after each against a sorted copy's element of
 * rank (n - 1) / 2 (GNU parallel's), clamped into the range the buckets cover. */
static void feed(const double *vals, size_t n, const char *what) {
  so__median m;
  so__median_init(&m);
  CU_ASSERT_EQUAL(so__median_get(&m), 0);
  double *sorted = malloc(n * sizeof *sorted);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sorted);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    so__median_add(&m, vals[i]);
    /* Insert into the sorted prefix. */
    size_t j = i;
    while (j > 0 && sorted[j - 1] > vals[i]) {
      sorted[j] = sorted[j - 1];
      j--;
    }
    sorted[j] = vals[i];
    double want = sorted[i / 2], got = so__median_get(&m);
    if (want < 1e-3)
      want = 1e-3;
    if (!(fabs(got - want) <= 0.0051 * want) && bad++ < 3)
      fprintf(stderr, "\n  %s: after %zu values median %.6f, want %.6f\n", what, i + 1, got, want);
  }
  CU_ASSERT_EQUAL(bad, 0);
  free(sorted);
}

static void test_shapes(void) {
  enum { N = 3000 };
  static double v[N];
  srand(7);
  for (size_t i = 0; i < N; i++)
    v[i] = 0.5 + (i % 4 == 3 ? 2.5 : 0) + (rand() % 1000) * 1e-5; /* the 0.5 s / 3 s mix */
  feed(v, N, "0.5 s with every 4th 3 s");
  for (size_t i = 0; i < N; i++)
    v[i] = exp((rand() % 20000) / 1000.0 - 6); /* 2.5 ms to 1.2e6 s, log-uniform */
  feed(v, N, "log-uniform");
  for (size_t i = 0; i < N; i++)
    v[i] = 0.001 * (double)(N - i); /* falling: the median walks down */
  feed(v, N, "falling");
  for (size_t i = 0; i < N; i++)
    v[i] = i % 2 ? 1e-4 : 100; /* two far clusters, the median jumping between them */
  feed(v, N, "two clusters");
  for (size_t i = 0; i < N; i++)
    v[i] = 0.25; /* all the same */
  feed(v, N, "constant");
}

static void test_edges(void) {
  so__median m;
  so__median_init(&m);
  so__median_add(&m, 2.0);
  CU_ASSERT(fabs(so__median_get(&m) - 2.0) < 0.01);
  so__median_add(&m, 8.0); /* two values: the lower one, as GNU parallel takes it */
  CU_ASSERT(fabs(so__median_get(&m) - 2.0) < 0.01);
  so__median_add(&m, 8.0);
  CU_ASSERT(fabs(so__median_get(&m) - 8.0) < 0.04);
  so__median_init(&m);
  so__median_add(&m, -1);
  so__median_add(&m, NAN);
  so__median_add(&m, 0);
  CU_ASSERT(so__median_get(&m) > 0 && so__median_get(&m) < 0.0011); /* all count as 1 ms */
  so__median_init(&m);
  so__median_add(&m, INFINITY);
  so__median_add(&m, 1e300);
  CU_ASSERT(so__median_get(&m) > 9e5 && isfinite(so__median_get(&m))); /* the top bucket */
  CU_ASSERT(sizeof(so__median) < 20000); /* bounded, whatever the number of values */
}

int main(void) {
  static const so_test_case cases[] = {{"within 0.5% after every value", test_shapes},
                                       {"first values, out of range values", test_edges},
                                       {NULL, NULL}};
  return so_test_run("median", cases);
}

/* The comparison planner: the right series for the allocation shapes, no duplicates,
 * nothing larger than the allocation, the host lists, and refused input. */
#include <stdio.h>
#include <string.h>

#include "cmpplan.h"
#include "so_test.h"

/* What every plan must satisfy, whatever the shape: each layout within the slots, counts adding
 * up, the placement matching the layout, no two points with the same layout, sorted by size. */
static void check_invariants(const so__cmp_plan *p, int nodes, int cores, const int *slots) {
  long total = 0;
  for (int i = 0; i < nodes; i++)
    total += slots ? slots[i] : cores;
  for (int i = 0; i < p->npoints; i++) {
    const so__cmp_point *pt = &p->points[i];
    CU_ASSERT(pt->nodes >= 1 && pt->nodes <= nodes);
    CU_ASSERT(pt->workers >= 1 && pt->workers <= total);
    CU_ASSERT(pt->series != 0);
    int sum = 0, ones = 1;
    for (int n = 0; n < pt->nodes; n++) {
      CU_ASSERT(pt->per_node[n] >= 1 && pt->per_node[n] <= (slots ? slots[n] : cores));
      sum += pt->per_node[n];
      ones &= pt->per_node[n] == 1;
    }
    CU_ASSERT_EQUAL(sum, pt->workers);
    so__placement want = pt->nodes == 1 ? SO_PLACE_PACKED : ones ? SO_PLACE_SPREAD : SO_PLACE_WHOLE;
    CU_ASSERT_EQUAL(pt->placement, want);
    if (i > 0)
      CU_ASSERT(p->points[i - 1].workers <= pt->workers);
    for (int j = 0; j < i; j++) {
      const so__cmp_point *q = &p->points[j];
      CU_ASSERT_FALSE(q->nodes == pt->nodes &&
                      memcmp(q->per_node, pt->per_node, (size_t)pt->nodes * sizeof(int)) == 0);
    }
  }
}

/* The plan's points of one series as "workers/nodes" words, e.g. "1/1 2/1 4/1". */
static void series_text(const so__cmp_plan *p, unsigned series, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < p->npoints && used < len; i++)
    if (p->points[i].series & series)
      used += (size_t)snprintf(buf + used, len - used, "%s%d/%d", used ? " " : "",
                               p->points[i].workers, p->points[i].nodes);
}

/* Plans nodes x cores and compares each series and the whole plan with what the issue asks. */
static void expect(int nodes, int cores, const int *slots, const char *up, const char *out,
                   const char *whole, int npoints) {
  so__cmp_plan p;
  char err[256] = "", got[512];
  int rc = so__cmp_plan_make(nodes, cores, slots, &p, err, sizeof err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  check_invariants(&p, nodes, cores, slots);
  series_text(&p, SO_SERIES_UP, got, sizeof got);
  if (strcmp(got, up) != 0)
    fprintf(stderr, "\n  %dx%d scale-up: got \"%s\", want \"%s\"\n", nodes, cores, got, up);
  CU_ASSERT_STRING_EQUAL(got, up);
  series_text(&p, SO_SERIES_OUT, got, sizeof got);
  if (strcmp(got, out) != 0)
    fprintf(stderr, "\n  %dx%d scale-out: got \"%s\", want \"%s\"\n", nodes, cores, got, out);
  CU_ASSERT_STRING_EQUAL(got, out);
  series_text(&p, SO_SERIES_WHOLE, got, sizeof got);
  CU_ASSERT_STRING_EQUAL(got, whole);
  if (p.npoints != npoints)
    fprintf(stderr, "\n  %dx%d: %d points, want %d\n", nodes, cores, p.npoints, npoints);
  CU_ASSERT_EQUAL(p.npoints, npoints);
  so__cmp_plan_free(&p);
  so__cmp_plan_free(&p); /* twice is harmless */
}

static void test_shapes(void) {
  /* One core: a single point serving all three series. */
  expect(1, 1, NULL, "1/1", "1/1", "1/1", 1);
  expect(1, 2, NULL, "1/1 2/1", "1/1", "2/1", 2);
  /* 3 nodes x 2: 2 workers packed and spread side by side; 3 spread is the last scale-out point
   * though 3 is no power of two. */
  expect(3, 2, NULL, "1/1 2/1", "1/1 2/2 3/3", "6/3", 5);
  expect(4, 8, NULL, "1/1 2/1 4/1 8/1", "1/1 2/2 4/4", "32/4", 7);
  expect(16, 64, NULL, "1/1 2/1 4/1 8/1 16/1 32/1 64/1", "1/1 2/2 4/4 8/8 16/16", "1024/16", 12);
  /* A core count that is no power of two ends the scale-up series on itself. */
  expect(1, 6, NULL, "1/1 2/1 4/1 6/1", "1/1", "6/1", 4);
  /* One core per node: the whole allocation is the last spread point, not a second one. */
  expect(5, 1, NULL, "1/1", "1/1 2/2 4/4 5/5", "5/5", 4);
}

static void test_placements(void) {
  so__cmp_plan p;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(so__cmp_plan_make(3, 2, NULL, &p, err, sizeof err), 0);
  /* At 2 workers both placements, packed first. */
  int seen = 0;
  for (int i = 0; i < p.npoints; i++)
    if (p.points[i].workers == 2) {
      CU_ASSERT_EQUAL(p.points[i].placement, seen == 0 ? SO_PLACE_PACKED : SO_PLACE_SPREAD);
      seen++;
    }
  CU_ASSERT_EQUAL(seen, 2);
  const so__cmp_point *last = &p.points[p.npoints - 1];
  CU_ASSERT_EQUAL(last->placement, SO_PLACE_WHOLE);
  CU_ASSERT_STRING_EQUAL(so__placement_name(last->placement), "whole");
  /* The master is one more rank on node 0: 7 ranks for 6 workers. */
  const char *names[] = {"emu-n1", "emu-n2", "emu-n3"};
  char hosts[64];
  CU_ASSERT_EQUAL(so__cmp_point_hosts(last, names, hosts, sizeof hosts), 0);
  CU_ASSERT_STRING_EQUAL(hosts, "emu-n1:3,emu-n2:2,emu-n3:2");
  CU_ASSERT_EQUAL(so__cmp_point_hosts(&p.points[0], names, hosts, sizeof hosts), 0);
  CU_ASSERT_STRING_EQUAL(hosts, "emu-n1:2");
  /* Too small a buffer is refused, leaving an empty string rather than half a list. */
  CU_ASSERT_NOT_EQUAL(so__cmp_point_hosts(last, names, hosts, 12), 0);
  CU_ASSERT_STRING_EQUAL(hosts, "");
  so__cmp_plan_free(&p);
}

static void test_uneven(void) {
  /* Slots 3, 8, 2: scale-up stays on node 0 (the master's) up to its 3 slots; the whole
   * allocation uses every node's own slots. */
  const int slots[] = {3, 8, 2};
  expect(3, 0, slots, "1/1 2/1 3/1", "1/1 2/2 3/3", "13/3", 6);
}

static void test_refused(void) {
  so__cmp_plan p;
  char err[256] = "";
  CU_ASSERT_EQUAL(so__cmp_plan_make(0, 4, NULL, &p, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "0 nodes"));
  CU_ASSERT_EQUAL(p.npoints, 0);
  so__cmp_plan_free(&p);
  err[0] = '\0';
  CU_ASSERT_EQUAL(so__cmp_plan_make(-2, 4, NULL, &p, err, sizeof err), SO_EINVAL);
  CU_ASSERT(err[0] != '\0');
  err[0] = '\0';
  CU_ASSERT_EQUAL(so__cmp_plan_make(2, 0, NULL, &p, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "0 cores"));
  const int slots[] = {4, 0};
  err[0] = '\0';
  CU_ASSERT_EQUAL(so__cmp_plan_make(2, 4, slots, &p, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "node 2"));
  err[0] = '\0';
  CU_ASSERT_EQUAL(so__cmp_plan_make(50000, 50000, NULL, &p, err, sizeof err), SO_EINVAL);
  CU_ASSERT(err[0] != '\0');
}

int main(void) {
  static const so_test_case cases[] = {{"series for 1x1, 1x2, 3x2, 4x8, 16x64", test_shapes},
                                       {"placements and host lists", test_placements},
                                       {"uneven slots", test_uneven},
                                       {"refused allocations", test_refused},
                                       {NULL, NULL}};
  return so_test_run("cmpplan", cases);
}

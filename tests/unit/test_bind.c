/* Unit tests of the binding module: plans on synthetic hwloc topologies, parsing, and a real smoke test. */
#include <stdio.h>
#include <string.h>

#include "bind.h"
#include "so_test.h"

/* Two packages of four two-PU cores; PU OS indexes equal logical ones (core L#i has PUs 2i, 2i+1). */
#define TOPO_2x4x2 "pack:2 core:4 pu:2"

static hwloc_topology_t load(const char *desc) {
  hwloc_topology_t t = NULL;
  CU_ASSERT_EQUAL_FATAL(so__bind_topology_load(&t, desc), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  return t;
}

static hwloc_bitmap_t cpus(const char *list) {
  hwloc_bitmap_t b = hwloc_bitmap_alloc();
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL_FATAL(hwloc_bitmap_list_sscanf(b, list), 0);
  return b;
}

/* Whether set is exactly the list, compared as text so a failure is readable in a debugger. */
static int set_is(hwloc_const_bitmap_t set, const char *list) {
  char buf[128];
  if (so__bind_list(set, buf, sizeof buf) != 0)
    return 0;
  if (strcmp(buf, list) != 0) {
    fprintf(stderr, "\n    cpuset %s, expected %s\n", buf, list);
    return 0;
  }
  return 1;
}

static int pairwise_disjoint(const so__bind_plan *p) {
  for (int i = 0; i < p->n; i++)
    for (int j = i + 1; j < p->n; j++)
      if (hwloc_bitmap_intersects(p->sets[i], p->sets[j]))
        return 0;
  return 1;
}

static int all_inside(const so__bind_plan *p, hwloc_const_bitmap_t region) {
  for (int i = 0; i < p->n; i++)
    if (hwloc_bitmap_iszero(p->sets[i]) || !hwloc_bitmap_isincluded(p->sets[i], region))
      return 0;
  return 1;
}

/* How many of the plan's sets equal set. */
static int sharing(const so__bind_plan *p, hwloc_const_bitmap_t set) {
  int k = 0;
  for (int i = 0; i < p->n; i++)
    k += hwloc_bitmap_isequal(p->sets[i], set);
  return k;
}

static void test_load(void) {
  hwloc_topology_t t = load(TOPO_2x4x2);
  CU_ASSERT_EQUAL(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE), 2);
  CU_ASSERT_EQUAL(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE), 8);
  CU_ASSERT_EQUAL(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU), 16);
  hwloc_topology_destroy(t);

  hwloc_topology_t bad = (hwloc_topology_t)&bad; /* must be reset to NULL on failure */
  CU_ASSERT_EQUAL(so__bind_topology_load(&bad, "pack:x core:"), SO_EHWLOC);
  CU_ASSERT_PTR_NULL(bad);
  CU_ASSERT_EQUAL(so__bind_topology_load(NULL, TOPO_2x4x2), SO_EHWLOC);
}

static void test_plan_core_compact(void) {
  hwloc_topology_t t = load(TOPO_2x4x2);
  so__bind_plan p;
  char warn[256] = "stale";
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, 8, &p, warn, sizeof warn), 0);
  CU_ASSERT_EQUAL(p.n, 8);
  CU_ASSERT_EQUAL(p.nobjs, 8);
  CU_ASSERT_FALSE(p.oversubscribed);
  CU_ASSERT_STRING_EQUAL(warn, "");
  CU_ASSERT_TRUE(pairwise_disjoint(&p));
  CU_ASSERT_TRUE(all_inside(&p, hwloc_topology_get_allowed_cpuset(t)));
  for (int i = 0; i < 8; i++) {
    char want[16];
    snprintf(want, sizeof want, "%d-%d", 2 * i, 2 * i + 1);
    CU_ASSERT_TRUE(set_is(p.sets[i], want));
  }
  so__bind_plan_free(&p);

  /* Compact, not spread: three workers fill package 0 before touching package 1. */
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, 3, &p, NULL, 0), 0);
  CU_ASSERT_TRUE(set_is(p.sets[0], "0-1"));
  CU_ASSERT_TRUE(set_is(p.sets[1], "2-3"));
  CU_ASSERT_TRUE(set_is(p.sets[2], "4-5"));
  CU_ASSERT_EQUAL(p.nobjs, 8);
  so__bind_plan_free(&p);
  hwloc_topology_destroy(t);
}

static void test_plan_pu(void) {
  hwloc_topology_t t = load(TOPO_2x4x2);
  so__bind_plan p;
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_PU, 16, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.nobjs, 16);
  CU_ASSERT_FALSE(p.oversubscribed);
  CU_ASSERT_TRUE(pairwise_disjoint(&p));
  for (int i = 0; i < 16; i++) {
    CU_ASSERT_EQUAL(hwloc_bitmap_weight(p.sets[i]), 1);
    CU_ASSERT_EQUAL(hwloc_bitmap_first(p.sets[i]), i);
  }
  so__bind_plan_free(&p);
  hwloc_topology_destroy(t);

  /* Plans follow logical order while sets hold OS indexes, which differ here. */
  t = load("pack:1 core:2 pu:2(indexes=0,2,1,3)");
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_PU, 4, &p, NULL, 0), 0);
  CU_ASSERT_TRUE(set_is(p.sets[0], "0"));
  CU_ASSERT_TRUE(set_is(p.sets[1], "2"));
  CU_ASSERT_TRUE(set_is(p.sets[2], "1"));
  CU_ASSERT_TRUE(set_is(p.sets[3], "3"));
  so__bind_plan_free(&p);
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, 2, &p, NULL, 0), 0);
  CU_ASSERT_TRUE(set_is(p.sets[0], "0,2"));
  CU_ASSERT_TRUE(set_is(p.sets[1], "1,3"));
  so__bind_plan_free(&p);
  hwloc_topology_destroy(t);
}

static void test_plan_numa(void) {
  hwloc_topology_t t = load(TOPO_2x4x2); /* hwloc adds one NUMA node for the whole machine */
  so__bind_plan p;
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_NUMA, 1, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.nobjs, 1);
  CU_ASSERT_TRUE(set_is(p.sets[0], "0-15"));
  so__bind_plan_free(&p);
  hwloc_topology_destroy(t);

  t = load("pack:2 numa:2 core:2 pu:2"); /* four NUMA nodes of two cores */
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_NUMA, 4, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.nobjs, 4);
  CU_ASSERT_FALSE(p.oversubscribed);
  CU_ASSERT_TRUE(pairwise_disjoint(&p));
  CU_ASSERT_TRUE(set_is(p.sets[0], "0-3"));
  CU_ASSERT_TRUE(set_is(p.sets[1], "4-7"));
  CU_ASSERT_TRUE(set_is(p.sets[2], "8-11"));
  CU_ASSERT_TRUE(set_is(p.sets[3], "12-15"));
  so__bind_plan_free(&p);
  hwloc_topology_destroy(t);

  /* Two NUMA nodes per package over the same PUs (DDR + HBM) are one CPU binding target. */
  t = load("pack:2 [numa] [numa] core:2 pu:1");
  CU_ASSERT_EQUAL(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE), 4);
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_NUMA, 2, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.nobjs, 2);
  CU_ASSERT_TRUE(set_is(p.sets[0], "0-1"));
  CU_ASSERT_TRUE(set_is(p.sets[1], "2-3"));
  CU_ASSERT_EQUAL(so__bind_count(t, NULL, SO_BIND_NUMA), 2);
  so__bind_plan_free(&p);
  hwloc_topology_destroy(t);
}

static void test_plan_package(void) {
  hwloc_topology_t t = load(TOPO_2x4x2);
  so__bind_plan p;
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_PACKAGE, 2, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.nobjs, 2);
  CU_ASSERT_FALSE(p.oversubscribed);
  CU_ASSERT_TRUE(set_is(p.sets[0], "0-7"));
  CU_ASSERT_TRUE(set_is(p.sets[1], "8-15"));
  so__bind_plan_free(&p);

  /* Four workers on two packages alternate, two per package: with 16 PUs that is not
   * oversubscription, so no warning. */
  char warn[256] = "stale";
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_PACKAGE, 4, &p, warn, sizeof warn), 0);
  CU_ASSERT_FALSE(p.oversubscribed);
  CU_ASSERT_STRING_EQUAL(warn, "");
  CU_ASSERT_TRUE(set_is(p.sets[0], "0-7"));
  CU_ASSERT_TRUE(set_is(p.sets[1], "8-15"));
  CU_ASSERT_TRUE(set_is(p.sets[2], "0-7"));
  CU_ASSERT_TRUE(set_is(p.sets[3], "8-15"));
  so__bind_plan_free(&p);

  /* Seventeen workers on 16 PUs are, whatever the policy. */
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_PACKAGE, 17, &p, warn, sizeof warn), 0);
  CU_ASSERT_TRUE(p.oversubscribed);
  CU_ASSERT_PTR_NOT_NULL(strstr(warn, "17 workers but only 16 PUs"));
  so__bind_plan_free(&p);
  hwloc_topology_destroy(t);
}

/* Oversubscription is warned of alike under every policy: more workers than PUs (or than cores,
 * for --bind core), never for several workers sharing one NUMA node that has PUs enough. */
static void test_oversubscription_every_policy(void) {
  hwloc_topology_t t = load("pack:1 [numa] core:2 pu:1");
  const so_bind_policy pols[] = {SO_BIND_CORE, SO_BIND_PU, SO_BIND_NUMA, SO_BIND_PACKAGE,
                                 SO_BIND_NONE};
  for (size_t i = 0; i < sizeof pols / sizeof pols[0]; i++) {
    so__bind_plan p;
    char warn[256] = "stale";
    CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, pols[i], 2, &p, warn, sizeof warn), 0);
    CU_ASSERT_FALSE(p.oversubscribed);
    CU_ASSERT_STRING_EQUAL(warn, "");
    so__bind_plan_free(&p);
    CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, pols[i], 4, &p, warn, sizeof warn), 0);
    CU_ASSERT_TRUE(p.oversubscribed);
    CU_ASSERT_PTR_NOT_NULL(strstr(warn, "4 workers but only 2 "));
    if (!p.oversubscribed)
      fprintf(stderr, "\n    --bind %s: 4 workers on 2 PUs not oversubscribed\n",
              so__bind_policy_name(pols[i]));
    so__bind_plan_free(&p);
  }
  hwloc_topology_destroy(t);
}

static void test_plan_none(void) {
  hwloc_topology_t t = load(TOPO_2x4x2);
  hwloc_bitmap_t region = cpus("4-11");
  so__bind_plan p;
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, region, SO_BIND_NONE, 3, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.n, 3);
  CU_ASSERT_EQUAL(p.nobjs, 8); /* PUs of the region */
  CU_ASSERT_FALSE(p.oversubscribed);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_TRUE(hwloc_bitmap_isequal(p.sets[i], region));
  so__bind_plan_free(&p);

  char warn[256] = "";
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, region, SO_BIND_NONE, 9, &p, warn, sizeof warn), 0);
  CU_ASSERT_TRUE(p.oversubscribed);
  CU_ASSERT_PTR_NOT_NULL(strstr(warn, "PUs"));
  so__bind_plan_free(&p);
  hwloc_bitmap_free(region);
  hwloc_topology_destroy(t);
}

/* The region holds cores L#2 to L#5, half of each package. */
static void test_plan_region(void) {
  hwloc_topology_t t = load(TOPO_2x4x2);
  hwloc_bitmap_t region = hwloc_bitmap_alloc();
  for (unsigned c = 2; c <= 5; c++)
    hwloc_bitmap_or(region, region, hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, c)->cpuset);
  CU_ASSERT_TRUE(set_is(region, "4-11"));

  so__bind_plan p;
  CU_ASSERT_EQUAL(so__bind_count(t, region, SO_BIND_CORE), 4);
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, region, SO_BIND_CORE, 4, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.nobjs, 4);
  CU_ASSERT_FALSE(p.oversubscribed);
  CU_ASSERT_TRUE(all_inside(&p, region));
  CU_ASSERT_TRUE(pairwise_disjoint(&p));
  CU_ASSERT_TRUE(set_is(p.sets[0], "4-5"));
  CU_ASSERT_TRUE(set_is(p.sets[3], "10-11"));
  so__bind_plan_free(&p);

  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, region, SO_BIND_PU, 8, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.nobjs, 8);
  CU_ASSERT_TRUE(all_inside(&p, region));
  CU_ASSERT_TRUE(pairwise_disjoint(&p));
  so__bind_plan_free(&p);

  /* A package's set is only its part of the region. */
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, region, SO_BIND_PACKAGE, 2, &p, NULL, 0), 0);
  CU_ASSERT_TRUE(set_is(p.sets[0], "4-7"));
  CU_ASSERT_TRUE(set_is(p.sets[1], "8-11"));
  so__bind_plan_free(&p);
  hwloc_bitmap_free(region);

  /* Half cores count as cores, each cut to its PU in the region. */
  region = cpus("3-4");
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, region, SO_BIND_CORE, 2, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.nobjs, 2);
  CU_ASSERT_TRUE(set_is(p.sets[0], "3"));
  CU_ASSERT_TRUE(set_is(p.sets[1], "4"));
  so__bind_plan_free(&p);
  hwloc_bitmap_free(region);

  /* PUs the machine does not have are ignored. */
  region = cpus("14-40");
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, region, SO_BIND_NONE, 1, &p, NULL, 0), 0);
  CU_ASSERT_TRUE(set_is(p.sets[0], "14-15"));
  CU_ASSERT_EQUAL(p.nobjs, 2);
  so__bind_plan_free(&p);
  hwloc_bitmap_free(region);
  hwloc_topology_destroy(t);
}

static void test_oversubscribed(void) {
  hwloc_topology_t t = load(TOPO_2x4x2);
  so__bind_plan p;
  char warn[256] = "";
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, 12, &p, warn, sizeof warn), 0);
  CU_ASSERT_EQUAL(p.n, 12);
  CU_ASSERT_EQUAL(p.nobjs, 8);
  CU_ASSERT_TRUE(p.oversubscribed);
  CU_ASSERT_TRUE(all_inside(&p, hwloc_topology_get_allowed_cpuset(t)));
  /* One sentence: non-empty, no newline, ends with a full stop, names the numbers. */
  size_t len = strlen(warn);
  CU_ASSERT_TRUE(len > 0 && warn[len - 1] == '.');
  CU_ASSERT_PTR_NULL(strchr(warn, '\n'));
  CU_ASSERT_PTR_NOT_NULL(strstr(warn, "12 workers"));
  CU_ASSERT_PTR_NOT_NULL(strstr(warn, "8 cores"));
  CU_ASSERT_PTR_NOT_NULL(strstr(warn, "at most 2"));
  /* Balanced: each core carries one or two workers, twelve in all. */
  int total = 0;
  for (unsigned c = 0; c < 8; c++) {
    int k = sharing(&p, hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, c)->cpuset);
    CU_ASSERT_TRUE(k >= 1 && k <= 2);
    total += k;
  }
  CU_ASSERT_EQUAL(total, 12);
  so__bind_plan_free(&p);

  /* 33 workers on 16 PUs: ceil is 3, floor 2. */
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_PU, 33, &p, NULL, 0), 0);
  CU_ASSERT_TRUE(p.oversubscribed);
  total = 0;
  for (unsigned u = 0; u < 16; u++) {
    int k = sharing(&p, hwloc_get_obj_by_type(t, HWLOC_OBJ_PU, u)->cpuset);
    CU_ASSERT_TRUE(k >= 2 && k <= 3);
    total += k;
  }
  CU_ASSERT_EQUAL(total, 33);
  so__bind_plan_free(&p);

  /* A short buffer truncates the warning but the plan still succeeds. */
  char tiny[8];
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, 9, &p, tiny, sizeof tiny), 0);
  CU_ASSERT_EQUAL(strlen(tiny), sizeof tiny - 1);
  so__bind_plan_free(&p);
  hwloc_topology_destroy(t);
}

static void test_errors(void) {
  hwloc_topology_t t = load(TOPO_2x4x2);
  so__bind_plan p = {.n = 5, .sets = (hwloc_bitmap_t *)&p, .nobjs = 3, .oversubscribed = 1};
  CU_ASSERT_EQUAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, 0, &p, NULL, 0), SO_EINVAL);
  CU_ASSERT_EQUAL(p.n, 0); /* zeroed, so freeing it after an error is safe */
  CU_ASSERT_PTR_NULL(p.sets);
  so__bind_plan_free(&p);
  CU_ASSERT_EQUAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, -1, &p, NULL, 0), SO_EINVAL);

  hwloc_bitmap_t empty = hwloc_bitmap_alloc();
  char warn[64] = "stale";
  CU_ASSERT_EQUAL(so__bind_plan_make(t, empty, SO_BIND_CORE, 1, &p, warn, sizeof warn), SO_EINVAL);
  CU_ASSERT_STRING_EQUAL(warn, "");
  hwloc_bitmap_t outside = cpus("100-101");
  CU_ASSERT_EQUAL(so__bind_plan_make(t, outside, SO_BIND_PU, 1, &p, NULL, 0), SO_EINVAL);
  CU_ASSERT_EQUAL(so__bind_count(t, outside, SO_BIND_PU), 0);
  CU_ASSERT_EQUAL(so__bind_plan_make(t, NULL, (so_bind_policy)42, 1, &p, NULL, 0), SO_EINVAL);
  CU_ASSERT_EQUAL(so__bind_plan_make(t, NULL, (so_bind_policy)-1, 1, &p, NULL, 0), SO_EINVAL);
  CU_ASSERT_EQUAL(so__bind_count(t, NULL, (so_bind_policy)42), SO_EINVAL);
  CU_ASSERT_EQUAL(so__bind_plan_make(NULL, NULL, SO_BIND_CORE, 1, &p, NULL, 0), SO_EINVAL);
  CU_ASSERT_EQUAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, 1, NULL, NULL, 0), SO_EINVAL);
  CU_ASSERT_EQUAL(p.n, 0);
  CU_ASSERT_PTR_NULL(p.sets);

  so__bind_plan_free(NULL);
  so__bind_plan zero = {0};
  so__bind_plan_free(&zero);
  hwloc_bitmap_free(empty);
  hwloc_bitmap_free(outside);
  hwloc_topology_destroy(t);
}

/* Machines without Core or Package objects still get plans. */
static void test_missing_levels(void) {
  hwloc_topology_t t = load("pack:2 pu:2");
  so__bind_plan p;
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, 4, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.nobjs, 4);
  CU_ASSERT_TRUE(pairwise_disjoint(&p));
  so__bind_plan_free(&p);
  hwloc_topology_destroy(t);

  t = load("core:2 pu:2");
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_PACKAGE, 1, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.nobjs, 1);
  CU_ASSERT_TRUE(set_is(p.sets[0], "0-3"));
  so__bind_plan_free(&p);
  hwloc_topology_destroy(t);
}

static void test_object(void) {
  hwloc_topology_t t = load(TOPO_2x4x2);
  hwloc_bitmap_t s = cpus("2-3");
  hwloc_obj_t o = so__bind_object(t, SO_BIND_CORE, s);
  CU_ASSERT_TRUE(o && o->type == HWLOC_OBJ_CORE && o->logical_index == 1);
  hwloc_bitmap_list_sscanf(s, "3");
  o = so__bind_object(t, SO_BIND_CORE, s);
  CU_ASSERT_TRUE(o && o->logical_index == 1);
  hwloc_bitmap_list_sscanf(s, "7-8"); /* spans two cores and two packages */
  CU_ASSERT_PTR_NULL(so__bind_object(t, SO_BIND_CORE, s));
  CU_ASSERT_PTR_NULL(so__bind_object(t, SO_BIND_PACKAGE, s));
  hwloc_bitmap_list_sscanf(s, "9");
  o = so__bind_object(t, SO_BIND_PACKAGE, s);
  CU_ASSERT_TRUE(o && o->type == HWLOC_OBJ_PACKAGE && o->logical_index == 1);
  CU_ASSERT_PTR_NULL(so__bind_object(t, SO_BIND_NONE, s));
  hwloc_bitmap_zero(s);
  CU_ASSERT_PTR_NULL(so__bind_object(t, SO_BIND_CORE, s));
  hwloc_bitmap_free(s);
  hwloc_topology_destroy(t);
}

/* hwloc's synthetic binding hooks pretend to succeed; ours must not. */
static void test_synthetic_no_binding(void) {
  hwloc_topology_t t = load(TOPO_2x4x2);
  hwloc_bitmap_t s = cpus("0");
  CU_ASSERT_EQUAL(so__bind_get(t, s), SO_EHWLOC);
  CU_ASSERT_EQUAL(so__bind_apply(t, s), SO_EHWLOC);
  int pu = 7, core = 7;
  so__bind_where(t, &pu, &core);
  CU_ASSERT_EQUAL(pu, -1);
  CU_ASSERT_EQUAL(core, -1);
  so__bind_where(t, NULL, NULL);
  hwloc_bitmap_free(s);
  hwloc_topology_destroy(t);
}

static void test_policy_names(void) {
  const so_bind_policy all[] = {SO_BIND_CORE, SO_BIND_PU, SO_BIND_NUMA, SO_BIND_PACKAGE,
                                SO_BIND_NONE};
  const char *names[] = {"core", "pu", "numa", "package", "none"};
  for (int i = 0; i < 5; i++) {
    CU_ASSERT_STRING_EQUAL(so__bind_policy_name(all[i]), names[i]);
    so_bind_policy got = (so_bind_policy)99;
    CU_ASSERT_EQUAL(so__bind_policy_parse(so__bind_policy_name(all[i]), &got), 0);
    CU_ASSERT_EQUAL(got, all[i]);
  }
  so_bind_policy keep = SO_BIND_PU;
  CU_ASSERT_EQUAL(so__bind_policy_parse("cores", &keep), SO_EINVAL);
  CU_ASSERT_EQUAL(so__bind_policy_parse("CORE", &keep), SO_EINVAL);
  CU_ASSERT_EQUAL(so__bind_policy_parse("", &keep), SO_EINVAL);
  CU_ASSERT_EQUAL(so__bind_policy_parse(NULL, &keep), SO_EINVAL);
  CU_ASSERT_EQUAL(keep, SO_BIND_PU); /* untouched on error */
  CU_ASSERT_STRING_EQUAL(so__bind_policy_name((so_bind_policy)99), "unknown");
  CU_ASSERT_STRING_EQUAL(so__bind_policy_name((so_bind_policy)-1), "unknown");
}

static void test_list(void) {
  hwloc_bitmap_t s = hwloc_bitmap_alloc();
  for (unsigned i = 0; i < 4; i++)
    hwloc_bitmap_set(s, i);
  hwloc_bitmap_set(s, 8);
  char buf[32];
  CU_ASSERT_EQUAL(so__bind_list(s, buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "0-3,8");
  CU_ASSERT_EQUAL(so__bind_list(s, buf, 6), 0); /* exactly fits with its terminator */
  CU_ASSERT_STRING_EQUAL(buf, "0-3,8");
  CU_ASSERT_EQUAL(so__bind_list(s, buf, 5), SO_EINVAL);
  CU_ASSERT_STRING_EQUAL(buf, "0-3,"); /* truncated but terminated */
  CU_ASSERT_EQUAL(so__bind_list(s, NULL, 8), SO_EINVAL);
  CU_ASSERT_EQUAL(so__bind_list(s, buf, 0), SO_EINVAL);
  hwloc_bitmap_zero(s);
  CU_ASSERT_EQUAL(so__bind_list(s, buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "");
  hwloc_bitmap_free(s);
}

/* The real machine: plan one worker, bind to it, check, and put the original binding back. */
static void test_real_smoke(void) {
  hwloc_topology_t t = load(NULL);
  hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(t);
  so__bind_plan p;
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, 1, &p, NULL, 0), 0);
  CU_ASSERT_EQUAL(p.n, 1);
  CU_ASSERT_TRUE(p.nobjs >= 1);
  CU_ASSERT_EQUAL(so__bind_count(t, NULL, SO_BIND_CORE), p.nobjs);
  CU_ASSERT_TRUE(all_inside(&p, allowed));

  hwloc_bitmap_t orig = hwloc_bitmap_alloc(), now = hwloc_bitmap_alloc();
  CU_ASSERT_EQUAL_FATAL(so__bind_get(t, orig), 0);
  CU_ASSERT_FALSE(hwloc_bitmap_iszero(orig));
  CU_ASSERT_EQUAL(so__bind_apply(t, p.sets[0]), 0);
  CU_ASSERT_EQUAL(so__bind_get(t, now), 0);
  CU_ASSERT_TRUE(hwloc_bitmap_isequal(now, p.sets[0]));
  int pu = -1, core = -1;
  so__bind_where(t, &pu, &core);
  CU_ASSERT_TRUE(pu >= 0 && hwloc_bitmap_isset(p.sets[0], (unsigned)pu));
  if (hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE) > 0)
    CU_ASSERT_TRUE(core >= 0);
  CU_ASSERT_EQUAL(so__bind_apply(t, orig), 0);
  CU_ASSERT_EQUAL(so__bind_get(t, now), 0);
  CU_ASSERT_TRUE(hwloc_bitmap_isequal(now, orig));
  so__bind_plan_free(&p);

  /* One more worker than cores always oversubscribes. */
  int cores = so__bind_count(t, NULL, SO_BIND_CORE);
  CU_ASSERT_EQUAL_FATAL(so__bind_plan_make(t, NULL, SO_BIND_CORE, cores + 1, &p, NULL, 0), 0);
  CU_ASSERT_TRUE(p.oversubscribed);
  so__bind_plan_free(&p);
  hwloc_bitmap_free(orig);
  hwloc_bitmap_free(now);
  hwloc_topology_destroy(t);
}

int main(void) {
  static const so_test_case cases[] = {
    {"topology load, good and bad synthetic strings", test_load},
    {"core plan is compact and one core per worker", test_plan_core_compact},
    {"pu plan follows logical order, sets hold OS indexes", test_plan_pu},
    {"numa plan, one and four nodes, shared-cpuset nodes once", test_plan_numa},
    {"package plan, alternating when shared", test_plan_package},
    {"none plan gives everyone the region", test_plan_none},
    {"plans inside a region of cores 2-5", test_plan_region},
    {"oversubscription warns and balances", test_oversubscribed},
    {"oversubscription warned of alike under every policy", test_oversubscription_every_policy},
    {"bad arguments are SO_EINVAL and leave a zeroed plan", test_errors},
    {"machines without cores or packages", test_missing_levels},
    {"naming the object of a set", test_object},
    {"synthetic topologies never claim a binding", test_synthetic_no_binding},
    {"policy names round trip", test_policy_names},
    {"cpuset lists", test_list},
    {"real machine smoke test", test_real_smoke},
    {NULL, NULL},
  };
  return so_test_run("bind", cases);
}

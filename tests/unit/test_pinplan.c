/* Unit tests of the pinning decision on synthetic machines: launcher binding or our plan, the
 * master on or off the node, the region (cpuset, core offset and count) and its errors. */
#include <stdio.h>
#include <string.h>

#include "bind.h"
#include "pinplan.h"
#include "so_test.h"

/* One package of four two-PU cores: core L#i has PUs 2i and 2i+1. */
#define TOPO_1x4x2 "pack:1 core:4 pu:2"

static hwloc_topology_t topo;

/* The started sets of up to 8 node ranks, from lists ("" = unknown). */
typedef struct node {
  int n;
  hwloc_bitmap_t sets[8];
  hwloc_const_cpuset_t started[8];
} node;

static void node_make(node *nd, int n, const char *const *lists) {
  memset(nd, 0, sizeof *nd);
  nd->n = n;
  for (int i = 0; i < n; i++) {
    if (!lists[i][0])
      continue;
    nd->sets[i] = hwloc_bitmap_alloc();
    CU_ASSERT_EQUAL_FATAL(hwloc_bitmap_list_sscanf(nd->sets[i], lists[i]), 0);
    nd->started[i] = nd->sets[i];
  }
}

static void node_free(node *nd) {
  for (int i = 0; i < nd->n; i++)
    hwloc_bitmap_free(nd->sets[i]);
}

static so__pin_input input(const node *nd, int master, int me) {
  return (so__pin_input){.topo = topo, .nlocal = nd->n, .started = nd->started, .master = master,
                         .me = me, .pol = SO_BIND_CORE};
}

/* Whether set is exactly the list, compared as text so a failure prints both. */
static int set_is(hwloc_const_bitmap_t set, const char *list) {
  char buf[128] = "?";
  if (set)
    so__bind_list(set, buf, sizeof buf);
  if (strcmp(buf, list) != 0) {
    fprintf(stderr, "\n    cpuset %s, expected %s\n", buf, list);
    return 0;
  }
  return 1;
}

/* Decides for rank me and checks kind and set. */
static void expect(so__pin_input in, int me, so__pin_kind kind, const char *set) {
  so__pin_decision d;
  in.me = me;
  CU_ASSERT_EQUAL_FATAL(so__pin_decide(&in, &d), 0);
  CU_ASSERT_EQUAL(d.kind, kind);
  if (d.kind != kind)
    fprintf(stderr, "\n    rank %d: kind %d, expected %d\n", me, (int)d.kind, (int)kind);
  CU_ASSERT_TRUE(set_is(d.set, set));
  so__pin_decision_free(&d);
}

/* Every rank of the node gets SO_EINVAL and the same sentence, which contains part. */
static void expect_error(so__pin_input in, const char *part) {
  char first[256] = "";
  for (int me = 0; me < in.nlocal; me++) {
    so__pin_decision d;
    in.me = me;
    CU_ASSERT_EQUAL(so__pin_decide(&in, &d), SO_EINVAL);
    CU_ASSERT_PTR_NULL(d.set);
    if (!strstr(d.err, part))
      fprintf(stderr, "\n    error '%s' lacks '%s'\n", d.err, part);
    CU_ASSERT_PTR_NOT_NULL(strstr(d.err, part));
    if (me == 0)
      snprintf(first, sizeof first, "%s", d.err);
    CU_ASSERT_STRING_EQUAL(d.err, first);
    so__pin_decision_free(&d);
  }
}

static void test_launcher_kept(void) {
  static const char *const lists[] = {"0-1", "2-3", "4-5"};
  node nd;
  node_make(&nd, 3, lists);
  so__pin_input in = input(&nd, 0, 0);
  expect(in, 0, SO_PIN_MASTER, "");
  expect(in, 1, SO_PIN_LAUNCHER, "2-3");
  expect(in, 2, SO_PIN_LAUNCHER, "4-5");
  /* Asking for a region then is warned of, not applied. */
  in.core_offset = 1;
  in.me = 1;
  so__pin_decision d;
  CU_ASSERT_EQUAL_FATAL(so__pin_decide(&in, &d), 0);
  CU_ASSERT_EQUAL(d.kind, SO_PIN_LAUNCHER);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.warn, "not applied"));
  so__pin_decision_free(&d);
  /* A cpuset that is not a list is wrong whoever binds. */
  in.core_offset = 0;
  in.cpuset = "1-";
  expect_error(in, "is not a list");
  node_free(&nd);
}

static void test_identical_planned(void) {
  static const char *const lists[] = {"0-7", "0-7", "0-7"};
  node nd;
  node_make(&nd, 3, lists);
  so__pin_input in = input(&nd, 0, 0);
  expect(in, 0, SO_PIN_MASTER, "");
  expect(in, 1, SO_PIN_PLAN, "0-1");
  expect(in, 2, SO_PIN_PLAN, "2-3");
  so__pin_decision d;
  in.me = 2;
  CU_ASSERT_EQUAL_FATAL(so__pin_decide(&in, &d), 0);
  CU_ASSERT_EQUAL(d.worker, 1);
  CU_ASSERT_EQUAL(d.nworkers, 2);
  CU_ASSERT_STRING_EQUAL(d.warn, "");
  so__pin_decision_free(&d);
  /* Under --bind none nobody is bound: each keeps what it was started with. */
  in.pol = SO_BIND_NONE;
  expect(in, 1, SO_PIN_NONE, "0-7");
  /* A taskset region: the plan stays inside it. */
  static const char *const half[] = {"4-7", "4-7", "4-7"};
  node nh;
  node_make(&nh, 3, half);
  in = input(&nh, 0, 0);
  expect(in, 1, SO_PIN_PLAN, "4-5");
  expect(in, 2, SO_PIN_PLAN, "6-7");
  node_free(&nh);
  node_free(&nd);
}

/* On a node without the master every rank is a worker; with it elsewhere in the node order,
 * the workers around it are numbered without it. */
static void test_master_on_or_off(void) {
  static const char *const lists[] = {"0-7", "0-7"};
  node nd;
  node_make(&nd, 2, lists);
  so__pin_input in = input(&nd, -1, 0);
  expect(in, 0, SO_PIN_PLAN, "0-1");
  expect(in, 1, SO_PIN_PLAN, "2-3");
  so__pin_decision d;
  CU_ASSERT_EQUAL_FATAL(so__pin_decide(&in, &d), 0);
  CU_ASSERT_EQUAL(d.nworkers, 2);
  CU_ASSERT_EQUAL(d.worker, 0);
  so__pin_decision_free(&d);
  in.master = 1;
  expect(in, 0, SO_PIN_PLAN, "0-1");
  expect(in, 1, SO_PIN_MASTER, "");
  node_free(&nd);
}

static void test_offset_count(void) {
  static const char *const lists[] = {"0-7", "0-7", "0-7"};
  node nd;
  node_make(&nd, 3, lists);
  so__pin_input in = input(&nd, 0, 0);
  in.core_offset = 2; /* cores 2 and 3 */
  expect(in, 1, SO_PIN_PLAN, "4-5");
  expect(in, 2, SO_PIN_PLAN, "6-7");
  /* Two engines on two halves of the node: engine A's worker on core 0, engine B's on core 1. */
  static const char *const pair[] = {"0-7", "0-7"};
  node np;
  node_make(&np, 2, pair);
  so__pin_input a = input(&np, 0, 0), b = input(&np, 0, 0);
  a.core_offset = 0, a.core_count = 1;
  b.core_offset = 1, b.core_count = 1;
  expect(a, 1, SO_PIN_PLAN, "0-1");
  expect(b, 1, SO_PIN_PLAN, "2-3");
  /* cpuset first, then the offset counts the cores of the cpuset. */
  in.cpuset = "4-7";
  in.core_offset = 1;
  expect(in, 1, SO_PIN_PLAN, "6-7");
  expect(in, 2, SO_PIN_PLAN, "6-7"); /* two workers on the one core left share it */
  in.me = 1;
  so__pin_decision d;
  CU_ASSERT_EQUAL_FATAL(so__pin_decide(&in, &d), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.warn, "2 workers but only 1 core"));
  so__pin_decision_free(&d);
  /* A cpuset of single PUs: each half core counts as a core. */
  in.cpuset = "1,2";
  in.core_offset = 0;
  expect(in, 1, SO_PIN_PLAN, "1");
  expect(in, 2, SO_PIN_PLAN, "2");
  node_free(&np);
  node_free(&nd);
}

static void test_oversubscription(void) {
  static const char *const lists[] = {"0-7", "0-7", "0-7", "0-7", "0-7", "0-7"};
  node nd;
  node_make(&nd, 6, lists);
  so__pin_input in = input(&nd, 0, 0);
  expect(in, 5, SO_PIN_PLAN, "0-1"); /* worker 4 wraps to core 0 */
  for (int me = 0; me < 6; me++) {
    so__pin_decision d;
    in.me = me;
    CU_ASSERT_EQUAL_FATAL(so__pin_decide(&in, &d), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(d.warn, "5 workers but only 4 cores"));
    so__pin_decision_free(&d);
  }
  node_free(&nd);
}

static void test_bad_region(void) {
  static const char *const lists[] = {"0-7", "0-7", "0-7"};
  node nd;
  node_make(&nd, 3, lists);
  so__pin_input in = input(&nd, 0, 0);
  static const char *const bad[] = {"abc", "0-", "3-1", "", "1,,2", "1,", "-1", "99999999999",
                                    " 1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    in.cpuset = bad[i];
    expect_error(in, "is not a list of CPU numbers");
  }
  in.cpuset = "6-9";
  expect_error(in, "reaches outside the CPUs this run may use (0-7)");
  in.cpuset = NULL;
  in.core_offset = 4;
  expect_error(in, "the core offset 4 is past the 4 cores of the CPUs 0-7");
  in.core_offset = 3;
  in.core_count = 2;
  expect_error(in, "need 5 cores but the CPUs 0-7 have 4");
  in.core_offset = -1;
  in.core_count = 0;
  expect_error(in, "negative");
  /* Outside what the ranks were started with (a taskset) is outside too. */
  static const char *const half[] = {"0-3", "0-3", "0-3"};
  node nh;
  node_make(&nh, 3, half);
  in = input(&nh, 0, 0);
  in.cpuset = "4";
  expect_error(in, "reaches outside the CPUs this run may use (0-3)");
  in.cpuset = "2-3";
  in.core_offset = 1;
  expect_error(in, "past the 1 core of the CPUs 2-3");
  node_free(&nh);
  node_free(&nd);
}

/* The synthetic machine with only the PUs of list allowed, as a cgroup (a Slurm allocation's
 * cores on that node) leaves them; NULL when hwloc cannot do it. */
static hwloc_topology_t topo_allowing(const char *list) {
  hwloc_topology_t t;
  if (so__bind_topology_load(&t, TOPO_1x4x2) != 0)
    return NULL;
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  int ok = set && hwloc_bitmap_list_sscanf(set, list) == 0 &&
           hwloc_topology_allow(t, set, NULL, HWLOC_ALLOW_FLAG_CUSTOM) == 0;
  hwloc_bitmap_free(set);
  if (!ok) {
    hwloc_topology_destroy(t);
    return NULL;
  }
  return t;
}

/* Each node plans inside its own allowed CPUs: the ranks of a node decide from that node's
 * topology (engine.c splits the run by MPI_COMM_TYPE_SHARED and loads the topology on each rank),
 * even when every rank was started with the whole machine as its binding. */
static void test_per_node_allowed(void) {
  static const char *const whole[] = {"0-7", "0-7", "0-7"};
  node nd;
  node_make(&nd, 3, whole);
  hwloc_topology_t a = topo_allowing("0-3"), b = topo_allowing("4-7");
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  /* Node A holds the master and two workers; node B three workers. */
  so__pin_input in = input(&nd, 0, 0);
  in.topo = a;
  expect(in, 1, SO_PIN_PLAN, "0-1");
  expect(in, 2, SO_PIN_PLAN, "2-3");
  in = input(&nd, -1, 0);
  in.topo = b;
  expect(in, 0, SO_PIN_PLAN, "4-5");
  expect(in, 1, SO_PIN_PLAN, "6-7");
  expect(in, 2, SO_PIN_PLAN, "4-5"); /* three workers on two cores: round-robin */
  /* A core offset counts the node's own cores. */
  in.core_offset = 1;
  expect(in, 0, SO_PIN_PLAN, "6-7");
  in.topo = a;
  expect(in, 0, SO_PIN_PLAN, "2-3");
  /* A cpuset outside a node's allowed CPUs is refused there, naming that node's CPUs. */
  in.core_offset = 0;
  in.cpuset = "0-1";
  expect(in, 0, SO_PIN_PLAN, "0-1");
  in.topo = b;
  expect_error(in, "reaches outside the CPUs this run may use (4-7)");
  hwloc_topology_destroy(a);
  hwloc_topology_destroy(b);
  node_free(&nd);
}

static void test_unknown_binding(void) {
  static const char *const lists[] = {"", "", ""};
  node nd;
  node_make(&nd, 3, lists);
  so__pin_input in = input(&nd, 0, 0);
  expect(in, 1, SO_PIN_NONE, "");
  expect(in, 0, SO_PIN_MASTER, "");
  so__pin_decision d;
  in.me = 3; /* out of range */
  CU_ASSERT_EQUAL(so__pin_decide(&in, &d), SO_EINVAL);
  CU_ASSERT_PTR_NULL(d.set);
  so__pin_decision_free(&d);
  CU_ASSERT_STRING_EQUAL(so__pin_kind_name(SO_PIN_PLAN), "scaleout");
  CU_ASSERT_STRING_EQUAL(so__pin_kind_name(SO_PIN_LAUNCHER), "launcher");
  CU_ASSERT_STRING_EQUAL(so__pin_kind_name(SO_PIN_MASTER), "none");
  node_free(&nd);
}

/* The region alone, as a direct run's parent counts its default workers from it: the started
 * set narrowed by cpuset, then offset and count; a bad cpuset is refused with the same sentence
 * the ranks would give. */
static void region_is(so__pin_input in, const char *started, const char *want, int want_rc) {
  hwloc_bitmap_t s = hwloc_bitmap_alloc(), r = hwloc_bitmap_alloc();
  CU_ASSERT_FATAL(s && r && hwloc_bitmap_list_sscanf(s, started) == 0);
  char err[256] = "", got[64] = "";
  int rc = so__pin_region(&in, s, r, err, sizeof err);
  CU_ASSERT_EQUAL(rc, want_rc);
  if (rc == 0) {
    hwloc_bitmap_list_snprintf(got, sizeof got, r);
    CU_ASSERT_STRING_EQUAL(got, want);
  } else {
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
  }
  hwloc_bitmap_free(s);
  hwloc_bitmap_free(r);
}

static void test_region(void) {
  so__pin_input in = {.topo = topo};
  region_is(in, "0-7", "0-7", 0);
  region_is(in, "2-5", "2-5", 0); /* the started binding (taskset, allocation) */
  in.cpuset = "6-7";
  region_is(in, "0-7", "6-7", 0);
  region_is(in, "0-3", "reaches outside the CPUs this run may use (0-3)", SO_EINVAL);
  in.cpuset = "x";
  region_is(in, "0-7", "is not a list of CPU numbers", SO_EINVAL);
  in.cpuset = NULL;
  in.core_offset = 1, in.core_count = 2;
  region_is(in, "0-7", "2-5", 0);
  CU_ASSERT_EQUAL(so__pin_region(NULL, NULL, NULL, NULL, 0), SO_EINVAL);
}

int main(void) {
  if (so__bind_topology_load(&topo, TOPO_1x4x2) != 0) {
    fprintf(stderr, "cannot load the synthetic topology %s\n", TOPO_1x4x2);
    return 2;
  }
  static const so_test_case cases[] = {
    {"launcher binding that differs is kept", test_launcher_kept},
    {"identical bindings get our plan", test_identical_planned},
    {"master on or off the node", test_master_on_or_off},
    {"core offset and count, cpuset", test_offset_count},
    {"oversubscription warned of on every rank", test_oversubscription},
    {"bad cpuset, offset, count: one agreed sentence", test_bad_region},
    {"unknown bindings and bad arguments", test_unknown_binding},
    {"each node plans inside its own allowed CPUs", test_per_node_allowed},
    {"the region alone (a direct run's default workers)", test_region},
    {NULL, NULL},
  };
  int rc = so_test_run("pinplan", cases);
  hwloc_topology_destroy(topo);
  return rc;
}

/* Worker placement on top of hwloc: topology loading, binding plans, binding and where we ran. */
#include "bind.h"

#include <stdlib.h>
#include <string.h>

int so__bind_topology_load(hwloc_topology_t *topo, const char *synthetic) {
  if (!topo)
    return SO_EHWLOC;
  *topo = NULL;
  hwloc_topology_t t;
  if (hwloc_topology_init(&t) != 0)
    return SO_EHWLOC;
  if (synthetic && hwloc_topology_set_synthetic(t, synthetic) != 0)
    goto fail_setup;
  /* The whole machine, PUs outside this process's cgroup or allocation included, so that logical
   * indexes (core L#1) mean the same in `scaleout topo` and in a run's report whatever the
   * cgroup; plans stay inside the allowed cpuset all the same. */
  if (hwloc_topology_set_flags(t, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED) != 0)
    goto fail_setup;
  /* No policy binds to a cache, and every worker loads the topology at start-up: skipping caches
   * makes that cheaper and keeps `scaleout topo` readable. */
  if (hwloc_topology_set_cache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE) != 0 ||
      hwloc_topology_set_icache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE) != 0)
    goto fail_setup;
  if (hwloc_topology_load(t) != 0)
    goto fail_setup;
  *topo = t;
  return 0;

fail_setup:
  hwloc_topology_destroy(t);
  return SO_EHWLOC;
}

/* The depth of the level a policy spreads over. NUMA nodes live at a virtual depth (memory
 * children in hwloc 2), which is negative but valid. */
static int policy_depth(hwloc_topology_t topo, so_bind_policy pol, int *depth) {
  int d;
  switch (pol) {
  case SO_BIND_CORE:
    /* Some virtual machines and architectures expose PUs without Core objects. */
    d = hwloc_get_type_or_below_depth(topo, HWLOC_OBJ_CORE);
    break;
  case SO_BIND_PU:
  case SO_BIND_NONE:
    d = hwloc_get_type_depth(topo, HWLOC_OBJ_PU);
    break;
  case SO_BIND_NUMA:
    d = hwloc_get_type_depth(topo, HWLOC_OBJ_NUMANODE);
    break;
  case SO_BIND_PACKAGE:
    /* Without packages the whole machine is the one package. */
    d = hwloc_get_type_or_above_depth(topo, HWLOC_OBJ_PACKAGE);
    break;
  default:
    return SO_EINVAL;
  }
  if (d == HWLOC_TYPE_DEPTH_UNKNOWN || d == HWLOC_TYPE_DEPTH_MULTIPLE)
    return SO_EHWLOC;
  *depth = d;
  return 0;
}

/* The region a plan works in: the caller's region cut down to what we may bind to. */
static int effective_region(hwloc_topology_t topo, hwloc_const_cpuset_t region,
                            hwloc_cpuset_t *out) {
  hwloc_cpuset_t eff = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo));
  if (!eff)
    return SO_ENOMEM;
  if (region && hwloc_bitmap_and(eff, eff, region) != 0) {
    hwloc_bitmap_free(eff);
    return SO_ENOMEM;
  }
  *out = eff;
  return 0;
}

/* Whether a and b cover the same PUs of region. */
static int same_in_region(hwloc_const_cpuset_t a, hwloc_const_cpuset_t b,
                          hwloc_const_cpuset_t region, hwloc_bitmap_t ta, hwloc_bitmap_t tb) {
  hwloc_bitmap_and(ta, a, region);
  hwloc_bitmap_and(tb, b, region);
  return hwloc_bitmap_isequal(ta, tb);
}

/*
 * Collects, in logical order, the objects at depth whose cpuset meets region into a malloc'ed
 * array (*objs, freed by the caller, also when *count is 0). NUMA nodes that cover the same PUs
 * (DDR and HBM of one package, say) count once: binding to either is the same CPU binding.
 */
static int region_objects(hwloc_topology_t topo, int depth, hwloc_const_cpuset_t region,
                          hwloc_obj_t **objs, int *count) {
  int total = hwloc_get_nbobjs_by_depth(topo, depth);
  hwloc_obj_t *v = malloc((size_t)(total > 0 ? total : 1) * sizeof *v);
  hwloc_bitmap_t ta = hwloc_bitmap_alloc(), tb = hwloc_bitmap_alloc();
  if (!v || !ta || !tb) {
    free(v);
    hwloc_bitmap_free(ta);
    hwloc_bitmap_free(tb);
    return SO_ENOMEM;
  }
  int dedupe = depth == HWLOC_TYPE_DEPTH_NUMANODE;
  int k = 0;
  for (int i = 0; i < total; i++) {
    hwloc_obj_t obj = hwloc_get_obj_by_depth(topo, depth, (unsigned)i);
    if (!obj || !obj->cpuset || !hwloc_bitmap_intersects(obj->cpuset, region))
      continue;
    int seen = 0;
    for (int j = 0; dedupe && j < k && !seen; j++)
      seen = same_in_region(obj->cpuset, v[j]->cpuset, region, ta, tb);
    if (!seen)
      v[k++] = obj;
  }
  hwloc_bitmap_free(ta);
  hwloc_bitmap_free(tb);
  *objs = v;
  *count = k;
  return 0;
}

int so__bind_count(hwloc_topology_t topo, hwloc_const_cpuset_t region, so_bind_policy pol) {
  if (!topo)
    return SO_EINVAL;
  int depth;
  int rc = policy_depth(topo, pol, &depth);
  if (rc != 0)
    return rc;
  hwloc_cpuset_t eff;
  if ((rc = effective_region(topo, region, &eff)) != 0)
    return rc;
  hwloc_obj_t *objs = NULL;
  int count = 0;
  rc = region_objects(topo, depth, eff, &objs, &count);
  free(objs);
  hwloc_bitmap_free(eff);
  return rc != 0 ? rc : count;
}

const char *so__bind_noun(hwloc_obj_type_t type, int plural) {
  switch (type) {
  case HWLOC_OBJ_CORE: return plural ? "cores" : "core";
  case HWLOC_OBJ_PU: return plural ? "PUs" : "PU";
  case HWLOC_OBJ_NUMANODE: return plural ? "NUMA nodes" : "NUMA node";
  case HWLOC_OBJ_PACKAGE: return plural ? "packages" : "package";
  case HWLOC_OBJ_MACHINE: return plural ? "machines" : "machine";
  default: return hwloc_obj_type_string(type);
  }
}

/* Workers bound to cores or PUs share them round-robin; workers spread over NUMA nodes or
 * packages, or left unbound, time-share the PUs of the region. */
static void write_warning(hwloc_topology_t topo, int depth, so_bind_policy pol, int n, int nobjs,
                          int npus, char *warn, size_t warnlen) {
  if (!warn || warnlen == 0)
    return;
  if (pol != SO_BIND_CORE && pol != SO_BIND_PU) {
    snprintf(warn, warnlen, "%d workers but only %d %s in the region: the workers (--bind %s) "
             "will time-share %s.", n, npus, so__bind_noun(HWLOC_OBJ_PU, npus != 1),
             so__bind_policy_name(pol), npus != 1 ? "them" : "it");
    return;
  }
  hwloc_obj_type_t type = hwloc_get_depth_type(topo, depth);
  int most = (n + nobjs - 1) / nobjs;
  snprintf(warn, warnlen, "%d workers but only %d %s in the region: workers share them "
           "round-robin, at most %d per %s.", n, nobjs, so__bind_noun(type, nobjs != 1), most,
           so__bind_noun(type, 0));
}

int so__bind_plan_make(hwloc_topology_t topo, hwloc_const_cpuset_t region, so_bind_policy pol,
                       int n, so__bind_plan *plan, char *warn, size_t warnlen) {
  if (warn && warnlen > 0)
    warn[0] = '\0';
  if (!plan)
    return SO_EINVAL;
  memset(plan, 0, sizeof *plan);
  if (!topo || n < 1)
    return SO_EINVAL;
  int depth;
  int rc = policy_depth(topo, pol, &depth);
  if (rc != 0)
    return rc;

  hwloc_cpuset_t eff;
  if ((rc = effective_region(topo, region, &eff)) != 0)
    return rc;
  if (hwloc_bitmap_iszero(eff)) {
    rc = SO_EINVAL;
    goto fail_region;
  }
  hwloc_obj_t *objs = NULL;
  int nobjs = 0;
  if ((rc = region_objects(topo, depth, eff, &objs, &nobjs)) != 0)
    goto fail_region;
  /* Every allowed PU lies in some object of each level, so none found means hwloc is confused. */
  if (nobjs == 0) {
    rc = SO_EHWLOC;
    goto fail_objects;
  }

  plan->sets = calloc((size_t)n, sizeof *plan->sets);
  if (!plan->sets) {
    rc = SO_ENOMEM;
    goto fail_objects;
  }
  plan->n = n;
  for (int i = 0; i < n; i++) {
    plan->sets[i] = hwloc_bitmap_alloc();
    if (!plan->sets[i]) {
      rc = SO_ENOMEM;
      goto fail_sets;
    }
    /* Round-robin in logical order: compact while n <= nobjs, balanced beyond. */
    hwloc_const_cpuset_t from = pol == SO_BIND_NONE ? eff : objs[i % nobjs]->cpuset;
    if (hwloc_bitmap_and(plan->sets[i], from, eff) != 0) {
      rc = SO_ENOMEM;
      goto fail_sets;
    }
  }
  plan->nobjs = nobjs;
  /* Oversubscribed means more workers than the CPUs they run on: cores or PUs for those
   * policies, the PUs of the region for the others (several workers per NUMA node or package is
   * what those policies are for). */
  int npus = hwloc_bitmap_weight(eff);
  plan->oversubscribed = pol == SO_BIND_CORE || pol == SO_BIND_PU ? n > nobjs : n > npus;
  if (plan->oversubscribed)
    write_warning(topo, depth, pol, n, nobjs, npus, warn, warnlen);
  free(objs);
  hwloc_bitmap_free(eff);
  return 0;

fail_sets:
  so__bind_plan_free(plan);
fail_objects:
  free(objs);
fail_region:
  hwloc_bitmap_free(eff);
  return rc;
}

void so__bind_plan_free(so__bind_plan *plan) {
  if (!plan)
    return;
  if (plan->sets)
    for (int i = 0; i < plan->n; i++)
      hwloc_bitmap_free(plan->sets[i]);
  free(plan->sets);
  memset(plan, 0, sizeof *plan);
}

hwloc_obj_t so__bind_object(hwloc_topology_t topo, so_bind_policy pol, hwloc_const_cpuset_t set) {
  int depth;
  if (!topo || !set || pol == SO_BIND_NONE || hwloc_bitmap_iszero(set) ||
      policy_depth(topo, pol, &depth) != 0)
    return NULL;
  int total = hwloc_get_nbobjs_by_depth(topo, depth);
  for (int i = 0; i < total; i++) {
    hwloc_obj_t obj = hwloc_get_obj_by_depth(topo, depth, (unsigned)i);
    if (obj && obj->cpuset && hwloc_bitmap_isincluded(set, obj->cpuset))
      return obj;
  }
  return NULL;
}

/* hwloc gives synthetic and XML topologies binding hooks that succeed without doing anything; we
 * refuse instead, so nobody reports a binding that never happened. */
int so__bind_get(hwloc_topology_t topo, hwloc_cpuset_t out) {
  if (!topo || !out || !hwloc_topology_is_thissystem(topo))
    return SO_EHWLOC;
  if (hwloc_get_cpubind(topo, out, HWLOC_CPUBIND_PROCESS) == 0)
    return 0;
  return hwloc_get_cpubind(topo, out, HWLOC_CPUBIND_THREAD) == 0 ? 0 : SO_EHWLOC;
}

int so__bind_apply(hwloc_topology_t topo, hwloc_const_cpuset_t set) {
  if (!topo || !set || hwloc_bitmap_iszero(set) || !hwloc_topology_is_thissystem(topo))
    return SO_EHWLOC;
  if (hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0)
    return 0;
  /* Some systems cannot bind a whole process; the worker's work runs on the calling thread. */
  return hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_THREAD) == 0 ? 0 : SO_EHWLOC;
}

void so__bind_where(hwloc_topology_t topo, int *pu_os, int *core_logical) {
  int pu = -1, core = -1;
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  /* The calling thread first: it is one PU, where a process answer is the union of its threads. */
  if (set && topo && hwloc_topology_is_thissystem(topo) &&
      (hwloc_get_last_cpu_location(topo, set, HWLOC_CPUBIND_THREAD) == 0 ||
       hwloc_get_last_cpu_location(topo, set, HWLOC_CPUBIND_PROCESS) == 0))
    pu = hwloc_bitmap_first(set);
  if (pu >= 0) {
    hwloc_obj_t obj = hwloc_get_pu_obj_by_os_index(topo, (unsigned)pu);
    hwloc_obj_t c = obj ? hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, obj) : NULL;
    if (c)
      core = (int)c->logical_index;
  }
  hwloc_bitmap_free(set);
  if (pu_os)
    *pu_os = pu;
  if (core_logical)
    *core_logical = core;
}

int so__bind_list(hwloc_const_bitmap_t set, char *out, size_t outlen) {
  if (!set || !out || outlen == 0)
    return SO_EINVAL;
  int len = hwloc_bitmap_list_snprintf(out, outlen, set);
  return (len < 0 || (size_t)len >= outlen) ? SO_EINVAL : 0;
}

static const char *const policy_names[] = {
  [SO_BIND_CORE] = "core",
  [SO_BIND_PU] = "pu",
  [SO_BIND_NUMA] = "numa",
  [SO_BIND_PACKAGE] = "package",
  [SO_BIND_NONE] = "none",
};

int so__bind_policy_parse(const char *text, so_bind_policy *out) {
  if (!text || !out)
    return SO_EINVAL;
  for (size_t i = 0; i < sizeof policy_names / sizeof policy_names[0]; i++)
    if (strcmp(text, policy_names[i]) == 0) {
      *out = (so_bind_policy)i;
      return 0;
    }
  return SO_EINVAL;
}

const char *so__bind_policy_name(so_bind_policy pol) {
  size_t i = (size_t)pol;
  if (i >= sizeof policy_names / sizeof policy_names[0])
    return "unknown";
  return policy_names[i];
}

/* Worker placement: load a topology, plan one cpuset per worker under a policy, bind and report. */
#ifndef SO_BIND_H
#define SO_BIND_H

#include <hwloc.h>
#include <stddef.h>
#include <stdio.h>

#include "scaleout/scaleout.h" /* so_bind_policy */

/*
 * A binding plan: which cpuset each worker gets. Created by so__bind_plan_make, released by
 * so__bind_plan_free. Worker w (0-based here; the engine's rank w+1) takes sets[w].
 */
typedef struct so__bind_plan {
  int n;                /* workers planned */
  hwloc_bitmap_t *sets; /* n cpusets, one per worker (for SO_BIND_NONE: each is the whole region) */
  int nobjs;            /* objects of the policy's type inside the region (PUs for SO_BIND_NONE) */
  int oversubscribed;   /* more workers than CPUs to run on: n > nobjs for core and pu, n > the
                           region's PUs for numa, package and none */
} so__bind_plan;

/*
 * Loads a topology into *topo: the real machine when synthetic is NULL, else hwloc's synthetic
 * description ("pack:2 core:4 pu:2"). The whole machine, PUs outside the allowed cpuset (a cgroup,
 * a batch allocation) included, so logical indexes do not depend on the cgroup; plans and counts
 * stay inside hwloc_topology_get_allowed_cpuset. Caches are filtered out (no policy binds to them). The
 * caller destroys it with hwloc_topology_destroy. On error *topo is NULL and nothing is printed.
 * Not collective. Returns 0 or SO_EHWLOC (a bad synthetic string included).
 */
int so__bind_topology_load(hwloc_topology_t *topo, const char *synthetic);

/*
 * Plans n workers inside region (a cpuset; NULL = the topology's allowed cpuset; it is further
 * restricted to the allowed cpuset). The objects are those of the policy's type whose cpuset meets
 * the region, in logical order; worker i takes object i mod nobjs, and its set is that object's
 * cpuset intersected with the region. So `--bind core` is compact (worker i on the i-th core,
 * filling a package before the next), and when n > nobjs every object carries floor(n/nobjs) or
 * ceil(n/nobjs) workers. SO_BIND_NONE gives every worker the whole region and counts its PUs.
 * A machine without Core objects uses PUs for SO_BIND_CORE; one without packages uses the machine.
 * On oversubscription (plan->oversubscribed, whatever the policy) one warning sentence (no
 * newline) goes into warn when warn is not NULL;
 * otherwise warn is set to "". This never fails because of oversubscription.
 * On success the caller frees *plan with so__bind_plan_free; on error *plan is zeroed.
 * Not collective, prints nothing. Returns 0, SO_EINVAL (n < 1, a region that misses the allowed
 * cpuset, a bad policy), SO_ENOMEM or SO_EHWLOC.
 */
int so__bind_plan_make(hwloc_topology_t topo, hwloc_const_cpuset_t region, so_bind_policy pol,
                       int n, so__bind_plan *plan, char *warn, size_t warnlen);

/* Frees the sets and zeroes the plan; accepts NULL and a zeroed plan, so calling it twice is safe. */
void so__bind_plan_free(so__bind_plan *plan);

/*
 * Counts the objects a plan under pol would spread over inside region (same rules as
 * so__bind_plan_make; for SO_BIND_NONE, the PUs). Returns the count (0 when the region misses the
 * allowed cpuset) or SO_EINVAL / SO_ENOMEM / SO_EHWLOC.
 */
int so__bind_count(hwloc_topology_t topo, hwloc_const_cpuset_t region, so_bind_policy pol);

/* How messages name objects of a type: "core"/"cores", "NUMA node"/"NUMA nodes"; other types by
 * hwloc's name. Not collective; the string is static. */
const char *so__bind_noun(hwloc_obj_type_t type, int plural);

/*
 * The object of the policy's type (with the same fallbacks as the plan) whose cpuset contains set,
 * the first in logical order; NULL for SO_BIND_NONE, an empty set, or when no single object does.
 * Used to name a plan's sets ("core L#2").
 */
hwloc_obj_t so__bind_object(hwloc_topology_t topo, so_bind_policy pol, hwloc_const_cpuset_t set);

/* The calling process's current CPU binding (all threads; the calling thread's if the OS cannot
 * tell for the process), into out. Fails on synthetic topologies. Returns 0 or SO_EHWLOC. */
int so__bind_get(hwloc_topology_t topo, hwloc_cpuset_t out);

/* Binds the calling process (all threads, HWLOC_CPUBIND_PROCESS; the calling thread if the OS
 * refuses) to set, which must be non-empty. Fails on synthetic topologies. Returns 0 or SO_EHWLOC. */
int so__bind_apply(hwloc_topology_t topo, hwloc_const_cpuset_t set);

/* Where the calling thread last ran: the OS index of the PU and the logical index of its core.
 * Either is -1 when unknown (synthetic topology, no Core objects, OS cannot tell). Outputs may be
 * NULL. */
void so__bind_where(hwloc_topology_t topo, int *pu_os, int *core_logical);

/* Writes a cpuset as a list of OS indexes ("0-3,8"; "" for the empty set). Returns 0, or SO_EINVAL
 * when out is NULL or the text did not fit (out then holds a truncated, terminated prefix). */
int so__bind_list(hwloc_const_bitmap_t set, char *out, size_t outlen);

/* Policy names: "core", "pu", "numa", "package", "none" (exact, lower case). Parse returns 0 or
 * SO_EINVAL (NULL, unknown name; *out untouched). Name returns "unknown" for a bad value. */
int so__bind_policy_parse(const char *text, so_bind_policy *out);
const char *so__bind_policy_name(so_bind_policy pol);

#endif

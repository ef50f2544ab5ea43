/* The configurations a scale-up versus scale-out comparison runs, planned from the allocation's
 * shape alone: a pure function, no MPI, no hosts contacted. */
#ifndef SO_CMPPLAN_H
#define SO_CMPPLAN_H

#include <stddef.h>

#include "scaleout/scaleout.h" /* the SO_E* codes returned */

/* How a point's workers sit on the nodes; derived from the layout, never chosen separately. */
typedef enum so__placement {
  SO_PLACE_PACKED = 0, /* every worker on one node */
  SO_PLACE_SPREAD,     /* one worker on each of several nodes */
  SO_PLACE_WHOLE       /* several nodes with several workers: the whole allocation */
} so__placement;

/* Which series a point belongs to; one point can serve several (the 1-worker point is the first
 * of both series; on one node the whole allocation is the last scale-up point). */
enum {
  SO_SERIES_UP = 1u,    /* scale-up: 1, 2, 4, ... workers packed on the first node, up to its slots */
  SO_SERIES_OUT = 2u,   /* scale-out: one worker on each of 1, 2, 4, ... nodes, up to all nodes */
  SO_SERIES_WHOLE = 4u  /* every slot of every node */
};

typedef struct so__cmp_point {
  int workers;              /* worker ranks; the master is one more rank (see so__cmp_point_hosts) */
  int nodes;                /* nodes holding workers: always the allocation's first `nodes` nodes */
  so__placement placement;
  unsigned series;          /* SO_SERIES_* bits */
  int *per_node;            /* nodes entries: workers on allocation node i (each >= 1) */
} so__cmp_point;

typedef struct so__cmp_plan {
  int nnodes;               /* nodes in the allocation */
  int npoints;
  so__cmp_point *points;    /* by workers, then packed, spread, whole */
} so__cmp_plan;

/* Largest allocation planned: far beyond any machine scaleout runs on, and small enough that the
 * whole allocation's worker count cannot overflow an int. */
#define SO_CMP_MAX_NODES 100000
#define SO_CMP_MAX_SLOTS 100000 /* per node; all nodes together at most 10^9 */

/*
 * Plans the points for an allocation of nodes nodes with cores worker slots each, or, when slots
 * is not NULL, slots[i] on node i (an uneven allocation; cores is then ignored). Node 0 is the
 * node the command runs on; it holds the master, so the scale-up series packs there (up to
 * slots[0], the last point slots[0] itself even when not a power of two) and keeps the
 * master-worker path inside one node as a local run does. Worker slots count cores for workers
 * only: the master is an extra rank that sleeps while it waits and takes no slot.
 * Points with the same layout are one point with their series bits joined. Pure, not collective.
 * Returns 0 (free out with so__cmp_plan_free), SO_EINVAL with one sentence in err (no nodes, a
 * node without slots, an allocation past the limits above) or SO_ENOMEM.
 */
int so__cmp_plan_make(int nodes, int cores, const int *slots, so__cmp_plan *out, char *err,
                      size_t errlen);

/* Frees the plan's memory; accepts a zeroed plan and may be called twice. */
void so__cmp_plan_free(so__cmp_plan *plan);

/*
 * Writes the point's layout as an Open MPI --host list, "name0:k0,name1:k1,...", where names
 * holds the allocation's node names in order and k counts ranks: node 0 gets its workers plus one
 * for the master (rank 0, which mpirun places first), so a point of W workers starts W + 1
 * ranks as a direct run does. A hostfile is the same pairs as "name slots=k" lines.
 * Returns 0, or SO_EINVAL when buf is too small (buf then holds "").
 */
int so__cmp_point_hosts(const so__cmp_point *pt, const char *const *names, char *buf, size_t len);

/* "packed", "spread" or "whole". */
const char *so__placement_name(so__placement p);

#endif

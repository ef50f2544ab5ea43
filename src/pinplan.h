/* The pinning decision of one rank as a pure function: launcher binding kept, our plan, or none. */
#ifndef SO_PINPLAN_H
#define SO_PINPLAN_H

#include <hwloc.h>

#include "scaleout/scaleout.h" /* so_bind_policy */

/* What a rank does about its CPU binding. */
typedef enum so__pin_kind {
  SO_PIN_MASTER = 0, /* the master: never pinned (it sleeps while it waits) */
  SO_PIN_NONE,       /* a worker left as it is: --bind none, or its binding could not be read */
  SO_PIN_LAUNCHER,   /* the launcher bound the node's ranks to different sets: that is kept */
  SO_PIN_PLAN        /* our plan: bind to set */
} so__pin_kind;

/* Everything the decision depends on; the ranks of one node pass the same values except me. */
typedef struct so__pin_input {
  hwloc_topology_t topo;                /* the node's machine, loaded by the caller (synthetic in
                                           tests); only read */
  int nlocal;                           /* ranks of the run on this node, >= 1 */
  const hwloc_const_cpuset_t *started;  /* nlocal entries: the binding each node rank (in node
                                           rank order) was started with; NULL when unknown */
  int master;                           /* node-local index of the master, -1 when elsewhere */
  int me;                               /* this rank's node-local index */
  so_bind_policy pol;
  const char *cpuset;                   /* so_config.cpuset: a list of OS PU indexes, or NULL */
  int core_offset, core_count;          /* so_config.core_offset / core_count (0: the rest) */
} so__pin_input;

typedef struct so__pin_decision {
  so__pin_kind kind;
  hwloc_cpuset_t set; /* PLAN: where to bind; LAUNCHER and NONE: the set this rank was started
                         with (empty when unknown); MASTER: empty */
  int worker;         /* index among the node's workers (0-based), -1 for the master */
  int nworkers;       /* workers on this node */
  char warn[256];     /* one warning sentence for the node (the same on each of its ranks), or "" */
  char err[256];      /* the error sentence when so__pin_decide returned SO_EINVAL, else "" */
} so__pin_decision;

/*
 * Decides how this rank is bound. The ranks of one node compare the bindings they were started
 * with: if they differ, the launcher bound each (mpirun --bind-to core, srun --cpu-bind) and that
 * is kept; if they are all the same, that set is the job's region (batch allocation, cgroup,
 * taskset), narrowed by cpuset (which must lie inside it), then by core_offset and core_count
 * (cores in logical order), and the node's workers are planned inside it under pol
 * (so__bind_plan_make: compact, round-robin when oversubscribed, with a warning).
 * Every rank of the node reaches the same verdict, so an error is agreed without talking.
 * Pure: no MPI, no topology loading, no binding. Not collective.
 * On success the caller frees out with so__pin_decision_free. Returns 0, SO_EINVAL (bad cpuset
 * text, a cpuset outside the region, an offset or count past the cores; out->err says which in
 * one sentence), SO_ENOMEM or SO_EHWLOC.
 */
int so__pin_decide(const so__pin_input *in, so__pin_decision *out);

/*
 * The region the node's workers would be planned in when every rank was started on `started`
 * (NULL: unknown): the allowed set narrowed by in->cpuset, core_offset and core_count, as
 * so__pin_decide makes it (in->started, nlocal, master, me and pol are not read). Pure, not
 * collective. Returns 0 with region filled, or SO_EINVAL (err says why in one sentence) or
 * SO_ENOMEM.
 */
int so__pin_region(const so__pin_input *in, hwloc_const_cpuset_t started, hwloc_cpuset_t region,
                   char *err, size_t errlen);

/* Frees the decision's set; accepts a zeroed decision and may be called twice. */
void so__pin_decision_free(so__pin_decision *d);

/* so__pin_kind as the report says it: "scaleout" for PLAN, "launcher", "none" (MASTER too). */
const char *so__pin_kind_name(so__pin_kind kind);

#endif

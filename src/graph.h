/* Named tasks and their dependencies (so_ctx_submit): which tasks wait for which, when a task
 * becomes ready, and which never run because a task they wait for failed. */
#ifndef SO_GRAPH_H
#define SO_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "scaleout/job.h"

/*
 * Only tasks that need it get a node: one with a name (others may wait for it) or one that
 * waits. A task with neither is ready at once and the caller queues it without the graph.
 * Tasks submitted from init() form the declared graph: their references are resolved, and
 * cycles looked for, by so__graph_seal before anything runs, so they may name tasks submitted
 * after them. Later submissions may only name tasks that exist already, so they cannot close a
 * cycle. A node keeps the task's payload while it waits; named nodes are kept to the end of the
 * run so later tasks can name them.
 */

/* Called for each task that becomes ready; it queues the task (data is valid during the call). */
typedef int (*so__graph_release_fn)(void *arg, uint64_t id, uint32_t type, int64_t priority,
                                    const void *data, uint32_t len);

/* How many names of tasks that never ran are kept for the summary. */
#define SO_GRAPH_NOTRUN_SHOWN 5

typedef struct so__graph {
  struct so__gnode *nodes;
  size_t n, cap;
  size_t *by_name, name_cap; /* open addressing: node index + 1, 0 empty */
  size_t *by_id, id_cap;     /* named nodes by task id */
  size_t pending;            /* nodes waiting for another task */
  uint64_t not_run;          /* tasks that never ran because a task they wait for failed */
  char not_run_names[SO_GRAPH_NOTRUN_SHOWN][64];
  unsigned nshown;
  int sealed; /* the declared graph was checked: references are resolved as they come */
} so__graph;

void so__graph_init(so__graph *g);
void so__graph_free(so__graph *g);

/* Adds a submitted task with its engine id. Before so__graph_seal its references wait to be
 * checked; after, they must name existing tasks. *ready is set when the caller is to queue the
 * task now. Returns 0, SO_EINVAL (after a message naming the tasks: duplicate name, unknown
 * reference) or SO_ENOMEM. job names the job in messages. */
int so__graph_add(so__graph *g, const so_task_spec *spec, uint64_t id, const char *job,
                  int *ready);

/* Ends the declared graph: resolves every reference, refuses unknown names and cycles (the
 * message names the tasks on the cycle) with SO_EINVAL, then releases the tasks that wait for
 * nothing, in submission order. Returns 0 or an error (of release, too). */
int so__graph_seal(so__graph *g, const char *job, so__graph_release_fn release, void *arg);

/* A task ended: when it has a node, its dependents are released (ok) or marked as never to run,
 * with theirs (failed). Returns 0 or an error of release. */
int so__graph_done(so__graph *g, uint64_t id, int ok, so__graph_release_fn release, void *arg);

#endif

/* The worker: asks the master for tasks, runs them through the job, sends results back. */
#ifndef SO_WORKER_H
#define SO_WORKER_H

#include "scaleout/scaleout.h"
#include "transport.h"

/* What a worker tells the master about where it ran. */
typedef struct so__worker_info {
  char host[64];
  char cpuset[128];
  char bound_by[16];
  /* Reports the PU (OS index) and core (logical index) the worker last ran on; may be NULL. */
  void (*where)(void *arg, int *pu, int *core);
  void *where_arg;
} so__worker_info;

/* Runs the worker side of a job over t until the master says stop. Worker only.
 * Returns 0 or an SO_E* code, the error already printed. */
int so__worker_run(so__transport *t, const so_job *job, const so_params *params,
                   const so_config *cfg, const so__worker_info *info);

#endif

/* The master: owns the task queue, hands out batches on request, merges results. */
#ifndef SO_MASTER_H
#define SO_MASTER_H

#include "scaleout/scaleout.h"
#include "transport.h"

typedef struct so__master so__master;

/* Prepares the master: runs the job's init on the master and checks the task count against the
 * workers (none, or fewer tasks than workers, is refused). Master only, before any worker is
 * asked for anything, so a refused run ends before workers start. Returns 0 or an SO_E* code
 * (printed); *m is set either way and freed with so__master_free. */
int so__master_init(so__master **m, const so_job *job, const so_params *params,
                    const so_config *cfg, int nworkers);

/* Runs the master side of the job over t, whose ranks 1..size-1 are workers running
 * so__worker_run. Returns when every worker has sent its FINAL message, so no message of the
 * run is left in flight. Fills *rep (free with so_report_free). Returns 0 or an SO_E* code,
 * the error already printed. */
int so__master_run(so__master *m, so__transport *t, so_report *rep);

/* Runs the job's fini and frees the master; accepts NULL. */
void so__master_free(so__master *m);

#endif

/* The master: owns the task queue, hands out batches on request, merges results. */
#ifndef SO_MASTER_H
#define SO_MASTER_H

#include "scaleout/scaleout.h"
#include "transport.h"

/* Runs the master side of a job over t, whose ranks 1..size-1 are workers running
 * so__worker_run. Master only. Returns when every worker has sent its FINAL message, so no
 * message of the run is left in flight. Fills *rep (free with so_report_free). Returns 0 or an
 * SO_E* code, the error already printed. */
int so__master_run(so_transport *t, const so_job *job, const so_params *params,
                   const so_config *cfg, so_report *rep);

#endif

/* The so_job table's version check: what so_run (and the plugin loader) accept as a job. */
#ifndef SO_JOBCHECK_H
#define SO_JOBCHECK_H

#include <stddef.h>

#include "scaleout/job.h"

/* The smallest table of API major SO_API_MAJOR the engine takes: every field up to and including
 * fini(), the callbacks any job may need. The fields after it are optional, so a table that ends
 * earlier (built for an older minor version) reads them as 0. */
#define SO__JOB_MIN_SIZE (offsetof(so_job, fini) + sizeof(((so_job *)0)->fini))

/*
 * Checks the version fields of a job table and copies it into *out, a full so_job of this
 * engine's version: a table shorter than so_job (an older minor version) has the rest zeroed, a
 * longer one (a newer minor version) is taken when the fields this engine does not know are all
 * zero (the job uses nothing the engine lacks). Refused, with one sentence naming the job and
 * the versions in err and SO_EINVAL: no job, another major version, a table smaller than
 * SO__JOB_MIN_SIZE, or non-zero fields beyond this engine's so_job. Never prints. Any thread, no
 * MPI.
 */
int so__job_accept(const so_job *job, so_job *out, char *err, size_t errlen);

#endif

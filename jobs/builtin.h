/* The built-in jobs, found by name. */
#ifndef SO_BUILTIN_H
#define SO_BUILTIN_H

#include "scaleout/job.h"

/* Returns the built-in job with that name, or NULL. */
const so_job *so__builtin_find(const char *name);

/* The built-in jobs, terminated by NULL. */
extern const so_job *const so__builtin_jobs[];

#endif

/* The table of built-in jobs and the lookup by name that the command line uses. */
#include "builtin.h"

#include <string.h>

#include "jobs_list.h"

/* Listed in the order `scaleout jobs` prints them. */
const so_job *const so__builtin_jobs[] = {
    &so_job_pi,     &so_job_primes,     &so_job_sleep,  &so_job_noop,
    &so_job_cmd,    &so_job_squarecube, &so_job_dishes, &so_job_mandelbrot,
    &so_job_matmul, &so_job_stream,     &so_job_wordcount, NULL};

const so_job *so__builtin_find(const char *name) {
  if (!name)
    return NULL;
  for (size_t i = 0; so__builtin_jobs[i]; i++)
    if (strcmp(so__builtin_jobs[i]->name, name) == 0)
      return so__builtin_jobs[i];
  return NULL;
}

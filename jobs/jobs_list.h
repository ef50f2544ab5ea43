/* The job tables each built-in job file exports, collected for builtin.c and the tests. */
#ifndef SO_JOBS_LIST_H
#define SO_JOBS_LIST_H

#include "scaleout/job.h"

/* Job callbacks report failure as a positive, job-specific code after so_ctx_errorf() has said
 * why: the SO_E* codes live in scaleout/scaleout.h, which job files do not include because it
 * pulls in <mpi.h>, and the engine turns any non-zero code into SO_EJOB with the job's message. */

extern const so_job so_job_pi;     /* Monte Carlo estimate of pi; CPU-bound, bit-reproducible */
extern const so_job so_job_primes; /* segmented sieve count of primes in [from, to); exact */
extern const so_job so_job_sleep;  /* tasks that only wait: a stand-in for I/O-bound work */
extern const so_job so_job_noop;
extern const so_job so_job_cmd;    /* the command task farm: shell commands like GNU parallel */
extern const so_job so_job_squarecube; /* squares and cubes of a range: two task types */
extern const so_job so_job_dishes; /* a two-stage pipeline (wash, dry) with a bounded rack */
extern const so_job so_job_mandelbrot; /* PGM image, rows of uneven cost gathered in order */
extern const so_job so_job_matmul;     /* blocked dense product checked against a naive one */
extern const so_job so_job_stream;     /* STREAM triad: memory bandwidth per node */
extern const so_job so_job_wordcount;  /* map-reduce word counts over the files after ::: */

#endif

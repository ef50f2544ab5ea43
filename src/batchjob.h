/* The batch job a run belongs to (Slurm, PBS/Torque), as its environment says, and the output
 * names that carry its id so that two jobs started in one directory keep their files apart. */
#ifndef SO_BATCHJOB_H
#define SO_BATCHJOB_H

#include <stddef.h>

typedef struct so__batch_job {
  const char *scheduler; /* "Slurm" or "PBS" as the summary says it; NULL outside a batch job */
  const char *key;       /* "slurm" or "pbs" as the JSON report says it; NULL outside */
  char id[64];           /* the job id as the scheduler gives it ("1234", "77.server") */
  char tag[64];          /* the id as a file name part: up to the first '.', and only letters,
                            digits, '-' and '_' (others become '_'): "1234", "77" */
} so__batch_job;

/* Reads the batch job from this process's environment: SLURM_JOB_ID (Slurm, salloc and sbatch
 * alike), else PBS_JOBID (PBS Pro and Torque). Returns 1 and fills *bj inside a batch job, else 0
 * with bj->scheduler NULL. Not collective: each rank reads its own environment. */
int so__batch_job_get(so__batch_job *bj);

/* The default output name name as a batch job bj uses it: the tag inserted before the extension
 * of the last path component ("mandelbrot.pgm" -> "mandelbrot-1234.pgm", "out" -> "out-1234",
 * "dir/a.b.c" -> "dir/a.b-1234.c"; a leading dot does not start an extension). name unchanged
 * when bj is NULL or outside a batch job, and for "" and "-" (no file, or standard output).
 * Writes into buf. Returns 0, or SO_EINVAL when the result does not fit in len. */
int so__batch_output_name(const char *name, const so__batch_job *bj, char *buf, size_t len);

#endif

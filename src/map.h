/* Data-parallel maps (scaleout/map.h) turned into the engine's ordinary next/run/merge: the
 * internal side, shared by the master half (map.c) and the worker half (map_run.c). */
#ifndef SO_MAP_INTERNAL_H
#define SO_MAP_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "batch.h"
#include "buf.h"
#include "scaleout/scaleout.h"

/*
 * What one task of a map carries: only where its items are, never the items themselves, so the
 * master's memory does not grow with the input. The task covers items [first, first + count)
 * whose bytes are [offset, offset + len) of the input file (0, 0 for a range), and of those it
 * runs the ones in chunks of `chunk` items numbered phase, phase + stride, phase + 2 stride, ...
 * counted from first: static,N deals a worker every W-th chunk in one task (stride W), every
 * other schedule sends one chunk (chunk = count, stride 1, phase 0).
 */
typedef struct so__map_span {
  uint64_t offset, len;
  uint64_t first, count;
  uint64_t chunk, stride, phase;
} so__map_span;

/* The job the engine runs for a map job. Its job.map points at self, a copy of the author's map,
 * so ctx->job->map leads back here even through the copy of the table so_run works from. */
typedef struct so__map_job {
  so_job job;
  so_map self;
  const so_job *orig;   /* the job as its author wrote it */
  const so_map *map;    /* its map */
  so_schedule sched;    /* the schedule in force: --schedule, else the job's own */
  FILE *out;            /* gather without gathered(): where the output goes */
  size_t record;        /* SO_MAP_RECORDS with a fixed record_size; else from record_param */
} so__map_job;

/* Each task's result ends with this trailer, so the master can size auto chunks. */
typedef struct so__map_trailer {
  uint64_t items; /* items the task ran */
  uint64_t ns;    /* nanoseconds it took */
} so__map_trailer;

/* A gathered task's output is the items' bytes followed by one of these per chunk it ran, then
 * a uint64_t count of them, then the trailer. */
typedef struct so__map_piece_head {
  uint64_t first, count, len;
} so__map_piece_head;

/* One rank's side of a map run, in ctx->map. */
typedef struct so__map_rank {
  int fd;          /* the input file, -1 for a range */
  uint64_t fsize;  /* its size in bytes */
  size_t record;   /* record size (SO_MAP_RECORDS) */
  /* Master: the cursor through the input, and what has been handed out. */
  uint64_t n;      /* items in the input */
  uint64_t next;   /* first item not yet handed out */
  uint64_t off;    /* byte offset of item next */
  uint64_t tasks;  /* tasks produced */
  uint64_t back;   /* items whose chunk came back done */
  uint64_t failed; /* chunks that failed */
  int workers;
  unsigned char *rbuf; /* the master's read-ahead while cutting lines into chunks */
  uint64_t rbase;
  size_t rlen;
  so__batch ctl;   /* auto: chunk sizes from the measured item duration */
  /* Master: the reduction's total, or the gathered output waiting for its turn. */
  void *total;
  uint64_t delivered;       /* items delivered in input order so far */
  struct so__map_held *held; /* a min-heap by first item */
  size_t nheld, capheld;
} so__map_rank;

/* The wrapper behind a job table made by so__map_wrap (or a copy of one). */
static inline so__map_job *so__map_job_of(const so_job *job) {
  return (so__map_job *)(void *)((char *)(void *)job->map - offsetof(so__map_job, self));
}

/* Whether job is (a copy of) a table made by so__map_wrap: a job to run as it is. */
int so__map_is_wrapper(const so_job *job);

/* Whether the job's results go to standard output: SO_JOB_OWNS_STDOUT, or a map that gathers
 * without a gathered() of its own (its items' output is then written there). */
int so__job_owns_stdout(const so_job *job);

/* Makes the job the engine runs: *out is job itself when it has no map, or a wrapper (free with
 * so__map_unwrap). cfg may be NULL (the serial runner: the job's own schedule, stdout). Checks
 * the map's declaration and the schedule alone (no files): SO_EINVAL with a sentence in err,
 * the same on every rank. */
int so__map_wrap(const so_job *job, const so_config *cfg, const so_job **out, char *err,
                 size_t errlen);
void so__map_unwrap(const so_job *job); /* accepts a job that is no wrapper, and NULL */

/* so_run for a map job (the hook at the top of so_run): wraps, runs the wrapper, unwraps.
 * Collective over comm, like so_run. */
int so__map_run(MPI_Comm comm, const so_job *job, const so_params *params, const so_config *cfg,
                so_report *rep);

/* Worker: the wrapper's run(), in map_run.c. */
int so__map_task(so_ctx *ctx, const so_task *task, so_result *res);

/* The identity of a reduction (0, the type's largest or smallest value) in acc[nvalues]. */
void so__map_acc_reset(const so_map *map, void *acc);
/* total op= part, value by value. */
void so__map_acc_combine(const so_map *map, void *total, const void *part);

#endif

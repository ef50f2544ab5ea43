/* The command farm as a job: what travels with each command task and its result, and the master
 * and worker halves that jobs/cmd.c wires into the job table. */
#ifndef SO_FARM_FARM_H
#define SO_FARM_FARM_H

#include <stdint.h>

#include "scaleout/job.h"

/* Exit statuses of a farm run (see README): 1-100 failed tasks, 101 more, then these. */
enum {
  SO_FARM_EXIT_MANY = 101,
  SO_FARM_EXIT_SIGNAL = 102,  /* stopped by SIGTERM/SIGINT/SIGUSR1; --resume continues it */
  SO_FARM_EXIT_USAGE = 103,   /* bad input: options, task source, changed source */
  SO_FARM_EXIT_FAILURE = 104  /* the runner itself failed (joblog I/O, MPI, a worker lost) */
};

/* Task payload: this header, then tag_len bytes of tag, then the command (or, with
 * SO_FARM_EXPAND_ON_WORKER, the argument to expand there) up to the end. */
typedef struct so__farm_task {
  uint64_t seq;     /* 1-based: joblog Seq, {#}, SCALEOUT_TASK_ID */
  double timeout;   /* seconds, 0 for none */
  uint32_t flags;
  uint32_t tag_len;
} so__farm_task;

/* The template holds {%} (the slot), which only the worker knows: it expands the argument. */
#define SO_FARM_EXPAND_ON_WORKER 0x1u
/* --timeout P%: timeout is the limit when the task was handed out (0: none yet, fewer than
 * SO_FARM_PCT_MIN commands finished); the latest so__farm_limit_msg replaces it. */
#define SO_FARM_TIMEOUT_PCT 0x2u

/* --timeout P% counts from this many finished commands on. */
#define SO_FARM_PCT_MIN 3

/* Notice payload (so_ctx_notify): the --timeout P% limit changed. Every running and waiting
 * command of the run gets it, counted from its own start, and so does every later one. */
typedef struct so__farm_limit_msg {
  double timeout; /* seconds */
} so__farm_limit_msg;

/* Result payload: this record, then (with SO_FARM_EXPAND_ON_WORKER) the command as run. */
typedef struct so__farm_result {
  int32_t exitval; /* 0-255, -1 when killed by a signal */
  int32_t signal;
  int32_t timed_out;
  int32_t killed;  /* cancelled because the run stopped: not a result, never logged */
  int32_t unlogged; /* the shepherd could not record it (or refused to start it for that): the
                       run must start no more commands and fail */
  double start, wall, utime, stime;
  int64_t maxrss_kb;
  uint64_t out_bytes, err_bytes;
  char host[64];
} so__farm_result;

/* Master half (farm_master.c). */
int so__farm_master_init(so_ctx *ctx);
int so__farm_next(so_ctx *ctx, so_task_out *task);
int so__farm_merge(so_ctx *ctx, const so_task_result *res);
int so__farm_finish(so_ctx *ctx);
void so__farm_master_fini(so_ctx *ctx);

/* Worker half (farm_worker.c). */
int so__farm_worker_init(so_ctx *ctx);
int so__farm_start(so_ctx *ctx, const so_task *task);
int so__farm_progress(so_ctx *ctx, int timeout_ms);
void so__farm_cancel(so_ctx *ctx);
int so__farm_notice(so_ctx *ctx, const void *data, size_t len);
void so__farm_worker_fini(so_ctx *ctx);

/* The directory of per-worker joblog shards for a joblog path (written by each worker's
 * shepherd during a run, merged into the joblog by the master). */
int so__farm_shard_dir(const char *joblog, char *out, size_t outlen);

#endif

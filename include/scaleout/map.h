/* Data parallelism: the same function over the items of one input, as a few lines of job code.
 *
 * A map job sets so_job.map and leaves next, run and merge to the engine. The items are the
 * indices of a range [0, n) or the records of a file (text lines, or fixed-size binary records),
 * which the master reads as a stream: it never holds the input, only the boundaries of the
 * chunks it hands out; each worker reads its own chunk's bytes from the file (so the file must
 * be readable at the same path on every node, as on any cluster's shared filesystem).
 *
 * Items go to workers in chunks chosen by the schedule (--schedule, with OpenMP's meaning):
 *   static[,N]   without N, one block of about n/W items per worker, handed out once; with N,
 *                chunks of N items dealt round-robin, all of a worker's chunks in one task
 *   dynamic[,N]  chunks of N items (default 1), to whichever worker asks
 *   guided[,N]   chunks of about remaining/W items, shrinking as the work runs out, never below
 *                N (default 1)
 *   auto         chunk sizes adapted to the measured item duration (the engine's batching)
 *
 * Results are either reduced (sum, min or max of a vector of numbers, or the job's own
 * associative combine), with partial reduction on the worker so a chunk returns one value, or
 * gathered: each item's output bytes, delivered on the master in input order whatever the
 * schedule.
 */
#ifndef SCALEOUT_MAP_H
#define SCALEOUT_MAP_H

#include "scaleout/job.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum so_map_input {
  SO_MAP_RANGE = 0, /* indices 0 .. count(ctx)-1 */
  SO_MAP_LINES,     /* the lines of a text file (without their newline) */
  SO_MAP_RECORDS    /* fixed-size binary records; the file size must be a multiple */
} so_map_input;

typedef enum so_reduce_op {
  SO_REDUCE_GATHER = 0, /* no reduction: items' output in input order */
  SO_REDUCE_SUM,
  SO_REDUCE_MIN,
  SO_REDUCE_MAX,
  SO_REDUCE_CUSTOM /* the job's acc_new/acc_write/combine */
} so_reduce_op;

typedef enum so_value_type { SO_VALUE_I64 = 0, SO_VALUE_U64, SO_VALUE_F64 } so_value_type;

typedef enum so_sched_kind {
  SO_SCHED_DEFAULT = 0, /* not chosen: so_config's means the job's own, so_map's means auto */
  SO_SCHED_AUTO,
  SO_SCHED_STATIC,
  SO_SCHED_DYNAMIC,
  SO_SCHED_GUIDED
} so_sched_kind;

typedef struct so_schedule {
  so_sched_kind kind;
  uint64_t chunk; /* N of static,N / dynamic,N / guided,N; 0: the schedule's default */
} so_schedule;

/* Any rank, any thread, no MPI. Parses "static", "dynamic,8", "guided,4", "auto". Returns 0, or
 * SO_EINVAL with a sentence in
 * err ("unknown schedule 'x': use static, dynamic, guided or auto", "the chunk size must be ..."). */
int so_schedule_parse(const char *text, so_schedule *out, char *err, size_t errlen);

struct so_map {
  so_map_input input;
  /* SO_MAP_RANGE: the number of items (master, after check()/init()). */
  uint64_t (*count)(so_ctx *ctx);
  /* SO_MAP_LINES/RECORDS: the name of the job parameter that holds the input file's path, and
   * for records the record size in bytes (or record_param, the parameter that holds it). */
  const char *path_param;
  size_t record_size;
  const char *record_param;

  /* The schedule when the user gives no --schedule (zero, SO_SCHED_DEFAULT: auto). */
  so_schedule schedule;

  /* Reduction: op and, for SUM/MIN/MAX, nvalues numbers of type value (the accumulator is an
   * array of nvalues int64_t, uint64_t or double, starting at 0, +inf/max or -inf/min). */
  so_reduce_op reduce;
  so_value_type value;
  uint32_t nvalues;

  /* Worker: one item. index is its position in the input (the range index, or the line/record
   * number from 0); rec/len its bytes (NULL/0 for a range). For a reduction, acc is the chunk's
   * accumulator to add the item to (the nvalues array, or the job's own from acc_new); for
   * gather, acc is NULL and the item writes its output with so_result_write(res, ...). Returns 0,
   * or nonzero after so_ctx_errorf: the item (and its chunk) failed. */
  int (*item)(so_ctx *ctx, uint64_t index, const void *rec, size_t len, void *acc, so_result *res);

  /* SO_REDUCE_CUSTOM only. acc_new makes an empty accumulator (on workers for each chunk, on the
   * master for the total); acc_write serialises a worker's accumulator into the chunk's result;
   * combine adds a serialised partial into the master's total (it must be associative: partials
   * arrive in any order); acc_free frees one. */
  void *(*acc_new)(so_ctx *ctx);
  int (*acc_write)(so_ctx *ctx, void *acc, so_result *res);
  int (*combine)(so_ctx *ctx, void *total, const void *data, size_t len);
  void (*acc_free)(so_ctx *ctx, void *acc);

  /* Master, optional. For a reduction: called once at the end with the total (the nvalues array
   * or the job's accumulator), to report the answer (so_answer_*). For gather: called with each
   * run of consecutive items' output in input order (first = index of the first item in data);
   * NULL writes the bytes to the run's standard output. */
  int (*reduced)(so_ctx *ctx, const void *total);
  int (*gathered)(so_ctx *ctx, uint64_t first, const void *data, size_t len);
};

#ifdef __cplusplus
}
#endif

#endif

/* Batch sizing: how many tasks one message carries and when a worker should ask for more. */
#ifndef SO_BATCH_H
#define SO_BATCH_H

#include <stdint.h>

#include "scaleout/scaleout.h" /* SO_PREFETCH_AUTO */

/*
 * The master measures the mean task duration from what workers report (time inside run() per
 * task) and sizes each batch to about SO_BATCH_TARGET_NS of work: tiny tasks travel in large
 * batches, so message overhead vanishes; long tasks travel one at a time, so no worker sits on
 * work another could be doing. Until a measurement arrives the size starts at 1 and grows at
 * most SO_BATCH_GROWTH-fold per batch, so an unknown task is never handed out in bulk.
 *
 * The low-water mark tells a worker to ask again while it still holds enough work to cover a
 * round trip to the master (SO_BATCH_COVER_NS), so it does not idle; for long tasks it is 0.
 * Tasks of unknown length are not held in advance while another worker has none: with as many
 * tasks as workers, the first worker to ask would otherwise take two and the last none, and the
 * run would take twice as long.
 * When the number of tasks left is known, batches shrink towards the end so that the last
 * tasks spread over all workers (guided self-scheduling).
 */
#define SO_BATCH_TARGET_NS 1000000.0 /* 1 ms of work per batch */
#define SO_BATCH_COVER_NS 2000000.0  /* keep 2 ms of work in hand while a request travels */
#define SO_BATCH_LONG_NS 200000000.0 /* tasks of 0.2 s or more are never held in advance */
#define SO_BATCH_MAX 65536
#define SO_BATCH_GROWTH 16
#define SO_BATCH_HAND_MIN 64 /* a hand may hold this many tasks even when batches are smaller */

typedef struct so__batch {
  uint32_t fixed;     /* user-fixed batch size; 0 = adaptive */
  uint32_t prefetch;  /* user-fixed low-water mark (0: nothing held in advance), or
                         SO_PREFETCH_AUTO */
  int nworkers;
  double mean_ns;     /* running estimate of one task's duration; < 0 until measured */
  uint64_t measured;  /* tasks behind the estimate */
  uint32_t last;      /* the previous adaptive size, for the growth limit */
} so__batch;

/* fixed: a batch size, 0 to adapt it; prefetch: a low-water mark, or SO_PREFETCH_AUTO. */
void so__batch_init(so__batch *b, int nworkers, uint32_t fixed, uint32_t prefetch);

/* Adds a worker's report: ntasks finished, busy_ns spent inside them. */
void so__batch_observe(so__batch *b, uint64_t ntasks, uint64_t busy_ns);

/* The size of the next batch. remaining is the number of tasks not yet handed out, or
 * UINT64_MAX when unknown. Never 0. */
uint32_t so__batch_size(so__batch *b, uint64_t remaining);

/* The low-water mark to send with a batch of the given size. remaining is as for
 * so__batch_size (counted before this batch); idle is the number of other workers that hold no
 * task, each of which will want one. */
uint32_t so__batch_low(const so__batch *b, uint32_t size, uint64_t remaining, int idle);

#endif

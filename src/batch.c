/* Adaptive batch sizing from measured task durations (see batch.h for the reasoning). */
#include "batch.h"

#include <math.h>

void so__batch_init(so__batch *b, int nworkers, uint32_t fixed, uint32_t prefetch) {
  b->fixed = fixed;
  b->prefetch = prefetch;
  b->nworkers = nworkers > 0 ? nworkers : 1;
  b->mean_ns = -1.0;
  b->measured = 0;
  b->last = 0;
}

void so__batch_observe(so__batch *b, uint64_t ntasks, uint64_t busy_ns) {
  if (ntasks == 0)
    return;
  double sample = (double)busy_ns / (double)ntasks;
  /* Weight by task count, but let the newest reports carry at least an eighth so the estimate
   * follows a job whose tasks change in length over time. */
  double w = (double)ntasks / (double)(b->measured + ntasks);
  if (w < 0.125)
    w = 0.125;
  b->mean_ns = b->mean_ns < 0 ? sample : b->mean_ns + w * (sample - b->mean_ns);
  b->measured += ntasks;
}

static uint32_t clamp_size(double v) {
  if (!(v >= 1.0))
    return 1;
  if (v >= SO_BATCH_MAX)
    return SO_BATCH_MAX;
  return (uint32_t)v;
}

uint32_t so__batch_size(so__batch *b, uint64_t remaining) {
  if (b->fixed)
    return b->fixed;
  uint32_t size;
  if (b->mean_ns < 0) {
    size = b->last ? b->last : 1;
  } else {
    size = clamp_size(SO_BATCH_TARGET_NS / (b->mean_ns > 1.0 ? b->mean_ns : 1.0));
    uint64_t limit = b->last ? (uint64_t)b->last * SO_BATCH_GROWTH : 1;
    if (size > limit)
      size = (uint32_t)limit;
  }
  if (remaining != UINT64_MAX) {
    /* Guided: at most half an equal share of what is left, so the tail spreads evenly. */
    uint64_t share = remaining / (2 * (uint64_t)b->nworkers);
    if (share < 1)
      share = 1;
    if (size > share)
      size = (uint32_t)share;
  }
  b->last = size;
  return size;
}

uint32_t so__batch_low(const so__batch *b, uint32_t size, uint64_t remaining, int idle) {
  if (b->prefetch != SO_PREFETCH_AUTO)
    return b->prefetch;
  /* Nothing left to spread: holding work back would only idle someone else. */
  if (remaining != UINT64_MAX && remaining < (uint64_t)b->nworkers)
    return 0;
  /* Tasks that may be long are held in advance only when no other worker is waiting for one. */
  if (b->mean_ns < 0)
    return idle > 0 ? 0 : 1;
  if (b->mean_ns >= SO_BATCH_LONG_NS)
    return 0;
  /* Enough tasks to cover a round trip, but no more than one adaptive batch or, when batches are
   * small, SO_BATCH_HAND_MIN tasks: a deeper hand only delays the balance at the end. */
  double cover = ceil(SO_BATCH_COVER_NS / (b->mean_ns > 1.0 ? b->mean_ns : 1.0));
  double cap = size > SO_BATCH_HAND_MIN ? size : SO_BATCH_HAND_MIN;
  uint32_t low = (uint32_t)(cover < cap ? cover : cap);
  /* And never so many that a worker with none would find nothing left. */
  if (remaining != UINT64_MAX && idle > 0) {
    uint64_t need = (uint64_t)size + (uint64_t)idle;
    uint64_t spare = remaining > need ? remaining - need : 0;
    if (low > spare)
      low = (uint32_t)spare;
  }
  return low;
}

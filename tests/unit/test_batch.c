/* Unit tests of adaptive batch sizing and the low-water mark (see the reasoning in batch.h). */
#include <stdint.h>
#include <stdio.h>

#include "batch.h"
#include "so_test.h"

#define UNKNOWN UINT64_MAX

/* Reports one batch of n tasks of ns nanoseconds each. */
static void observe(so__batch *b, uint64_t n, uint64_t ns) { so__batch_observe(b, n, n * ns); }

/* Calls so__batch_size rounds times with remaining unknown, checking the growth limit and that
 * the size never drops to 0; returns the last size. */
static uint32_t grow_for(so__batch *b, int rounds, uint64_t task_ns) {
  uint32_t prev = 0, size = 0;
  for (int r = 0; r < rounds; r++) {
    size = so__batch_size(b, UNKNOWN);
    CU_ASSERT_TRUE(size >= 1);
    CU_ASSERT_TRUE(size <= SO_BATCH_MAX);
    if (prev)
      CU_ASSERT_TRUE((uint64_t)size <= (uint64_t)prev * SO_BATCH_GROWTH);
    prev = size;
    if (task_ns)
      observe(b, size, task_ns);
  }
  return size;
}

static void test_fixed(void) {
  so__batch b;
  so__batch_init(&b, 4, 8, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 8);
  observe(&b, 1000, 10); /* tiny tasks would call for a large batch */
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 8);
  observe(&b, 10, 2000000000); /* and long ones for a single task */
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 8);
  CU_ASSERT_EQUAL(so__batch_size(&b, 1000000), 8);

  so__batch_init(&b, 1, 100000, SO_PREFETCH_AUTO); /* a fixed size is not capped at the adaptive maximum */
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 100000);
}

/* Without a measurement, nothing is handed out in bulk: 1 first, then at most 16-fold steps. */
static void test_unknown_duration(void) {
  so__batch b;
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 1);
  uint32_t prev = 1;
  for (int r = 0; r < 10; r++) {
    uint32_t size = so__batch_size(&b, UNKNOWN);
    CU_ASSERT_TRUE(size >= 1 && (uint64_t)size <= (uint64_t)prev * SO_BATCH_GROWTH);
    prev = size;
  }
  CU_ASSERT_TRUE(so__batch_low(&b, prev, UNKNOWN, 0) <= prev);

  /* The first measurement of tiny tasks may not jump to a huge batch either. */
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 1);
  observe(&b, 1, 1);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), SO_BATCH_GROWTH);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), SO_BATCH_GROWTH * SO_BATCH_GROWTH);
}

/* Observing before any batch was sized (e.g. results from a previous phase) still starts small. */
static void test_first_size_after_measurement(void) {
  so__batch b;
  so__batch_init(&b, 2, 0, SO_PREFETCH_AUTO);
  observe(&b, 1000, 5);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 1);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), SO_BATCH_GROWTH);
}

static void test_tiny_tasks(void) {
  so__batch b;
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  /* 10 ns tasks: 1 ms of work is 100000 of them, above the cap. */
  CU_ASSERT_EQUAL(grow_for(&b, 6, 10), SO_BATCH_MAX);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), SO_BATCH_MAX);
  /* The mark covers 2 ms of work: 200000 tasks, more than a batch, so the whole batch. */
  CU_ASSERT_EQUAL(so__batch_low(&b, SO_BATCH_MAX, UNKNOWN, 0), SO_BATCH_MAX);

  /* Tasks measured at 0 ns (below the clock's resolution) must not divide by zero. */
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(grow_for(&b, 6, 0), 1); /* nothing observed yet: stays at 1 */
  observe(&b, 1000, 0);
  CU_ASSERT_EQUAL(grow_for(&b, 6, 0), SO_BATCH_MAX);
  CU_ASSERT_TRUE(so__batch_low(&b, SO_BATCH_MAX, UNKNOWN, 0) >= 1);

  /* 20 ns tasks settle at target / duration = 50000. */
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  uint32_t s = grow_for(&b, 8, 20);
  CU_ASSERT_TRUE(s >= 49000 && s <= 51000);
}

/* Tasks of a second travel one at a time and are never asked for in advance. */
static void test_long_tasks(void) {
  so__batch b;
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(grow_for(&b, 10, 1000000000), 1);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 1);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, UNKNOWN, 0), 0);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 1000, 0), 0);

  /* The boundary: 0.2 s tasks are long, 0.1 s ones are held one ahead. */
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  observe(&b, 3, (uint64_t)SO_BATCH_LONG_NS);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 1);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, UNKNOWN, 0), 0);
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  observe(&b, 3, 100000000);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 1);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, UNKNOWN, 0), 1);
}

/* 100 us tasks: 1 ms of work is 10 tasks; 2 ms of cover is 20 tasks, within the hand cap
 * (the batch size, or SO_BATCH_HAND_MIN when batches are smaller). */
static void test_medium_tasks(void) {
  so__batch b;
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  uint32_t s = grow_for(&b, 6, 100000);
  CU_ASSERT_EQUAL(s, 10);
  CU_ASSERT_EQUAL(so__batch_low(&b, s, UNKNOWN, 0), 20);
  CU_ASSERT_EQUAL(so__batch_low(&b, 100, UNKNOWN, 0), 20);

  /* 1 us tasks: 1000 per batch, 2000 in hand. */
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  s = grow_for(&b, 6, 1000);
  CU_ASSERT_EQUAL(s, 1000);
  CU_ASSERT_EQUAL(so__batch_low(&b, 5000, UNKNOWN, 0), 2000);
}

/* The estimate follows a job whose tasks change length: after ten million 1 us tasks, tasks of
 * 10 ms must bring the batch down to 1 within a few reports, not after millions more. */
static void test_estimate_follows_change(void) {
  so__batch b;
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(grow_for(&b, 6, 1000), 1000);
  observe(&b, 10000000, 1000);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 1000);
  uint32_t size = 0;
  for (int r = 0; r < 5; r++) {
    size = so__batch_size(&b, UNKNOWN);
    observe(&b, size, 10000000);
  }
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 1);
  CU_ASSERT_TRUE(so__batch_low(&b, 1, UNKNOWN, 0) <= 1);
  /* Reports of zero tasks carry no information and change nothing. */
  so__batch_observe(&b, 0, 123456789);
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), 1);
}

/* Guided: with few tasks left, a batch is at most half an equal share, and never 0. */
static void test_guided(void) {
  so__batch b;
  const int workers = 4;
  so__batch_init(&b, workers, 0, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(grow_for(&b, 6, 10), SO_BATCH_MAX);
  const uint64_t rem[] = {1000000, 100000, 5000, 800, 64, 9, 8, 7, 3, 1, 0};
  for (size_t i = 0; i < sizeof rem / sizeof rem[0]; i++) {
    uint32_t s = so__batch_size(&b, rem[i]);
    uint64_t share = rem[i] / (2 * (uint64_t)workers);
    CU_ASSERT_TRUE(s >= 1);
    CU_ASSERT_TRUE(s <= (share ? share : 1));
    if (share > 0 && share <= SO_BATCH_MAX)
      CU_ASSERT_EQUAL(s, share); /* tiny tasks want more, so the share is what limits */
    if (s == 0 || (share && s > share))
      fprintf(stderr, "\n    remaining %llu: size %u\n", (unsigned long long)rem[i], s);
  }

  /* Draining a known count with the engine's loop hands out every task and ends in batches of 1. */
  so__batch_init(&b, workers, 0, SO_PREFETCH_AUTO);
  observe(&b, 100, 10);
  uint64_t remaining = 100000;
  int steps = 0;
  uint32_t last = 0;
  while (remaining > 0 && steps < 100000) {
    uint32_t s = so__batch_size(&b, remaining);
    CU_ASSERT_TRUE_FATAL(s >= 1);
    CU_ASSERT_TRUE(s <= remaining);
    remaining -= s;
    last = s;
    steps++;
  }
  CU_ASSERT_EQUAL(remaining, 0);
  CU_ASSERT_EQUAL(last, 1);

  /* A fixed size is the user's choice and is not shrunk. */
  so__batch_init(&b, workers, 50, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(so__batch_size(&b, 10), 50);
}

static void test_low_water(void) {
  so__batch b;
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  /* Unknown duration: ask again when down to one task. */
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, UNKNOWN, 0), 1);
  /* Fewer tasks left than workers: hold nothing back, whatever the duration. */
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 3, 0), 0);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 0, 0), 0);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 4, 0), 1);
  grow_for(&b, 6, 1000);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1000, 3, 0), 0);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1000, 4, 0), 1000);
  /* The mark never exceeds the larger of the batch and SO_BATCH_HAND_MIN. */
  CU_ASSERT_EQUAL(so__batch_low(&b, 7, UNKNOWN, 0), SO_BATCH_HAND_MIN);
  CU_ASSERT_EQUAL(so__batch_low(&b, 100, UNKNOWN, 0), 100);

  /* A single worker: remaining 0 is below it, 1 is not. */
  so__batch_init(&b, 1, 0, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 0, 0), 0);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 1, 0), 1);
  /* Zero or negative worker counts are treated as one, not divided by. */
  so__batch_init(&b, 0, 0, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(so__batch_size(&b, 10), 1);
  so__batch_init(&b, -3, 0, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 1, 0), 1); /* one task left is not fewer than one worker */
}

static void test_prefetch_override(void) {
  so__batch b;
  so__batch_init(&b, 4, 0, 5);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, UNKNOWN, 0), 5); /* unknown duration */
  grow_for(&b, 10, 1000000000);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, UNKNOWN, 0), 5); /* long tasks */
  so__batch_init(&b, 4, 0, 5);
  grow_for(&b, 6, 10);
  CU_ASSERT_EQUAL(so__batch_low(&b, SO_BATCH_MAX, UNKNOWN, 0), 5); /* tiny tasks */
  /* The override changes only the mark, not the batch size. */
  CU_ASSERT_EQUAL(so__batch_size(&b, UNKNOWN), SO_BATCH_MAX);
}

/* --prefetch 0 means nothing held in advance, whatever the duration: not "automatic". */
static void test_prefetch_zero(void) {
  so__batch b;
  so__batch_init(&b, 4, 0, 0);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, UNKNOWN, 0), 0); /* unknown duration */
  grow_for(&b, 6, 10);
  CU_ASSERT_EQUAL(so__batch_low(&b, SO_BATCH_MAX, UNKNOWN, 0), 0); /* tiny tasks */
  CU_ASSERT_EQUAL(so__batch_low(&b, 7, 1000000, 0), 0);
  /* Automatic is its own value. */
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  grow_for(&b, 6, 10);
  CU_ASSERT_EQUAL(so__batch_low(&b, SO_BATCH_MAX, UNKNOWN, 0), SO_BATCH_MAX);
}

/* Tasks of unknown length are not held in advance while another worker has none: with two
 * tasks and two workers, the first to ask gets one task, not both. */
static void test_no_prefetch_while_others_idle(void) {
  so__batch b;
  so__batch_init(&b, 2, 0, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(so__batch_size(&b, 2), 1);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 2, 1), 0);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, UNKNOWN, 1), 0);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 1000, 3), 0);
  /* Every other worker holds work: one ahead, as before. */
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 1000, 0), 1);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, UNKNOWN, 0), 1);
  /* Measured short tasks may be held ahead, but never the tasks idle workers need. */
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  grow_for(&b, 6, 100000); /* 100 us: batches of 10, 20 in hand */
  CU_ASSERT_EQUAL(so__batch_low(&b, 10, 1000, 3), 20);
  CU_ASSERT_EQUAL(so__batch_low(&b, 10, 25, 3), 12); /* 25 - 10 for this batch - 3 */
  CU_ASSERT_EQUAL(so__batch_low(&b, 3, 6, 3), 0);
  CU_ASSERT_EQUAL(so__batch_low(&b, 3, 6, 0), 20);
  /* Measured long tasks: never ahead. */
  so__batch_init(&b, 4, 0, SO_PREFETCH_AUTO);
  observe(&b, 3, 1000000000);
  CU_ASSERT_EQUAL(so__batch_low(&b, 1, 1000, 0), 0);
}

int main(void) {
  static const so_test_case cases[] = {
    {"a fixed size is honoured", test_fixed},
    {"unknown duration starts at 1 and grows at most 16-fold", test_unknown_duration},
    {"the first size after a measurement is 1", test_first_size_after_measurement},
    {"tiny tasks reach the maximum batch in a few rounds", test_tiny_tasks},
    {"long tasks go one at a time with mark 0", test_long_tasks},
    {"medium tasks give target / duration", test_medium_tasks},
    {"the estimate follows tasks that get longer", test_estimate_follows_change},
    {"guided shrinking towards the end, never 0", test_guided},
    {"low-water mark rules", test_low_water},
    {"prefetch overrides the low-water mark", test_prefetch_override},
    {"prefetch 0 holds nothing in advance", test_prefetch_zero},
    {"nothing unknown held ahead while another worker has none", test_no_prefetch_while_others_idle},
    {NULL, NULL},
  };
  return so_test_run("batch", cases);
}

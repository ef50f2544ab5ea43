/* Unit tests of the task queue: order under each discipline against a reference model, and payloads. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "so_test.h"

/* --- Helpers --- */

/* A payload length that cycles through empty, inline, the inline limit and heap sizes. */
static uint32_t len_of(uint64_t id) { return (uint32_t)(id * 7 % 41); }

/* Payload byte k of task id: depends on both, so swapped or shifted payloads are caught. */
static unsigned char byte_of(uint64_t id, uint32_t k) {
  return (unsigned char)(id * 131u + k * 17u + 5u);
}

static void fill(unsigned char *buf, uint64_t id, uint32_t len) {
  for (uint32_t k = 0; k < len; k++)
    buf[k] = byte_of(id, k);
}

/* Whether t carries exactly the payload that push_id gave task id. */
static int payload_ok(const so__qtask *t) {
  if (t->len != len_of(t->id))
    return 0;
  const unsigned char *d = so__qtask_data(t);
  for (uint32_t k = 0; k < t->len; k++)
    if (d[k] != byte_of(t->id, k))
      return 0;
  return 1;
}

static int push_id(so__queue *q, uint64_t id, int64_t priority) {
  unsigned char buf[64];
  uint32_t len = len_of(id);
  fill(buf, id, len);
  return so__queue_push(q, id, (uint32_t)(id % 3), priority, buf, len);
}

/* A deterministic generator, so a failure reproduces. */
static uint64_t rng_state = 88172645463325252u;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* The reference model: a plain array of (id, priority, seq), searched linearly. */
typedef struct model_item {
  uint64_t id;
  int64_t priority;
  uint64_t seq;
} model_item;

typedef struct model {
  model_item *items;
  size_t n, cap;
  uint64_t seq;
} model;

static void model_push(model *m, uint64_t id, int64_t priority) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 16;
    m->items = realloc(m->items, m->cap * sizeof *m->items);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m->items);
  }
  m->items[m->n++] = (model_item){id, priority, m->seq++};
}

/* Removes and returns the id the discipline should give next. */
static uint64_t model_pop(model *m, so_discipline d) {
  size_t pick = 0;
  if (d == SO_QUEUE_LIFO) {
    pick = m->n - 1;
  } else if (d == SO_QUEUE_PRIORITY) {
    for (size_t i = 1; i < m->n; i++) {
      const model_item *a = &m->items[i], *b = &m->items[pick];
      if (a->priority > b->priority || (a->priority == b->priority && a->seq < b->seq))
        pick = i;
    }
  }
  uint64_t id = m->items[pick].id;
  memmove(&m->items[pick], &m->items[pick + 1], (m->n - pick - 1) * sizeof *m->items);
  m->n--;
  return id;
}

/* Pops one task and checks it against the model; returns 1 when both agree. */
static int pop_check(so__queue *q, model *m, so_discipline d) {
  so__qtask t;
  if (!so__queue_pop(q, &t))
    return 0;
  uint64_t want = model_pop(m, d);
  int ok = t.id == want && t.type == (uint32_t)(t.id % 3) && payload_ok(&t);
  if (!ok)
    fprintf(stderr, "\n    popped id %llu, expected %llu\n", (unsigned long long)t.id,
            (unsigned long long)want);
  so__qtask_release(&t);
  return ok;
}

/* Pushes count tasks with fresh ids (priorities 0..4, many ties) into both queue and model. */
static int push_many(so__queue *q, model *m, uint64_t *next_id, int count) {
  for (int i = 0; i < count; i++) {
    int64_t prio = (int64_t)(rng() % 5) - 2;
    if (push_id(q, *next_id, prio) != 0)
      return 0;
    model_push(m, *next_id, prio);
    (*next_id)++;
  }
  return 1;
}

/* Pops count tasks, each checked; returns how many matched. */
static int pop_many(so__queue *q, model *m, so_discipline d, int count) {
  int good = 0;
  for (int i = 0; i < count; i++)
    good += pop_check(q, m, d);
  return good;
}

/* --- Tests --- */

static void test_empty(void) {
  so__queue q;
  so__queue_init(&q, SO_QUEUE_FIFO);
  so__qtask t = {.id = 77};
  CU_ASSERT_EQUAL(so__queue_len(&q), 0);
  CU_ASSERT_EQUAL(so__queue_pop(&q, &t), 0);
  CU_ASSERT_EQUAL(t.id, 77); /* untouched */
  so__queue_free(&q);
  so__queue_free(&q); /* a freed queue frees again harmlessly */
}

static void test_fifo_order(void) {
  so__queue q;
  so__queue_init(&q, SO_QUEUE_FIFO);
  for (uint64_t id = 0; id < 10; id++)
    CU_ASSERT_EQUAL_FATAL(push_id(&q, id, (int64_t)(9 - id)), 0); /* priority is ignored */
  CU_ASSERT_EQUAL(so__queue_len(&q), 10);
  for (uint64_t id = 0; id < 10; id++) {
    so__qtask t;
    CU_ASSERT_EQUAL_FATAL(so__queue_pop(&q, &t), 1);
    CU_ASSERT_EQUAL(t.id, id);
    CU_ASSERT_TRUE(payload_ok(&t));
    so__qtask_release(&t);
  }
  CU_ASSERT_EQUAL(so__queue_len(&q), 0);
  so__queue_free(&q);
}

static void test_lifo_order(void) {
  so__queue q;
  so__queue_init(&q, SO_QUEUE_LIFO);
  for (uint64_t id = 0; id < 10; id++)
    CU_ASSERT_EQUAL_FATAL(push_id(&q, id, (int64_t)id), 0);
  for (uint64_t k = 0; k < 10; k++) {
    so__qtask t;
    CU_ASSERT_EQUAL_FATAL(so__queue_pop(&q, &t), 1);
    CU_ASSERT_EQUAL(t.id, 9 - k);
    CU_ASSERT_TRUE(payload_ok(&t));
    so__qtask_release(&t);
  }
  so__qtask t;
  CU_ASSERT_EQUAL(so__queue_pop(&q, &t), 0);
  so__queue_free(&q);
}

static void test_priority_order(void) {
  so__queue q;
  so__queue_init(&q, SO_QUEUE_PRIORITY);
  /* (id, priority): higher first, equal priorities in insertion order, negatives last. */
  const int64_t prio[] = {1, 5, -3, 5, 0, 1, 5, INT64_MIN, INT64_MAX, 1};
  const uint64_t want[] = {8, 1, 3, 6, 0, 5, 9, 4, 2, 7};
  for (uint64_t id = 0; id < 10; id++)
    CU_ASSERT_EQUAL_FATAL(push_id(&q, id, prio[id]), 0);
  for (int k = 0; k < 10; k++) {
    so__qtask t;
    CU_ASSERT_EQUAL_FATAL(so__queue_pop(&q, &t), 1);
    CU_ASSERT_EQUAL(t.id, want[k]);
    CU_ASSERT_EQUAL(t.priority, prio[t.id]);
    CU_ASSERT_TRUE(payload_ok(&t));
    so__qtask_release(&t);
  }
  CU_ASSERT_EQUAL(so__queue_len(&q), 0);
  so__queue_free(&q);
}

/* Many equal priorities must still come out first-in first-out (a heap alone is not stable). */
static void test_priority_stable(void) {
  so__queue q;
  so__queue_init(&q, SO_QUEUE_PRIORITY);
  for (uint64_t id = 0; id < 500; id++)
    CU_ASSERT_EQUAL_FATAL(push_id(&q, id, id % 2 ? 7 : 3), 0);
  for (uint64_t k = 0; k < 500; k++) {
    so__qtask t;
    CU_ASSERT_EQUAL_FATAL(so__queue_pop(&q, &t), 1);
    uint64_t want = k < 250 ? 2 * k + 1 : 2 * (k - 250);
    if (t.id != want)
      fprintf(stderr, "\n    pop %llu gave %llu\n", (unsigned long long)k, (unsigned long long)t.id);
    CU_ASSERT_EQUAL(t.id, want);
    so__qtask_release(&t);
  }
  so__queue_free(&q);
}

/* Push and pop in rounds across ring wrap-around and several growths, each pop checked against
 * the model. Rounds: +100 -50 +200 -120 +30 -150 +500 -300 +64 ... then drain. */
static void interleaved(so_discipline d) {
  static const int rounds[][2] = {{100, 50}, {200, 120}, {30, 150}, {500, 300}, {64, 64},
                                  {63, 10},  {1, 0},     {127, 200}, {1000, 900}, {3, 7}};
  so__queue q;
  so__queue_init(&q, d);
  model m = {0};
  uint64_t next_id = 0;
  for (size_t r = 0; r < sizeof rounds / sizeof rounds[0]; r++) {
    CU_ASSERT_EQUAL_FATAL(push_many(&q, &m, &next_id, rounds[r][0]), 1);
    CU_ASSERT_EQUAL(so__queue_len(&q), m.n);
    CU_ASSERT_EQUAL(pop_many(&q, &m, d, rounds[r][1]), rounds[r][1]);
    CU_ASSERT_EQUAL(so__queue_len(&q), m.n);
  }
  int left = (int)m.n;
  CU_ASSERT_TRUE(left > 0);
  CU_ASSERT_EQUAL(pop_many(&q, &m, d, left), left);
  so__qtask t;
  CU_ASSERT_EQUAL(so__queue_pop(&q, &t), 0);

  /* Drained to empty, the queue keeps working in the same storage. */
  CU_ASSERT_EQUAL_FATAL(push_many(&q, &m, &next_id, 70), 1);
  CU_ASSERT_EQUAL(pop_many(&q, &m, d, 70), 70);
  so__queue_free(&q);
  free(m.items);
}

/* Steady state at a small size: the fifo ring head travels around the array many times. */
static void test_fifo_ring_wrap(void) {
  so__queue q;
  so__queue_init(&q, SO_QUEUE_FIFO);
  model m = {0};
  uint64_t next_id = 0;
  CU_ASSERT_EQUAL_FATAL(push_many(&q, &m, &next_id, 40), 1);
  for (int i = 0; i < 1000; i++) {
    CU_ASSERT_EQUAL_FATAL(push_many(&q, &m, &next_id, 3), 1);
    CU_ASSERT_EQUAL(pop_many(&q, &m, SO_QUEUE_FIFO, 3), 3);
  }
  /* Grow while the ring is wrapped: head is somewhere in the middle of the array now. */
  CU_ASSERT_TRUE(q.head != 0);
  CU_ASSERT_EQUAL_FATAL(push_many(&q, &m, &next_id, 300), 1);
  CU_ASSERT_EQUAL(pop_many(&q, &m, SO_QUEUE_FIFO, 340), 340);
  CU_ASSERT_EQUAL(so__queue_len(&q), 0);
  so__queue_free(&q);
  free(m.items);
}

static void test_interleaved_fifo(void) { interleaved(SO_QUEUE_FIFO); }
static void test_interleaved_lifo(void) { interleaved(SO_QUEUE_LIFO); }
static void test_interleaved_priority(void) { interleaved(SO_QUEUE_PRIORITY); }

/* Lengths around the inline limit come back byte-exact, with id, type and priority intact. */
static void test_payload_sizes(void) {
  const uint32_t lens[] = {0, 1, SO_QTASK_INLINE - 1, SO_QTASK_INLINE, SO_QTASK_INLINE + 1, 100,
                           4096, 1 << 20};
  const size_t nlens = sizeof lens / sizeof lens[0];
  unsigned char *src = malloc(1 << 20);
  CU_ASSERT_PTR_NOT_NULL_FATAL(src);
  for (int d = SO_QUEUE_FIFO; d <= SO_QUEUE_PRIORITY; d++) {
    so__queue q;
    so__queue_init(&q, (so_discipline)d);
    for (size_t i = 0; i < nlens; i++) {
      fill(src, 1000 + i, lens[i]);
      CU_ASSERT_EQUAL_FATAL(so__queue_push(&q, 1000 + i, 40 + (uint32_t)i, -(int64_t)i, src, lens[i]), 0);
    }
    /* The source buffer is reused: the queue must hold its own copies. */
    memset(src, 0xEE, 1 << 20);
    for (size_t k = 0; k < nlens; k++) {
      so__qtask t;
      CU_ASSERT_EQUAL_FATAL(so__queue_pop(&q, &t), 1);
      CU_ASSERT_TRUE_FATAL(t.id >= 1000 && t.id < 1000 + nlens);
      size_t i = (size_t)(t.id - 1000);
      CU_ASSERT_EQUAL(t.len, lens[i]);
      CU_ASSERT_EQUAL(t.type, 40 + (uint32_t)i);
      CU_ASSERT_EQUAL(t.priority, -(int64_t)i);
      fill(src, t.id, lens[i]);
      CU_ASSERT_EQUAL(memcmp(so__qtask_data(&t), src, lens[i]), 0);
      CU_ASSERT_PTR_NOT_NULL(so__qtask_data(&t));
      so__qtask_release(&t);
      CU_ASSERT_EQUAL(t.len, 0);
    }
    so__queue_free(&q);
  }
  /* An empty payload may come from a NULL pointer. */
  so__queue q;
  so__queue_init(&q, SO_QUEUE_FIFO);
  CU_ASSERT_EQUAL(so__queue_push(&q, 5, 1, 0, NULL, 0), 0);
  so__qtask t;
  CU_ASSERT_EQUAL_FATAL(so__queue_pop(&q, &t), 1);
  CU_ASSERT_EQUAL(t.id, 5);
  CU_ASSERT_EQUAL(t.len, 0);
  so__qtask_release(&t);
  so__queue_free(&q);
  free(src);
}

/* Freeing a queue that still holds inline and heap tasks releases everything (run under
 * valgrind or ASan to see it), and the queue is usable again after so__queue_init. */
static void test_free_with_items(void) {
  for (int d = SO_QUEUE_FIFO; d <= SO_QUEUE_PRIORITY; d++) {
    so__queue q;
    so__queue_init(&q, (so_discipline)d);
    model m = {0};
    uint64_t next_id = 0;
    CU_ASSERT_EQUAL_FATAL(push_many(&q, &m, &next_id, 150), 1);
    CU_ASSERT_EQUAL(pop_many(&q, &m, (so_discipline)d, 90), 90); /* fifo: head mid-array */
    CU_ASSERT_EQUAL_FATAL(push_many(&q, &m, &next_id, 60), 1);   /* fifo: wrapped */
    CU_ASSERT_EQUAL(so__queue_len(&q), 120);
    so__queue_free(&q);
    CU_ASSERT_EQUAL(so__queue_len(&q), 0);
    CU_ASSERT_PTR_NULL(q.items);
    free(m.items);

    so__queue_init(&q, (so_discipline)d);
    CU_ASSERT_EQUAL(push_id(&q, 40, 0), 0);
    so__qtask t;
    CU_ASSERT_EQUAL_FATAL(so__queue_pop(&q, &t), 1);
    CU_ASSERT_EQUAL(t.id, 40);
    CU_ASSERT_TRUE(payload_ok(&t));
    so__qtask_release(&t);
    so__queue_free(&q);
  }
}

int main(void) {
  static const so_test_case cases[] = {
    {"empty queue pops nothing", test_empty},
    {"fifo gives the oldest first", test_fifo_order},
    {"lifo gives the newest first", test_lifo_order},
    {"priority gives the highest first, equals in insertion order", test_priority_order},
    {"priority is first-in first-out among 250 equals", test_priority_stable},
    {"fifo ring wraps and grows while wrapped", test_fifo_ring_wrap},
    {"fifo interleaved push/pop matches the model", test_interleaved_fifo},
    {"lifo interleaved push/pop matches the model", test_interleaved_lifo},
    {"priority interleaved push/pop matches the model", test_interleaved_priority},
    {"payloads of 0, 24, 25 bytes and more are byte-exact", test_payload_sizes},
    {"free with tasks left releases them", test_free_with_items},
    {NULL, NULL},
  };
  return so_test_run("queue", cases);
}

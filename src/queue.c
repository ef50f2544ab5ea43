/* The task queue: a ring for fifo, a stack for lifo, a binary heap for priority. */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

void so__queue_init(so__queue *q, so_discipline discipline) {
  memset(q, 0, sizeof *q);
  q->discipline = discipline;
}

void so__qtask_release(so__qtask *t) {
  if (t->len > SO_QTASK_INLINE)
    free(t->u.heap_data);
  t->len = 0;
}

static so__qtask *slot(so__queue *q, size_t i) {
  /* Only fifo uses the ring offset; lifo and the heap keep head at 0. */
  return &q->items[(q->head + i) % q->cap];
}

void so__queue_free(so__queue *q) {
  for (size_t i = 0; i < q->n; i++)
    so__qtask_release(slot(q, i));
  free(q->items);
  q->items = NULL;
  q->cap = q->n = q->head = 0;
}

static int grow(so__queue *q) {
  size_t cap = q->cap ? q->cap * 2 : 64;
  so__qtask *p = malloc(cap * sizeof *p);
  if (!p)
    return SO_ENOMEM;
  /* Unroll the ring so the entries start at index 0 in the new array. */
  for (size_t i = 0; i < q->n; i++)
    p[i] = *slot(q, i);
  free(q->items);
  q->items = p;
  q->cap = cap;
  q->head = 0;
  return 0;
}

/* Heap order: higher priority first, then lower sequence number (earlier insertion). */
static int before(const so__qtask *a, const so__qtask *b) {
  return a->priority != b->priority ? a->priority > b->priority : a->seq < b->seq;
}

static void sift_up(so__qtask *h, size_t i) {
  so__qtask t = h[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(&t, &h[parent]))
      break;
    h[i] = h[parent];
    i = parent;
  }
  h[i] = t;
}

static void sift_down(so__qtask *h, size_t n, size_t i) {
  so__qtask t = h[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && before(&h[c + 1], &h[c]))
      c++;
    if (!before(&h[c], &t))
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = t;
}

int so__queue_push(so__queue *q, uint64_t id, uint32_t type, int64_t priority, const void *data,
                   uint32_t len) {
  if (q->n == q->cap && grow(q))
    return SO_ENOMEM;
  so__qtask t = {.id = id, .priority = priority, .seq = q->next_seq, .type = type, .len = len};
  if (len > SO_QTASK_INLINE) {
    t.u.heap_data = malloc(len);
    if (!t.u.heap_data)
      return SO_ENOMEM;
    memcpy(t.u.heap_data, data, len);
  } else if (len) {
    memcpy(t.u.inline_data, data, len);
  }
  q->next_seq++;
  *slot(q, q->n) = t;
  q->n++;
  if (q->discipline == SO_QUEUE_PRIORITY)
    sift_up(q->items, q->n - 1);
  return 0;
}

int so__queue_pop(so__queue *q, so__qtask *out) {
  if (q->n == 0)
    return 0;
  switch (q->discipline) {
  case SO_QUEUE_FIFO:
    *out = *slot(q, 0);
    q->head = (q->head + 1) % q->cap;
    q->n--;
    break;
  case SO_QUEUE_LIFO:
    *out = *slot(q, q->n - 1);
    q->n--;
    break;
  case SO_QUEUE_PRIORITY:
    *out = q->items[0];
    q->n--;
    if (q->n) {
      q->items[0] = q->items[q->n];
      sift_down(q->items, q->n, 0);
    }
    break;
  }
  if (q->n == 0)
    q->head = 0;
  return 1;
}

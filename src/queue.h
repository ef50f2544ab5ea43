/* The master's task queue: tasks generated but not yet handed out, under fifo, lifo or priority. */
#ifndef SO_QUEUE_H
#define SO_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "scaleout/scaleout.h"

/* One queued task. Payloads up to SO_QTASK_INLINE bytes live inside the entry, larger ones in
 * their own allocation, so the common small task costs no malloc. */
#define SO_QTASK_INLINE 24

typedef struct so__qtask {
  uint64_t id;
  int64_t priority;
  uint64_t seq; /* insertion order: breaks priority ties first-in first-out */
  uint32_t type;
  uint32_t len;
  union {
    unsigned char inline_data[SO_QTASK_INLINE];
    unsigned char *heap_data;
  } u;
} so__qtask;

static inline const void *so__qtask_data(const so__qtask *t) {
  return t->len > SO_QTASK_INLINE ? t->u.heap_data : t->u.inline_data;
}

typedef struct so__queue {
  so_discipline discipline;
  so__qtask *items;
  size_t cap;
  size_t head; /* fifo: index of the oldest entry in the ring */
  size_t n;
  uint64_t next_seq;
} so__queue;

void so__queue_init(so__queue *q, so_discipline discipline);
/* Frees every queued task and the storage; the queue can be reused after so__queue_init. */
void so__queue_free(so__queue *q);

static inline size_t so__queue_len(const so__queue *q) { return q->n; }

/* Adds a task, copying len bytes of data. Returns 0 or SO_ENOMEM (the queue is unchanged). */
int so__queue_push(so__queue *q, uint64_t id, uint32_t type, int64_t priority, const void *data,
                   uint32_t len);

/* Removes the task the discipline picks next into *out: fifo the oldest, lifo the newest,
 * priority the highest (oldest among equals). Returns 1, or 0 when empty. The caller releases
 * out's payload with so__qtask_release. */
int so__queue_pop(so__queue *q, so__qtask *out);
void so__qtask_release(so__qtask *t);

#endif

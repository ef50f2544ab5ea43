/* A growable byte buffer used to build and parse messages without per-item allocation. */
#ifndef SO_BUF_H
#define SO_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct so__buf {
  unsigned char *data;
  size_t len; /* bytes in use */
  size_t cap; /* bytes allocated */
} so__buf;

/* An empty buffer needs no allocation: so__buf b = SO_BUF_INIT; */
#define SO_BUF_INIT {NULL, 0, 0}

/* Makes room for at least extra more bytes. Returns 0 or SO_ENOMEM (the buffer is unchanged). */
int so__buf_reserve(so__buf *b, size_t extra);

/* Appends len bytes. Returns 0 or SO_ENOMEM. */
int so__buf_append(so__buf *b, const void *data, size_t len);

/* Frees the storage and leaves an empty buffer; accepts an empty buffer. */
void so__buf_free(so__buf *b);

static inline void so__buf_clear(so__buf *b) { b->len = 0; }

/* Appends without checking the capacity; the caller reserved it. */
static inline void so__buf_put(so__buf *b, const void *data, size_t len) {
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
}

#endif

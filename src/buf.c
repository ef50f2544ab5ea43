/* The growable byte buffer: doubling growth, so appends are amortised O(1). */
#include "buf.h"

#include <stdlib.h>

#include "scaleout/scaleout.h"

int so__buf_reserve(so__buf *b, size_t extra) {
  if (extra <= b->cap - b->len)
    return 0;
  size_t want = b->len + extra;
  if (want < b->len)
    return SO_ENOMEM;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < want) {
    if (cap > SIZE_MAX / 2)
      return SO_ENOMEM;
    cap *= 2;
  }
  unsigned char *p = realloc(b->data, cap);
  if (!p)
    return SO_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int so__buf_append(so__buf *b, const void *data, size_t len) {
  int rc = so__buf_reserve(b, len);
  if (rc)
    return rc;
  so__buf_put(b, data, len);
  return 0;
}

void so__buf_free(so__buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

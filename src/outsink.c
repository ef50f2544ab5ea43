/* Whole-line output on the master: partial lines wait for their end, per worker and stream. */
#include "outsink.h"

#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "scaleout/errors.h"

int so__outsink_init(so_outsink *s, int nranks, FILE *out, FILE *err) {
  s->nranks = nranks;
  s->out = out;
  s->err = err;
  s->partial = calloc((size_t)nranks * 2, sizeof *s->partial);
  return s->partial ? 0 : SO_ENOMEM;
}

int so__outsink_take(so_outsink *s, int rank, const void *msg, size_t len) {
  const unsigned char *p = msg, *end = p + len;
  if (rank < 0 || rank >= s->nranks)
    return SO_EPROTO;
  while (p < end) {
    so_output_rec rec;
    if ((size_t)(end - p) < sizeof rec)
      return SO_EPROTO;
    memcpy(&rec, p, sizeof rec);
    p += sizeof rec;
    if ((size_t)(end - p) < rec.len || (rec.stream != 1 && rec.stream != 2))
      return SO_EPROTO;
    so_buf *held = &s->partial[rank * 2 + rec.stream - 1];
    FILE *f = rec.stream == 1 ? s->out : s->err;
    if (rec.partial && held->len + rec.len <= SO_OUTSINK_HOLD) {
      if (so__buf_append(held, p, rec.len))
        return SO_ENOMEM;
    } else {
      /* The line is complete (or too long to hold): out it goes, held part first. */
      if (held->len)
        fwrite(held->data, 1, held->len, f);
      so__buf_clear(held);
      fwrite(p, 1, rec.len, f);
    }
    p += rec.len;
  }
  return 0;
}

void so__outsink_flush_rank(so_outsink *s, int rank) {
  for (int stream = 0; stream < 2; stream++) {
    so_buf *held = &s->partial[rank * 2 + stream];
    if (held->len)
      fwrite(held->data, 1, held->len, stream ? s->err : s->out);
    so__buf_clear(held);
  }
}

void so__outsink_free(so_outsink *s) {
  if (!s->partial)
    return;
  for (int r = 0; r < s->nranks; r++) {
    so__outsink_flush_rank(s, r);
    so__buf_free(&s->partial[r * 2]);
    so__buf_free(&s->partial[r * 2 + 1]);
  }
  free(s->partial);
  s->partial = NULL;
  fflush(s->out);
  fflush(s->err);
}

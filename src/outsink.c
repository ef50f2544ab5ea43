/* Whole-line output on the master: partial lines wait for their end, per worker, task and stream. */
#include "outsink.h"

#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "scaleout/errors.h"

int so__outsink_init(so__outsink *s, int nranks, FILE *out, FILE *err) {
  s->nranks = nranks;
  s->out = out;
  s->err = err;
  s->ranks = calloc((size_t)nranks, sizeof *s->ranks);
  return s->ranks ? 0 : SO_ENOMEM;
}

/* The held partial line of (task, stream) on rank r, created when create is set; NULL if none. */
static so__outsink_hold *hold_of(so__outsink_rank *r, uint64_t task, int stream, int create) {
  for (size_t i = 0; i < r->n; i++)
    if (r->holds[i].task == task && r->holds[i].stream == stream)
      return &r->holds[i];
  if (!create)
    return NULL;
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 4;
    so__outsink_hold *p = realloc(r->holds, cap * sizeof *p);
    if (!p)
      return NULL;
    r->holds = p;
    r->cap = cap;
  }
  so__outsink_hold *h = &r->holds[r->n++];
  h->task = task;
  h->stream = stream;
  h->line = (so__buf)SO_BUF_INIT;
  return h;
}

static void drop_hold(so__outsink_rank *r, so__outsink_hold *h) {
  so__buf_free(&h->line);
  *h = r->holds[--r->n];
}

int so__outsink_take(so__outsink *s, int rank, const void *msg, size_t len) {
  if (rank < 0 || rank >= s->nranks)
    return SO_EPROTO;
  so__outsink_rank *r = &s->ranks[rank];
  so__reader rd;
  so__proto_output_open(&rd, msg, len);
  while (so__proto_more(&rd)) {
    so__output_rec rec;
    const void *p;
    if (so__proto_output_next(&rd, &rec, &p))
      return SO_EPROTO;
    FILE *f = rec.stream == 1 ? s->out : s->err;
    so__outsink_hold *h = hold_of(r, rec.task, rec.stream, rec.partial);
    if (rec.partial && !h)
      return SO_ENOMEM;
    if (rec.partial && h->line.len + rec.len <= SO_OUTSINK_HOLD) {
      if (so__buf_append(&h->line, p, rec.len))
        return SO_ENOMEM;
    } else {
      /* The line is complete (or too long to hold): out it goes, held part first. */
      if (h && h->line.len)
        fwrite(h->line.data, 1, h->line.len, f);
      fwrite(p, 1, rec.len, f);
      if (h)
        drop_hold(r, h);
    }
  }
  return 0;
}

void so__outsink_flush_rank(so__outsink *s, int rank) {
  so__outsink_rank *r = &s->ranks[rank];
  while (r->n) {
    so__outsink_hold *h = &r->holds[r->n - 1];
    if (h->line.len)
      fwrite(h->line.data, 1, h->line.len, h->stream == 1 ? s->out : s->err);
    drop_hold(r, h);
  }
}

void so__outsink_free(so__outsink *s) {
  if (!s->ranks)
    return;
  for (int r = 0; r < s->nranks; r++) {
    so__outsink_flush_rank(s, r);
    free(s->ranks[r].holds);
  }
  free(s->ranks);
  s->ranks = NULL;
  fflush(s->out);
  fflush(s->err);
}

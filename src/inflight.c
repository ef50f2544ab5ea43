/* The in-flight table (linear probing with backward-shift deletion) and the retry list. */
#include "inflight.h"

#include <stdlib.h>
#include <string.h>

#include "scaleout/errors.h"

void so__inflight_init(so__inflight *f) { memset(f, 0, sizeof *f); }

void so__inflight_free(so__inflight *f) {
  for (size_t i = 0; i < f->cap; i++)
    if (f->used[i])
      free(f->slots[i].data);
  free(f->slots);
  free(f->used);
  memset(f, 0, sizeof *f);
}

static size_t home(uint64_t id, size_t cap) {
  id ^= id >> 33;
  id *= 0xff51afd7ed558ccdULL;
  id ^= id >> 33;
  return (size_t)id & (cap - 1);
}

static size_t find(const so__inflight *f, uint64_t id) {
  size_t i = home(id, f->cap);
  while (f->used[i] && f->slots[i].id != id)
    i = (i + 1) & (f->cap - 1);
  return i;
}

static int grow(so__inflight *f) {
  size_t cap = f->cap ? f->cap * 2 : 64;
  so__inflight nf = {calloc(cap, sizeof(so__flight)), calloc(cap, 1), cap, 0};
  if (!nf.slots || !nf.used) {
    free(nf.slots);
    free(nf.used);
    return SO_ENOMEM;
  }
  for (size_t i = 0; i < f->cap; i++)
    if (f->used[i]) {
      size_t j = find(&nf, f->slots[i].id);
      nf.slots[j] = f->slots[i];
      nf.used[j] = 1;
      nf.n++;
    }
  free(f->slots);
  free(f->used);
  *f = nf;
  return 0;
}

int so__inflight_put(so__inflight *f, so__flight *e) {
  if ((f->n + 1) * 4 > f->cap * 3 && grow(f))
    return SO_ENOMEM;
  size_t i = find(f, e->id);
  if (f->used[i])
    free(f->slots[i].data);
  else
    f->n++;
  f->slots[i] = *e;
  f->used[i] = 1;
  e->data = NULL;
  return 0;
}

so__flight *so__inflight_get(so__inflight *f, uint64_t id) {
  if (!f->cap)
    return NULL;
  size_t i = find(f, id);
  return f->used[i] ? &f->slots[i] : NULL;
}

int so__inflight_take(so__inflight *f, uint64_t id, so__flight *out) {
  if (!f->cap)
    return 0;
  size_t i = find(f, id);
  if (!f->used[i])
    return 0;
  *out = f->slots[i];
  f->used[i] = 0;
  f->n--;
  /* Backward shift: move later members of the probe run into the hole so lookups stay correct. */
  for (size_t j = (i + 1) & (f->cap - 1); f->used[j]; j = (j + 1) & (f->cap - 1)) {
    size_t h = home(f->slots[j].id, f->cap);
    /* Move j into the hole i when its home does not lie cyclically in (i, j]. */
    int in_between = (i <= j) ? (h > i && h <= j) : (h > i || h <= j);
    if (!in_between) {
      f->slots[i] = f->slots[j];
      f->used[i] = 1;
      f->used[j] = 0;
      i = j;
    }
  }
  return 1;
}

int so__retry_push(so__retry_list *r, so__flight *e) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    so__flight *p = realloc(r->items, cap * sizeof *p);
    if (!p)
      return SO_ENOMEM;
    r->items = p;
    r->cap = cap;
  }
  r->items[r->n++] = *e;
  e->data = NULL;
  return 0;
}

int so__retry_pop(so__retry_list *r, int rank, int avoid, so__flight *out) {
  for (size_t i = 0; i < r->n; i++)
    if (!avoid || r->items[i].worker != rank) {
      *out = r->items[i];
      memmove(&r->items[i], &r->items[i + 1], (r->n - i - 1) * sizeof *r->items);
      r->n--;
      return 1;
    }
  return 0;
}

void so__retry_free(so__retry_list *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->items[i].data);
  free(r->items);
  memset(r, 0, sizeof *r);
}

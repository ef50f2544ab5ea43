/* Tasks handed out and not yet merged, kept when the master may need them again (retries, or a
 * job that reads a task's payload in merge), and the list of failed tasks waiting for a rerun. */
#ifndef SO_INFLIGHT_H
#define SO_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

typedef struct so__flight {
  uint64_t id;
  uint32_t type;
  uint32_t attempts; /* runs handed out so far */
  int worker;        /* rank that has it (in flight) or last failed it (waiting for a rerun) */
  uint32_t len;
  unsigned char *data; /* owned; NULL when len is 0 */
} so__flight;

/* An open-addressing hash table keyed by task id. Memory is proportional to the tasks in the
 * workers' hands, never to the job's size. */
typedef struct so__inflight {
  so__flight *slots;
  unsigned char *used;
  size_t cap, n;
} so__inflight;

void so__inflight_init(so__inflight *f);
void so__inflight_free(so__inflight *f); /* frees every entry's data */

/* Adds an entry (moving in *e, whose data the table now owns). Returns 0 or SO_ENOMEM (e keeps
 * its data). An id already present is replaced. */
int so__inflight_put(so__inflight *f, so__flight *e);
/* The entry for id, or NULL. Valid until the next put or take. */
so__flight *so__inflight_get(so__inflight *f, uint64_t id);
/* Removes the entry for id into *out (the caller then owns out->data). Returns 1, or 0. */
int so__inflight_take(so__inflight *f, uint64_t id, so__flight *out);

/* Failed tasks waiting for a rerun, oldest first. */
typedef struct so__retry_list {
  so__flight *items;
  size_t n, cap;
} so__retry_list;

int so__retry_push(so__retry_list *r, so__flight *e); /* moves e in; 0 or SO_ENOMEM */
/* Takes the oldest entry that rank did not last fail, or when avoid is 0 the oldest of all.
 * Returns 1 with *out filled (the caller owns its data), or 0. */
int so__retry_pop(so__retry_list *r, int rank, int avoid, so__flight *out);
void so__retry_free(so__retry_list *r);

#endif

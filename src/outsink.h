/* The master's side of task output: writes what workers send to stdout/stderr in whole lines. */
#ifndef SO_OUTSINK_H
#define SO_OUTSINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"

/* A partial line, held until its end arrives, per worker, task and stream, so lines from
 * different tasks never mix. A line longer than SO_OUTSINK_HOLD is written in pieces rather than
 * held. */
#define SO_OUTSINK_HOLD (1u << 20)

typedef struct so__outsink_hold {
  uint64_t task;
  int stream;
  so__buf line;
} so__outsink_hold;

typedef struct so__outsink_rank {
  so__outsink_hold *holds;
  size_t n, cap;
} so__outsink_rank;

typedef struct so__outsink {
  int nranks;
  so__outsink_rank *ranks;
  FILE *out, *err;
} so__outsink;

/* Returns 0 or SO_ENOMEM. */
int so__outsink_init(so__outsink *s, int nranks, FILE *out, FILE *err);
/* Takes one OUTPUT message from rank. Returns 0, SO_EPROTO or SO_ENOMEM. */
int so__outsink_take(so__outsink *s, int rank, const void *msg, size_t len);
/* Writes whatever partial lines rank left (its output ended without a newline). */
void so__outsink_flush_rank(so__outsink *s, int rank);
void so__outsink_free(so__outsink *s); /* flushes every rank first */

#endif

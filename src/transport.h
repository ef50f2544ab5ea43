/* The transport under master and worker: a small ops table with an MPI and an in-process backend. */
#ifndef SO_TRANSPORT_H
#define SO_TRANSPORT_H

#include <mpi.h>
#include <stddef.h>

/* A received message. data stays valid until the next recv on the same transport. */
typedef struct so__msg {
  int src;
  int tag;
  const unsigned char *data;
  size_t len;
} so__msg;

typedef struct so__transport so__transport;

/* Messages whose payload is at most this many bytes travel on the small channel, larger ones on
 * the large channel. Between one sender and one receiver each channel keeps its order, but a
 * message of one channel may overtake one of the other (MPI orders only messages of the same tag;
 * transport_mpi.c gives the channels different tags and looks at the large one less often). */
#define SO_TRANSPORT_SMALL_MAX (16384 - 8)

typedef struct so__transport_ops {
  /* Sends len bytes to dest. The data is copied: the caller may reuse it at once. The send
   * completes in the background; it never waits for the receiver to be ready.
   * Returns 0 or an SO_E* code (already printed). */
  int (*send)(so__transport *t, int dest, int tag, const void *data, size_t len);
  /* Receives the next message from any source, waiting up to timeout_ms (0: only look; -1: until
   * one comes) without burning the CPU (see the backend). Returns 1 when *msg was filled, 0 when
   * nothing arrived in time, or an SO_E* code. */
  int (*recv)(so__transport *t, so__msg *msg, int timeout_ms);
  /* Completes every send still in flight, then frees the transport. */
  void (*destroy)(so__transport *t);
} so__transport_ops;

struct so__transport {
  const so__transport_ops *ops;
  int rank;
  int size;
};

static inline int so__send(so__transport *t, int dest, int tag, const void *data, size_t len) {
  return t->ops->send(t, dest, tag, data, len);
}
static inline int so__recv(so__transport *t, so__msg *msg, int timeout_ms) {
  return t->ops->recv(t, msg, timeout_ms);
}
static inline void so__transport_destroy(so__transport *t) {
  if (t)
    t->ops->destroy(t);
}

/* An MPI transport on comm (which the caller keeps and frees after destroying the transport).
 * comm must use MPI_ERRORS_RETURN. A waiting receive spins at most max_spin_ns before it sleeps:
 * long for a worker waiting for its own batch on its own core, short for the master, which
 * shares the cores with the workers. Returns NULL when out of memory or MPI failed (printed). */
so__transport *so__transport_mpi(MPI_Comm comm, long max_spin_ns);

/* In-process transport for tests: so__inproc_new makes a group of size endpoints that threads
 * of one process use as ranks 0..size-1. Destroy every endpoint, then the group. */
typedef struct so__inproc so__inproc;
so__inproc *so__inproc_new(int size);
/* The same, but delivering messages in an order MPI may too: each channel (small, large) of one
 * sender stays in order, and otherwise a receiver takes any waiting message, chosen by a
 * generator seeded with seed (the same choices for the same arrivals). A large message becomes
 * receivable 0, 0.5, 1 or 1.5 ms after it was sent (chosen by the same generator), so small ones
 * sent after it overtake it, as under MPI's rendezvous protocol. */
so__inproc *so__inproc_new_reordering(int size, unsigned long seed);
so__transport *so__inproc_endpoint(so__inproc *group, int rank);
void so__inproc_free(so__inproc *group);

#endif

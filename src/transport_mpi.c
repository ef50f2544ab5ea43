/* The MPI transport: non-blocking sends from a pool of buffers, and receives that back off to
 * sleeping so an idle rank does not spin a core the way Open MPI's blocking calls do. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "error.h"
#include "transport.h"

/*
 * Waiting: Open MPI's MPI_Recv and MPI_Wait poll the network in a loop, so a master blocked in
 * them burns a whole core for the entire run. Instead a waiting recv probes with MPI_Improbe,
 * first back to back for a short spin of SO_POLL_SPIN_NS (a reply to a worker usually arrives within microseconds),
 * then with nanosleep pauses that double up to SO_POLL_MAX_SLEEP_NS. While messages flow the
 * rank never sleeps; when work is long it wakes a few thousand times a second at most, which
 * costs well under 1% of a core. See docs/design.md for the measurements.
 */
#define SO_POLL_SPIN_NS 50000L
#define SO_POLL_MIN_SLEEP_NS 2000L
#define SO_POLL_MAX_SLEEP_NS 250000L

typedef struct pending_send {
  MPI_Request req;
  so_buf buf;
} pending_send;

typedef struct mpi_transport {
  so_transport base;
  MPI_Comm comm;
  pending_send *sends;
  size_t nsends;     /* entries in use (requests possibly still active) */
  size_t capsends;
  so_buf rbuf;       /* the buffer the last received message lives in */
} mpi_transport;

/* Moves completed sends out of the active part of the array, keeping their buffers for reuse. */
static int reap_sends(mpi_transport *m) {
  size_t i = 0;
  while (i < m->nsends) {
    int done = 0;
    int rc = so__mpi_check(MPI_Test(&m->sends[i].req, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (rc)
      return rc;
    if (done) {
      pending_send t = m->sends[i];
      m->sends[i] = m->sends[m->nsends - 1];
      m->sends[m->nsends - 1] = t;
      m->nsends--;
    } else {
      i++;
    }
  }
  return 0;
}

static int mpi_send(so_transport *t, int dest, int tag, const void *data, size_t len) {
  mpi_transport *m = (mpi_transport *)t;
  if (len > (size_t)INT32_MAX) {
    so__errorf("a message of %zu bytes is larger than MPI can send at once", len);
    return SO_EINVAL;
  }
  int rc = reap_sends(m);
  if (rc)
    return rc;
  if (m->nsends == m->capsends) {
    size_t cap = m->capsends ? m->capsends * 2 : 8;
    pending_send *p = realloc(m->sends, cap * sizeof *p);
    if (!p)
      return SO_ENOMEM;
    for (size_t i = m->capsends; i < cap; i++)
      p[i].buf = (so_buf)SO_BUF_INIT;
    m->sends = p;
    m->capsends = cap;
  }
  pending_send *s = &m->sends[m->nsends];
  so__buf_clear(&s->buf);
  if ((rc = so__buf_append(&s->buf, data, len)) != 0)
    return rc;
  rc = so__mpi_check(MPI_Isend(s->buf.data, (int)len, MPI_BYTE, dest, tag, m->comm, &s->req),
                     "MPI_Isend");
  if (rc)
    return rc;
  m->nsends++;
  return 0;
}

static void pause_ns(long ns) {
  struct timespec ts = {0, ns};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
}

static long elapsed_ns(const struct timespec *since) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (ts.tv_sec - since->tv_sec) * 1000000000L + (ts.tv_nsec - since->tv_nsec);
}

static int mpi_recv(so_transport *t, so_msg *msg, int wait) {
  mpi_transport *m = (mpi_transport *)t;
  long sleep_ns = SO_POLL_MIN_SLEEP_NS;
  struct timespec start = {0, 0};
  for (unsigned spins = 0;; spins++) {
    int flag = 0;
    MPI_Message handle;
    MPI_Status st;
    int rc = so__mpi_check(MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, m->comm, &flag, &handle, &st),
                           "MPI_Improbe");
    if (rc)
      return rc;
    if (flag) {
      int count = 0;
      if ((rc = so__mpi_check(MPI_Get_count(&st, MPI_BYTE, &count), "MPI_Get_count")) != 0)
        return rc;
      so__buf_clear(&m->rbuf);
      if ((rc = so__buf_reserve(&m->rbuf, (size_t)count + 1)) != 0)
        return rc;
      rc = so__mpi_check(MPI_Mrecv(m->rbuf.data, count, MPI_BYTE, &handle, MPI_STATUS_IGNORE),
                         "MPI_Mrecv");
      if (rc)
        return rc;
      m->rbuf.len = (size_t)count;
      msg->src = st.MPI_SOURCE;
      msg->tag = st.MPI_TAG;
      msg->data = m->rbuf.data;
      msg->len = m->rbuf.len;
      return 1;
    }
    if (!wait)
      return 0;
    /* The spin is bounded in time, not probes: over TCP one probe is a system call. */
    if (spins == 0)
      clock_gettime(CLOCK_MONOTONIC, &start);
    if (elapsed_ns(&start) < SO_POLL_SPIN_NS) {
      /* When ranks share a core (more ranks than cores), the peer we wait for may need this
       * very core: after a few probes, offer it up between probes. */
      if (spins > 64)
        sched_yield();
      continue;
    }
    /* Sends of our own still in flight need the library's progress, which probing gives them;
     * retiring finished ones here keeps the pool small. */
    if ((rc = reap_sends(m)) != 0)
      return rc;
    pause_ns(sleep_ns);
    if (sleep_ns < SO_POLL_MAX_SLEEP_NS)
      sleep_ns *= 2;
  }
}

static void mpi_destroy(so_transport *t) {
  mpi_transport *m = (mpi_transport *)t;
  /* Finish what is in flight with the same polite polling as recv, so shutdown does not spin. */
  while (m->nsends > 0) {
    if (reap_sends(m))
      break;
    if (m->nsends)
      pause_ns(SO_POLL_MIN_SLEEP_NS * 10);
  }
  for (size_t i = 0; i < m->capsends; i++)
    so__buf_free(&m->sends[i].buf);
  free(m->sends);
  so__buf_free(&m->rbuf);
  free(m);
}

static const so_transport_ops mpi_ops = {mpi_send, mpi_recv, mpi_destroy};

so_transport *so__transport_mpi(MPI_Comm comm) {
  mpi_transport *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->base.ops = &mpi_ops;
  m->comm = comm;
  if (MPI_Comm_rank(comm, &m->base.rank) != MPI_SUCCESS ||
      MPI_Comm_size(comm, &m->base.size) != MPI_SUCCESS) {
    free(m);
    return NULL;
  }
  return &m->base;
}

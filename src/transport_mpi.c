/* The MPI transport: a pre-posted receive for small messages, probed receives for large ones,
 * non-blocking sends from a pool of buffers, and waiting that backs off to sleeping so an idle
 * rank does not spin a core the way Open MPI's blocking calls do. */
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "error.h"
#include "transport.h"

/*
 * Framing: every message starts with an 8-byte header carrying the caller's tag. Messages of up
 * to SO_SMALL_MAX bytes travel with MPI tag SO_MPI_SMALL and land in a receive posted in advance,
 * which is Open MPI's fastest path (the message is matched on arrival, no second copy, no probe);
 * larger ones travel with SO_MPI_LARGE and are found by MPI_Iprobe. The protocol never has a large
 * and a small message of the same sender in flight where their order matters (proto.h), so the
 * two channels need no sequence numbers.
 *
 * Waiting: Open MPI's MPI_Recv and MPI_Wait poll the network in a loop, so a master blocked in
 * them burns a whole core for the entire run. A waiting recv instead tests back to back only while
 * a message is likely to come soon (twice the recent average wait when that is short, else
 * SO_POLL_SPIN_NS), then sleeps, looking once after each pause, the pauses doubling from
 * SO_POLL_MIN_SLEEP_NS up to SO_POLL_MAX_SLEEP_NS. While messages flow the rank never sleeps; when
 * tasks are long it wakes about a thousand times a second. docs/benchmarks.md has the figures.
 */
#define SO_MPI_SMALL 0x5c00
#define SO_MPI_LARGE 0x5c01
/* The largest small frame: the header and SO_TRANSPORT_SMALL_MAX bytes. */
#define SO_SMALL_MAX (SO_TRANSPORT_SMALL_MAX + 8)
#define SO_POLL_SPIN_NS 20000L       /* the least spin before sleeping */
#define SO_POLL_SPIN_LONG_NS 2000000L /* waits longer than this on average: spin only the least */
#define SO_POLL_MIN_SLEEP_NS 2000L
#define SO_POLL_MAX_SLEEP_NS 1000000L

typedef struct frame_hdr {
  int32_t tag;
  uint32_t reserved;
} frame_hdr;
_Static_assert(sizeof(frame_hdr) == 8, "SO_SMALL_MAX counts an 8-byte header");

typedef struct pending_send {
  MPI_Request req;
  so__buf buf;
} pending_send;

typedef struct mpi_transport {
  so__transport base;
  MPI_Comm comm;
  pending_send *sends;
  size_t nsends; /* entries whose send is still in flight, at the front of the array */
  size_t capsends;
  MPI_Request small_req; /* the posted receive, or MPI_REQUEST_NULL */
  unsigned char *small;  /* its buffer, SO_SMALL_MAX bytes */
  so__buf large;          /* where the last large message was received */
  unsigned polls;        /* looks so far, to probe the large channel every few */
  long wait_ewma_ns;     /* how long recent waits lasted (moving average) */
  long max_spin_ns;      /* the longest spin before sleeping */
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

static int mpi_send(so__transport *t, int dest, int tag, const void *data, size_t len) {
  mpi_transport *m = (mpi_transport *)t;
  if (len > (size_t)INT32_MAX - sizeof(frame_hdr)) {
    so__errorf("a message of %zu bytes is larger than MPI can send at once", len);
    return SO_EINVAL;
  }
  int rc = m->nsends ? reap_sends(m) : 0;
  if (rc)
    return rc;
  if (m->nsends == m->capsends) {
    size_t cap = m->capsends ? m->capsends * 2 : 8;
    pending_send *p = realloc(m->sends, cap * sizeof *p);
    if (!p)
      return SO_ENOMEM;
    for (size_t i = m->capsends; i < cap; i++)
      p[i].buf = (so__buf)SO_BUF_INIT;
    m->sends = p;
    m->capsends = cap;
  }
  pending_send *s = &m->sends[m->nsends];
  frame_hdr h = {tag, 0};
  so__buf_clear(&s->buf);
  if ((rc = so__buf_reserve(&s->buf, sizeof h + len)) != 0)
    return rc;
  so__buf_put(&s->buf, &h, sizeof h);
  so__buf_put(&s->buf, data, len);
  int mtag = s->buf.len <= SO_SMALL_MAX ? SO_MPI_SMALL : SO_MPI_LARGE;
  rc = so__mpi_check(MPI_Isend(s->buf.data, (int)s->buf.len, MPI_BYTE, dest, mtag, m->comm, &s->req),
                     "MPI_Isend");
  if (rc)
    return rc;
  /* A small message usually leaves at once; then its buffer is free again without bookkeeping. */
  int done = 0;
  if ((rc = so__mpi_check(MPI_Test(&s->req, &done, MPI_STATUS_IGNORE), "MPI_Test")) != 0)
    return rc;
  if (!done)
    m->nsends++;
  return 0;
}

static int post_small(mpi_transport *m) {
  return so__mpi_check(MPI_Irecv(m->small, SO_SMALL_MAX, MPI_BYTE, MPI_ANY_SOURCE, SO_MPI_SMALL,
                                 m->comm, &m->small_req),
                       "MPI_Irecv");
}

static int deliver(so__msg *msg, int src, const unsigned char *frame, int count) {
  frame_hdr h;
  if (count < (int)sizeof h)
    return SO_EPROTO;
  memcpy(&h, frame, sizeof h);
  msg->src = src;
  msg->tag = h.tag;
  msg->data = frame + sizeof h;
  msg->len = (size_t)count - sizeof h;
  return 1;
}

/* One look for a message: the posted small receive, and every few calls the large channel.
 * Returns 1 (delivered), 0 or an error. */
static int poll_once(mpi_transport *m, so__msg *msg) {
  int flag = 0, rc;
  MPI_Status st;
  /* The previous small message's buffer is free again now: re-post lazily, here. */
  if (m->small_req == MPI_REQUEST_NULL && (rc = post_small(m)) != 0)
    return rc;
  if ((rc = so__mpi_check(MPI_Test(&m->small_req, &flag, &st), "MPI_Test")) != 0)
    return rc;
  if (flag) {
    int count = 0;
    if ((rc = so__mpi_check(MPI_Get_count(&st, MPI_BYTE, &count), "MPI_Get_count")) != 0)
      return rc;
    return deliver(msg, st.MPI_SOURCE, m->small, count);
  }
  if ((m->polls++ & 3) != 0)
    return 0;
  rc = so__mpi_check(MPI_Iprobe(MPI_ANY_SOURCE, SO_MPI_LARGE, m->comm, &flag, &st), "MPI_Iprobe");
  if (rc || !flag)
    return rc;
  int count = 0;
  if ((rc = so__mpi_check(MPI_Get_count(&st, MPI_BYTE, &count), "MPI_Get_count")) != 0)
    return rc;
  so__buf_clear(&m->large);
  if ((rc = so__buf_reserve(&m->large, (size_t)count)) != 0)
    return rc;
  rc = so__mpi_check(MPI_Recv(m->large.data, count, MPI_BYTE, st.MPI_SOURCE, SO_MPI_LARGE, m->comm,
                              MPI_STATUS_IGNORE),
                     "MPI_Recv");
  return rc ? rc : deliver(msg, st.MPI_SOURCE, m->large.data, count);
}

static long elapsed_ns(const struct timespec *since) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (ts.tv_sec - since->tv_sec) * 1000000000L + (ts.tv_nsec - since->tv_nsec);
}

/* Sleeps; a signal cuts the pause short, so a waiting master notices it at once. */
static void pause_ns(long ns) {
  struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
  nanosleep(&ts, NULL);
}

/* Remembers how long waits last, so the next one spins only when a reply is likely soon. */
static void note_wait(mpi_transport *m, long waited) {
  if (waited > SO_POLL_MAX_SLEEP_NS * 10)
    waited = SO_POLL_MAX_SLEEP_NS * 10;
  m->wait_ewma_ns += (waited - m->wait_ewma_ns) / 4;
}

static int mpi_recv(so__transport *t, so__msg *msg, int timeout_ms) {
  mpi_transport *m = (mpi_transport *)t;
  int rc = poll_once(m, msg);
  if (rc || timeout_ms == 0)
    return rc;
  long limit_ns = timeout_ms < 0 ? -1 : (long)timeout_ms * 1000000L;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  /* Spin while a message is likely to come soon: when recent waits were short (a worker waiting
   * for its next batch, a master fed by many requests), for about twice their length; otherwise
   * (long tasks) only briefly, and sleep. */
  long spin_ns = m->wait_ewma_ns < SO_POLL_SPIN_LONG_NS ? 2 * m->wait_ewma_ns + SO_POLL_SPIN_NS
                                                        : SO_POLL_SPIN_NS;
  if (spin_ns > m->max_spin_ns)
    spin_ns = m->max_spin_ns;
  for (unsigned spins = 1;; spins++) {
    if ((rc = poll_once(m, msg)) != 0) {
      note_wait(m, elapsed_ns(&start));
      return rc;
    }
    /* The clock is read every 32 probes to keep it off the fast path. */
    if ((spins & 31) != 0)
      continue;
    long waited = elapsed_ns(&start);
    if (limit_ns >= 0 && waited >= limit_ns)
      return 0;
    if (waited >= spin_ns)
      break;
    /* When ranks share a core (more ranks than cores), the peer we wait for may need this very
     * core: now and then, offer it up. */
    if ((spins & 255) == 0)
      sched_yield();
  }
  /* Sleeping: one look after each pause, pauses doubling up to SO_POLL_MAX_SLEEP_NS. */
  for (long sleep_ns = SO_POLL_MIN_SLEEP_NS;; sleep_ns *= 2) {
    /* Our own sends still in flight need the library's progress, which polling gives them;
     * retiring finished ones here keeps the pool small. */
    if (m->nsends && (rc = reap_sends(m)) != 0)
      return rc;
    if (sleep_ns > SO_POLL_MAX_SLEEP_NS)
      sleep_ns = SO_POLL_MAX_SLEEP_NS;
    long waited = elapsed_ns(&start);
    if (limit_ns >= 0 && waited >= limit_ns)
      return 0;
    pause_ns(limit_ns >= 0 && sleep_ns > limit_ns - waited ? limit_ns - waited : sleep_ns);
    if ((rc = poll_once(m, msg)) != 0) {
      note_wait(m, elapsed_ns(&start));
      return rc;
    }
  }
}

static void mpi_destroy(so__transport *t) {
  mpi_transport *m = (mpi_transport *)t;
  /* Finish what is in flight with the same polite polling as recv, so shutdown does not spin. */
  while (m->nsends > 0) {
    if (reap_sends(m))
      break;
    if (m->nsends)
      pause_ns(SO_POLL_MIN_SLEEP_NS * 10);
  }
  if (m->small_req != MPI_REQUEST_NULL) {
    if (so__mpi_check(MPI_Cancel(&m->small_req), "MPI_Cancel") == 0)
      so__mpi_check(MPI_Wait(&m->small_req, MPI_STATUS_IGNORE), "MPI_Wait");
  }
  for (size_t i = 0; i < m->capsends; i++)
    so__buf_free(&m->sends[i].buf);
  free(m->sends);
  free(m->small);
  so__buf_free(&m->large);
  free(m);
}

static const so__transport_ops mpi_ops = {mpi_send, mpi_recv, mpi_destroy};

so__transport *so__transport_mpi(MPI_Comm comm, long max_spin_ns) {
  mpi_transport *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->max_spin_ns = max_spin_ns > SO_POLL_SPIN_NS ? max_spin_ns : SO_POLL_SPIN_NS;
  m->base.ops = &mpi_ops;
  m->comm = comm;
  m->small_req = MPI_REQUEST_NULL;
  m->small = malloc(SO_SMALL_MAX);
  if (!m->small || so__mpi_check(MPI_Comm_rank(comm, &m->base.rank), "MPI_Comm_rank") != 0 ||
      so__mpi_check(MPI_Comm_size(comm, &m->base.size), "MPI_Comm_size") != 0) {
    free(m->small);
    free(m);
    return NULL;
  }
  return &m->base;
}

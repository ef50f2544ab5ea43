/* The in-process transport: ranks are threads of one process exchanging copies through mailboxes,
 * so master and worker logic can be unit tested without mpirun; in its reordering mode messages
 * overtake each other the way MPI lets them. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "scaleout/scaleout.h"
#include "transport.h"

typedef struct letter {
  struct letter *next;
  int src, tag;
  int large; /* on the large channel (len > SO_TRANSPORT_SMALL_MAX) */
  long long due_ns; /* reordering: when it can be received (CLOCK_MONOTONIC), see take() */
  size_t len;
  unsigned char data[];
} letter;

/* Locking: each endpoint's mailbox has its own mutex; a sender holds only the receiver's. */
typedef struct mailbox {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  letter *head, *tail;
  uint64_t rng;        /* reordering: this receiver's generator */
  unsigned char *seen; /* reordering: 2 x size flags, a sender's channel met in this look */
} mailbox;

struct so__inproc {
  int size;
  int reorder;
  mailbox *boxes;
};

/* xorshift64*: small, seedable, and the same sequence on every machine. */
static uint64_t next_random(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * Takes the letter to deliver out of b (locked), or returns NULL. In order mode, the first. When
 * reordering, one chosen at random among those MPI could deliver now: the first letter of each
 * sender's channel, once it is due. A large letter is due up to 1.5 ms after it was sent, as a
 * large MPI message is late (rendezvous, and the MPI transport probes for it only every few
 * looks) while small ones sent after it arrive at once.
 */
static letter *take(so__inproc *g, mailbox *b) {
  if (!g->reorder || !b->head) {
    letter *l = b->head;
    if (l && !(b->head = l->next))
      b->tail = NULL;
    return l;
  }
  memset(b->seen, 0, (size_t)g->size * 2);
  long long now = now_ns();
  int n = 0;
  for (letter *l = b->head; l; l = l->next) {
    unsigned char *first = &b->seen[l->src * 2 + l->large];
    if (*first)
      continue; /* an earlier letter of the same channel goes first */
    *first = 1;
    n += l->due_ns <= now;
  }
  if (n == 0)
    return NULL;
  int pick = (int)(next_random(&b->rng) % (uint64_t)n);
  memset(b->seen, 0, (size_t)g->size * 2);
  letter *prev = NULL;
  for (letter *l = b->head; l; prev = l, l = l->next) {
    unsigned char *first = &b->seen[l->src * 2 + l->large];
    if (*first)
      continue;
    *first = 1;
    if (l->due_ns > now || pick-- > 0)
      continue;
    if (prev)
      prev->next = l->next;
    else
      b->head = l->next;
    if (b->tail == l)
      b->tail = prev;
    return l;
  }
  return NULL;
}

typedef struct inproc_endpoint {
  so__transport base;
  so__inproc *group;
  letter *current; /* the message handed out by the last recv, freed by the next */
} inproc_endpoint;

static int inproc_send(so__transport *t, int dest, int tag, const void *data, size_t len) {
  inproc_endpoint *e = (inproc_endpoint *)t;
  if (dest < 0 || dest >= e->group->size)
    return SO_EINVAL;
  letter *l = malloc(sizeof *l + len);
  if (!l)
    return SO_ENOMEM;
  l->next = NULL;
  l->src = t->rank;
  l->tag = tag;
  l->len = len;
  l->large = len > SO_TRANSPORT_SMALL_MAX;
  l->due_ns = 0;
  if (len)
    memcpy(l->data, data, len);
  mailbox *b = &e->group->boxes[dest];
  pthread_mutex_lock(&b->lock);
  if (e->group->reorder && l->large)
    l->due_ns = now_ns() + (long long)(next_random(&b->rng) % 4) * 500000LL;
  if (b->tail)
    b->tail->next = l;
  else
    b->head = l;
  b->tail = l;
  pthread_cond_signal(&b->cond);
  pthread_mutex_unlock(&b->lock);
  return 0;
}

static int inproc_recv(so__transport *t, so__msg *msg, int timeout_ms) {
  inproc_endpoint *e = (inproc_endpoint *)t;
  free(e->current);
  e->current = NULL;
  mailbox *b = &e->group->boxes[t->rank];
  struct timespec deadline =
      so__clock_after(CLOCK_REALTIME, timeout_ms > 0 ? timeout_ms * 1000000LL : 0);
  pthread_mutex_lock(&b->lock);
  letter *l = take(e->group, b);
  while (!l && timeout_ms != 0) {
    /* Letters not yet due (reordering) are waited for a little at a time. */
    if (b->head) {
      struct timespec soon = so__clock_after(CLOCK_REALTIME, 100000);
      if (timeout_ms > 0 && (soon.tv_sec > deadline.tv_sec ||
                             (soon.tv_sec == deadline.tv_sec && soon.tv_nsec > deadline.tv_nsec)))
        soon = deadline;
      if (pthread_cond_timedwait(&b->cond, &b->lock, &soon) != 0 && timeout_ms > 0 &&
          soon.tv_sec == deadline.tv_sec && soon.tv_nsec == deadline.tv_nsec) {
        l = take(e->group, b);
        break;
      }
    } else if (timeout_ms < 0) {
      pthread_cond_wait(&b->cond, &b->lock);
    } else if (pthread_cond_timedwait(&b->cond, &b->lock, &deadline) != 0) {
      break;
    }
    l = take(e->group, b);
  }
  pthread_mutex_unlock(&b->lock);
  if (!l)
    return 0;
  e->current = l;
  msg->src = l->src;
  msg->tag = l->tag;
  msg->data = l->data;
  msg->len = l->len;
  return 1;
}

static void inproc_destroy(so__transport *t) {
  inproc_endpoint *e = (inproc_endpoint *)t;
  free(e->current);
  free(e);
}

static const so__transport_ops inproc_ops = {inproc_send, inproc_recv, inproc_destroy};

so__inproc *so__inproc_new(int size) {
  so__inproc *g = calloc(1, sizeof *g);
  if (!g)
    return NULL;
  g->boxes = calloc((size_t)size, sizeof *g->boxes);
  if (!g->boxes) {
    free(g);
    return NULL;
  }
  g->size = size;
  for (int i = 0; i < size; i++) {
    pthread_mutex_init(&g->boxes[i].lock, NULL);
    pthread_cond_init(&g->boxes[i].cond, NULL);
  }
  return g;
}

so__inproc *so__inproc_new_reordering(int size, unsigned long seed) {
  so__inproc *g = so__inproc_new(size);
  if (!g)
    return NULL;
  g->reorder = 1;
  for (int i = 0; i < size; i++) {
    /* Distinct non-zero states per receiver, fixed by the seed. */
    g->boxes[i].rng = ((uint64_t)seed + 1) * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 0xBF58476D1CE4E5B9ULL;
    if (!g->boxes[i].rng)
      g->boxes[i].rng = 1;
    if (!(g->boxes[i].seen = malloc((size_t)size * 2))) {
      so__inproc_free(g);
      return NULL;
    }
  }
  return g;
}

so__transport *so__inproc_endpoint(so__inproc *group, int rank) {
  inproc_endpoint *e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  e->base.ops = &inproc_ops;
  e->base.rank = rank;
  e->base.size = group->size;
  e->group = group;
  return &e->base;
}

void so__inproc_free(so__inproc *group) {
  if (!group)
    return;
  for (int i = 0; i < group->size; i++) {
    letter *l = group->boxes[i].head;
    while (l) {
      letter *next = l->next;
      free(l);
      l = next;
    }
    free(group->boxes[i].seen);
    pthread_mutex_destroy(&group->boxes[i].lock);
    pthread_cond_destroy(&group->boxes[i].cond);
  }
  free(group->boxes);
  free(group);
}

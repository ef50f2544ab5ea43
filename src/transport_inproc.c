/* The in-process transport: ranks are threads of one process exchanging copies through mailboxes,
 * so master and worker logic can be unit tested without mpirun. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "scaleout/scaleout.h"
#include "transport.h"

typedef struct letter {
  struct letter *next;
  int src, tag;
  size_t len;
  unsigned char data[];
} letter;

/* Locking: each endpoint's mailbox has its own mutex; a sender holds only the receiver's. */
typedef struct mailbox {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  letter *head, *tail;
} mailbox;

struct so__inproc {
  int size;
  mailbox *boxes;
};

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
  if (len)
    memcpy(l->data, data, len);
  mailbox *b = &e->group->boxes[dest];
  pthread_mutex_lock(&b->lock);
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
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  if (timeout_ms > 0) {
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  pthread_mutex_lock(&b->lock);
  while (!b->head && timeout_ms != 0) {
    if (timeout_ms < 0)
      pthread_cond_wait(&b->cond, &b->lock);
    else if (pthread_cond_timedwait(&b->cond, &b->lock, &deadline) != 0)
      break;
  }
  letter *l = b->head;
  if (l) {
    b->head = l->next;
    if (!b->head)
      b->tail = NULL;
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
    pthread_mutex_destroy(&group->boxes[i].lock);
    pthread_cond_destroy(&group->boxes[i].cond);
  }
  free(group->boxes);
  free(group);
}

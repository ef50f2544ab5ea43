/* The worker: keeps a few batches in hand, asks for more before it runs dry, and sends results
 * back on its next request. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx.h"
#include "error.h"
#include "proto.h"


typedef struct batch_slot {
  so_buf msg;       /* a copy of the TASKS message: recv reuses its own buffer */
  so_reader rd;
  uint32_t left;    /* tasks not yet started */
} batch_slot;

typedef struct worker {
  so_transport *t;
  const so_job *job;
  so_ctx ctx;
  batch_slot *slots; /* a ring of received batches; grows when an answer brings many */
  int cap, first, count;
  uint64_t in_hand;   /* tasks held, over all slots */
  uint32_t low;       /* ask again at this many or fewer */
  int outstanding;    /* a request is on its way or waiting for its answer */
  int starved;        /* the last answer was empty: wait until dry before asking again */
  int stopping;       /* STOP arrived */
  int abort;          /* the STOP said the run failed */
  so_buf req;         /* the next REQUEST, results accumulating in it */
  uint32_t nresults;
  uint64_t busy_ns;   /* time in run() for the results in req */
  uint64_t tasks, failed, busy_total;
} worker;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int send_request(worker *w) {
  uint32_t want = w->stopping ? 0 : UINT32_MAX;
  so__proto_req_finish(&w->req, w->nresults, want, w->in_hand, w->busy_ns);
  int rc = so__send(w->t, 0, SO_TAG_REQUEST, w->req.data, w->req.len);
  if (rc)
    return rc;
  w->outstanding = 1;
  w->nresults = 0;
  w->busy_ns = 0;
  return so__proto_req_begin(&w->req);
}

static int on_message(worker *w, const so_msg *msg) {
  if (msg->src != 0)
    return SO_EPROTO;
  if (msg->tag == SO_TAG_STOP) {
    so_stop_msg s;
    if (so__proto_fixed(msg->data, msg->len, &s, sizeof s))
      return SO_EPROTO;
    w->stopping = 1;
    w->abort = s.abort != 0;
    w->outstanding = 0;
    return 0;
  }
  if (msg->tag != SO_TAG_TASKS || !w->outstanding)
    return SO_EPROTO;
  if (w->count == w->cap) {
    /* Grow the ring, unrolling it so the oldest batch is first again. */
    int cap = w->cap ? w->cap * 2 : 4;
    batch_slot *p = calloc((size_t)cap, sizeof *p);
    if (!p)
      return SO_ENOMEM;
    for (int i = 0; i < w->cap; i++)
      p[i] = w->slots[(w->first + i) % w->cap];
    free(w->slots);
    w->slots = p;
    w->cap = cap;
    w->first = 0;
  }
  batch_slot *s = &w->slots[(w->first + w->count) % w->cap];
  so__buf_clear(&s->msg);
  int rc = so__buf_append(&s->msg, msg->data, msg->len);
  if (rc)
    return rc;
  so_tasks_hdr h;
  if (so__proto_tasks_open(&s->rd, s->msg.data, s->msg.len, &h))
    return SO_EPROTO;
  /* The request stays open until its last message arrives. */
  w->outstanding = h.more != 0;
  w->low = h.low;
  w->starved = h.ntasks == 0;
  if (h.ntasks) {
    s->left = h.ntasks;
    w->count++;
    w->in_hand += h.ntasks;
  }
  return 0;
}

/* Runs one task from the current batch, appending its result to the next request. */
static int run_one(worker *w) {
  batch_slot *s = &w->slots[w->first];
  so_task_rec rec;
  const void *data;
  if (so__proto_tasks_next(&s->rd, &rec, &data))
    return SO_EPROTO;
  size_t off;
  int rc = so__proto_req_result_begin(&w->req, rec.id, &off);
  if (rc)
    return rc;
  so_task task = {.id = rec.id, .type = rec.type, .data = data, .len = rec.len};
  so_result res = {.buf = &w->req};
  int status = w->job->run(&w->ctx, &task, &res);
  if (res.failed)
    return SO_ENOMEM;
  so__proto_req_result_end(&w->req, off, status);
  w->nresults++;
  w->tasks++;
  if (status)
    w->failed++;
  w->in_hand--;
  if (--s->left == 0) {
    if (so__proto_done(&s->rd))
      return SO_EPROTO;
    w->first = (w->first + 1) % w->cap;
    w->count--;
  }
  return 0;
}

/* Runs tasks until the hand is empty or it is time to look at the mailbox. Timing a run of
 * tasks rather than each one keeps the clock off the path of tiny tasks. */
static int run_some(worker *w) {
  uint32_t budget = w->outstanding ? w->low / 4 + 1 : UINT32_MAX;
  uint64_t t0 = mono_ns();
  int rc = 0;
  while (w->in_hand > 0 && budget-- > 0) {
    if ((rc = run_one(w)) != 0)
      break;
    if (!w->outstanding && !w->starved && w->in_hand <= w->low)
      break; /* time to ask for more while the rest is still in hand */
  }
  uint64_t dt = mono_ns() - t0;
  w->busy_ns += dt;
  w->busy_total += dt;
  return rc;
}

static int loop(worker *w) {
  for (;;) {
    if (w->stopping && (w->abort || w->in_hand == 0))
      return 0;
    if (!w->outstanding && !w->stopping && (w->in_hand == 0 || (!w->starved && w->in_hand <= w->low))) {
      int rc = send_request(w);
      if (rc)
        return rc;
    }
    so_msg msg;
    if (w->in_hand == 0 || w->outstanding) {
      int got = so__recv(w->t, &msg, w->in_hand == 0);
      if (got < 0)
        return got;
      if (got) {
        int rc = on_message(w, &msg);
        if (rc)
          return rc;
        continue;
      }
    }
    int rc = run_some(w);
    if (rc)
      return rc;
  }
}

/* After a failure: tell the master, then wait for its STOP so no message is left in flight. */
static void fail_and_wait(worker *w) {
  char note = 0;
  if (!w->stopping && so__send(w->t, 0, SO_TAG_FAIL, &note, 1) == 0) {
    so_msg msg;
    while (!w->stopping && so__recv(w->t, &msg, 1) == 1)
      if (msg.tag == SO_TAG_STOP)
        w->stopping = 1;
  }
}

int so__worker_run(so_transport *t, const so_job *job, const so_params *params,
                   const so_config *cfg, const so_worker_info *info) {
  (void)cfg;
  worker w;
  memset(&w, 0, sizeof w);
  w.t = t;
  w.job = job;
  so__ctx_init(&w.ctx, job, params, SO_ROLE_WORKER, t->rank, t->size - 1);
  int rc = so__proto_req_begin(&w.req);
  int ready = 0;
  if (rc == 0 && job->init && (rc = job->init(&w.ctx)) != 0)
    rc = so__ctx_fail(&w.ctx, "init", rc);
  else if (rc == 0)
    ready = 1;
  if (rc == 0) {
    rc = loop(&w);
    if (rc == SO_EPROTO)
      so__errorf("rank %d received a malformed message from the master", t->rank);
    else if (rc == SO_ENOMEM)
      so__errorf("rank %d ran out of memory", t->rank);
  }
  if (rc)
    fail_and_wait(&w);

  so_final_msg fin;
  memset(&fin, 0, sizeof fin);
  fin.tasks = w.tasks;
  fin.failed = w.failed;
  fin.busy_ns = w.busy_total;
  fin.last_pu = fin.last_core = -1;
  if (info) {
    if (info->where)
      info->where(info->where_arg, &fin.last_pu, &fin.last_core);
    memcpy(fin.host, info->host, sizeof fin.host);
    memcpy(fin.cpuset, info->cpuset, sizeof fin.cpuset);
    memcpy(fin.bound_by, info->bound_by, sizeof fin.bound_by);
  }
  int frc = so__send(t, 0, SO_TAG_FINAL, &fin, sizeof fin);
  if (!rc)
    rc = frc;
  if (ready && job->fini)
    job->fini(&w.ctx);
  for (int i = 0; i < w.cap; i++)
    so__buf_free(&w.slots[i].msg);
  free(w.slots);
  so__buf_free(&w.req);
  return rc;
}

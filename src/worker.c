/* The worker: keeps batches in hand, asks for more before it runs dry, runs tasks one at a time
 * (run), in a pool of threads (run with --threads), or several at once (start/progress), and
 * sends results back on its next request. */
#include "worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx.h"
#include "error.h"
#include "proto.h"
#include "signals.h"
#include "taskpool.h"

typedef struct batch_slot {
  so__buf msg;    /* a copy of the TASKS message: recv reuses its own buffer */
  so__reader rd;
  uint32_t left; /* tasks not yet started */
} batch_slot;

typedef struct worker {
  so__transport *t;
  const so_job *job;
  so_ctx ctx;
  int async;          /* the job uses start/progress */
  batch_slot *slots;  /* a ring of received batches; grows when an answer brings many */
  int cap, first, count;
  uint64_t in_hand;   /* tasks received and not yet done (started ones included) */
  uint64_t unstarted; /* of those, not started */
  unsigned started;   /* asynchronous tasks running */
  uint32_t low;       /* ask again at this many or fewer */
  int outstanding;    /* a request is on its way or waiting for (the rest of) its answer */
  uint32_t awaiting;  /* messages of the current answer still to come */
  int starved;        /* the last answer was empty: wait until dry before asking again */
  int stopping;       /* STOP arrived */
  int abort;          /* the STOP said the run failed */
  int halt;           /* HALT arrived: SO_HALT_SOON or SO_HALT_NOW */
  so__buf req;         /* the next REQUEST, results accumulating in it */
  uint32_t nresults;
  uint64_t busy_ns;   /* time in run() for the results in req */
  so__buf out;         /* the next OUTPUT message */
  so__taskpool *pool;  /* --threads T > 1 with run(): the threads running tasks; NULL otherwise */
  uint64_t tasks, failed, busy_total;
  unsigned notes;     /* failed tasks whose reason went to the master (TASKERR) */
} worker;

/* A worker tells the master why its first few failed tasks failed; the master prints the first
 * few of the whole run and counts the rest, so a run of many failures sends little. */
#define SO_NOTES_PER_WORKER 3

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int send_output(worker *w) {
  if (w->out.len == 0)
    return 0;
  int rc = so__send(w->t, 0, SO_TAG_OUTPUT, w->out.data, w->out.len);
  so__buf_clear(&w->out);
  return rc;
}

/* Sends the output written so far: the main thread's own, then the pool's threads'. */
static int flush_output(worker *w) {
  int rc = send_output(w);
  if (!rc && w->pool) {
    so__taskpool_take_output(w->pool, &w->out);
    rc = send_output(w);
  }
  return rc;
}

static int send_request(worker *w) {
  /* Output first: it then reaches the master before the results of the same tasks. */
  int rc = flush_output(w);
  if (rc)
    return rc;
  uint32_t want = w->stopping || w->halt ? 0 : UINT32_MAX;
  so__proto_req_finish(&w->req, w->nresults, want, w->in_hand, w->busy_ns);
  rc = so__send(w->t, 0, SO_TAG_REQUEST, w->req.data, w->req.len);
  if (rc)
    return rc;
  w->outstanding = want != 0;
  w->nresults = 0;
  w->busy_ns = 0;
  return so__proto_req_begin(&w->req);
}

/* Appends one result to the next request. */
static int add_result(worker *w, uint64_t id, int32_t status, const void *data, size_t len) {
  size_t off;
  int rc = so__proto_req_result_begin(&w->req, id, &off);
  if (!rc)
    rc = so__buf_append(&w->req, data, len);
  if (rc)
    return rc;
  so__proto_req_result_end(&w->req, off, status);
  w->nresults++;
  w->in_hand--;
  if (status != SO_STATUS_UNRUN) {
    w->tasks++;
    if (status)
      w->failed++;
  }
  return 0;
}

/* Takes the next unstarted task out of the batches. Returns 1, 0 when none, or an error. */
static int next_task(worker *w, so_task *task) {
  if (w->unstarted == 0)
    return 0;
  batch_slot *s = &w->slots[w->first];
  so__task_rec rec;
  const void *data;
  if (so__proto_tasks_next(&s->rd, &rec, &data))
    return SO_EPROTO;
  *task = (so_task){.id = rec.id, .type = rec.type, .data = data, .len = rec.len};
  w->unstarted--;
  return 1;
}

/* Releases the current batch once every task in it has started (run() uses the data in place,
 * so this is called after the task ran). */
static int batch_advance(worker *w) {
  batch_slot *s = &w->slots[w->first];
  if (--s->left)
    return 0;
  if (so__proto_done(&s->rd))
    return SO_EPROTO;
  w->first = (w->first + 1) % w->cap;
  w->count--;
  return 0;
}

/* Gives back every task not started, unrun, because the run is halting. */
static int give_back_unstarted(worker *w) {
  so_task task;
  int r;
  while ((r = next_task(w, &task)) == 1) {
    int rc = add_result(w, task.id, SO_STATUS_UNRUN, NULL, 0);
    if (!rc)
      rc = batch_advance(w);
    if (rc)
      return rc;
  }
  return r;
}

static int on_halt(worker *w, int how) {
  if (how > w->halt)
    w->halt = how;
  __atomic_store_n(&w->ctx.halting, 1, __ATOMIC_RELAXED);
  if (w->pool)
    so__taskpool_halting(w->pool); /* tasks in threads run on: nothing interrupts run() */
  int rc = give_back_unstarted(w);
  if (!rc && how == SO_HALT_NOW && w->async && w->job->cancel && w->started)
    w->job->cancel(&w->ctx);
  return rc;
}

static int on_message(worker *w, const so__msg *msg) {
  if (msg->src != 0)
    return SO_EPROTO;
  if (msg->tag == SO_TAG_STOP) {
    so__stop_msg s;
    if (so__proto_fixed(msg->data, msg->len, &s, sizeof s))
      return SO_EPROTO;
    w->stopping = 1;
    w->abort = s.abort != 0;
    w->outstanding = 0;
    return 0;
  }
  if (msg->tag == SO_TAG_NOTICE) {
    if (so__proto_notice_read(msg->data, msg->len))
      return SO_EPROTO;
    int rc = w->job->notice ? w->job->notice(&w->ctx, msg->data, msg->len) : 0;
    return rc < 0 ? rc : 0;
  }
  if (msg->tag == SO_TAG_HALT) {
    int32_t how;
    if (so__proto_halt_read(msg->data, msg->len, &how))
      return SO_EPROTO;
    return on_halt(w, how);
  }
  if (msg->tag == SO_TAG_MORE) {
    if (so__proto_more_read(msg->data, msg->len))
      return SO_EPROTO;
    w->starved = 0; /* the next loop asks, if it still has room */
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
  so__tasks_hdr h;
  if (so__proto_tasks_open(&s->rd, s->msg.data, s->msg.len, &h))
    return SO_EPROTO;
  /* The request stays open until all its messages arrived, in whatever order. */
  if (w->awaiting == 0)
    w->awaiting = h.parts ? h.parts : 1;
  w->awaiting--;
  w->outstanding = w->awaiting > 0;
  w->low = h.low;
  w->starved = h.ntasks == 0;
  if (h.ntasks) {
    s->left = h.ntasks;
    w->count++;
    w->in_hand += h.ntasks;
    w->unstarted += h.ntasks;
    /* A batch that crossed a HALT on the way is given back at once. */
    if (w->halt)
      return give_back_unstarted(w);
  }
  return 0;
}

/* Sends the master the reason for a failed task (error: the text the job gave so_ctx_errorf,
 * if any), for the worker's first few failures. Returns 0 or an SO_E* code. */
static int note_failure(worker *w, uint64_t id, int32_t status, const char *error) {
  int rc = 0;
  if (w->notes < SO_NOTES_PER_WORKER) {
    w->notes++;
    unsigned char msg[sizeof(so__taskerr_rec) + SO_NOTE_MAX];
    size_t len = so__proto_taskerr_build(msg, id, status, error);
    rc = so__send(w->t, 0, SO_TAG_TASKERR, msg, len);
  }
  return rc;
}

/* Runs tasks with run() until the hand is empty or it is time to look at the mailbox. Timing a
 * run of tasks rather than each one keeps the clock off the path of tiny tasks. */
static int run_some(worker *w) {
  uint32_t budget = w->outstanding ? w->low / 4 + 1 : UINT32_MAX;
  uint64_t t0 = mono_ns();
  int rc = 0;
  while (w->unstarted > 0 && budget-- > 0) {
    if (so__signals_orphaned())
      break; /* the loop gives the rest back */
    so_task task;
    if ((rc = next_task(w, &task)) < 0)
      break;
    size_t off;
    if ((rc = so__proto_req_result_begin(&w->req, task.id, &off)) != 0)
      break;
    so_result res = {.buf = &w->req};
    if (w->ctx.error[0])
      w->ctx.error[0] = 0; /* left by a task that succeeded all the same */
    so__run_fn fn = so__task_runner(w->job, task.type);
    int status = SO_EINVAL;
    if (fn)
      status = fn(&w->ctx, &task, &res);
    else
      so_ctx_errorf(&w->ctx, "task %llu has type %u, which job '%s' does not have",
                    (unsigned long long)task.id, (unsigned)task.type, w->job->name);
    if (res.failed) {
      rc = SO_ENOMEM;
      break;
    }
    so__proto_req_result_end(&w->req, off, status);
    w->nresults++;
    w->tasks++;
    w->in_hand--;
    if (status != 0) {
      w->failed++;
      rc = note_failure(w, task.id, status, w->ctx.error);
      w->ctx.error[0] = 0; /* never taken for a later task's */
      if (rc)
        break;
    }
    if ((rc = batch_advance(w)) != 0)
      break;
    if (!w->outstanding && !w->starved && w->in_hand <= w->low)
      break; /* time to ask for more while the rest is still in hand */
  }
  uint64_t dt = mono_ns() - t0;
  w->busy_ns += dt;
  w->busy_total += dt;
  return rc;
}

/* Asynchronous jobs: start tasks into free slots, then let the started ones progress. */
static int run_async(worker *w, int timeout_ms) {
  unsigned slots = w->ctx.slots ? w->ctx.slots : 1;
  int rc = 0;
  while (w->started < slots && !w->halt && !so__signals_orphaned()) {
    so_task task;
    int r = next_task(w, &task);
    if (r <= 0) {
      rc = r;
      break;
    }
    if ((rc = w->job->start(&w->ctx, &task)) != 0) {
      rc = so__ctx_fail(&w->ctx, "start", rc);
      break;
    }
    w->started++;
    if ((rc = batch_advance(w)) != 0)
      break;
    timeout_ms = 0;
  }
  if (rc || w->started == 0)
    return rc;
  uint64_t t0 = mono_ns();
  int n = w->job->progress(&w->ctx, timeout_ms);
  /* Busy time of asynchronous tasks is their wall time in the slots, summed. */
  uint64_t dt = (mono_ns() - t0) * (uint64_t)w->started;
  w->busy_ns += dt;
  w->busy_total += dt;
  if (n < 0)
    return so__ctx_fail(&w->ctx, "progress", n);
  return flush_output(w);
}

static int task_done_hook(void *engine, uint64_t id, int32_t status, const void *data, size_t len) {
  worker *w = engine;
  if (w->started == 0)
    return SO_EINVAL;
  w->started--;
  return add_result(w, id, status, data, len);
}

static int send_output_cb(void *arg) { return send_output(arg); }

/* so_ctx_output on the worker's main thread (tasks in the pool's threads have their own). */
static int output_hook(void *engine, uint64_t task, int stream, const void *data, size_t len,
                       int partial) {
  worker *w = engine;
  return so__proto_output_put(&w->out, task, stream, data, len, partial, send_output_cb, w);
}

static int loop(worker *w) {
  int idle_ms = 0;
  for (;;) {
    if (w->stopping && (w->abort || (w->in_hand == 0 && w->started == 0)))
      return 0;
    if (w->halt < SO_HALT_SOON && so__signals_orphaned()) {
      /* The process that started the run is gone: start nothing more, as if halted (the
       * master, which hears of it too, halts the run). */
      int rc = on_halt(w, SO_HALT_SOON);
      if (rc)
        return rc;
    }
    unsigned slots = w->ctx.slots ? w->ctx.slots : 1;
    /* An asynchronous worker also asks for more while its slots are not all filled. */
    uint64_t low = w->async && slots - 1 > w->low ? slots - 1 : w->low;
    int dry = w->in_hand == 0;
    if (!w->outstanding && !w->stopping &&
        (dry || (!w->starved && !w->halt && w->in_hand <= low))) {
      int rc = send_request(w);
      if (rc)
        return rc;
    }
    int blocked = dry || (w->async && w->unstarted == 0 && w->started == 0);
    if (blocked || w->outstanding || w->async) {
      /* Dry: wait for the master. Asynchronous with tasks running: only look, the job's
       * progress() below does the waiting. */
      so__msg msg;
      int got = so__recv(w->t, &msg, blocked && !w->started ? -1 : 0);
      if (got < 0)
        return got;
      if (got) {
        int rc = on_message(w, &msg);
        if (rc)
          return rc;
        idle_ms = 0;
        continue;
      }
      if (blocked && !w->started)
        continue;
    }
    if (w->async) {
      /* Tasks that wait (commands) are checked every few milliseconds at most, so the master's
       * messages are seen promptly while the worker mostly sleeps. */
      uint64_t before = w->in_hand;
      int rc = run_async(w, idle_ms);
      if (rc)
        return rc;
      idle_ms = w->in_hand != before ? 0 : (idle_ms ? (idle_ms < 10 ? idle_ms * 2 : 10) : 1);
    } else {
      int rc = run_some(w);
      if (rc)
        return rc;
    }
  }
}

/* --- Tasks in a pool of threads (--threads T > 1 with run()) --- */

/* One task a thread finished: its result joins the next request. Busy time counts each task's
 * own time for the report; the master's batch statistics get it divided by the threads, the
 * time a task costs this worker when all its threads are busy, so batches and the low-water
 * mark are sized to what the worker gets through (for CPU-bound tasks sharing one core as for
 * tasks that wait). */
static int collect_one(void *arg, const so__taskpool_done *d) {
  worker *w = arg;
  if (d->nomem)
    return SO_ENOMEM;
  int rc = add_result(w, d->id, d->status, d->data, d->len);
  if (rc)
    return rc;
  w->busy_ns += d->ns / w->ctx.slots;
  w->busy_total += d->ns;
  return d->status ? note_failure(w, d->id, d->status, d->error) : 0;
}

/*
 * The main thread's loop while threads run the tasks: it alone talks to the master. Each turn it
 * collects finished tasks, hands held tasks to idle threads, asks for more while it holds no
 * more than the low-water mark beyond one task per thread (so no thread idles while the master
 * has work), sends output a thread waits on, and looks at the mailbox. With nothing to do it
 * waits for a thread to finish, looking at the mailbox every millisecond at most; with nothing
 * held at all it waits for the master alone.
 */
static int loop_threads(worker *w) {
  const uint64_t threads = w->ctx.slots;
  long pause_us = 0;
  for (;;) {
    int rc = so__taskpool_collect(w->pool, collect_one, w);
    if (rc < 0)
      return rc;
    int moved = rc > 0;
    if (w->stopping && (w->abort || w->in_hand == 0))
      return 0;
    if (w->halt < SO_HALT_SOON && so__signals_orphaned() && (rc = on_halt(w, SO_HALT_SOON)) != 0)
      return rc;
    while (!w->halt && w->unstarted > 0 && so__taskpool_idle(w->pool) > 0) {
      so_task task;
      if ((rc = next_task(w, &task)) < 0 || (rc = so__taskpool_start(w->pool, &task, w->ctx.state)) != 0 ||
          (rc = batch_advance(w)) != 0)
        return rc;
      moved = 1;
    }
    /* After an empty answer (starved) it asks again only with results to report, not at once:
     * the master had nothing, but a task made from those results may be ready then. */
    int dry = w->in_hand == 0;
    if (!w->outstanding && !w->stopping &&
        (dry || (!w->halt && w->in_hand <= w->low + threads - 1 &&
                 (!w->starved || w->nresults > 0)))) {
      if ((rc = send_request(w)) != 0)
        return rc;
      moved = 1;
    }
    if (so__taskpool_output_wanted(w->pool) && (rc = flush_output(w)) != 0)
      return rc;
    so__msg msg;
    int got = so__recv(w->t, &msg, dry ? -1 : 0);
    if (got < 0)
      return got;
    if (got) {
      if ((rc = on_message(w, &msg)) != 0)
        return rc;
      moved = 1;
    }
    if (moved) {
      pause_us = 0;
      continue;
    }
    pause_us = pause_us ? (pause_us < 1000 ? pause_us * 2 : 1000) : 20;
    so__taskpool_wait(w->pool, pause_us);
  }
}

/* After a failure: tell the master, then wait for its STOP so no message is left in flight. */
/* Tells the master this worker cannot go on, with the job's message when it has not printed it
 * (msg is then non-empty: the master prints the first such message of the run and counts the
 * others), and waits for STOP. */
static void fail_and_wait(worker *w, int code, const char *msg) {
  unsigned char buf[sizeof(so__fail_msg) + SO_NOTE_MAX];
  size_t len = so__proto_fail_build(buf, code, msg);
  if (w->stopping) {
    if (msg[0])
      so__errorf("%s", msg);
    return;
  }
  if (so__send(w->t, 0, SO_TAG_FAIL, buf, len) != 0) {
    if (msg[0])
      so__errorf("%s", msg); /* the master cannot hear it: say it here */
  } else {
    so__msg in;
    while (!w->stopping && so__recv(w->t, &in, -1) == 1)
      if (in.tag == SO_TAG_STOP)
        w->stopping = 1;
  }
}

int so__worker_run(so__transport *t, const so_job *job, const so_params *params,
                   const so_config *cfg, const so__worker_info *info) {
  worker w;
  memset(&w, 0, sizeof w);
  w.t = t;
  w.job = job;
  w.async = job->start && job->progress;
  so__ctx_init(&w.ctx, job, params, SO_ROLE_WORKER, t->rank, t->size - 1);
  w.ctx.slots = cfg->slots ? cfg->slots : 1;
  w.ctx.quiet = cfg->quiet;
  w.ctx.engine = &w;
  w.ctx.task_done = task_done_hook;
  w.ctx.output = output_hook;
  if (cfg->grace >= 0) {
    /* The master coordinates a signalled stop; a worker lives until it is told to stop. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
  }
  int rc = so__proto_req_begin(&w.req);
  int ready = 0;
  char msg[SO_NOTE_MAX] = "";
  if (rc == 0 && !w.async && !job->run && !job->types) {
    so__errorf("job '%s' has neither run nor start/progress", job->name);
    rc = SO_EINVAL;
  } else if (rc == 0 && job->init && (rc = job->init(&w.ctx)) != 0) {
    /* Every worker may fail the same way (an unwritable path): the master says it once. */
    rc = so__ctx_failmsg(&w.ctx, "init", rc, msg, sizeof msg);
  } else if (rc == 0) {
    ready = 1;
    /* Tasks in threads, each with its own copy of the context as init() left it. */
    if (!w.async && w.ctx.slots > 1)
      rc = so__taskpool_new(&w.pool, w.ctx.slots, &w.ctx);
  }
  if (rc == 0) {
    rc = w.pool ? loop_threads(&w) : loop(&w);
    if (rc == SO_EPROTO)
      so__errorf("rank %d received a malformed message from the master", t->rank);
    else if (rc == SO_ENOMEM)
      so__errorf("rank %d ran out of memory", t->rank);
  }
  if (rc)
    fail_and_wait(&w, msg[0] && rc == SO_EINVAL ? SO_EINVAL : SO_EJOB, msg);

  so__final_msg fin;
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
  if (!rc)
    rc = flush_output(&w);
  int frc = so__send(t, 0, SO_TAG_FINAL, &fin, sizeof fin);
  if (!rc)
    rc = frc;
  /* Tasks still running (an aborted run) end first: fini() frees what they use. */
  so__taskpool_free(w.pool);
  if (ready && job->fini)
    job->fini(&w.ctx);
  for (int i = 0; i < w.cap; i++)
    so__buf_free(&w.slots[i].msg);
  free(w.slots);
  so__buf_free(&w.req);
  so__buf_free(&w.out);
  return rc;
}

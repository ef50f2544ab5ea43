/* The master: generates tasks lazily into the queue, answers worker requests with batches sized
 * by batch.c, merges results as they ride back, and ends the run cleanly. */
#include "master.h"

#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "clock.h"
#include "ctx.h"
#include "error.h"
#include "inflight.h"
#include "outsink.h"
#include "proto.h"
#include "queue.h"
#include "signals.h"

#define SO_DEFAULT_WINDOW 4096
#define SO_MAX_PARTS 128 /* messages in one answer at most */
/* After the grace, results already on their way get this long before workers still inside run()
 * are given up on. */
#define SO_ABANDON_SLACK_S 0.25
/* How often a source that had nothing ready (SO_NEXT_LATER) is asked again while a worker waits
 * for work: a line arriving on a pipe starts within this. Each wait restarts the transport's
 * sleeping ramp (2 us doubling to 1 ms), so a shorter one costs CPU: waiting on an idle pipe, the
 * master took 20% of a core at 2 ms, 6-8% at 10 ms (3% while commands of a file run). */
#define SO_SOURCE_POLL_MS 10

typedef struct worker_state {
  int parked;           /* its request waits for work */
  int starved;          /* its request was answered empty while it held tasks, because the
                           source had nothing ready: it asks again only once told (MORE) */
  int asking;           /* a request of its is being answered (an error now must still stop it) */
  int stopped;          /* STOP has been sent */
  int final;            /* FINAL has arrived */
  uint64_t outstanding; /* tasks handed to it and not yet reported */
  uint64_t tasks, failed;
  so__final_msg fin;
} worker_state;

struct so__master {
  so__transport *t;
  const so_job *job;
  const so_config *cfg;
  so_ctx ctx;
  int ctx_ready; /* job init succeeded, so fini is owed */
  so__queue queue;
  so__batch batch;
  so__buf out;   /* the message being built */
  so__buf parts[SO_MAX_PARTS]; /* the messages of one answer */
  so__buf data;  /* the payload of the task being generated */
  uint32_t window;
  uint64_t next_id;     /* tasks generated so far */
  int gen_done;         /* next() said there are no more */
  int gen_later;        /* next() said SO_NEXT_LATER at its last call */
  int nparked, nstarved; /* workers parked, workers starved (see worker_state) */
  uint64_t outstanding; /* handed out, not yet merged */
  int holding;          /* workers with tasks handed out and not yet reported */
  uint64_t done, failed, messages;
  int aborting;
  int complete;
  int rc;
  int nworkers;
  int nfinal;
  worker_state *w; /* indexed by rank; entry 0 unused */
  int keep;              /* keep payloads of tasks in flight (retries or keep_tasks) */
  so__inflight flights;   /* tasks in flight, when keep */
  so__retry_list retries; /* failed tasks waiting for another run */
  int halt;              /* SO_HALT_SOON / SO_HALT_NOW once the run is halting */
  int stopped;           /* what the report says: 0, SO_HALT_*, SO_STOPPED_SIGNAL */
  int signal;            /* the stop signal caught */
  double halt_deadline;  /* a signalled stop turns into SO_HALT_NOW at this time */
  int orphaned;          /* the process that started the run is gone */
  int abandoned;         /* workers left inside run() after the grace */
  unsigned notes_shown;  /* failed tasks whose reason was printed (TASKERR) */
  int fail_shown;        /* a worker's FAIL message was printed */
  unsigned fails_hidden; /* workers whose FAIL message was not printed (only counted) */
  so__outsink sink;
};
typedef struct so__master master;

/* Marks rank parked or not, keeping the count the source polling looks at. */
static void set_parked(master *m, int rank, int on) {
  m->nparked += on - m->w[rank].parked;
  m->w[rank].parked = on;
}

static void set_starved(master *m, int rank, int on) {
  m->nstarved += on - m->w[rank].starved;
  m->w[rank].starved = on;
}

static int send_stop(master *m, int rank) {
  so__stop_msg s = {.abort = m->aborting};
  m->w[rank].stopped = 1;
  set_parked(m, rank, 0);
  set_starved(m, rank, 0);
  return so__send(m->t, rank, SO_TAG_STOP, &s, sizeof s);
}

/* Enters the aborting state: every worker is told to stop at its next word, parked ones now. */
static void abort_run(master *m, int rc) {
  if (m->aborting)
    return;
  m->aborting = 1;
  if (!m->rc)
    m->rc = rc;
  for (int r = 1; r <= m->nworkers; r++)
    if ((m->w[r].parked || m->w[r].asking) && !m->w[r].stopped)
      send_stop(m, r);
}

/* Asks the job for one more task. Returns 1 with the task in *t and its payload in m->data,
 * 0 when there are no more, or an error. */
static int generate(master *m, so_task_out *t) {
  if (m->gen_done)
    return 0;
  memset(t, 0, sizeof *t);
  t->id = m->next_id;
  so__buf_clear(&m->data);
  int r = m->job->next(&m->ctx, t);
  if (r < 0)
    return so__ctx_fail(&m->ctx, "next", r);
  m->gen_later = r == SO_NEXT_LATER;
  if (r == SO_NEXT_LATER)
    return 0; /* nothing now; poll_source asks again */
  if (r == 0) {
    m->gen_done = 1;
    return 0;
  }
  if (m->data.len > UINT32_MAX) {
    so__errorf("job '%s': task %llu has a payload over 4 GiB", m->job->name,
               (unsigned long long)t->id);
    return SO_EJOB;
  }
  m->next_id++;
  return 1;
}

/* Keeps up to window tasks generated ahead, for the disciplines that choose among them. */
static int top_up(master *m) {
  while (so__queue_len(&m->queue) < m->window && !m->gen_done) {
    so_task_out t;
    int r = generate(m, &t);
    if (r <= 0)
      return r;
    r = so__queue_push(&m->queue, t.id, t.type, t.priority, m->data.data, (uint32_t)m->data.len);
    if (r)
      return r;
  }
  return 0;
}

static uint64_t remaining(const master *m) {
  if (!m->ctx.has_total)
    return UINT64_MAX;
  uint64_t left = m->ctx.total > m->next_id ? m->ctx.total - m->next_id : 0;
  return left + so__queue_len(&m->queue);
}

/* Remembers a task handed to rank, when payloads are kept. */
static int remember(master *m, int rank, uint64_t id, uint32_t type, const void *data, uint32_t len,
                    uint32_t attempts) {
  if (!m->keep)
    return 0;
  so__flight f = {.id = id, .type = type, .attempts = attempts, .worker = rank, .len = len};
  if (len && !(f.data = malloc(len)))
    return SO_ENOMEM;
  if (len)
    memcpy(f.data, data, len);
  int rc = so__inflight_put(&m->flights, &f);
  free(f.data);
  return rc;
}

/* Builds a batch of up to size tasks for rank into out: reruns first (on a worker other than
 * the one that failed them, when there is another), then the queue, then fresh tasks.
 * Returns the count or an error. */
static int64_t fill_batch(master *m, int rank, uint32_t size, so__buf *out) {
  int rc = so__proto_tasks_begin(out);
  if (rc)
    return rc;
  uint32_t n = 0;
  while (n < size && !m->halt) {
    so__flight f;
    so__qtask q;
    if (m->retries.n && so__retry_pop(&m->retries, rank, m->nworkers > 1, &f)) {
      rc = so__proto_tasks_add(out, f.id, f.type, f.data, f.len);
      f.worker = rank;
      f.attempts++;
      if (!rc)
        rc = so__inflight_put(&m->flights, &f);
      free(f.data);
    } else {
      if (m->cfg->discipline != SO_QUEUE_FIFO && (rc = top_up(m)) < 0)
        return rc;
      if (so__queue_pop(&m->queue, &q)) {
        rc = so__proto_tasks_add(out, q.id, q.type, so__qtask_data(&q), q.len);
        if (!rc)
          rc = remember(m, rank, q.id, q.type, so__qtask_data(&q), q.len, 1);
        so__qtask_release(&q);
      } else {
        /* fifo with nothing queued: generate straight into the message, no queue copy. */
        so_task_out t;
        int r = generate(m, &t);
        if (r < 0)
          return r;
        if (r == 0)
          break;
        rc = so__proto_tasks_add(out, t.id, t.type, m->data.data, (uint32_t)m->data.len);
        if (!rc)
          rc = remember(m, rank, t.id, t.type, m->data.data, (uint32_t)m->data.len, 1);
      }
    }
    if (rc)
      return rc;
    n++;
  }
  if (n && m->w[rank].outstanding == 0)
    m->holding++;
  m->outstanding += n;
  m->w[rank].outstanding += n;
  return n;
}

static int check_complete(master *m) {
  if (m->complete || m->aborting || m->outstanding || m->retries.n)
    return 0;
  if (!m->halt && (!m->gen_done || so__queue_len(&m->queue)))
    return 0;
  m->complete = 1;
  for (int r = 1; r <= m->nworkers; r++)
    if (m->w[r].parked && !m->w[r].stopped) {
      int rc = send_stop(m, r);
      if (rc)
        return rc;
    }
  return 0;
}

/* Answers one worker's request: batches, an empty batch, parking, or STOP.
 *
 * The worker is to hold up to size + low tasks: it asked with in_hand of them left, so the answer
 * refills it with as many messages of size tasks as fit. Usually that is one message; with a
 * fixed small batch (--batch 1) and a deeper hand it is several, so that many tasks are on their
 * way at once and the worker does not wait a round trip per message. */
static int serve(master *m, int rank, uint32_t want, uint64_t in_hand) {
  worker_state *w = &m->w[rank];
  if (m->aborting || m->complete)
    return send_stop(m, rank);
  if (want == 0 || m->halt) {
    /* A halting worker reports its last results and waits for the end. */
    if (in_hand == 0) {
      set_parked(m, rank, 1);
      return check_complete(m);
    }
    if (want == 0)
      return 0;
    /* It asked before it heard of the halt: an empty answer closes its request. */
    int rc = so__proto_tasks_begin(&m->out);
    if (rc)
      return rc;
    so__proto_tasks_finish(&m->out, 0, 0);
    m->messages++;
    return so__send(m->t, rank, SO_TAG_TASKS, m->out.data, m->out.len);
  }
  uint64_t left = remaining(m);
  uint32_t size = so__batch_size(&m->batch, left);
  if (size > want)
    size = want;
  /* The other workers that hold nothing: each will want a task of this answer's. */
  int idle = m->nworkers - m->holding - (w->outstanding == 0);
  uint32_t low = so__batch_low(&m->batch, size, left, idle);
  /* Tasks that wait (commands) are not held in advance until their length is known: a halt or a
   * signal then finds no task started after it was decided. */
  if (m->job->start && m->batch.mean_ns < 0)
    low = 0;
  if (low == 0 && in_hand > 0 && !m->job->start) {
    /* It asked under an older mark (the tasks turned out long, or few are left) while it still
     * holds one: the task goes to a worker that runs dry first. An empty answer closes the
     * request; the worker asks again once it has nothing left. */
    int rc = so__proto_tasks_begin(&m->parts[0]);
    if (rc)
      return rc;
    so__proto_tasks_finish(&m->parts[0], 0, 0);
    m->messages++;
    return so__send(m->t, rank, SO_TAG_TASKS, m->parts[0].data, m->parts[0].len);
  }
  uint64_t hand = (uint64_t)size + low;
  uint64_t count = in_hand < hand ? (hand - in_hand) / size : 0;
  if (count < 1)
    count = 1;
  if (count > SO_MAX_PARTS)
    count = SO_MAX_PARTS;
  int64_t n = fill_batch(m, rank, size, &m->parts[0]);
  if (n < 0)
    return (int)n;
  if (n == 0) {
    /* No work now. If the worker still holds tasks it will report again; reply at once so it
     * is not left waiting on us. If it holds none, it waits here until work or the end. */
    if (in_hand > 0) {
      /* It will not ask again before it runs dry, unless told that work came (poll_source). */
      set_starved(m, rank, m->gen_later);
      so__proto_tasks_finish(&m->parts[0], 0, low);
      m->messages++;
      return so__send(m->t, rank, SO_TAG_TASKS, m->parts[0].data, m->parts[0].len);
    }
    set_parked(m, rank, 1);
    return check_complete(m);
  }
  /* Build every message first, so each can say how many there are. */
  so__proto_tasks_finish(&m->parts[0], (uint32_t)n, low);
  uint32_t built = 1;
  while (built < count) {
    int64_t k = fill_batch(m, rank, size, &m->parts[built]);
    if (k < 0)
      return (int)k;
    if (k == 0)
      break;
    so__proto_tasks_finish(&m->parts[built++], (uint32_t)k, low);
  }
  for (uint32_t i = 0; i < built; i++) {
    so__proto_tasks_set_parts(&m->parts[i], built);
    m->messages++;
    int rc = so__send(m->t, rank, SO_TAG_TASKS, m->parts[i].data, m->parts[i].len);
    if (rc)
      return rc;
  }
  return 0;
}

/* Work appeared (a task to rerun) while workers wait parked: hand it to them. */
static int wake_parked(master *m) {
  for (int r = 1; r <= m->nworkers && m->retries.n; r++)
    if (m->w[r].parked && !m->w[r].stopped) {
      set_parked(m, r, 0);
      int rc = serve(m, r, UINT32_MAX, 0);
      if (rc)
        return rc;
    }
  return 0;
}

/* The source had nothing ready (SO_NEXT_LATER) and workers wait: asks it again, and hands what
 * comes to the parked workers; a starved worker, which holds running tasks and so cannot be
 * answered unasked, is told to ask (MORE) while a task waits in the queue for it. */
static int poll_source(master *m) {
  while (!m->gen_done && !m->halt && !m->aborting && !m->complete &&
         (m->nparked || m->nstarved)) {
    if (so__queue_len(&m->queue) == 0) {
      so_task_out t;
      int r = generate(m, &t);
      if (r < 0)
        return r;
      if (r == 0)
        break; /* still nothing, or the end (check_complete below) */
      r = so__queue_push(&m->queue, t.id, t.type, t.priority, m->data.data, (uint32_t)m->data.len);
      if (r)
        return r;
    }
    int r = 1;
    while (r <= m->nworkers && !(m->w[r].parked && !m->w[r].stopped))
      r++;
    if (r <= m->nworkers) {
      set_parked(m, r, 0);
      int rc = serve(m, r, UINT32_MAX, 0); /* takes the queued task, and more if there are */
      if (rc)
        return rc;
      continue;
    }
    for (r = 1; r <= m->nworkers; r++)
      if (m->w[r].starved && !m->w[r].stopped) {
        set_starved(m, r, 0);
        char note = 0;
        int rc = so__send(m->t, r, SO_TAG_MORE, &note, 1);
        if (rc)
          return rc;
      }
    break; /* the queued task goes to whoever asks first */
  }
  return check_complete(m);
}

static int on_request(master *m, const so__msg *msg) {
  so__reader rd;
  so__req_hdr h;
  worker_state *w = &m->w[msg->src];
  if (so__proto_req_open(&rd, msg->data, msg->len, &h))
    return SO_EPROTO;
  set_starved(m, msg->src, 0); /* it asks again by itself */
  for (uint32_t i = 0; i < h.nresults; i++) {
    so__result_rec rec;
    const void *data;
    if (so__proto_req_next(&rd, &rec, &data))
      return SO_EPROTO;
    if (w->outstanding == 0)
      return SO_EPROTO; /* a result for a task this worker was never given */
    if (--w->outstanding == 0)
      m->holding--;
    m->outstanding--;
    so__flight f = {.id = rec.id, .attempts = 1, .worker = msg->src};
    int kept = m->keep && so__inflight_take(&m->flights, rec.id, &f);
    if (rec.status == SO_STATUS_UNRUN) {
      /* Given back unrun by a halting worker: neither done nor failed, never merged. */
      free(f.data);
      continue;
    }
    if (rec.status != 0 && kept && f.attempts <= m->cfg->retries && !m->halt && !m->aborting) {
      /* Another run, preferably elsewhere: this worker is remembered as the one to avoid. */
      f.worker = msg->src;
      if (so__retry_push(&m->retries, &f)) {
        free(f.data);
        return SO_ENOMEM;
      }
      continue;
    }
    w->tasks++;
    m->done++;
    if (rec.status != 0) {
      w->failed++;
      m->failed++;
    }
    if (m->job->merge && !m->aborting) {
      so_task_result r = {.id = rec.id,
                          .status = rec.status,
                          .worker = msg->src,
                          .data = data,
                          .len = rec.len,
                          .attempts = f.attempts,
                          .type = f.type,
                          .task_data = kept ? (f.data ? f.data : (const void *)"") : NULL,
                          .task_len = f.len};
      int rc = m->job->merge(&m->ctx, &r);
      if (rc)
        abort_run(m, so__ctx_fail(&m->ctx, "merge", rc));
    }
    free(f.data);
  }
  if (so__proto_done(&rd))
    return SO_EPROTO;
  so__batch_observe(&m->batch, h.nresults, h.busy_ns);
  /* Until answered, an error must still reach this worker, which may be waiting for us. */
  w->asking = h.want > 0;
  int rc = serve(m, msg->src, h.want, h.in_hand);
  if (rc)
    abort_run(m, rc);
  w->asking = 0;
  if (!rc && m->retries.n)
    rc = wake_parked(m);
  if (rc)
    return rc;
  return check_complete(m);
}

/* The first failed tasks of the run are printed with the job's reason; the rest are counted at
 * the end (see report_hidden). */
#define SO_NOTES_SHOWN 3

static int on_taskerr(master *m, const so__msg *msg) {
  so__taskerr_rec rec;
  if (msg->len < sizeof rec)
    return SO_EPROTO;
  memcpy(&rec, msg->data, sizeof rec);
  if (rec.len != msg->len - sizeof rec || rec.len > SO_NOTE_MAX)
    return SO_EPROTO;
  if (m->notes_shown >= SO_NOTES_SHOWN)
    return 0;
  m->notes_shown++;
  const char *text = (const char *)msg->data + sizeof rec;
  if (rec.len)
    so__errorf("job '%s': task %llu failed on rank %d: %.*s", m->job->name,
               (unsigned long long)rec.id, msg->src, (int)rec.len, text);
  else
    so__errorf("job '%s': task %llu failed on rank %d (code %d)", m->job->name,
               (unsigned long long)rec.id, msg->src, (int)rec.status);
  return 0;
}

/* A worker that cannot go on: its message, if it sent one, is printed for the first such worker
 * only (they often fail alike, one line per worker says nothing more); the rest are counted. */
static int on_fail(master *m, const so__msg *msg) {
  so__fail_msg f = {SO_EJOB};
  size_t n = 0;
  if (msg->len >= sizeof f) {
    memcpy(&f, msg->data, sizeof f);
    n = msg->len - sizeof f;
  }
  if (n > SO_NOTE_MAX)
    return SO_EPROTO;
  if (n && !m->fail_shown) {
    so__errorf("%.*s", (int)n, (const char *)msg->data + sizeof f);
    m->fail_shown = 1;
  } else if (n) {
    m->fails_hidden++;
  }
  return f.code == SO_EINVAL ? SO_EINVAL : SO_EJOB;
}

/* Says how many failures were counted but not printed, once the run is over. */
static void report_hidden(const master *m) {
  if (m->fails_hidden)
    so__errorf("job '%s': %u more %s failed too (the first failure is shown above)",
               m->job->name, m->fails_hidden, m->fails_hidden == 1 ? "worker" : "workers");
  if (m->notes_shown && m->failed > m->notes_shown)
    so__errorf("job '%s': %llu more %s failed (the first %u are shown above)", m->job->name,
               (unsigned long long)(m->failed - m->notes_shown),
               m->failed - m->notes_shown == 1 ? "task" : "tasks", m->notes_shown);
}

static int on_message(master *m, const so__msg *msg) {
  if (msg->src < 1 || msg->src > m->nworkers)
    return SO_EPROTO;
  worker_state *w = &m->w[msg->src];
  switch (msg->tag) {
  case SO_TAG_REQUEST:
    if (w->final)
      return SO_EPROTO;
    if (w->stopped)
      return 0; /* it crossed our STOP (an aborted run): nothing in it matters now */
    return on_request(m, msg);
  case SO_TAG_OUTPUT:
    return so__outsink_take(&m->sink, msg->src, msg->data, msg->len);
  case SO_TAG_FAIL: {
    /* The worker now waits for STOP like a parked worker. */
    set_parked(m, msg->src, 1);
    int code = on_fail(m, msg);
    if (code == SO_EPROTO)
      return code;
    abort_run(m, code);
    return w->stopped ? 0 : send_stop(m, msg->src);
  }
  case SO_TAG_TASKERR:
    return w->final ? SO_EPROTO : on_taskerr(m, msg);
  case SO_TAG_FINAL:
    if (w->final || so__proto_fixed(msg->data, msg->len, &w->fin, sizeof w->fin))
      return SO_EPROTO;
    w->final = 1;
    m->nfinal++;
    so__outsink_flush_rank(&m->sink, msg->src);
    return 0;
  default:
    return SO_EPROTO;
  }
}

/* Starts halting (or moves from soon to now): nothing more is handed out, tasks never handed out
 * and reruns not yet started are dropped, and every worker is told. */
static int start_halt(master *m, int how) {
  if (how <= m->halt || m->aborting || m->complete)
    return 0;
  m->halt = how;
  if (!m->stopped)
    m->stopped = how;
  so__retry_free(&m->retries);
  so__queue_free(&m->queue);
  so__halt_msg h = {how};
  for (int r = 1; r <= m->nworkers; r++)
    if (!m->w[r].stopped && !m->w[r].final) {
      int rc = so__send(m->t, r, SO_TAG_HALT, &h, sizeof h);
      if (rc)
        return rc;
    }
  return check_complete(m);
}

static void halt_hook(void *engine, int how) {
  master *m = engine;
  int rc = start_halt(m, how);
  if (rc)
    abort_run(m, rc);
}

static int notify_hook(void *engine, const void *data, size_t len) {
  master *m = engine;
  for (int r = 1; r <= m->nworkers; r++)
    if (!m->w[r].stopped && !m->w[r].final) {
      int rc = so__send(m->t, r, SO_TAG_NOTICE, data, len);
      if (rc)
        return rc;
    }
  return 0;
}

/* Looks at the stop signals: the first one halts softly, and once the grace period is over the
 * running tasks are cancelled too. The loss of the process that started a direct run halts
 * softly at once, without a word (nobody is left to read it): nothing more is handed out. */
static int watch_signals(master *m) {
  if (!m->orphaned && so__signals_orphaned()) {
    m->orphaned = 1;
    if (!m->stopped)
      m->stopped = SO_STOPPED_SIGNAL;
    int rc = start_halt(m, SO_HALT_SOON);
    if (rc)
      return rc;
  }
  int sig = so__signals_caught();
  if (!sig)
    return 0;
  if (!m->signal) {
    m->signal = sig;
    m->stopped = SO_STOPPED_SIGNAL;
    m->halt_deadline = so__clock_s(CLOCK_MONOTONIC) + m->cfg->grace;
    if (!m->cfg->quiet)
      so__warnf("signal %d: handing out no more tasks; running ones get %.0f s to finish", sig,
                m->cfg->grace);
    return start_halt(m, SO_HALT_SOON);
  }
  if (m->halt == SO_HALT_SOON && so__clock_s(CLOCK_MONOTONIC) >= m->halt_deadline)
    return start_halt(m, SO_HALT_NOW);
  return 0;
}

/* After a signal's grace, tasks of a job that cannot cancel them (run(), or start() without
 * cancel) may run on for as long as they like. The master does not wait for them: it counts the
 * workers still holding tasks, so the run ends with what has been merged. */
static int stuck_workers(const master *m) {
  if (m->halt != SO_HALT_NOW || !m->signal || (m->job->start && m->job->cancel) ||
      so__clock_s(CLOCK_MONOTONIC) < m->halt_deadline + SO_ABANDON_SLACK_S)
    return 0;
  int n = 0;
  for (int r = 1; r <= m->nworkers; r++)
    n += !m->w[r].final && m->w[r].outstanding > 0;
  return n;
}

/* Checks, once the job has said how many tasks it has, that the run makes sense. */
static int check_total(master *m) {
  if (!m->ctx.has_total || (m->job->flags & SO_JOB_FEW_TASKS_OK))
    return 0;
  if (m->ctx.total == 0) {
    so__errorf("job '%s' has no tasks to run", m->job->name);
    return SO_EINVAL;
  }
  if (m->ctx.total < (uint64_t)m->nworkers) {
    so__errorf("%d workers but job '%s' has only %llu %s; use at most %llu %s", m->nworkers,
               m->job->name, (unsigned long long)m->ctx.total, m->ctx.total == 1 ? "task" : "tasks",
               (unsigned long long)m->ctx.total, m->ctx.total == 1 ? "worker" : "workers");
    return SO_EINVAL;
  }
  return 0;
}

static void fill_report(master *m, so_report *rep, double wall, double cpu) {
  rep->tasks = m->done;
  rep->failed = m->failed;
  rep->messages = m->messages;
  rep->wall = wall;
  rep->master_cpu = cpu;
  rep->nworkers = m->nworkers;
  rep->workers = calloc((size_t)m->nworkers, sizeof *rep->workers);
  for (int r = 1; rep->workers && r <= m->nworkers; r++) {
    so_worker_report *o = &rep->workers[r - 1];
    const worker_state *w = &m->w[r];
    o->rank = r;
    o->tasks = w->tasks;
    o->failed = w->failed;
    o->busy = 1e-9 * (double)w->fin.busy_ns;
    o->last_pu = w->final ? w->fin.last_pu : -1;
    o->last_core = w->final ? w->fin.last_core : -1;
    memcpy(o->host, w->fin.host, sizeof o->host);
    memcpy(o->cpuset, w->fin.cpuset, sizeof o->cpuset);
    memcpy(o->bound_by, w->fin.bound_by, sizeof o->bound_by);
    o->host[sizeof o->host - 1] = o->cpuset[sizeof o->cpuset - 1] = 0;
    o->bound_by[sizeof o->bound_by - 1] = 0;
  }
}

int so__master_init(so__master **out, const so_job *job, const so_params *params,
                    const so_config *cfg, int nworkers) {
  master *m = calloc(1, sizeof *m);
  *out = m;
  if (!m) {
    so__errorf("out of memory starting the master");
    return SO_ENOMEM;
  }
  m->job = job;
  m->cfg = cfg;
  m->nworkers = nworkers;
  m->window = cfg->window ? cfg->window : SO_DEFAULT_WINDOW;
  so__queue_init(&m->queue, cfg->discipline);
  so__batch_init(&m->batch, nworkers, cfg->batch, cfg->prefetch);
  m->w = calloc((size_t)nworkers + 1, sizeof *m->w);
  so__ctx_init(&m->ctx, job, params, SO_ROLE_MASTER, 0, nworkers);
  m->ctx.task_data = &m->data;
  m->ctx.answer = so__answer_new();
  m->ctx.engine = m;
  m->ctx.halt = halt_hook;
  m->ctx.notify = notify_hook;
  m->ctx.quiet = cfg->quiet;
  m->keep = cfg->retries > 0 || cfg->keep_tasks || (job->flags & SO_JOB_KEEP_TASKS);
  so__inflight_init(&m->flights);
  if (!m->w || !m->ctx.answer || so__outsink_init(&m->sink, nworkers + 1, cfg->task_out ? cfg->task_out : stdout,
                                                      cfg->task_err ? cfg->task_err : stderr)) {
    so__errorf("out of memory starting the master");
    return SO_ENOMEM;
  }
  /* The job's parameter check first: whatever it refuses is bad input. */
  int rc = job->check ? job->check(&m->ctx) : 0;
  if (rc) {
    so__ctx_fail(&m->ctx, "the parameter check", rc);
    return SO_EINVAL;
  }
  rc = job->init ? job->init(&m->ctx) : 0;
  if (rc)
    return so__ctx_fail(&m->ctx, "init", rc);
  m->ctx_ready = 1;
  return check_total(m);
}

int so__master_run(so__master *m, so__transport *t, so_report *rep) {
  const so_job *job = m->job;
  memset(rep, 0, sizeof *rep);
  m->t = t;
  if (t->size - 1 != m->nworkers) {
    so__errorf("the master was prepared for %d workers but the transport has %d", m->nworkers,
               t->size - 1);
    return SO_EINVAL;
  }
  double wall0 = so__clock_s(CLOCK_MONOTONIC), cpu0 = so__clock_s(CLOCK_PROCESS_CPUTIME_ID);
  int signals = m->cfg->grace >= 0;
  if (signals)
    so__signals_catch();
  while (m->nfinal < m->nworkers) {
    so__msg msg;
    /* With signals watched, look up at least every 100 ms; a signal also cuts a wait short. A
     * source with nothing ready is asked again every few milliseconds while workers wait. */
    int polling = !m->gen_done && !m->halt && !m->aborting && !m->complete &&
                  (m->nparked || m->nstarved);
    int got = so__recv(t, &msg, polling ? SO_SOURCE_POLL_MS : signals ? 100 : -1);
    if (got < 0) {
      /* The transport itself failed: nothing more can be said to the workers. */
      m->rc = m->rc ? m->rc : got;
      break;
    }
    int rc = signals ? watch_signals(m) : 0;
    if (!rc && polling)
      rc = poll_source(m);
    if (rc)
      abort_run(m, rc);
    if (signals && !m->aborting && (m->abandoned = stuck_workers(m)) > 0) {
      if (!m->cfg->quiet)
        so__warnf("the grace is over: the run ends without the %d worker%s still inside a task",
                  m->abandoned, m->abandoned == 1 ? "" : "s");
      break;
    }
    if (got == 0)
      continue;
    rc = on_message(m, &msg);
    if (rc == SO_EPROTO) {
      so__errorf("malformed message (tag %d, %zu bytes) from rank %d", msg.tag, msg.len, msg.src);
      abort_run(m, rc);
      if (msg.src >= 1 && msg.src <= m->nworkers && !m->w[msg.src].stopped && !m->w[msg.src].final)
        send_stop(m, msg.src);
    } else if (rc) {
      abort_run(m, rc);
    }
  }
  double wall = so__clock_s(CLOCK_MONOTONIC) - wall0;
  double cpu = so__clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
  if (signals)
    so__signals_restore();
  so__outsink_free(&m->sink);
  report_hidden(m);

  m->ctx.stopped = m->stopped;
  if (m->rc == 0 && job->finish) {
    int rc = job->finish(&m->ctx);
    if (rc)
      m->rc = so__ctx_fail(&m->ctx, "finish", rc);
  }
  if (m->rc == 0 && m->ctx.answer->failed)
    m->rc = SO_ENOMEM;
  fill_report(m, rep, wall, cpu);
  rep->stopped = m->stopped;
  rep->signal = m->signal;
  rep->abandoned = m->abandoned;
  rep->answer = m->ctx.answer;
  m->ctx.answer = NULL;
  return m->rc;
}

void so__master_free(so__master *m) {
  if (!m)
    return;
  if (m->ctx_ready && m->job->fini)
    m->job->fini(&m->ctx);
  so__answer_free(m->ctx.answer);
  free(m->w);
  so__queue_free(&m->queue);
  so__buf_free(&m->out);
  for (int i = 0; i < SO_MAX_PARTS; i++)
    so__buf_free(&m->parts[i]);
  so__buf_free(&m->data);
  so__inflight_free(&m->flights);
  so__retry_free(&m->retries);
  so__outsink_free(&m->sink);
  free(m);
}

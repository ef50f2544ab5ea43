/* The master: generates tasks lazily into the queues (one per task type), answers worker
 * requests with batches sized by each type's statistics, merges results as they ride back, moves
 * pipeline items from stage to stage under their bounds, releases tasks whose dependencies are
 * met, and ends the run cleanly. */
#include "master.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "clock.h"
#include "ctx.h"
#include "error.h"
#include "graph.h"
#include "inflight.h"
#include "outsink.h"
#include "proto.h"
#include "queue.h"
#include "signals.h"
#include "typebatch.h"

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

/* One task type (a pipeline stage, for a pipeline). A job without types has one, type 0.
 *
 * A batch holds tasks of one type only, sized by that type's statistics: a type's batch of 1 ms
 * tasks and another's of 1 us tasks then each carry about SO_BATCH_TARGET_NS of work, which a
 * mixed batch sized by one mean could not. Reruns are the exception (any type, see fill_batch):
 * they are few. */
typedef struct type_state {
  so__queue queue;   /* ready tasks of this type, not yet handed out */
  uint64_t retrying; /* tasks of this type in the retry list */
  uint64_t running;  /* handed out, not yet reported */
  uint64_t tasks, failed;
  /* Pipelines, for stage j >= 1: the bound between stage j - 1 and j and what it did. */
  uint32_t capacity;
  uint32_t max_occ;
  uint64_t held;
  double held_s, held_since;
  int blocked;
} type_state;

struct so__master {
  so__transport *t;
  const so_job *job;
  const so_config *cfg;
  so_ctx ctx;
  int ctx_ready; /* job init succeeded, so fini is owed */
  uint32_t ntypes;  /* task types (1 for a job without types) */
  uint32_t nstages; /* pipeline stages, 0 when not a pipeline */
  type_state *ty;
  so__typebatch tb;
  uint64_t *obs;    /* per-type counts of one request's results */
  uint32_t rr;      /* the type to look at first, so that types take turns */
  so__graph graph;  /* named tasks and their dependencies */
  int news;         /* work may have appeared for parked workers (see wake_parked) */
  so__buf out;   /* the message being built */
  so__buf parts[SO_MAX_PARTS]; /* the messages of one answer */
  so__buf data;  /* the payload of the task being generated */
  uint32_t window;
  uint64_t next_id;     /* ids given out so far (by next() and so_ctx_submit) */
  uint64_t generated;   /* tasks next() produced */
  int gen_done;         /* next() said there are no more (or the job has no next) */
  int gen_later;        /* next() said SO_NEXT_LATER at its last call */
  int gen_wait;         /* next() said SO_NEXT_WAIT: not asked again before the next result */
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

/* The queue index of a task type: a job without types keeps every task in queue 0, whatever
 * type next() gave it; a type the job lacks goes there too (the worker then fails the task). */
static uint32_t tix(const master *m, uint32_t type) { return type < m->ntypes ? type : 0; }

static uint64_t queued_total(const master *m) {
  uint64_t n = m->retries.n;
  for (uint32_t t = 0; t < m->ntypes; t++)
    n += so__queue_len(&m->ty[t].queue);
  return n;
}

static uint64_t waiting(const master *m, uint32_t t) {
  return so__queue_len(&m->ty[t].queue) + m->ty[t].retrying;
}

/* next() may be asked for a task now. */
static int can_generate(const master *m) { return !m->gen_done && !m->gen_wait && !m->halt; }

/* Items between pipeline stage j - 1 and stage j: queued for j (reruns included), running in j,
 * and running in j - 1 (each of which lands in j). */
static uint64_t occupancy(const master *m, uint32_t j) {
  return waiting(m, j) + m->ty[j].running + m->ty[j - 1].running;
}

/* A task of type t may be handed out: not a pipeline stage whose next stage is full. */
static int allowed(const master *m, uint32_t t) {
  if (t + 1 >= m->nstages)
    return 1;
  const type_state *n = &m->ty[t + 1];
  return !n->capacity || occupancy(m, t + 1) < n->capacity;
}

/* Pipelines: records each bound's highest occupancy and the time the stage before it had work
 * waiting while it was full (held back). Called after every change the master makes. */
static void note_stages(master *m) {
  if (m->nstages < 2)
    return;
  double now = -1;
  for (uint32_t j = 1; j < m->nstages; j++) {
    type_state *s = &m->ty[j];
    uint64_t occ = occupancy(m, j);
    if (occ > s->max_occ)
      s->max_occ = (uint32_t)occ;
    int blocked = s->capacity && occ >= s->capacity &&
                  (waiting(m, j - 1) || (j == 1 && can_generate(m)));
    if (blocked != s->blocked) {
      if (now < 0)
        now = so__clock_s(CLOCK_MONOTONIC);
      if (blocked)
        s->held_since = now;
      else
        s->held_s += now - s->held_since;
      s->blocked = blocked;
    }
  }
}

/* Queues a ready task (from the graph, a submission or a pipeline stage). */
static int push_task(master *m, uint64_t id, uint32_t type, int64_t priority, const void *data,
                     uint32_t len) {
  m->news = 1;
  return so__queue_push(&m->ty[tix(m, type)].queue, id, type, priority, data, len);
}

static int release_cb(void *arg, uint64_t id, uint32_t type, int64_t priority, const void *data,
                      uint32_t len) {
  return push_task(arg, id, type, priority, data, len);
}

/* Asks the job for one more task. Returns 1 with the task in *t and its payload in m->data,
 * 0 when there is none now (SO_NEXT_LATER, SO_NEXT_WAIT) or no more, or an error. The task's id
 * is taken before next() runs, so tasks next() submits get the ids after it. */
static int generate(master *m, so_task_out *t) {
  if (m->gen_done || m->gen_wait)
    return 0;
  memset(t, 0, sizeof *t);
  uint64_t id = m->next_id++;
  t->id = id;
  so__buf_clear(&m->data);
  int r = m->job->next(&m->ctx, t);
  if (r < 0)
    return so__ctx_fail(&m->ctx, "next", r);
  m->gen_later = r == SO_NEXT_LATER;
  m->gen_wait = r == SO_NEXT_WAIT;
  if (r == 0 || r == SO_NEXT_LATER || r == SO_NEXT_WAIT) {
    if (m->next_id == id + 1)
      m->next_id = id; /* nothing submitted meanwhile: the id is not lost */
    m->gen_done = r == 0;
    return 0;
  }
  t->id = id;
  if (m->nstages)
    t->type = 0; /* a pipeline's items enter at its first stage */
  if (m->data.len > UINT32_MAX) {
    so__errorf("job '%s': task %llu has a payload over 4 GiB", m->job->name,
               (unsigned long long)t->id);
    return SO_EJOB;
  }
  m->generated++;
  return 1;
}

/* Keeps up to window tasks generated ahead, for the disciplines that choose among them. */
static int top_up(master *m) {
  while (queued_total(m) < m->window && can_generate(m)) {
    so_task_out t;
    int r = generate(m, &t);
    if (r <= 0)
      return r;
    r = so__queue_push(&m->ty[tix(m, t.type)].queue, t.id, t.type, t.priority, m->data.data,
                       (uint32_t)m->data.len);
    if (r)
      return r;
  }
  return 0;
}

static uint64_t remaining(const master *m) {
  if (!m->ctx.has_total)
    return UINT64_MAX;
  uint64_t left = m->ctx.total > m->generated ? m->ctx.total - m->generated : 0;
  return left + queued_total(m);
}

/* Remembers a task handed to rank: its payload when kept, and its type whenever it is not 0 (it
 * reaches merge(), and the per-type counts need it); a task with neither needs no record, since
 * a result without one is of type 0. Recording every task cost the dispatcher 60-70% of its rate
 * on empty tasks (noop, 2e6 tasks: 1.0-1.35 M tasks/s instead of 3.3-6 M). */
static int remember(master *m, int rank, uint64_t id, uint32_t type, const void *data, uint32_t len,
                    uint32_t attempts) {
  if (!m->keep && type == 0)
    return 0;
  so__flight f = {.id = id, .type = type, .attempts = attempts, .worker = rank};
  if (m->keep && len) {
    if (!(f.data = malloc(len)))
      return SO_ENOMEM;
    memcpy(f.data, data, len);
    f.len = len;
  }
  int rc = so__inflight_put(&m->flights, &f);
  free(f.data);
  return rc;
}

/* Takes a rerun for rank of type t (any type for a job with one), the oldest that rank did not
 * fail when there is another worker. Returns 1 with *out filled, or 0. */
static int retry_pop(master *m, int rank, uint32_t t, so__flight *out) {
  so__retry_list *r = &m->retries;
  int avoid = m->nworkers > 1;
  if (m->ntypes == 1)
    return so__retry_pop(r, rank, avoid, out);
  for (size_t i = 0; i < r->n; i++)
    if (tix(m, r->items[i].type) == t && (!avoid || r->items[i].worker != rank)) {
      *out = r->items[i];
      memmove(&r->items[i], &r->items[i + 1], (r->n - i - 1) * sizeof *r->items);
      r->n--;
      return 1;
    }
  return 0;
}

/* Chooses the type of the next batch into *type, or -1 when no task can be handed out now.
 * A pipeline looks at its last stage first, so items drain towards the end and free room for
 * the stages before; other jobs let the types take turns. With nothing queued, next() is asked
 * (a job without types leaves that to fill_batch, straight into the message). Returns 0 or an
 * error. */
static int pick_type(master *m, int *type) {
  *type = -1;
  if (m->ntypes == 1) {
    if (allowed(m, 0))
      *type = 0;
    return 0;
  }
  for (uint32_t k = 0; k < m->ntypes; k++) {
    uint32_t t = m->nstages ? m->ntypes - 1 - k : (m->rr + k) % m->ntypes;
    if (!waiting(m, t))
      continue;
    if (!allowed(m, t)) {
      m->ty[t + 1].held++;
      continue;
    }
    m->rr = (t + 1) % m->ntypes;
    *type = (int)t;
    return 0;
  }
  while (can_generate(m) && queued_total(m) < m->window) {
    if (!allowed(m, 0)) {
      m->ty[1].held++; /* a pipeline, whose first stage waits for room */
      return 0;
    }
    so_task_out t;
    int r = generate(m, &t);
    if (r <= 0)
      return r;
    uint32_t i = tix(m, t.type);
    r = so__queue_push(&m->ty[i].queue, t.id, t.type, t.priority, m->data.data,
                       (uint32_t)m->data.len);
    if (r)
      return r;
    if (allowed(m, i)) {
      *type = (int)i;
      return 0;
    }
  }
  return 0;
}

/* Builds a batch of up to size tasks of type t for rank into out: reruns first (on a worker
 * other than the one that failed them, when there is another), then the queue, then fresh tasks.
 * Returns the count or an error. */
static int64_t fill_batch(master *m, int rank, uint32_t t, uint32_t size, so__buf *out) {
  int rc = so__proto_tasks_begin(out);
  if (rc)
    return rc;
  type_state *ts = &m->ty[t];
  uint32_t n = 0;
  while (n < size && !m->halt && allowed(m, t)) {
    so__flight f;
    so__qtask q;
    uint32_t type;
    if (m->retries.n && retry_pop(m, rank, t, &f)) {
      type = f.type;
      m->ty[tix(m, type)].retrying--;
      rc = so__proto_tasks_add(out, f.id, f.type, f.data, f.len);
      f.worker = rank;
      f.attempts++;
      if (!rc)
        rc = so__inflight_put(&m->flights, &f);
      free(f.data);
    } else {
      if (m->cfg->discipline != SO_QUEUE_FIFO && (rc = top_up(m)) < 0)
        return rc;
      if (so__queue_pop(&ts->queue, &q)) {
        type = q.type;
        rc = so__proto_tasks_add(out, q.id, q.type, so__qtask_data(&q), q.len);
        if (!rc)
          rc = remember(m, rank, q.id, q.type, so__qtask_data(&q), q.len, 1);
        so__qtask_release(&q);
      } else {
        /* fifo with nothing queued: generate straight into the message, no queue copy. A task
         * of another type waits in its own queue (up to the window). */
        if (queued_total(m) >= m->window)
          break;
        so_task_out g;
        int r = generate(m, &g);
        if (r < 0)
          return r;
        if (r == 0)
          break;
        if (tix(m, g.type) != t) {
          rc = so__queue_push(&m->ty[tix(m, g.type)].queue, g.id, g.type, g.priority,
                              m->data.data, (uint32_t)m->data.len);
          if (rc)
            return rc;
          continue;
        }
        type = g.type;
        rc = so__proto_tasks_add(out, g.id, g.type, m->data.data, (uint32_t)m->data.len);
        if (!rc)
          rc = remember(m, rank, g.id, g.type, m->data.data, (uint32_t)m->data.len, 1);
      }
    }
    if (rc)
      return rc;
    m->ty[tix(m, type)].running++;
    n++;
  }
  if (n && m->w[rank].outstanding == 0)
    m->holding++;
  m->outstanding += n;
  m->w[rank].outstanding += n;
  if (n > m->tb.largest[t])
    m->tb.largest[t] = n;
  return n;
}

static int check_complete(master *m) {
  if (m->complete || m->aborting || m->outstanding || m->retries.n)
    return 0;
  /* next() said "no more", or "not now" with nothing left that could make more. */
  if (!m->halt && ((!m->gen_done && !m->gen_wait) || queued_total(m)))
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
  int type;
  int rc = pick_type(m, &type);
  if (rc)
    return rc;
  if (type < 0) {
    /* Nothing can be handed out now (see below for n == 0). */
    if (in_hand > 0) {
      set_starved(m, rank, m->gen_later);
      if ((rc = so__proto_tasks_begin(&m->parts[0])) != 0)
        return rc;
      so__proto_tasks_finish(&m->parts[0], 0, 0);
      m->messages++;
      return so__send(m->t, rank, SO_TAG_TASKS, m->parts[0].data, m->parts[0].len);
    }
    set_parked(m, rank, 1);
    return check_complete(m);
  }
  so__batch *b = &m->tb.b[type];
  uint32_t size = so__batch_size(b, left);
  if (size > want)
    size = want;
  /* The other workers that hold nothing: each will want a task of this answer's. */
  int idle = m->nworkers - m->holding - (w->outstanding == 0);
  uint32_t low = so__batch_low(b, size, left, idle);
  /* Tasks that wait (commands) are not held in advance until their length is known: a halt or a
   * signal then finds no task started after it was decided. */
  if (m->job->start && b->mean_ns < 0)
    low = 0;
  if (low == 0 && in_hand >= (m->cfg->slots > 1 ? m->cfg->slots : 1) && !m->job->start) {
    /* It asked under an older mark (the tasks turned out long, or few are left) while it still
     * holds one for each of its threads (--threads): the task goes to a worker that runs dry
     * first. An empty answer closes the request; the worker asks again once it has nothing
     * left. */
    rc = so__proto_tasks_begin(&m->parts[0]);
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
  int64_t n = fill_batch(m, rank, (uint32_t)type, size, &m->parts[0]);
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
    int64_t k = fill_batch(m, rank, (uint32_t)type, size, &m->parts[built]);
    if (k < 0)
      return (int)k;
    if (k == 0)
      break;
    so__proto_tasks_finish(&m->parts[built++], (uint32_t)k, low);
  }
  for (uint32_t i = 0; i < built; i++) {
    so__proto_tasks_set_parts(&m->parts[i], built);
    m->messages++;
    rc = so__send(m->t, rank, SO_TAG_TASKS, m->parts[i].data, m->parts[i].len);
    if (rc)
      return rc;
  }
  return 0;
}

/* Work may have appeared while workers wait parked (a task to rerun, tasks released by a
 * result, a pipeline item moved on or room made in a stage, next() to be asked again after
 * SO_NEXT_WAIT): hand it to them, until one finds nothing. */
static int wake_parked(master *m) {
  if (!m->retries.n && !m->news)
    return 0;
  m->news = 0;
  for (int r = 1; r <= m->nworkers; r++)
    if (m->w[r].parked && !m->w[r].stopped) {
      set_parked(m, r, 0);
      int rc = serve(m, r, UINT32_MAX, 0);
      if (rc)
        return rc;
      if (m->w[r].parked && !m->retries.n)
        break; /* nothing for it: nothing for the others either (a rerun may be for them) */
    }
  return 0;
}

/* The source had nothing ready (SO_NEXT_LATER) and workers wait: asks it again, and hands what
 * comes to the parked workers; a starved worker, which holds running tasks and so cannot be
 * answered unasked, is told to ask (MORE) while a task waits in the queue for it. */
static int poll_source(master *m) {
  while (can_generate(m) && m->gen_later && !m->aborting && !m->complete &&
         (m->nparked || m->nstarved)) {
    if (queued_total(m) == 0) {
      so_task_out t;
      int r = generate(m, &t);
      if (r < 0)
        return r;
      if (r == 0)
        break; /* still nothing, or the end (check_complete below) */
      r = so__queue_push(&m->ty[tix(m, t.type)].queue, t.id, t.type, t.priority, m->data.data,
                         (uint32_t)m->data.len);
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
      if (m->w[r].parked)
        break; /* the queued task cannot go out yet (a full pipeline stage) */
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
    if (m->flights.n)
      so__inflight_take(&m->flights, rec.id, &f); /* none: a type-0 task, payload not kept */
    uint32_t t = tix(m, f.type);
    type_state *ts = &m->ty[t];
    ts->running--;
    if (m->gen_wait) {
      m->gen_wait = 0; /* next() is asked again after a result */
      m->news = 1;
    }
    if (m->nstages)
      m->news = 1; /* room in a stage */
    if (rec.status == SO_STATUS_UNRUN) {
      /* Given back unrun by a halting worker: neither done nor failed, never merged. */
      free(f.data);
      continue;
    }
    m->obs[t]++;
    if (rec.status != 0 && m->keep && f.attempts <= m->cfg->retries && !m->halt && !m->aborting) {
      /* Another run, preferably elsewhere: this worker is remembered as the one to avoid. */
      f.worker = msg->src;
      if (so__retry_push(&m->retries, &f)) {
        free(f.data);
        return SO_ENOMEM;
      }
      ts->retrying++;
      continue;
    }
    w->tasks++;
    m->done++;
    ts->tasks++;
    if (rec.status != 0) {
      w->failed++;
      m->failed++;
      ts->failed++;
    }
    int rc = 0, moved = rec.status == 0 && t + 1 < m->nstages;
    if (moved) {
      /* A pipeline item moves on: the result is the next stage's task, under the same id (an
       * item is in one stage at a time, so merge() sees the id next() gave it). */
      if (!m->halt && !m->aborting) {
        if (rec.len > UINT32_MAX)
          rc = SO_EPROTO;
        else
          rc = push_task(m, rec.id, t + 1, 0, data, (uint32_t)rec.len);
      }
    } else if (m->job->merge && !m->aborting) {
      so_task_result r = {.id = rec.id,
                          .status = rec.status,
                          .worker = msg->src,
                          .data = data,
                          .len = rec.len,
                          .attempts = f.attempts,
                          .type = f.type,
                          .task_data = m->keep ? (f.data ? f.data : (const void *)"") : NULL,
                          .task_len = f.len};
      rc = m->job->merge(&m->ctx, &r);
      if (rc)
        abort_run(m, so__ctx_fail(&m->ctx, "merge", rc));
      rc = 0;
    }
    free(f.data);
    if (!rc && m->graph.n && !m->aborting && !moved) /* a pipeline item is done when it leaves */
      rc = so__graph_done(&m->graph, rec.id, rec.status == 0, release_cb, m);
    if (rc)
      return rc;
  }
  if (so__proto_done(&rd))
    return SO_EPROTO;
  so__typebatch_observe(&m->tb, m->obs, h.busy_ns);
  memset(m->obs, 0, m->ntypes * sizeof *m->obs);
  /* Until answered, an error must still reach this worker, which may be waiting for us. */
  w->asking = h.want > 0;
  int rc = serve(m, msg->src, h.want, h.in_hand);
  if (rc)
    abort_run(m, rc);
  w->asking = 0;
  if (!rc)
    rc = wake_parked(m);
  note_stages(m);
  if (rc)
    return rc;
  return check_complete(m);
}

/* The first failed tasks of the run are printed with the job's reason; the rest are counted at
 * the end (see report_hidden). */
#define SO_NOTES_SHOWN 3

static int on_taskerr(master *m, const so__msg *msg) {
  so__taskerr_rec rec;
  const char *text;
  if (so__proto_taskerr_read(msg->data, msg->len, &rec, &text))
    return SO_EPROTO;
  if (m->notes_shown >= SO_NOTES_SHOWN)
    return 0;
  m->notes_shown++;
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
  so__fail_msg f;
  const char *text;
  size_t n;
  if (so__proto_fail_read(msg->data, msg->len, &f, &text, &n))
    return SO_EPROTO;
  if (n && !m->fail_shown) {
    so__errorf("%.*s", (int)n, text);
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
  for (uint32_t t = 0; t < m->ntypes; t++) {
    so__queue_free(&m->ty[t].queue);
    so__queue_init(&m->ty[t].queue, m->cfg->discipline);
    m->ty[t].retrying = 0;
  }
  note_stages(m);
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

/* so_ctx_submit on the master: the task gets the next id and goes to its queue, or waits in the
 * graph for the tasks it names. */
static int submit_hook(void *engine, const so_task_spec *spec, uint64_t *id) {
  master *m = engine;
  const so_job *job = m->job;
  if (job->types && spec->type >= m->ntypes) {
    so__errorf("job '%s': a task was submitted with type %u, which the job does not have (it has "
               "%u)",
               job->name, (unsigned)spec->type, (unsigned)m->ntypes);
    return SO_EINVAL;
  }
  if (m->nstages && spec->type != 0) {
    so__errorf("job '%s': a pipeline's tasks enter at its first stage ('%s'), not at stage %u",
               job->name, job->stages[0].name, (unsigned)spec->type);
    return SO_EINVAL;
  }
  if (spec->len && !spec->data)
    return SO_EINVAL;
  uint64_t tid = m->next_id++;
  int ready;
  int rc = so__graph_add(&m->graph, spec, tid, job->name, &ready);
  if (rc)
    return rc;
  if (id)
    *id = tid;
  return ready ? push_task(m, tid, spec->type, spec->priority, spec->data, (uint32_t)spec->len)
               : 0;
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
  rep->not_run = m->graph.not_run;
  for (unsigned i = 0; i < m->graph.nshown; i++) {
    size_t off = strlen(rep->not_run_names);
    snprintf(rep->not_run_names + off, sizeof rep->not_run_names - off, "%s%s", i ? ", " : "",
             m->graph.not_run_names[i]);
  }
  if (m->job->types && (rep->types = calloc(m->ntypes, sizeof *rep->types)) != NULL) {
    rep->ntypes = (int)m->ntypes;
    for (uint32_t t = 0; t < m->ntypes; t++) {
      so_type_report *o = &rep->types[t];
      snprintf(o->name, sizeof o->name, "%s", m->job->types[t].name);
      o->tasks = m->ty[t].tasks;
      o->failed = m->ty[t].failed;
      o->mean = m->tb.b[t].mean_ns < 0 ? 0 : 1e-9 * m->tb.b[t].mean_ns;
      o->batch = m->tb.largest[t];
    }
  }
  if (m->nstages && (rep->stages = calloc(m->nstages, sizeof *rep->stages)) != NULL) {
    rep->nstages = (int)m->nstages;
    double now = so__clock_s(CLOCK_MONOTONIC);
    for (uint32_t j = 0; j < m->nstages; j++) {
      so_stage_report *o = &rep->stages[j];
      const type_state *s = &m->ty[j];
      snprintf(o->name, sizeof o->name, "%s", m->job->stages[j].name);
      o->capacity = j ? s->capacity : 0;
      o->max_occupancy = s->max_occ;
      o->held = s->held;
      o->held_seconds = s->held_s + (s->blocked ? now - s->held_since : 0);
    }
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
  so__graph_init(&m->graph);
  m->gen_done = !job->next;
  for (m->ntypes = 0; job->types && job->types[m->ntypes].name; m->ntypes++)
    ;
  for (m->nstages = 0; job->stages && job->stages[m->nstages].name; m->nstages++)
    ;
  if (m->nstages && m->nstages != m->ntypes) {
    so__errorf("job '%s' has %u pipeline stages but %u task types: a pipeline needs one type per "
               "stage",
               job->name, m->nstages, m->ntypes);
    return SO_EINVAL;
  }
  if (m->ntypes == 0)
    m->ntypes = 1;
  m->ty = calloc(m->ntypes, sizeof *m->ty);
  m->obs = calloc(m->ntypes, sizeof *m->obs);
  if (!m->ty || !m->obs ||
      so__typebatch_init(&m->tb, m->ntypes, nworkers, cfg->batch, cfg->prefetch)) {
    so__errorf("out of memory starting the master");
    return SO_ENOMEM;
  }
  for (uint32_t t = 0; t < m->ntypes; t++)
    so__queue_init(&m->ty[t].queue, cfg->discipline);
  m->w = calloc((size_t)nworkers + 1, sizeof *m->w);
  so__ctx_init(&m->ctx, job, params, SO_ROLE_MASTER, 0, nworkers);
  m->ctx.task_data = &m->data;
  m->ctx.answer = so__answer_new();
  m->ctx.engine = m;
  m->ctx.halt = halt_hook;
  m->ctx.notify = notify_hook;
  m->ctx.submit = submit_hook;
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
  rc = job->init ? job->init(&m->ctx) : 0; /* its submissions form the declared graph */
  if (rc)
    return so__ctx_fail(&m->ctx, "init", rc);
  m->ctx_ready = 1;
  /* Stage bounds are read now: check() or init() may size them from the parameters. */
  for (uint32_t t = 1; t < m->nstages; t++)
    m->ty[t].capacity = job->stages[t].capacity;
  /* The declared graph is checked before anything runs: its mistakes are bad input. */
  rc = so__graph_seal(&m->graph, job->name, release_cb, m);
  if (rc)
    return rc;
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
    int polling = m->gen_later && can_generate(m) && !m->aborting && !m->complete &&
                  (m->nparked || m->nstarved); /* not after SO_NEXT_WAIT: a result wakes it */
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
  so_answer *a = m->ctx.answer;
  if (gethostname(a->master_host, sizeof a->master_host - 1) != 0)
    a->master_host[0] = '\0';
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
  for (uint32_t t = 0; m->ty && t < m->ntypes; t++)
    so__queue_free(&m->ty[t].queue);
  free(m->ty);
  free(m->obs);
  so__typebatch_free(&m->tb);
  so__graph_free(&m->graph);
  so__buf_free(&m->out);
  for (int i = 0; i < SO_MAX_PARTS; i++)
    so__buf_free(&m->parts[i]);
  so__buf_free(&m->data);
  so__inflight_free(&m->flights);
  so__retry_free(&m->retries);
  so__outsink_free(&m->sink);
  free(m);
}

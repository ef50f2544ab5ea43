/* A worker's pool of threads running run() tasks at once; see taskpool.h for who calls what. */
#include "taskpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "error.h"
#include "proto.h"

typedef struct cell {
  struct so__taskpool *pool;
  pthread_t thread;
  pthread_cond_t go;  /* the main thread gave this cell a task, or the pool is closing */
  int assigned;       /* under the pool's lock: a task waits for this thread */
  so_ctx ctx;         /* the task's own context: its error text, output hook, halting flag */
  so_task task;
  so__buf data;       /* the task's payload, copied out of the batch */
  so__buf result;
  int32_t status;
  uint64_t ns;
  int nomem;
} cell;

struct so__taskpool {
  pthread_mutex_t lock;
  pthread_cond_t done_cv; /* main thread: a task finished, or output waits to be taken */
  pthread_cond_t room;    /* threads: the output buffer was taken */
  unsigned n, started;    /* threads, and how many were started */
  cell *cells;
  /* Main thread only: the cells with no task. */
  unsigned *idle;
  unsigned nidle;
  /* Under the lock: finished cells not yet collected, and the output buffer. */
  unsigned *done;
  unsigned ndone;
  so__buf out;
  int out_wanted; /* a thread waits for out to be taken */
  int closing;
};

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Called with the lock held when the output buffer is full: waits for the main thread to take
 * it. Fails only when the pool closes meanwhile. */
static int wait_room(void *arg) {
  so__taskpool *p = arg;
  while (p->out.len > 0 && !p->closing) {
    p->out_wanted = 1;
    pthread_cond_signal(&p->done_cv);
    pthread_cond_wait(&p->room, &p->lock);
  }
  return p->out.len > 0 ? SO_EIO : 0;
}

/* so_ctx_output from a task in a thread. */
static int cell_output(void *engine, uint64_t task, int stream, const void *data, size_t len,
                       int partial) {
  so__taskpool *p = ((cell *)engine)->pool;
  pthread_mutex_lock(&p->lock);
  int rc = so__proto_output_put(&p->out, task, stream, data, len, partial, wait_room, p);
  pthread_mutex_unlock(&p->lock);
  return rc;
}

static void run_task(cell *c) {
  so_result res = {.buf = &c->result};
  so__buf_clear(&c->result);
  c->ctx.error[0] = 0;
  const so_job *job = c->ctx.job;
  uint64_t t0 = mono_ns();
  so__run_fn fn = so__task_runner(job, c->task.type);
  c->status = SO_EINVAL;
  if (fn)
    c->status = fn(&c->ctx, &c->task, &res);
  else
    so_ctx_errorf(&c->ctx, "task %llu has type %u, which job '%s' does not have",
                  (unsigned long long)c->task.id, (unsigned)c->task.type, job->name);
  c->ns = mono_ns() - t0;
  c->nomem = res.failed;
}

static void *thread_main(void *arg) {
  cell *c = arg;
  so__taskpool *p = c->pool;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!c->assigned && !p->closing)
      pthread_cond_wait(&c->go, &p->lock);
    if (!c->assigned)
      break;
    c->assigned = 0;
    pthread_mutex_unlock(&p->lock);
    run_task(c);
    pthread_mutex_lock(&p->lock);
    p->done[p->ndone++] = (unsigned)(c - p->cells);
    pthread_cond_signal(&p->done_cv);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int so__taskpool_new(so__taskpool **out, unsigned n, const so_ctx *ctx) {
  *out = NULL;
  so__taskpool *p = calloc(1, sizeof *p);
  if (!p)
    return SO_ENOMEM;
  p->n = n;
  p->cells = calloc(n, sizeof *p->cells);
  p->idle = calloc(n, sizeof *p->idle);
  p->done = calloc(n, sizeof *p->done);
  if (!p->cells || !p->idle || !p->done) {
    free(p->cells);
    free(p->idle);
    free(p->done);
    free(p);
    return SO_ENOMEM;
  }
  pthread_mutex_init(&p->lock, NULL);
  /* Timed waits measure on the monotonic clock, so a clock change cannot stretch them. */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->done_cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&p->room, NULL);
  for (unsigned i = 0; i < n; i++) {
    cell *c = &p->cells[i];
    c->pool = p;
    pthread_cond_init(&c->go, NULL);
    c->ctx = *ctx;
    c->ctx.error[0] = 0;
    c->ctx.engine = c;
    c->ctx.output = cell_output;
    c->ctx.task_done = NULL; /* so_task_done is for asynchronous jobs */
    c->data = (so__buf)SO_BUF_INIT;
    c->result = (so__buf)SO_BUF_INIT;
    p->idle[p->nidle++] = n - 1 - i; /* cell 0 is taken first */
  }
  /* The worker's signal handlers (the lifeline's SIGIO) then always run on the main thread. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int rc = 0;
  for (unsigned i = 0; i < n && !rc; i++) {
    int e = pthread_create(&p->cells[i].thread, NULL, thread_main, &p->cells[i]);
    if (e) {
      so__errorf("could not start thread %u of %u for --threads: %s", i + 1, n, strerror(e));
      rc = SO_EJOB;
    } else {
      p->started++;
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  *out = p;
  if (rc) {
    so__taskpool_free(p);
    *out = NULL;
  }
  return rc;
}

void so__taskpool_free(so__taskpool *p) {
  if (!p)
    return;
  pthread_mutex_lock(&p->lock);
  p->closing = 1;
  for (unsigned i = 0; i < p->n; i++)
    pthread_cond_signal(&p->cells[i].go);
  pthread_cond_broadcast(&p->room);
  pthread_mutex_unlock(&p->lock);
  for (unsigned i = 0; i < p->started; i++)
    pthread_join(p->cells[i].thread, NULL);
  for (unsigned i = 0; i < p->n; i++) {
    pthread_cond_destroy(&p->cells[i].go);
    so__buf_free(&p->cells[i].data);
    so__buf_free(&p->cells[i].result);
  }
  pthread_cond_destroy(&p->done_cv);
  pthread_cond_destroy(&p->room);
  pthread_mutex_destroy(&p->lock);
  so__buf_free(&p->out);
  free(p->cells);
  free(p->idle);
  free(p->done);
  free(p);
}

unsigned so__taskpool_idle(const so__taskpool *p) { return p->nidle; }

int so__taskpool_start(so__taskpool *p, const so_task *task, void *state) {
  cell *c = &p->cells[p->idle[p->nidle - 1]];
  /* The cell is idle: its thread touches none of it until told. */
  so__buf_clear(&c->data);
  if (so__buf_append(&c->data, task->data, task->len))
    return SO_ENOMEM;
  c->task = *task;
  c->task.data = c->data.data;
  c->ctx.state = state;
  p->nidle--;
  pthread_mutex_lock(&p->lock);
  c->assigned = 1;
  pthread_cond_signal(&c->go);
  pthread_mutex_unlock(&p->lock);
  return 0;
}

int so__taskpool_collect(so__taskpool *p, int (*fn)(void *arg, const so__taskpool_done *d),
                         void *arg) {
  int n = 0;
  for (;;) {
    pthread_mutex_lock(&p->lock);
    unsigned i = p->ndone ? p->done[--p->ndone] : p->n;
    pthread_mutex_unlock(&p->lock);
    if (i == p->n)
      return n;
    cell *c = &p->cells[i];
    so__taskpool_done d = {.id = c->task.id,
                           .status = c->status,
                           .data = c->result.data,
                           .len = c->result.len,
                           .error = c->ctx.error,
                           .ns = c->ns,
                           .nomem = c->nomem};
    int rc = fn(arg, &d);
    p->idle[p->nidle++] = i;
    if (rc)
      return rc;
    n++;
  }
}

void so__taskpool_wait(so__taskpool *p, long timeout_us) {
  struct timespec until = so__clock_after(CLOCK_MONOTONIC, timeout_us * 1000LL);
  pthread_mutex_lock(&p->lock);
  while (p->ndone == 0 && !p->out_wanted) {
    if (pthread_cond_timedwait(&p->done_cv, &p->lock, &until) == ETIMEDOUT)
      break;
  }
  pthread_mutex_unlock(&p->lock);
}

int so__taskpool_output_wanted(so__taskpool *p) {
  pthread_mutex_lock(&p->lock);
  int w = p->out_wanted;
  pthread_mutex_unlock(&p->lock);
  return w;
}

void so__taskpool_take_output(so__taskpool *p, so__buf *dst) {
  pthread_mutex_lock(&p->lock);
  so__buf t = *dst;
  *dst = p->out;
  p->out = t;
  so__buf_clear(&p->out);
  if (p->out_wanted) {
    p->out_wanted = 0;
    pthread_cond_broadcast(&p->room);
  }
  pthread_mutex_unlock(&p->lock);
}

void so__taskpool_halting(so__taskpool *p) {
  for (unsigned i = 0; i < p->n; i++)
    __atomic_store_n(&p->cells[i].ctx.halting, 1, __ATOMIC_RELAXED);
}

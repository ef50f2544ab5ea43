/* The job context: parameters, state, errors and the answer, as seen by job callbacks. */
#include "ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "graph.h"
#include "map.h"
#include "params.h"
#include "proto.h"
#include "queue.h"

void so__ctx_init(so_ctx *ctx, const so_job *job, const so_params *params, so_role role, int rank,
                  int workers) {
  memset(ctx, 0, sizeof *ctx);
  ctx->job = job;
  ctx->params = params;
  ctx->role = role;
  ctx->rank = rank;
  ctx->workers = workers;
}

int so__ctx_failmsg(so_ctx *ctx, const char *what, int rc, char *msg, size_t len) {
  if (ctx->error[0])
    snprintf(msg, len, "job '%s': %s", ctx->job->name, ctx->error);
  else
    snprintf(msg, len, "job '%s': %s failed (code %d)", ctx->job->name, what, rc);
  /* A job that says its input is bad (SO_EINVAL) keeps that meaning: it decides the exit status. */
  return rc == SO_EINVAL ? SO_EINVAL : SO_EJOB;
}

int so__ctx_fail(so_ctx *ctx, const char *what, int rc) {
  char msg[sizeof ctx->error + 64];
  rc = so__ctx_failmsg(ctx, what, rc, msg, sizeof msg);
  so__errorf("%s", msg);
  return rc;
}

so_role so_ctx_role(const so_ctx *ctx) { return ctx->role; }
int so_ctx_rank(const so_ctx *ctx) { return ctx->rank; }
int so_ctx_workers(const so_ctx *ctx) { return ctx->workers; }
int64_t so_ctx_int(const so_ctx *ctx, const char *param) { return so__params_int(ctx->params, param); }
double so_ctx_double(const so_ctx *ctx, const char *param) {
  return so__params_double(ctx->params, param);
}
const char *so_ctx_string(const so_ctx *ctx, const char *param) {
  return so__params_string(ctx->params, param);
}
int so_ctx_args(const so_ctx *ctx, const char *const **argv) {
  return so__params_args(ctx->params, argv);
}
void so_ctx_set_state(so_ctx *ctx, void *state) { ctx->state = state; }
void *so_ctx_state(const so_ctx *ctx) { return ctx->state; }

void so_ctx_errorf(so_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
  va_end(ap);
}

void so_ctx_set_total(so_ctx *ctx, uint64_t total) {
  ctx->total = total;
  ctx->has_total = 1;
}

int so_task_set_data(so_ctx *ctx, so_task_out *task, const void *data, size_t len) {
  (void)task;
  if (!ctx->task_data)
    return SO_EINVAL;
  so__buf_clear(ctx->task_data);
  return so__buf_append(ctx->task_data, data, len);
}

int so_result_write(so_result *res, const void *data, size_t len) {
  int rc = so__buf_append(res->buf, data, len);
  if (rc)
    res->failed = 1;
  return rc;
}

unsigned so_ctx_slots(const so_ctx *ctx) { return ctx->slots ? ctx->slots : 1; }

/* Atomic: the worker's main thread sets it while tasks in threads may be reading it. */
int so_ctx_halting(const so_ctx *ctx) { return __atomic_load_n(&ctx->halting, __ATOMIC_RELAXED); }

int so_ctx_quiet(const so_ctx *ctx) { return ctx->quiet; }

int so_ctx_stopped(const so_ctx *ctx) { return ctx->stopped; }

int so_task_done(so_ctx *ctx, uint64_t id, int32_t status, const void *data, size_t len) {
  if (!ctx->task_done)
    return SO_EINVAL;
  return ctx->task_done(ctx->engine, id, status, data, len);
}

int so_ctx_output(so_ctx *ctx, uint64_t task, int stream, const void *data, size_t len,
                  int partial) {
  if (!ctx->output || (stream != 1 && stream != 2))
    return SO_EINVAL;
  return ctx->output(ctx->engine, task, stream, data, len, partial);
}

int so_ctx_notify(so_ctx *ctx, const void *data, size_t len) {
  if (!ctx->notify || len > SO_NOTICE_MAX || (len && !data))
    return SO_EINVAL;
  return ctx->notify(ctx->engine, data, len);
}

int so_ctx_submit(so_ctx *ctx, const so_task_spec *spec, uint64_t *id) {
  /* Only the master (and the serial runner) can take tasks: a worker has no hook. */
  if (!ctx->submit || !spec)
    return SO_EINVAL;
  return ctx->submit(ctx->engine, spec, id);
}

void so_ctx_halt(so_ctx *ctx, int how) {
  if (ctx->halt && (how == SO_HALT_SOON || how == SO_HALT_NOW))
    ctx->halt(ctx->engine, how);
}

/* --- The answer --- */

so_answer *so__answer_new(void) { return calloc(1, sizeof(so_answer)); }

void so__answer_free(so_answer *a) {
  if (!a)
    return;
  for (size_t i = 0; i < a->n; i++)
    free(a->items[i].s);
  free(a->items);
  free(a);
}

static so__answer_item *answer_add(so_ctx *ctx, const char *name, so__answer_kind kind) {
  so_answer *a = ctx->answer;
  if (!a)
    return NULL;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 8;
    so__answer_item *p = realloc(a->items, cap * sizeof *p);
    if (!p) {
      a->failed = 1;
      return NULL;
    }
    a->items = p;
    a->cap = cap;
  }
  so__answer_item *it = &a->items[a->n++];
  memset(it, 0, sizeof *it);
  snprintf(it->name, sizeof it->name, "%s", name);
  it->kind = kind;
  return it;
}

void so_ctx_set_exit(so_ctx *ctx, int status) {
  /* Kept with the answer: the report carries it to whoever runs the job (so_report_exit). */
  if (!ctx->answer || status < 0 || status > 255) /* what exit() can pass on whole */
    return;
  ctx->answer->has_exit = 1;
  ctx->answer->exit_status = status;
}

void so_answer_int(so_ctx *ctx, const char *name, int64_t value) {
  so__answer_item *it = answer_add(ctx, name, SO_ANSWER_INT);
  if (it)
    it->i = value;
}

void so_answer_double(so_ctx *ctx, const char *name, double value) {
  so__answer_item *it = answer_add(ctx, name, SO_ANSWER_DOUBLE);
  if (it)
    it->d = value;
}

void so_answer_string(so_ctx *ctx, const char *name, const char *value) {
  so__answer_item *it = answer_add(ctx, name, SO_ANSWER_STRING);
  if (!it)
    return;
  it->s = strdup(value ? value : "");
  if (!it->s) {
    ctx->answer->n--;
    ctx->answer->failed = 1;
  }
}

void so__answer_print(FILE *out, const so_answer *a) {
  for (size_t i = 0; a && i < a->n; i++) {
    const so__answer_item *it = &a->items[i];
    switch (it->kind) {
    case SO_ANSWER_INT: fprintf(out, "%s = %lld\n", it->name, (long long)it->i); break;
    case SO_ANSWER_DOUBLE: fprintf(out, "%s = %.15g\n", it->name, it->d); break;
    case SO_ANSWER_STRING: fprintf(out, "%s = %s\n", it->name, it->s); break;
    }
  }
}

/* --- The serial reference run --- */

/* The serial runner's own state: tasks ready to run (submitted, released by a dependency or
 * made by a pipeline stage) in the order they became ready, and the dependency graph. */
typedef struct serial {
  const so_job *job;
  uint32_t ntypes, nstages;
  so__queue ready;
  so__graph graph;
  uint64_t next_id;
} serial;

static int serial_release(void *arg, uint64_t id, uint32_t type, int64_t priority,
                          const void *data, uint32_t len) {
  serial *s = arg;
  return so__queue_push(&s->ready, id, type, priority, data, len);
}

static int serial_submit(void *engine, const so_task_spec *spec, uint64_t *id) {
  serial *s = engine;
  if ((s->job->types && spec->type >= s->ntypes) || (s->nstages && spec->type != 0)) {
    so__errorf("job '%s': a task was submitted with type %u, which it cannot take",
               s->job->name, (unsigned)spec->type);
    return SO_EINVAL;
  }
  if (spec->len && !spec->data)
    return SO_EINVAL;
  uint64_t tid = s->next_id++;
  int ready;
  int rc = so__graph_add(&s->graph, spec, tid, s->job->name, &ready);
  if (rc)
    return rc;
  if (id)
    *id = tid;
  return ready ? serial_release(s, tid, spec->type, spec->priority, spec->data,
                                (uint32_t)spec->len)
               : 0;
}

/* Runs one task on the worker context and passes its result on: to the next pipeline stage, or
 * to merge(); then releases (or dooms) the tasks that wait for it. */
static int serial_task(serial *s, so_ctx *m, so_ctx *w, const so_task *task, so__buf *out,
                       uint64_t *tasks) {
  const so_job *job = s->job;
  so_result res = {.buf = out};
  so__buf_clear(out);
  w->error[0] = 0;
  so__run_fn fn = so__task_runner(job, task->type);
  int st = SO_EINVAL;
  if (fn)
    st = fn(w, task, &res);
  else
    so_ctx_errorf(w, "task %llu has type %u, which job '%s' does not have",
                  (unsigned long long)task->id, (unsigned)task->type, job->name);
  if (res.failed)
    return SO_ENOMEM;
  (*tasks)++;
  if (st == 0 && task->type + 1 < s->nstages) {
    /* The item moves on under its id; it is done when it leaves the last stage. */
    if (out->len > UINT32_MAX)
      return SO_EJOB;
    return so__queue_push(&s->ready, task->id, task->type + 1, 0, out->data, (uint32_t)out->len);
  }
  int rc = 0;
  if (job->merge) {
    so_task_result r = {.id = task->id, .status = st, .worker = 1, .data = out->data,
                        .len = out->len, .attempts = 1, .type = task->type,
                        .task_data = task->data ? task->data : "", .task_len = task->len};
    if ((rc = job->merge(m, &r)) != 0)
      return so__ctx_fail(m, "merge", rc);
  }
  return so__graph_done(&s->graph, task->id, st == 0, serial_release, s);
}

int so__run_serial(const so_job *job, const so_params *params, uint64_t *tasks, so_answer **answer) {
  /* A map runs as the ordinary job map.c makes of it, under the job's own schedule. */
  if (job->map && !so__map_is_wrapper(job)) {
    char err[512];
    const so_job *w;
    int rc = so__map_wrap(job, NULL, &w, err, sizeof err);
    if (rc) {
      so__errorf("%s", err);
      return rc;
    }
    rc = so__run_serial(w, params, tasks, answer);
    so__map_unwrap(w);
    return rc;
  }
  so_ctx m, w;
  so__buf data = SO_BUF_INIT, out = SO_BUF_INIT;
  int rc = 0, minit = 0, winit = 0;
  serial s = {.job = job};
  so__queue_init(&s.ready, SO_QUEUE_FIFO);
  so__graph_init(&s.graph);
  while (job->types && job->types[s.ntypes].name)
    s.ntypes++;
  while (job->stages && job->stages[s.nstages].name)
    s.nstages++;
  so__ctx_init(&m, job, params, SO_ROLE_MASTER, 0, 1);
  so__ctx_init(&w, job, params, SO_ROLE_WORKER, 1, 1);
  m.task_data = &data;
  m.engine = &s;
  m.submit = serial_submit;
  m.answer = so__answer_new();
  *tasks = 0;
  *answer = NULL;
  if (!m.answer)
    return SO_ENOMEM;
  /* As the engine's master does: the parameter check first, whatever it refuses is bad input. */
  if (job->check && (rc = job->check(&m)) != 0) {
    so__ctx_fail(&m, "the parameter check", rc);
    rc = SO_EINVAL;
    goto out;
  }
  if (job->init && (rc = job->init(&m)) != 0) {
    rc = so__ctx_fail(&m, "init", rc);
    goto out;
  }
  minit = 1;
  if ((rc = so__graph_seal(&s.graph, job->name, serial_release, &s)) != 0)
    goto out;
  if (job->init && (rc = job->init(&w)) != 0) {
    rc = so__ctx_fail(&w, "init", rc);
    goto out;
  }
  winit = 1;
  /* Ready tasks first; next() when there are none, until it says no more (0), or says "not
   * now" (SO_NEXT_WAIT) with nothing left to run. */
  int gen_done = !job->next;
  for (;;) {
    so__qtask q;
    if (so__queue_pop(&s.ready, &q)) {
      so_task task = {.id = q.id, .type = q.type, .data = so__qtask_data(&q), .len = q.len};
      rc = serial_task(&s, &m, &w, &task, &out, tasks);
      so__qtask_release(&q);
      if (rc)
        goto out;
      continue;
    }
    if (gen_done)
      break;
    uint64_t id = s.next_id++;
    so_task_out t = {.id = id};
    so__buf_clear(&data);
    int more = job->next(&m, &t);
    if (more < 0) {
      rc = so__ctx_fail(&m, "next", more);
      goto out;
    }
    if (more == SO_NEXT_LATER) {
      struct timespec ts = {0, 10000000}; /* a stream with nothing yet: look again shortly */
      nanosleep(&ts, NULL);
    }
    if (more == 0 || more == SO_NEXT_LATER || more == SO_NEXT_WAIT) {
      if (s.next_id == id + 1)
        s.next_id = id;
      /* Serially nothing is in flight: "not now" with nothing ready is the end. */
      if (more == 0 || (more == SO_NEXT_WAIT && so__queue_len(&s.ready) == 0))
        gen_done = 1;
      continue;
    }
    so_task task = {.id = id, .type = s.nstages ? 0 : t.type, .data = data.data, .len = data.len};
    if ((rc = serial_task(&s, &m, &w, &task, &out, tasks)) != 0)
      goto out;
  }
  if (job->finish && (rc = job->finish(&m)) != 0)
    rc = so__ctx_fail(&m, "finish", rc);
out:
  if (winit && job->fini)
    job->fini(&w);
  if (minit && job->fini)
    job->fini(&m);
  so__buf_free(&data);
  so__buf_free(&out);
  so__queue_free(&s.ready);
  so__graph_free(&s.graph);
  if (rc == 0 && m.answer->failed)
    rc = SO_ENOMEM;
  if (rc)
    so__answer_free(m.answer);
  else
    *answer = m.answer;
  return rc;
}

so__run_fn so__task_runner(const so_job *job, uint32_t type) {
  if (!job->types)
    return job->run;
  for (uint32_t i = 0; job->types[i].name; i++)
    if (i == type)
      return job->types[i].run;
  return NULL;
}

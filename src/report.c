/* The run summary: human lines on stdout and the JSON report with the same figures. */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "batchjob.h"
#include "bind.h"
#include "ctx.h"
#include "error.h"
#include "params.h"

void so_report_free(so_report *rep) {
  if (!rep)
    return;
  free(rep->workers);
  free(rep->types);
  free(rep->stages);
  so__answer_free(rep->answer);
  rep->workers = NULL;
  rep->types = NULL;
  rep->stages = NULL;
  rep->answer = NULL;
}

const char *so__discipline_name(so_discipline d) {
  switch (d) {
  case SO_QUEUE_FIFO: return "fifo";
  case SO_QUEUE_LIFO: return "lifo";
  case SO_QUEUE_PRIORITY: return "priority";
  }
  return "?";
}

double so__report_imbalance(const so_report *rep) {
  double sum = 0, max = 0;
  for (int i = 0; i < rep->nworkers; i++) {
    sum += rep->workers[i].busy;
    if (rep->workers[i].busy > max)
      max = rep->workers[i].busy;
  }
  return sum > 0 ? max / (sum / rep->nworkers) : 1.0;
}

static double rate(const so_report *rep) { return rep->wall > 0 ? (double)rep->tasks / rep->wall : 0; }

const char *so__signal_name(int sig, char *buf, size_t len) {
  switch (sig) {
  case SIGTERM: return "SIGTERM";
  case SIGINT: return "SIGINT";
  case SIGUSR1: return "SIGUSR1";
  case SIGUSR2: return "SIGUSR2";
  case SIGHUP: return "SIGHUP";
  case SIGQUIT: return "SIGQUIT";
  }
  snprintf(buf, len, "signal %d", sig);
  return buf;
}

/* A job that chose its own exit status (so_ctx_set_exit) keeps its own account of failed tasks
 * (the farm's failed commands are part of its answer), so the engine adds no verdict about them. */
static int answers_status(const so_report *rep) { return rep->answer && rep->answer->has_exit; }

int so__report_notice(FILE *out, const so_report *rep) {
  char buf[32];
  if (rep->stopped == SO_STOPPED_SIGNAL) {
    fprintf(out, "stopped by %s before every task ran: the answer is partial (%llu %s ran)\n",
            so__signal_name(rep->signal, buf, sizeof buf), (unsigned long long)rep->tasks,
            rep->tasks == 1 ? "task" : "tasks");
    return 1;
  }
  if (rep->failed && !answers_status(rep)) {
    fprintf(out, "%llu of %llu %s failed: the answer is incomplete\n",
            (unsigned long long)rep->failed, (unsigned long long)rep->tasks,
            rep->tasks == 1 ? "task" : "tasks");
    return 1;
  }
  return 0;
}

void so__report_print_tasks(FILE *out, const so_report *rep) {
  for (int i = 0; i < rep->ntypes; i++) {
    const so_type_report *t = &rep->types[i];
    fprintf(out, "type %-12s %10llu tasks (%llu failed), mean %.3g s, largest batch %u\n", t->name,
            (unsigned long long)t->tasks, (unsigned long long)t->failed, t->mean, t->batch);
  }
  for (int i = 1; i < rep->nstages; i++) {
    const so_stage_report *s = &rep->stages[i];
    fprintf(out,
            "stage %-11s capacity %u, at most %u in flight; held '%s' back %llu times, %.3f s\n",
            s->name, s->capacity, s->max_occupancy, rep->stages[i - 1].name,
            (unsigned long long)s->held, s->held_seconds);
  }
  if (rep->not_run)
    fprintf(out, "%llu %s never ran because a task %s waited for failed: %s%s\n",
            (unsigned long long)rep->not_run, rep->not_run == 1 ? "task" : "tasks",
            rep->not_run == 1 ? "it" : "they", rep->not_run_names,
            rep->not_run > SO_REPORT_NOTRUN_SHOWN ? ", ..." : "");
}

void so__report_print(FILE *out, const so_report *rep, const so_job *job, const so_config *cfg) {
  so__node_report *nodes = NULL;
  int nnodes = so__report_nodes(rep, &nodes);
  char where[48] = "";
  if (nnodes >= 0)
    snprintf(where, sizeof where, " (%d %s)", nnodes, nnodes == 1 ? "node" : "nodes");
  so__batch_job bj;
  char jobid[96] = "";
  if (so__batch_job_get(&bj))
    snprintf(jobid, sizeof jobid, "; %s job %s", bj.scheduler, bj.id);
  so__answer_print(out, rep->answer);
  fprintf(out, "\n%s: %llu %s (%llu failed) on %d %s%s in %.3f s, %.0f tasks/s, %llu %s%s\n",
          job->name, (unsigned long long)rep->tasks, rep->tasks == 1 ? "task" : "tasks",
          (unsigned long long)rep->failed, rep->nworkers, rep->nworkers == 1 ? "worker" : "workers",
          where, rep->wall, rate(rep), (unsigned long long)rep->messages,
          rep->messages == 1 ? "batch" : "batches", jobid);
  fprintf(out, "queue %s, batch %s, bind %s; master CPU %.3f s (%.1f%% of wall); load imbalance %.3f\n",
          so__discipline_name(cfg->discipline), cfg->batch ? "fixed" : "auto",
          so__bind_policy_name(cfg->bind), rep->master_cpu,
          rep->wall > 0 ? 100.0 * rep->master_cpu / rep->wall : 0.0, so__report_imbalance(rep));
  so__report_print_nodes(out, rep, nodes, nnodes);
  free(nodes);
  fprintf(out, "%6s  %-16s %10s %7s %8s  %-10s %-9s %s\n", "worker", "host", "tasks", "busy%",
          "failed", "cpuset", "bound by", "last ran on");
  for (int i = 0; i < rep->nworkers; i++) {
    const so_worker_report *w = &rep->workers[i];
    char ran[48] = "unknown";
    if (w->last_pu >= 0)
      snprintf(ran, sizeof ran, "core L#%d, PU P#%d", w->last_core, w->last_pu);
    fprintf(out, "%6d  %-16s %10llu %6.1f%% %8llu  %-10s %-9s %s\n", w->rank, w->host,
            (unsigned long long)w->tasks, rep->wall > 0 ? 100.0 * w->busy / rep->wall : 0.0,
            (unsigned long long)w->failed, w->cpuset[0] ? w->cpuset : "-", w->bound_by, ran);
  }
  so__report_print_tasks(out, rep);
  so__report_notice(out, rep);
}

/* --- JSON --- */

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 when the bytes there are not one:
 * a stray continuation byte, a truncated sequence, an overlong form, a surrogate or a code
 * point past U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *s) {
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0; /* also stops at the terminating NUL */
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

char *so__utf8_clean(const char *text) {
  const unsigned char *s = (const unsigned char *)(text ? text : "");
  size_t len = strlen((const char *)s);
  /* Each bad byte becomes the 3-byte U+FFFD. */
  char *out = malloc(3 * len + 1), *o = out;
  if (!out)
    return NULL;
  while (*s) {
    size_t n = utf8_len(s);
    if (n) {
      memcpy(o, s, n);
      o += n;
      s += n;
    } else {
      memcpy(o, "\xEF\xBF\xBD", 3);
      o += 3;
      s++;
    }
  }
  *o = 0;
  return out;
}

/* A JSON string from C text that may not be UTF-8 (parameters, host names): invalid bytes
 * become U+FFFD, the replacement character, so the report always parses. */
static json_t *jstr(const char *text) {
  json_t *j = json_string(text ? text : "");
  if (j)
    return j;
  char *clean = so__utf8_clean(text);
  j = clean ? json_string(clean) : NULL;
  free(clean);
  return j;
}

/* A JSON number, or null for NaN and the infinities, which JSON cannot carry. */
static json_t *jreal(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* json_object_set_new that remembers a failure (out of memory) instead of returning it. */
static void put(json_t *obj, const char *key, json_t *value, int *bad) {
  if (!value || json_object_set_new(obj, key, value) != 0)
    *bad = 1;
}

/* The ranks grouped by node (so__report_nodes), with the workers' ranks of each, and how many
 * nodes. */
static void json_nodes(json_t *root, const so_report *rep, int *bad) {
  so__node_report *nodes = NULL;
  int n = so__report_nodes(rep, &nodes);
  json_t *ns = n >= 0 ? json_array() : NULL;
  for (int i = 0; ns && i < n; i++) {
    const so__node_report *node = &nodes[i];
    json_t *o = json_object(), *ranks = json_array();
    if (!o || !ranks || json_array_append_new(ns, o) != 0) {
      json_decref(ranks);
      *bad = 1;
      break;
    }
    put(o, "host", jstr(node->host), bad);
    put(o, "workers", json_integer(node->workers), bad);
    put(o, "master", json_boolean(node->master), bad);
    /* The node's workers follow its first one; a later node's never come before it. */
    for (int w = node->first; w >= 0 && w < rep->nworkers; w++)
      if (strcmp(rep->workers[w].host, node->host) == 0 &&
          json_array_append_new(ranks, json_integer(rep->workers[w].rank)) != 0)
        *bad = 1;
    put(o, "ranks", ranks, bad);
    put(o, "tasks", json_integer((json_int_t)node->tasks), bad);
    put(o, "failed", json_integer((json_int_t)node->failed), bad);
    put(o, "busy_seconds", jreal(node->busy), bad);
    put(o, "busy_share", jreal(so__node_busy_share(rep, node)), bad);
  }
  free(nodes);
  put(root, "node_count", n >= 0 ? json_integer(n) : NULL, bad);
  put(root, "nodes", ns, bad);
}

/* The batch job the run belongs to, {"scheduler": "slurm", "id": "1234"}, or null. */
static json_t *json_batch_job(int *bad) {
  so__batch_job bj;
  if (!so__batch_job_get(&bj))
    return json_null();
  json_t *o = json_object();
  if (!o)
    return NULL;
  put(o, "scheduler", json_string(bj.key), bad);
  put(o, "id", jstr(bj.id), bad);
  return o;
}

/* Task parallelism: per-type figures, per-stage bounds and tasks never run. */
void so__report_json_tasks(void *root_json, const so_report *rep, int *bad) {
  json_t *root = root_json;
  put(root, "not_run", json_integer((json_int_t)rep->not_run), bad);
  if (rep->ntypes) {
    json_t *ts = json_array();
    for (int i = 0; ts && i < rep->ntypes; i++) {
      const so_type_report *t = &rep->types[i];
      json_t *o = json_object();
      if (!o || json_array_append_new(ts, o) != 0) {
        *bad = 1;
        break;
      }
      put(o, "name", jstr(t->name), bad);
      put(o, "tasks", json_integer((json_int_t)t->tasks), bad);
      put(o, "failed", json_integer((json_int_t)t->failed), bad);
      put(o, "mean_seconds", jreal(t->mean), bad);
      put(o, "largest_batch", json_integer(t->batch), bad);
    }
    put(root, "types", ts, bad);
  }
  if (rep->nstages) {
    json_t *ss = json_array();
    for (int i = 0; ss && i < rep->nstages; i++) {
      const so_stage_report *t = &rep->stages[i];
      json_t *o = json_object();
      if (!o || json_array_append_new(ss, o) != 0) {
        *bad = 1;
        break;
      }
      put(o, "name", jstr(t->name), bad);
      put(o, "capacity", json_integer(t->capacity), bad);
      put(o, "max_occupancy", json_integer(t->max_occupancy), bad);
      put(o, "held", json_integer((json_int_t)t->held), bad);
      put(o, "held_seconds", jreal(t->held_seconds), bad);
    }
    put(root, "stages", ss, bad);
  }
}

static json_t *answer_json(const so_answer *a, int *bad) {
  json_t *o = json_object();
  if (!o) {
    *bad = 1;
    return NULL;
  }
  for (size_t i = 0; a && i < a->n; i++) {
    const so__answer_item *it = &a->items[i];
    json_t *v = it->kind == SO_ANSWER_INT      ? json_integer(it->i)
                : it->kind == SO_ANSWER_DOUBLE ? jreal(it->d)
                                               : jstr(it->s);
    char *name = so__utf8_clean(it->name);
    if (!name) {
      json_decref(v);
      *bad = 1;
      continue;
    }
    put(o, name, v, bad);
    free(name);
  }
  return o;
}

char *so__report_json_text(const so_report *rep, const so_job *job, const so_params *params,
                           const so_config *cfg) {
  int bad = 0;
  char buf[32];
  json_t *root = json_object();
  if (!root)
    return NULL;
  put(root, "scaleout_version", json_string(SO_VERSION), &bad);
  put(root, "job", jstr(job->name), &bad);
  put(root, "batch_job", json_batch_job(&bad), &bad);
  json_t *ps = json_object();
  for (size_t i = 0; ps && params && i < so__params_count(params); i++) {
    const so_param_def *d = so__params_def(params, i);
    char *key = so__utf8_clean(d->name);
    if (key)
      put(ps, key, jstr(so__params_text(params, d->name)), &bad);
    else
      bad = 1;
    free(key);
  }
  put(root, "params", ps, &bad);
  json_t *c = json_object();
  if (c) {
    put(c, "workers", json_integer(rep->nworkers), &bad);
    put(c, "queue", json_string(so__discipline_name(cfg->discipline)), &bad);
    put(c, "batch", cfg->batch ? json_integer(cfg->batch) : json_string("auto"), &bad);
    put(c, "bind", json_string(so__bind_policy_name(cfg->bind)), &bad);
  }
  put(root, "config", c, &bad);
  put(root, "answer", answer_json(rep->answer, &bad), &bad);
  /* The exit status the job chose for the command (so_ctx_set_exit), or null. */
  put(root, "exit_status",
      answers_status(rep) ? json_integer(rep->answer->exit_status) : json_null(), &bad);
  /* Whether the answer covers every task: a stop signal or a failed task makes it partial. */
  int signalled = rep->stopped == SO_STOPPED_SIGNAL;
  put(root, "complete", json_boolean(!rep->stopped && !rep->failed), &bad);
  put(root, "stopped", json_boolean(rep->stopped != 0), &bad);
  put(root, "stop_reason",
      signalled ? json_string("signal") : rep->stopped ? json_string("halt") : json_null(), &bad);
  put(root, "signal",
      signalled && rep->signal ? json_string(so__signal_name(rep->signal, buf, sizeof buf))
                               : json_null(),
      &bad);
  put(root, "tasks", json_integer((json_int_t)rep->tasks), &bad);
  put(root, "failed", json_integer((json_int_t)rep->failed), &bad);
  put(root, "messages", json_integer((json_int_t)rep->messages), &bad);
  put(root, "wall_seconds", jreal(rep->wall), &bad);
  put(root, "tasks_per_second", jreal(rate(rep)), &bad);
  put(root, "master_cpu_seconds", jreal(rep->master_cpu), &bad);
  put(root, "master_cpu_share", jreal(rep->wall > 0 ? rep->master_cpu / rep->wall : 0.0), &bad);
  put(root, "load_imbalance", jreal(so__report_imbalance(rep)), &bad);
  json_t *ws = json_array();
  for (int i = 0; ws && i < rep->nworkers; i++) {
    const so_worker_report *w = &rep->workers[i];
    json_t *o = json_object();
    if (!o || json_array_append_new(ws, o) != 0) {
      bad = 1;
      break;
    }
    put(o, "rank", json_integer(w->rank), &bad);
    put(o, "host", jstr(w->host), &bad);
    put(o, "tasks", json_integer((json_int_t)w->tasks), &bad);
    put(o, "failed", json_integer((json_int_t)w->failed), &bad);
    put(o, "busy_seconds", jreal(w->busy), &bad);
    put(o, "busy_share", jreal(rep->wall > 0 ? w->busy / rep->wall : 0.0), &bad);
    put(o, "cpuset", jstr(w->cpuset), &bad);
    put(o, "bound_by", jstr(w->bound_by), &bad);
    put(o, "last_pu", json_integer(w->last_pu), &bad);
    put(o, "last_core", json_integer(w->last_core), &bad);
  }
  put(root, "workers", ws, &bad);
  json_nodes(root, rep, &bad);
  so__report_json_tasks(root, rep, &bad);
  /* 17 significant digits: a double read back is the double written (pi's bits). */
  char *text = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(root);
  return text;
}

int so__report_json(const char *path, const so_report *rep, const so_job *job,
                    const so_params *params, const so_config *cfg) {
  char *text = so__report_json_text(rep, job, params, cfg);
  if (!text) {
    so__errorf("cannot build the JSON report: out of memory");
    return SO_ENOMEM;
  }
  FILE *f = fopen(path, "w");
  if (!f) {
    so__errorf("cannot write the JSON report '%s': %s", path, strerror(errno));
    free(text);
    return SO_EIO;
  }
  int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
  free(text);
  /* fclose flushes: a full disk shows up here, and the report must not pass for written. */
  if (fclose(f) != 0 || !ok) {
    so__errorf("cannot write the JSON report '%s': %s", path, strerror(errno));
    return SO_EIO;
  }
  return 0;
}

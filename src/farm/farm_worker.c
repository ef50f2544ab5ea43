/* The farm's worker half: hands commands to this worker's shepherd, forwards their output to the
 * master in whole lines (tagged if asked), and turns each finished command into a result. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "farm.h"
#include "joblock.h"
#include "shepherd.h"
#include "template.h"

/* A command this worker started: what its output and result need. */
typedef struct running {
  uint64_t id;
  uint64_t seq;        /* the joblog's Seq, by which messages name the task */
  unsigned slot;       /* 0-based slot on this worker, for {%} */
  int line_start[2];   /* the next output byte of stdout / stderr starts a line */
  char *tag;           /* NUL-terminated tag, or NULL */
  char *cmd;           /* the command as run, when expanded here */
  size_t cmd_len;
} running;

typedef struct farm_worker {
  so__shepherd *sh;
  so__template *tmpl;   /* for {%}: expansion happens here */
  const char *results;
  int tag;
  unsigned slots;
  running *run;        /* slots entries; id 0 with tag and cmd NULL marks a free one */
  unsigned char *busy; /* per slot */
  char host[64];
  char env_id[48], env_worker[48], env_host[96], env_cpus[1100];
  so__buf line;
  so__buf cmd;
  double limit;        /* the latest --timeout P% limit the master sent */
  int have_limit;
} farm_worker;

#define FAIL(ctx, ...) (so_ctx_errorf(ctx, __VA_ARGS__), SO_EJOB)

/* This process's CPU binding as a list ("0-3,6"), which the commands inherit. */
static void cpu_list(char *out, size_t outlen) {
  cpu_set_t set;
  size_t n = 0;
  out[0] = 0;
  if (sched_getaffinity(0, sizeof set, &set))
    return;
  for (int c = 0; c < CPU_SETSIZE && n + 24 < outlen; c++) {
    if (!CPU_ISSET(c, &set))
      continue;
    int e = c;
    while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set))
      e++;
    n += (size_t)snprintf(out + n, outlen - n, e > c ? "%s%d-%d" : "%s%d", n ? "," : "", c, e);
    c = e;
  }
}

int so__farm_worker_init(so_ctx *ctx) {
  farm_worker *w = calloc(1, sizeof *w);
  if (!w)
    return FAIL(ctx, "out of memory");
  so_ctx_set_state(ctx, w);
  w->slots = so_ctx_slots(ctx);
  w->run = calloc(w->slots, sizeof *w->run);
  w->busy = calloc(w->slots, 1);
  if (!w->run || !w->busy)
    return FAIL(ctx, "out of memory");
  w->results = so_ctx_string(ctx, "results");
  w->tag = (int)so_ctx_int(ctx, "tag");
  const char *command = so_ctx_string(ctx, "command");
  char err[512];
  if (command[0] && strstr(command, "{%}") && so__template_parse(&w->tmpl, command, err, sizeof err))
    return FAIL(ctx, "--command: %s", err);
  if (gethostname(w->host, sizeof w->host - 1))
    snprintf(w->host, sizeof w->host, "unknown");
  char cpus[1024];
  cpu_list(cpus, sizeof cpus);
  snprintf(w->env_worker, sizeof w->env_worker, "SCALEOUT_WORKER=%d", so_ctx_rank(ctx));
  snprintf(w->env_host, sizeof w->env_host, "SCALEOUT_HOST=%s", w->host);
  snprintf(w->env_cpus, sizeof w->env_cpus, "SCALEOUT_CPUS=%s", cpus);

  char shard[4400] = "", lock[4200] = "";
  const char *joblog = so_ctx_string(ctx, "joblog");
  if (joblog[0]) {
    char dir[4200];
    if (so__farm_shard_dir(joblog, dir, sizeof dir) || so__joblock_path(joblog, lock, sizeof lock))
      return FAIL(ctx, "the joblog path is too long");
    snprintf(shard, sizeof shard, "%s/%s.%d.%ld", dir, w->host, so_ctx_rank(ctx), (long)getpid());
  }
  so__shepherd_opts o = {.exe = "/proc/self/exe",
                        .slots = w->slots,
                        .grace = so_ctx_double(ctx, "kill-grace"),
                        .shard = shard[0] ? shard : NULL,
                        .lock = lock[0] ? lock : NULL,
                        .host = w->host,
                        .sync_interval = so_ctx_double(ctx, "joblog-sync")};
  if (so__shepherd_start(&o, &w->sh, err, sizeof err))
    return FAIL(ctx, "cannot start the command shepherd: %s", err);
  return 0;
}

static running *find(farm_worker *w, uint64_t id) {
  for (unsigned i = 0; i < w->slots; i++)
    if (w->busy[i] && w->run[i].id == id)
      return &w->run[i];
  return NULL;
}

int so__farm_start(so_ctx *ctx, const so_task *task) {
  farm_worker *w = so_ctx_state(ctx);
  so__farm_task h;
  if (task->len < sizeof h)
    return FAIL(ctx, "a command task arrived malformed");
  memcpy(&h, task->data, sizeof h);
  if (task->len - sizeof h < h.tag_len)
    return FAIL(ctx, "a command task arrived malformed");
  unsigned slot = 0;
  while (slot < w->slots && w->busy[slot])
    slot++;
  if (slot == w->slots)
    return FAIL(ctx, "more commands started than --threads allows");
  const char *tag = (const char *)task->data + sizeof h;
  const char *text = tag + h.tag_len;
  size_t text_len = task->len - sizeof h - h.tag_len;
  running *r = &w->run[slot];
  memset(r, 0, sizeof *r);
  r->id = task->id;
  r->seq = h.seq;
  r->slot = slot;
  r->line_start[0] = r->line_start[1] = 1;
  if (w->tag && !(r->tag = strndup(tag, h.tag_len)))
    return FAIL(ctx, "out of memory");
  const char *cmd = text;
  size_t cmd_len = text_len;
  if (h.flags & SO_FARM_EXPAND_ON_WORKER) {
    so__buf_clear(&w->cmd);
    uint64_t global_slot = (uint64_t)(so_ctx_rank(ctx) - 1) * w->slots + slot + 1;
    if (!w->tmpl || so__template_expand(w->tmpl, text, text_len, h.seq, global_slot, &w->cmd) ||
        !(r->cmd = malloc(w->cmd.len + 1)))
      return FAIL(ctx, "cannot expand the command template for task %llu",
                  (unsigned long long)h.seq);
    memcpy(r->cmd, w->cmd.data, w->cmd.len + 1);
    r->cmd_len = w->cmd.len;
    cmd = r->cmd;
    cmd_len = r->cmd_len;
  }
  snprintf(w->env_id, sizeof w->env_id, "SCALEOUT_TASK_ID=%llu", (unsigned long long)h.seq);
  const char *env[] = {w->env_id, w->env_worker, w->env_host, w->env_cpus, NULL};
  so__shep_task t = {.id = task->id,
                    .seq = h.seq,
                    .cmd = cmd,
                    .cmd_len = cmd_len,
                    .env = env,
                    .timeout = (h.flags & SO_FARM_TIMEOUT_PCT) && w->have_limit ? w->limit
                                                                                 : h.timeout,
                    .output = w->results[0] ? SO_SHEP_OUT_RESULTS : SO_SHEP_OUT_PIPE,
                    .results_dir = w->results[0] ? w->results : NULL};
  char err[512];
  if (so__shepherd_run(w->sh, &t, err, sizeof err))
    return FAIL(ctx, "%s", err);
  w->busy[slot] = 1;
  return 0;
}

/* Forwards output, putting "tag<TAB>" before every line when --tag asked for it. */
static int forward(so_ctx *ctx, farm_worker *w, const so__shep_event *ev) {
  running *r = find(w, ev->id);
  int s = ev->stream == 2 ? 1 : 0;
  int partial = ev->len == 0 || ev->data[ev->len - 1] != '\n';
  if (!r || !r->tag) {
    if (r)
      r->line_start[s] = !partial;
    return so_ctx_output(ctx, ev->id, ev->stream, ev->data, ev->len, partial);
  }
  so__buf_clear(&w->line);
  const char *p = ev->data, *end = p + ev->len;
  while (p < end) {
    if (r->line_start[s] && (so__buf_append(&w->line, r->tag, strlen(r->tag)) ||
                             so__buf_append(&w->line, "\t", 1)))
      return SO_ENOMEM;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl + 1 : end;
    if (so__buf_append(&w->line, p, (size_t)(stop - p)))
      return SO_ENOMEM;
    r->line_start[s] = nl != NULL;
    p = stop;
  }
  return so_ctx_output(ctx, ev->id, ev->stream, w->line.data, w->line.len, partial);
}

static int finished(so_ctx *ctx, farm_worker *w, const so__shep_event *ev) {
  running *r = find(w, ev->id);
  /* Output that ended inside a line is complete now: an empty closing piece lets the master write
   * the held part as it is. No newline is added, so output stays byte for byte what the command
   * wrote (GNU parallel's --group does the same). */
  for (int s = 0; r && s < 2; s++)
    if (!r->line_start[s]) {
      int rc = so_ctx_output(ctx, ev->id, s + 1, "", 0, 0);
      if (rc)
        return rc;
      r->line_start[s] = 1;
    }
  so__farm_result res;
  memset(&res, 0, sizeof res);
  res.exitval = ev->exitval;
  res.signal = ev->signal;
  res.timed_out = ev->timed_out;
  /* Killed because the run is stopping, and so not a result; one that still exited 0 finished. */
  int exited_ok = ev->exitval == 0 && !ev->signal;
  res.killed = ev->killed && !ev->timed_out && !exited_ok;
  res.unlogged = ev->unlogged;
  res.start = ev->start;
  res.wall = ev->wall;
  res.utime = ev->utime;
  res.stime = ev->stime;
  res.maxrss_kb = ev->maxrss_kb;
  res.out_bytes = ev->out_bytes;
  res.err_bytes = ev->err_bytes;
  snprintf(res.host, sizeof res.host, "%s", w->host);
  int32_t status = exited_ok && !ev->timed_out ? 0 : 1;
  if (ev->unlogged && ev->started && ev->error) /* why the run stops launching (farm_master.c) */
    fprintf(stderr, "scaleout: error: task %llu: %s\n", (unsigned long long)(r ? r->seq : 0),
            ev->error);
  else if (!ev->started && ev->error && !ev->unlogged && !so_ctx_quiet(ctx))
    fprintf(stderr, "scaleout: warning: task %llu did not start: %s\n",
            (unsigned long long)(r ? r->seq : 0), ev->error);
  so__buf_clear(&w->line);
  int rc = so__buf_append(&w->line, &res, sizeof res);
  if (!rc && r && r->cmd)
    rc = so__buf_append(&w->line, r->cmd, r->cmd_len);
  if (r) {
    free(r->tag);
    free(r->cmd);
    w->busy[r->slot] = 0;
    memset(r, 0, sizeof *r);
  }
  if (!rc)
    rc = so_task_done(ctx, ev->id, status, w->line.data, w->line.len);
  return rc;
}

int so__farm_progress(so_ctx *ctx, int timeout_ms) {
  farm_worker *w = so_ctx_state(ctx);
  int done = 0;
  char err[512];
  for (int first = 1;; first = 0) {
    so__shep_event ev;
    int r = so__shepherd_poll(w->sh, first ? timeout_ms : 0, &ev, err, sizeof err);
    if (r < 0)
      return FAIL(ctx, "%s", err);
    if (r == 0)
      return done;
    if (ev.kind == SO_SHEP_EV_OUTPUT)
      r = forward(ctx, w, &ev);
    else if (ev.kind == SO_SHEP_EV_DONE) {
      r = finished(ctx, w, &ev);
      done++;
    }
    if (r)
      return FAIL(ctx, "cannot pass a command's result on (%s)", so_strerror(r));
  }
}

void so__farm_cancel(so_ctx *ctx) {
  farm_worker *w = so_ctx_state(ctx);
  char err[512];
  if (w && w->sh)
    so__shepherd_kill_all(w->sh, err, sizeof err);
}

/* A new --timeout P% limit: it replaces every running and waiting command's, and the limit in
 * every task that arrives later (tasks travel apart from notices, so one handed out after this
 * notice may carry a newer limit and still arrive first: it runs with this one until the next
 * notice, which comes at once). */
int so__farm_notice(so_ctx *ctx, const void *data, size_t len) {
  farm_worker *w = so_ctx_state(ctx);
  so__farm_limit_msg n;
  if (len != sizeof n)
    return FAIL(ctx, "a --timeout notice arrived malformed");
  memcpy(&n, data, sizeof n);
  char err[512];
  if (so__shepherd_set_timeout(w->sh, n.timeout, err, sizeof err))
    return FAIL(ctx, "%s", err);
  w->limit = n.timeout;
  w->have_limit = 1;
  return 0;
}

void so__farm_worker_fini(so_ctx *ctx) {
  farm_worker *w = so_ctx_state(ctx);
  if (!w)
    return;
  char err[512];
  so__shepherd_stop(w->sh, err, sizeof err);
  for (unsigned i = 0; w->run && i < w->slots; i++) {
    free(w->run[i].tag);
    free(w->run[i].cmd);
  }
  free(w->run);
  free(w->busy);
  so__template_free(w->tmpl);
  so__buf_free(&w->line);
  so__buf_free(&w->cmd);
  free(w);
  so_ctx_set_state(ctx, NULL);
}

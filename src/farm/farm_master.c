/* The farm's master half: reads the task source as a stream, skips what a resumed joblog already
 * has, logs every finished command, and applies the timeout, halt and progress options. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "error.h"
#include "farm.h"
#include "fileio.h"
#include "joblock.h"
#include "joblog.h"
#include "median.h"
#include "signals.h"
#include "taskfile.h"
#include "template.h"

typedef struct farm_master {
  /* options */
  const char *tasks, *command, *args, *joblog, *extlog;
  int resume, resume_failed, force, progress, wait_joblog;
  double timeout_s, timeout_pct, sync;
  int halt_how;        /* 0, SO_HALT_SOON, SO_HALT_NOW */
  int64_t halt_n;      /* fail=N */
  double halt_pct;     /* fail=P% */
  /* the source */
  so__taskfile *tf;
  const char *const *list; /* ::: words */
  int nlist, ilist;
  so__template *tmpl;
  int on_worker;       /* {%}: the worker expands */
  uint64_t seq;
  so__buf cmd, payload;
  /* the logs */
  so__joblog_status status;
  so__srcprint *sp;
  so__joblog *jl;
  FILE *ext;
  int lock;            /* JOBLOG.lock, held shared while this run owns the joblog; -1 */
  int log_failed;      /* a result could not be written to the joblog: launch nothing more */
  char shards[4096];
  char host[64];       /* this host's name: its commands are logged with Host ":" */
  /* figures */
  uint64_t total, succeeded, failed, killed, skipped, timed_out, rerun;
  double cpu_user, cpu_sys, task_wall; /* summed over logged commands (wait4) */
  int64_t max_rss_kb;
  so__median median;    /* of the logged commands' runtimes, for --timeout P% */
  double limit;        /* the --timeout P% limit now, 0 before SO_FARM_PCT_MIN finished */
  double limit_sent;   /* the last limit the workers were told */
  double t0, last_draw;
  int drawn;
} farm_master;

/* Errors of the master half are the user's input (options, the task source, the logs they name)
 * unless they happen mid-run, where the engine treats any error as the run failing. */
#define FAIL(ctx, ...) (so_ctx_errorf(ctx, __VA_ARGS__), SO_EINVAL)
/* Errors of the runner itself (a log that cannot be written, a shard still locked): exit 104. */
#define FAIL_IO(ctx, ...) (so_ctx_errorf(ctx, __VA_ARGS__), SO_EIO)

int so__farm_shard_dir(const char *joblog, char *out, size_t outlen) {
  int n = snprintf(out, outlen, "%s.shards", joblog);
  return n > 0 && (size_t)n < outlen ? 0 : SO_EINVAL;
}

/* --- Options --- */

static int parse_timeout(so_ctx *ctx, farm_master *m, const char *t) {
  if (!t[0])
    return 0;
  char *end;
  errno = 0;
  double v = strtod(t, &end);
  if (end == t || errno || !(v > 0) || !isfinite(v) || (*end && strcmp(end, "%")))
    return FAIL(ctx, "--timeout expects seconds or a percentage like 200%%, not '%s'", t);
  if (*end)
    m->timeout_pct = v;
  else
    m->timeout_s = v;
  return 0;
}

static int parse_halt(so_ctx *ctx, farm_master *m, const char *h) {
  if (!h[0] || strcmp(h, "never") == 0)
    return 0;
  const char *rest;
  if (strncmp(h, "now,", 4) == 0) {
    m->halt_how = SO_HALT_NOW;
    rest = h + 4;
  } else if (strncmp(h, "soon,", 5) == 0) {
    m->halt_how = SO_HALT_SOON;
    rest = h + 5;
  } else {
    return FAIL(ctx, "--halt expects now|soon,fail=N|fail=P%%, not '%s'", h);
  }
  char *end;
  errno = 0;
  double v = strncmp(rest, "fail=", 5) == 0 ? strtod(rest + 5, &end) : -1;
  if (v <= 0 || errno || !isfinite(v) || (strcmp(end, "%") && *end) ||
      (!*end && v != floor(v)))
    return FAIL(ctx, "--halt expects now|soon,fail=N|fail=P%% with N >= 1 or 0 < P <= 100, not '%s'",
                h);
  if (*end) {
    if (v > 100)
      return FAIL(ctx, "--halt percentage must be at most 100%%, not '%s'", h);
    m->halt_pct = v;
  } else {
    m->halt_n = (int64_t)v;
  }
  return 0;
}

/* --- The source: a task file, an argument file, or the ::: list --- */

/* Returns 1 with the next command or argument, 0 at the end, SO_LINES_LATER when a stream has
 * no whole line yet, -1 on error (reported). */
static int source_next(so_ctx *ctx, farm_master *m, const char **text, size_t *len,
                       uint64_t *lineno) {
  if (!m->tf) {
    if (m->ilist >= m->nlist)
      return 0;
    *text = m->list[m->ilist];
    *len = strlen(*text);
    *lineno = (uint64_t)++m->ilist;
    return 1;
  }
  char err[512];
  int r = so__taskfile_next(m->tf, text, len, lineno, err, sizeof err);
  if (r < 0)
    return FAIL(ctx, "%s", err);
  return r;
}

static int source_open(so_ctx *ctx, farm_master *m) {
  char err[512];
  if (m->tasks[0] || m->args[0]) {
    const char *path = m->tasks[0] ? m->tasks : m->args;
    int rc = so__taskfile_open(&m->tf, path, m->tasks[0] ? SO_TASKFILE_COMMANDS : SO_TASKFILE_ARGS,
                               err, sizeof err);
    if (rc)
      return FAIL(ctx, "%s", err);
  }
  m->ilist = 0;
  return 0;
}

/* How messages name the source. */
static const char *source_name(const farm_master *m) {
  if (m->tasks[0])
    return strcmp(m->tasks, "-") ? m->tasks : "standard input";
  if (m->args[0])
    return strcmp(m->args, "-") ? m->args : "standard input";
  return "the ::: list";
}

/* The command seq will run, into m->cmd: the line itself, or the template expanded. */
static int expand(farm_master *m, const char *text, size_t len, uint64_t seq) {
  so__buf_clear(&m->cmd);
  if (!m->tmpl)
    return so__buf_append(&m->cmd, text, len);
  /* {%} is the worker's slot, unknown here: fingerprints and messages use slot 0. */
  return so__template_expand(m->tmpl, text, len, seq, 0, &m->cmd);
}

static int skip_seq(const farm_master *m, uint64_t seq) {
  if (!m->resume && !m->resume_failed)
    return 0;
  int st = so__joblog_status_of(&m->status, seq);
  return st == SO_JOBLOG_SUCCEEDED || (st == SO_JOBLOG_FAILED && !m->resume_failed);
}

/* Reads a re-readable source once before the run: it checks the whole source (a bad line fails
 * the run before anything starts), counts the tasks for progress and the worker check, and,
 * when resuming, checks the fingerprints without writing. A stream (standard input, a pipe) is
 * not pre-read: it can be read only once, and its lines are to run as they arrive. */
static int prescan(so_ctx *ctx, farm_master *m, const char *sidecar) {
  if (m->tf && !so__taskfile_rereadable(m->tf))
    return 0;
  char err[512];
  so__srcprint *check = NULL;
  if (sidecar && (m->resume || m->resume_failed)) {
    struct stat sb;
    if (stat(sidecar, &sb) == 0 || !m->force) {
      unsigned fl = SO_SRCPRINT_RESUME | SO_SRCPRINT_CHECK_ONLY;
      if (!m->force && so__srcprint_open(&check, sidecar, fl, source_name(m), err, sizeof err))
        return FAIL(ctx, "%s", err);
    }
  }
  const char *text;
  size_t len;
  uint64_t lineno, seq = 0, todo = 0;
  int r;
  while ((r = source_next(ctx, m, &text, &len, &lineno)) == 1) {
    seq++;
    if (expand(m, text, len, seq))
      r = FAIL(ctx, "line %llu of the task source holds a NUL byte", (unsigned long long)lineno);
    else if (check && so__srcprint_add(check, seq, lineno, (const char *)m->cmd.data, m->cmd.len, err,
                                               sizeof err))
      r = FAIL(ctx, "%s (use --force to run the changed source anyway)", err);
    if (r < 0)
      break;
    todo += !skip_seq(m, seq);
  }
  if (r == 0 && check && so__srcprint_finish(check, err, sizeof err) < 0)
    r = FAIL(ctx, "%s (use --force to run the changed source anyway)", err);
  so__srcprint_close(check);
  so__taskfile_close(m->tf);
  m->tf = NULL;
  if (r < 0)
    return SO_EINVAL;
  m->total = todo;
  so_ctx_set_total(ctx, todo);
  return source_open(ctx, m);
}

/* The joblog's Host for a command that ran on host: ":" (NULL) for this host, the one the master
 * runs on, as GNU parallel writes ":" for the machine it runs on; the worker's host name for any
 * other, so a multi-node run's log still says where each command ran. */
static const char *log_host(const farm_master *m, const char *host) {
  return !host || !host[0] || strcmp(host, m->host) == 0 ? NULL : host;
}

/* --- Resume: the joblog plus the shards a crashed run left --- */

static int add_shard_line(void *arg, const so__joblog_entry *e, char *err, size_t errlen) {
  farm_master *m = arg;
  int had = so__joblog_status_of(&m->status, e->seq);
  int ok = e->exitval == 0 && e->signal == 0;
  /* What the log lacks goes into it, so the log alone is complete again. */
  if (had == SO_JOBLOG_NOT_RUN || (ok && had != SO_JOBLOG_SUCCEEDED)) {
    so__joblog_entry line = *e;
    line.host = log_host(m, e->host);
    int rc = so__joblog_append(m->jl, &line, err, errlen);
    if (rc)
      return rc;
    return so__joblog_status_add(&m->status, e, err, errlen);
  }
  return 0;
}

/* Waits (up to SO_FARM_SHARD_WAIT seconds) for the exclusive lock of a shard. At the end of a
 * run the shepherds are exiting at that moment, so the first retries come within a millisecond
 * or two; the pause grows to 50 ms for a shepherd that is still draining. Returns 0, or -1 when
 * a shepherd still holds it: a shepherd of this run stuck for that long (the owner lock keeps
 * every other run's out), whose shard is then left for --resume rather than read half-written. */
#define SO_FARM_SHARD_WAIT 30
static int lock_shard(int fd, const char *path) {
  long ns = 250000;
  int told = 0;
  for (double waited = 0; waited < SO_FARM_SHARD_WAIT; waited += ns * 1e-9) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      return 0;
    if (!told && waited >= 1) {
      fprintf(stderr, "scaleout: waiting for the shepherd that writes %s to finish\n", path);
      told = 1;
    }
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
    if (ns < 50000000)
      ns = ns * 2 < 50000000 ? ns * 2 : 50000000;
  }
  return -1;
}

/* Merges every shard into the joblog (unless only clearing the leftovers of a run not being
 * resumed), then removes the shards once the log is synced. A shard that vanished meanwhile is
 * no error: whoever removed it had merged it. */
static int absorb_shards(so_ctx *ctx, farm_master *m, int merge) {
  DIR *d = opendir(m->shards);
  if (!d)
    return errno == ENOENT ? 0 : FAIL_IO(ctx, "cannot read %s: %s", m->shards, strerror(errno));
  char err[512], path[8192];
  struct dirent *de;
  int rc = 0;
  while (!rc && (de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    snprintf(path, sizeof path, "%s/%s", m->shards, de->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno != ENOENT)
        rc = FAIL_IO(ctx, "cannot open the joblog shard %s: %s", path, strerror(errno));
      continue;
    }
    /* A shepherd holds a lock on its shard while it lives and may still be recording its last
     * commands: read (or remove) the shard only once it let go. */
    if (lock_shard(fd, path))
      rc = FAIL_IO(ctx, "the joblog shard %s was still locked by a shepherd after %d s; it is "
                        "left for --resume", path, SO_FARM_SHARD_WAIT);
    int r = rc || !merge ? 0 : so__joblog_scan_fd(fd, path, add_shard_line, m, NULL, err, sizeof err);
    if (r)
      rc = r == SO_EINVAL ? FAIL(ctx, "%s", err) : FAIL_IO(ctx, "%s", err);
    close(fd);
  }
  if (!rc && so__joblog_sync(m->jl, err, sizeof err))
    rc = FAIL_IO(ctx, "%s", err);
  rewinddir(d);
  while (!rc && (de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    snprintf(path, sizeof path, "%s/%s", m->shards, de->d_name);
    unlink(path);
  }
  closedir(d);
  return rc;
}

static int open_logs(so_ctx *ctx, farm_master *m) {
  char err[512], sidecar[4200], lock[4200];
  int resuming = m->resume || m->resume_failed;
  if (!m->joblog[0]) {
    if (resuming)
      return FAIL(ctx, "--resume and --resume-failed need --joblog FILE");
    return prescan(ctx, m, NULL);
  }
  if (so__farm_shard_dir(m->joblog, m->shards, sizeof m->shards) ||
      so__joblock_path(m->joblog, lock, sizeof lock))
    return FAIL(ctx, "the joblog path is too long");
  /* Before the log, its shards or its sidecar are touched: this run must own them (joblock.h). */
  int rc = so__joblock_own(lock, m->wait_joblog ? SO_JOBLOCK_WAIT : SO_JOBLOCK_REFUSE,
                           so_ctx_quiet(ctx), so__signals_caught, &m->lock, err, sizeof err);
  if (rc) {
    so_ctx_errorf(ctx, "%s", err);
    return rc;
  }
  snprintf(sidecar, sizeof sidecar, "%s%s", m->joblog, SO_SRCPRINT_SUFFIX);
  struct stat sb;
  if (resuming && stat(m->joblog, &sb) != 0 && stat(m->shards, &sb) != 0) {
    /* Nothing ran yet (like GNU parallel, --resume then simply runs everything). */
    m->resume = m->resume_failed = resuming = 0;
  } else if (resuming && stat(sidecar, &sb) != 0 && !m->force) {
    /* A log without fingerprints (GNU parallel's own, or one written before they existed): the
     * source cannot be checked against it. */
    if (!so_ctx_quiet(ctx))
      fprintf(stderr, "scaleout: warning: %s has no fingerprint file %s, so a changed task source "
                      "cannot be detected\n", m->joblog, sidecar);
    m->force = 1;
  }
  so__joblog_options o = {.resume = resuming, .sync_interval = m->sync};
  if (so__joblog_open(&m->jl, m->joblog, &o, resuming ? &m->status : NULL, err, sizeof err))
    return FAIL(ctx, "%s", err);
  if ((rc = absorb_shards(ctx, m, resuming)))
    return rc;
  if (mkdir(m->shards, 0777) && errno != EEXIST)
    return FAIL(ctx, "cannot create %s: %s", m->shards, strerror(errno));
  if (prescan(ctx, m, sidecar))
    return SO_EINVAL;
  unsigned fl = resuming ? SO_SRCPRINT_RESUME | (m->force ? SO_SRCPRINT_FORCE : 0) : 0;
  if (so__srcprint_open(&m->sp, sidecar, fl, source_name(m), err, sizeof err))
    return FAIL(ctx, "%s", err);
  return 0;
}

int so__farm_master_init(so_ctx *ctx) {
  farm_master *m = calloc(1, sizeof *m);
  if (!m)
    return FAIL(ctx, "out of memory");
  so_ctx_set_state(ctx, m);
  m->tasks = so_ctx_string(ctx, "tasks");
  m->command = so_ctx_string(ctx, "command");
  m->args = so_ctx_string(ctx, "args");
  m->joblog = so_ctx_string(ctx, "joblog");
  m->extlog = so_ctx_string(ctx, "extlog");
  m->resume = (int)so_ctx_int(ctx, "resume");
  m->resume_failed = (int)so_ctx_int(ctx, "resume-failed");
  m->force = (int)so_ctx_int(ctx, "force");
  m->sync = so_ctx_double(ctx, "joblog-sync");
  m->wait_joblog = (int)so_ctx_int(ctx, "wait-joblog");
  m->lock = -1;
  m->progress = so_ctx_int(ctx, "progress") || (!so_ctx_quiet(ctx) && isatty(2));
  m->nlist = so_ctx_args(ctx, &m->list);
  m->t0 = so__mono_s();
  so__median_init(&m->median);
  if (gethostname(m->host, sizeof m->host - 1))
    m->host[0] = 0;
  if (parse_timeout(ctx, m, so_ctx_string(ctx, "timeout")) ||
      parse_halt(ctx, m, so_ctx_string(ctx, "halt")))
    return SO_EINVAL;
  if (!m->tasks[0] && !m->command[0])
    return FAIL(ctx, "give a task source: --tasks FILE, or --command TEMPLATE with --args FILE "
                     "or ::: ARGUMENTS");
  if (m->tasks[0] && (m->command[0] || m->args[0] || m->list))
    return FAIL(ctx, "--tasks runs a file of commands; it cannot be combined with --command, "
                     "--args or :::");
  if (m->args[0] && m->list)
    return FAIL(ctx, "give the arguments with --args FILE or after :::, not both");
  if (m->command[0]) {
    char err[512];
    if (so__template_parse(&m->tmpl, m->command, err, sizeof err))
      return FAIL(ctx, "--command: %s", err);
    m->on_worker = strstr(m->command, "{%}") != NULL;
    if (!m->args[0] && !m->list)
      m->args = "-"; /* like GNU parallel: the arguments come on standard input */
  }
  if (m->force && !m->resume && !m->resume_failed)
    return FAIL(ctx, "--force only makes sense with --resume or --resume-failed");
  /* The results directory is made here, so a path that cannot be one fails the run at once
   * instead of every command; workers still make their own subdirectories (a node-local path
   * works too). */
  const char *results = so_ctx_string(ctx, "results");
  int e = results[0] ? so__mkdirs(results) : 0;
  if (!e && results[0] && access(results, W_OK | X_OK) < 0)
    e = errno;
  if (e)
    return FAIL(ctx, "cannot use the results directory %s: %s", results, strerror(e));
  int rc = source_open(ctx, m);
  if (rc || (rc = open_logs(ctx, m)))
    return rc;
  if (m->extlog[0] && !(m->ext = fopen(m->extlog, m->resume || m->resume_failed ? "a" : "w")))
    return FAIL(ctx, "cannot write --extlog %s: %s", m->extlog, strerror(errno));
  if (m->ext && ftell(m->ext) == 0)
    fputs("Seq\tHost\tWorker\tAttempts\tStarttime\tWall\tUser\tSys\tMaxRSS_KB\tExitval\tSignal\t"
          "TimedOut\tCommand\n",
          m->ext);
  return 0;
}

/* --- Tasks --- */

int so__farm_next(so_ctx *ctx, so_task_out *task) {
  farm_master *m = so_ctx_state(ctx);
  const char *text;
  size_t len;
  uint64_t lineno;
  char err[512];
  for (;;) {
    int r = source_next(ctx, m, &text, &len, &lineno);
    if (r == SO_LINES_LATER)
      return SO_NEXT_LATER; /* the engine asks again while it answers its workers */
    if (r <= 0) {
      if (r == 0 && m->sp && so__srcprint_finish(m->sp, err, sizeof err) < 0)
        return FAIL(ctx, "%s (use --force to run the changed source anyway)", err);
      return r;
    }
    uint64_t seq = ++m->seq;
    if (expand(m, text, len, seq))
      return FAIL(ctx, "line %llu of the task source holds a NUL byte", (unsigned long long)lineno);
    if (m->sp) {
      int d = so__srcprint_add(m->sp, seq, lineno, (const char *)m->cmd.data, m->cmd.len, err,
                               sizeof err);
      if (d < 0)
        return FAIL(ctx, "%s (use --force to run the changed source anyway)", err);
      if (d == 1 && !so_ctx_quiet(ctx))
        fprintf(stderr, "scaleout: warning: %s (--force: running it anyway)\n", err);
    }
    if (skip_seq(m, seq)) {
      m->skipped++;
      continue;
    }
    so__farm_task h = {.seq = seq, .flags = m->on_worker ? SO_FARM_EXPAND_ON_WORKER : 0};
    h.timeout = m->timeout_s;
    if (m->timeout_pct > 0) {
      h.timeout = m->limit;
      h.flags |= SO_FARM_TIMEOUT_PCT;
    }
    /* The tag is the argument in template mode, the command for a task file. */
    const char *tag = m->tmpl ? text : (const char *)m->cmd.data;
    size_t tag_len = m->tmpl ? len : m->cmd.len;
    h.tag_len = (uint32_t)tag_len;
    so__buf_clear(&m->payload);
    if (so__buf_append(&m->payload, &h, sizeof h) || so__buf_append(&m->payload, tag, tag_len) ||
        (m->on_worker ? so__buf_append(&m->payload, text, len)
                      : so__buf_append(&m->payload, m->cmd.data, m->cmd.len)))
      return FAIL(ctx, "out of memory");
    return so_task_set_data(ctx, task, m->payload.data, m->payload.len) ? -1 : 1;
  }
}

/* --- Results --- */

/* --timeout P%: the limit follows the median runtime of the commands finished so far, from the
 * SO_FARM_PCT_MIN-th on, as GNU parallel's does from the first (one quick failure would otherwise
 * set the limit for everything). Running commands move with it: the workers hear of every change
 * of more than 1% (the median is within 0.5% anyway), so a run whose median has settled sends
 * nothing more. Returns 0 or the error of sending. */
static int note_runtime(so_ctx *ctx, farm_master *m, double wall) {
  if (!(m->timeout_pct > 0))
    return 0;
  so__median_add(&m->median, wall);
  if (m->median.n < SO_FARM_PCT_MIN)
    return 0;
  m->limit = so__median_get(&m->median) * m->timeout_pct / 100.0;
  if (fabs(m->limit - m->limit_sent) <= 0.01 * m->limit_sent)
    return 0;
  so__farm_limit_msg n = {m->limit};
  int rc = so_ctx_notify(ctx, &n, sizeof n);
  if (rc)
    return FAIL(ctx, "cannot tell the workers the new --timeout limit (%s)", so_strerror(rc));
  m->limit_sent = m->limit;
  return 0;
}

static void draw_progress(farm_master *m, int last) {
  double t = so__mono_s();
  if (!m->progress || (!last && t - m->last_draw < 0.2))
    return;
  m->last_draw = t;
  uint64_t done = m->succeeded + m->failed;
  double rate = t > m->t0 ? done / (t - m->t0) : 0;
  char eta[32] = "?";
  if (m->total && rate > 0 && done <= m->total) {
    long s = (long)((m->total - done) / rate);
    snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
  }
  char tot[32] = "?";
  if (m->total)
    snprintf(tot, sizeof tot, "%llu", (unsigned long long)m->total);
  fprintf(stderr, "\r\033[K%llu/%s done, %llu failed, %.1f/s, ETA %s%s", (unsigned long long)done,
          tot, (unsigned long long)m->failed, rate, eta, last ? "\n" : "");
  fflush(stderr);
  m->drawn = 1;
}

static void check_halt(so_ctx *ctx, farm_master *m) {
  if (!m->halt_how || !m->failed)
    return;
  uint64_t done = m->succeeded + m->failed;
  /* fail=P% counts against all tasks when their number is known, as GNU parallel does, else
   * against those done so far (at least 3, so one early failure is not 100%). */
  uint64_t base = m->total ? m->total : done;
  int hit = m->halt_n ? m->failed >= (uint64_t)m->halt_n
                      : (m->total || done >= 3) && 100.0 * m->failed / base >= m->halt_pct;
  if (hit)
    so_ctx_halt(ctx, m->halt_how);
}

/* A result could not be made durable (the joblog or a shard cannot be written: a full disk):
 * starting more commands would only make more results that cannot be kept. The running ones
 * finish and are logged wherever that still works (the shards stay for --resume); the run then
 * fails with 104. Says so once. */
static void log_failure(so_ctx *ctx, farm_master *m, const char *what, const char *why) {
  if (m->log_failed++)
    return;
  so__errorf("%s%s%s; starting no more commands", what, why ? ": " : "", why ? why : "");
  so_ctx_halt(ctx, SO_HALT_SOON);
}

int so__farm_merge(so_ctx *ctx, const so_task_result *res) {
  farm_master *m = so_ctx_state(ctx);
  so__farm_result r;
  so__farm_task h;
  if (res->len < sizeof r || !res->task_data || res->task_len < sizeof h)
    return FAIL(ctx, "a command's result arrived malformed");
  memcpy(&r, res->data, sizeof r);
  memcpy(&h, res->task_data, sizeof h);
  if (r.unlogged)
    log_failure(ctx, m, r.killed ? "a command was not started" : "a command's result was not "
                "written to its joblog shard", "the shard cannot be written");
  if (r.killed) {
    /* Cancelled because the run stopped: left out of the log, so --resume runs it again. */
    m->killed++;
    return 0;
  }
  const char *cmd = (const char *)res->task_data + sizeof h + h.tag_len;
  size_t cmd_len = res->task_len - sizeof h - h.tag_len;
  if (h.flags & SO_FARM_EXPAND_ON_WORKER) {
    cmd = (const char *)res->data + sizeof r;
    cmd_len = res->len - sizeof r;
  }
  r.host[sizeof r.host - 1] = 0;
  int ok = res->status == 0;
  so__joblog_entry e = {.seq = h.seq,
                       .host = log_host(m, r.host),
                       .starttime = r.start,
                       .runtime = r.wall,
                       .send = 0,
                       .receive = (int64_t)r.out_bytes, /* stdout only, as GNU parallel */
                       .command = cmd,
                       .command_len = cmd_len};
  so__joblog_set_status(&e, r.exitval, r.signal, r.timed_out);
  if (!ok && e.exitval == 0 && e.signal == 0)
    e.exitval = 1; /* a failure must read as one in the log */
  char err[512];
  int rc = m->jl ? so__joblog_append(m->jl, &e, err, sizeof err) : 0;
  if (rc == SO_EIO) {
    log_failure(ctx, m, err, NULL);
  } else if (rc || (m->jl && so__joblog_status_add(&m->status, &e, err, sizeof err))) {
    return FAIL(ctx, "%s", err);
  }
  if (m->ext)
    fprintf(m->ext, "%llu\t%s\t%d\t%u\t%.3f\t%.3f\t%.3f\t%.3f\t%lld\t%d\t%d\t%d\t%.*s\n",
            (unsigned long long)h.seq, r.host, res->worker, res->attempts, r.start, r.wall,
            r.utime, r.stime, (long long)r.maxrss_kb, r.exitval, r.signal, r.timed_out,
            (int)(cmd_len > 4096 ? 4096 : cmd_len), cmd);
  if (ok)
    m->succeeded++;
  else
    m->failed++;
  m->timed_out += r.timed_out != 0;
  m->rerun += res->attempts > 1;
  m->cpu_user += r.utime;
  m->cpu_sys += r.stime;
  m->task_wall += r.wall;
  if (r.maxrss_kb > m->max_rss_kb)
    m->max_rss_kb = r.maxrss_kb;
  if (note_runtime(ctx, m, r.wall))
    return SO_EINVAL;
  check_halt(ctx, m);
  draw_progress(m, 0);
  return 0;
}

int so__farm_finish(so_ctx *ctx) {
  farm_master *m = so_ctx_state(ctx);
  if (m->drawn || m->progress)
    draw_progress(m, 1);
  char err[512];
  int rc = 0;
  if (m->jl) {
    /* Every finished command was merged, so it is in the log now and the shards only repeat
     * it; merging them anyway costs little and catches any line the master did not get. */
    rc = absorb_shards(ctx, m, 1);
    if (!rc && so__joblog_sync(m->jl, err, sizeof err))
      rc = FAIL_IO(ctx, "%s", err);
  }
  if (!rc && m->log_failed)
    rc = FAIL_IO(ctx, "%d command%s could not be recorded in the joblog %s or its shards, so "
                      "the run stopped starting commands; free space and run again with --resume",
                 m->log_failed, m->log_failed == 1 ? "" : "s", m->joblog);
  /* ferror: a write that failed before the last flush (fprintf buffers, errors stick). */
  if (m->ext && (fflush(m->ext) || ferror(m->ext)) && !rc)
    rc = FAIL_IO(ctx, "cannot write --extlog %s: %s", m->extlog,
                 errno ? strerror(errno) : "write error");
  so_answer_int(ctx, "tasks", (int64_t)(m->succeeded + m->failed));
  so_answer_int(ctx, "succeeded", (int64_t)m->succeeded);
  so_answer_int(ctx, "failed", (int64_t)m->failed);
  so_answer_int(ctx, "killed", (int64_t)m->killed);
  so_answer_int(ctx, "skipped", (int64_t)m->skipped);
  so_answer_int(ctx, "timed_out", (int64_t)m->timed_out);
  so_answer_int(ctx, "rerun", (int64_t)m->rerun);
  /* Accounting over every logged command (wait4); per command it is in --extlog. */
  so_answer_double(ctx, "command_seconds", m->task_wall);
  so_answer_double(ctx, "user_cpu_seconds", m->cpu_user);
  so_answer_double(ctx, "system_cpu_seconds", m->cpu_sys);
  so_answer_int(ctx, "max_rss_kb", m->max_rss_kb);
  int64_t status = m->failed > 100 ? SO_FARM_EXIT_MANY : (int64_t)m->failed;
  if (so_ctx_stopped(ctx) == SO_STOPPED_SIGNAL)
    status = SO_FARM_EXIT_SIGNAL;
  so_ctx_set_exit(ctx, (int)status);
  return rc;
}

void so__farm_master_fini(so_ctx *ctx) {
  farm_master *m = so_ctx_state(ctx);
  if (!m)
    return;
  char err[512];
  so__taskfile_close(m->tf);
  so__template_free(m->tmpl);
  so__joblog_close(m->jl, err, sizeof err);
  so__srcprint_close(m->sp);
  so__joblog_status_free(&m->status);
  if (m->ext)
    fclose(m->ext);
  if (m->shards[0])
    rmdir(m->shards); /* only when empty: a failed run leaves its shards for --resume */
  if (m->lock >= 0)
    close(m->lock); /* last: this run's share of the ownership (its shepherds hold theirs) */
  so__buf_free(&m->cmd);
  so__buf_free(&m->payload);
  free(m);
  so_ctx_set_state(ctx, NULL);
}

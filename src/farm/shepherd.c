/* The worker's side of the shepherd: starts the process, sends it commands over the socketpair and
 * turns its frames into events, without ever blocking outside poll, start and stop. */
#define _GNU_SOURCE /* environ */

#include "shepherd.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "proc.h"
#include "shepherd_wire.h"

#define READY_TIMEOUT_S 10.0 /* for the HELLO: exec of a large binary on a loaded node */
#define READ_CHUNK 65536
#define REAP_WAIT_S 3.0      /* how long a shepherd that closed its socket may take to exit */

struct so__shepherd {
  pid_t pid;
  int fd;
  int eof;            /* the shepherd closed the connection (all its frames are read) */
  int dead;           /* death was reported: no more events, every call fails */
  int reaped;         /* waitpid succeeded (or the status was lost: status_known 0) */
  int status_known;
  int status;
  unsigned running;   /* RUNs sent without a DONE yet */
  double grace, drain;
  so__buf out;         /* frames not yet taken by the socket, from out_off on */
  size_t out_off;
  so__buf in;          /* bytes read, frames consumed up to in_off */
  size_t in_off;
  so__buf errtext;     /* the NUL-terminated error of the last DONE event */
  char why[256];      /* how the shepherd ended, once dead */
};

static void nap(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* ---- the connection ---------------------------------------------------------------------- */

/* Room for n more bytes of frames; drops the bytes already sent first, so the buffer holds what
 * is unsent, not everything sent since the socket was last empty. */
static int out_reserve(so__shepherd *s, size_t n) {
  if (s->out_off && s->out.cap - s->out.len < n) {
    memmove(s->out.data, s->out.data + s->out_off, s->out.len - s->out_off);
    s->out.len -= s->out_off;
    s->out_off = 0;
  }
  return so__buf_reserve(&s->out, n);
}

/* Hands buffered frames to the socket until it is full. Returns 0, or -1 when the shepherd's end
 * is closed (its frames are still read until end of file). MSG_NOSIGNAL: no SIGPIPE here. */
static int flush_out(so__shepherd *s) {
  while (s->out_off < s->out.len) {
    ssize_t n = send(s->fd, s->out.data + s->out_off, s->out.len - s->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      s->out_off += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return 0;
    } else {
      s->out_off = s->out.len; /* nobody will read it */
      break;
    }
  }
  if (s->out_off == s->out.len) {
    s->out.len = s->out_off = 0;
    return 0;
  }
  return -1;
}

#define READ_NONE (-1)  /* read_some: nothing to read now */
#define READ_NOMEM (-2) /* read_some: no memory for the buffer */

/* Reads what the socket holds (at least room for `want` more bytes). Returns the bytes read, 0 at
 * end of file (or a reset connection), READ_NONE or READ_NOMEM. */
static ssize_t read_some(so__shepherd *s, size_t want) {
  if (s->in_off == s->in.len) {
    s->in.len = s->in_off = 0;
  } else if (s->in_off > 0 && (s->in_off >= READ_CHUNK || s->in.cap - s->in.len < want)) {
    memmove(s->in.data, s->in.data + s->in_off, s->in.len - s->in_off);
    s->in.len -= s->in_off;
    s->in_off = 0;
  }
  if (so__buf_reserve(&s->in, want > READ_CHUNK ? want : READ_CHUNK))
    return READ_NOMEM;
  for (;;) {
    ssize_t n = recv(s->fd, s->in.data + s->in.len, s->in.cap - s->in.len, MSG_DONTWAIT);
    if (n > 0) {
      s->in.len += (size_t)n;
      return n;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return READ_NONE;
    return 0;
  }
}

/* Takes the next whole frame from the input. Returns 1 with its tag and payload, 0 when none is
 * complete (*need: the bytes still missing, at least 1), SO_EPROTO for an absurd length. */
static int next_frame(so__shepherd *s, int *tag, so__shep_rd *rd, size_t *need) {
  size_t have = s->in.len - s->in_off, total;
  int rc = so__shep_frame_peek(s->in.data + s->in_off, have, tag, rd, &total);
  if (rc == 1)
    s->in_off += total;
  *need = total > have ? total - have : 1;
  return rc;
}

static void describe(char *buf, size_t len, pid_t pid, int known, int status) {
  if (!known)
    snprintf(buf, len, "the shepherd (pid %d) ended; its exit status was lost (reaped elsewhere)",
             (int)pid);
  else if (WIFEXITED(status))
    snprintf(buf, len, "the shepherd (pid %d) exited with status %d", (int)pid,
             WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, len, "the shepherd (pid %d) was killed by signal %d (%s)", (int)pid,
             WTERMSIG(status), strsignal(WTERMSIG(status)));
  else
    snprintf(buf, len, "the shepherd (pid %d) ended with wait status 0x%x", (int)pid, status);
}

/* Waits until `until` (monotonic seconds) for the shepherd to exit. Returns 1 once reaped. */
static int reap_until(so__shepherd *s, double until) {
  double pause = 0.001;
  while (!s->reaped) {
    /* Looked at before it is reaped: while the shepherd is a zombie its pid, the id of its
     * session, cannot be reused, so what the session holds is what it left behind. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == s->pid)
      so__proc_kill_session(s->pid);
    int status;
    pid_t r = waitpid(s->pid, &status, WNOHANG);
    if (r == s->pid) {
      s->reaped = s->status_known = 1;
      s->status = status;
    } else if (r < 0 && errno != EINTR) {
      s->reaped = 1; /* ECHILD: someone else reaped it (SIGCHLD ignored, waitpid(-1)) */
    } else if (so__mono_s() >= until) {
      return 0;
    } else if (r == 0) {
      nap(pause);
      pause = fmin(pause * 2, 0.02);
    }
  }
  return 1;
}

/* Reaps, killing the shepherd if it will not exit by `until`. */
static void reap_or_kill(so__shepherd *s, double until) {
  if (!reap_until(s, until)) {
    kill(s->pid, SIGKILL);
    reap_until(s, INFINITY);
  }
}

/* The shepherd is gone (or must go): reap it and remember how it ended. Returns SO_EIO. */
static int died(so__shepherd *s, const char *context, char *err, size_t errlen) {
  if (!s->dead) {
    s->dead = 1;
    s->running = 0;
    reap_or_kill(s, so__mono_s() + REAP_WAIT_S);
    char how[200];
    describe(how, sizeof how, s->pid, s->status_known, s->status);
    snprintf(s->why, sizeof s->why, "%s%s", context, how);
  }
  so__seterr(err, errlen, "%s", s->why);
  return SO_EIO;
}

/* A frame that makes no sense: the shepherd cannot be trusted any more. */
static int protocol_error(so__shepherd *s, const char *what, char *err, size_t errlen) {
  if (!s->dead) {
    kill(s->pid, SIGKILL);
    char ctx[128];
    snprintf(ctx, sizeof ctx, "malformed frame from the shepherd (%s); ", what);
    died(s, ctx, NULL, 0);
  }
  so__seterr(err, errlen, "%s", s->why);
  return SO_EPROTO;
}

/* ---- events ------------------------------------------------------------------------------ */

static int decode(so__shepherd *s, int tag, so__shep_rd *rd, so__shep_event *ev, char *err,
                  size_t errlen) {
  if (tag == SO__SHEP_OUTPUT) {
    ev->kind = SO_SHEP_EV_OUTPUT;
    ev->id = so__shep_get_u64(rd);
    ev->stream = (int)so__shep_get_u8(rd);
    ev->data = (const char *)rd->p;
    ev->len = rd->left;
    if (rd->bad || (ev->stream != 1 && ev->stream != 2))
      return protocol_error(s, "OUTPUT", err, errlen);
    return 1;
  }
  if (tag != SO__SHEP_DONE)
    return protocol_error(s, "unknown tag", err, errlen);
  ev->kind = SO_SHEP_EV_DONE;
  ev->id = so__shep_get_u64(rd);
  ev->exitval = so__shep_get_i32(rd);
  ev->signal = so__shep_get_i32(rd);
  ev->timed_out = (int)so__shep_get_u8(rd);
  ev->killed = (int)so__shep_get_u8(rd);
  ev->started = (int)so__shep_get_u8(rd);
  ev->recorded = (int)so__shep_get_u8(rd);
  ev->unlogged = (int)so__shep_get_u8(rd);
  ev->start = so__shep_get_f64(rd);
  ev->wall = so__shep_get_f64(rd);
  ev->utime = so__shep_get_f64(rd);
  ev->stime = so__shep_get_f64(rd);
  ev->maxrss_kb = (long)so__shep_get_i64(rd);
  ev->out_bytes = so__shep_get_u64(rd);
  ev->err_bytes = so__shep_get_u64(rd);
  const char *e;
  size_t elen = so__shep_get_str(rd, &e);
  if (rd->bad || rd->left)
    return protocol_error(s, "DONE", err, errlen);
  if (elen) {
    s->errtext.len = 0;
    if (so__buf_reserve(&s->errtext, elen + 1)) {
      ev->error = "(error text lost: out of memory)";
    } else {
      so__buf_put(&s->errtext, e, elen);
      so__buf_put(&s->errtext, "", 1);
      ev->error = (const char *)s->errtext.data;
    }
  }
  if (s->running)
    s->running--;
  return 1;
}

int so__shepherd_poll(so__shepherd *s, int timeout_ms, so__shep_event *ev, char *err,
                      size_t errlen) {
  memset(ev, 0, sizeof *ev);
  if (!s) {
    so__seterr(err, errlen, "no shepherd");
    return SO_EINVAL;
  }
  if (s->dead)
    return died(s, "", err, errlen);
  double until = timeout_ms < 0 ? INFINITY : so__mono_s() + timeout_ms * 1e-3;
  for (;;) {
    int tag;
    so__shep_rd rd;
    size_t need;
    int rc = next_frame(s, &tag, &rd, &need);
    if (rc < 0)
      return protocol_error(s, "length", err, errlen);
    if (rc == 1)
      return decode(s, tag, &rd, ev, err, errlen);
    if (s->eof)
      return died(s, "", err, errlen);
    flush_out(s); /* a closed socket shows as end of file below */
    ssize_t n = read_some(s, need);
    if (n == READ_NOMEM) {
      so__seterr(err, errlen, "out of memory for a frame from the shepherd");
      return SO_ENOMEM;
    }
    if (n == 0)
      s->eof = 1;
    if (n >= 0)
      continue;
    double left = until - so__mono_s();
    if (left <= 0)
      return 0;
    struct pollfd p = {.fd = s->fd, .events = POLLIN | (so__shepherd_unsent(s) ? POLLOUT : 0)};
    int ms = isinf(left) ? -1 : (int)ceil(fmin(left, 3600) * 1e3);
    if (poll(&p, 1, ms) < 0 && errno != EINTR) {
      so__seterr(err, errlen, "poll on the shepherd's socket failed: %s", strerror(errno));
      return SO_EIO;
    }
  }
}

/* ---- commands ---------------------------------------------------------------------------- */

static int check_task(const so__shep_task *t, char *err, size_t errlen) {
  if (!t || !t->cmd) {
    so__seterr(err, errlen, "no command to run");
    return SO_EINVAL;
  }
  if (t->cmd_len > SO__SHEP_MAX_CMD) {
    so__seterr(err, errlen, "the command is %zu bytes long; at most %zu are accepted", t->cmd_len,
               SO__SHEP_MAX_CMD);
    return SO_EINVAL;
  }
  if (memchr(t->cmd, '\0', t->cmd_len)) {
    so__seterr(err, errlen, "the command contains a NUL byte, which no shell command can hold");
    return SO_EINVAL;
  }
  if (t->seq == 0) {
    so__seterr(err, errlen, "task sequence numbers start at 1");
    return SO_EINVAL;
  }
  if (!(t->timeout >= 0) || isinf(t->timeout)) {
    so__seterr(err, errlen, "the timeout must be a finite number of seconds, not %g", t->timeout);
    return SO_EINVAL;
  }
  if (t->output < SO_SHEP_OUT_PIPE || t->output > SO_SHEP_OUT_NULL) {
    so__seterr(err, errlen, "unknown output mode %d", (int)t->output);
    return SO_EINVAL;
  }
  if (t->output == SO_SHEP_OUT_RESULTS && (!t->results_dir || !*t->results_dir)) {
    so__seterr(err, errlen, "results go to a directory but none was given");
    return SO_EINVAL;
  }
  for (const char *const *e = t->env; e && *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq || eq == *e) {
      so__seterr(err, errlen, "environment entry \"%s\" is not NAME=value", *e);
      return SO_EINVAL;
    }
  }
  return 0;
}

int so__shepherd_run(so__shepherd *s, const so__shep_task *t, char *err, size_t errlen) {
  if (!s) {
    so__seterr(err, errlen, "no shepherd");
    return SO_EINVAL;
  }
  int rc = check_task(t, err, errlen);
  if (rc)
    return rc;
  if (s->dead || s->eof)
    return died(s, "", err, errlen);
  const char *dir = t->output == SO_SHEP_OUT_RESULTS ? t->results_dir : "";
  size_t dirlen = strlen(dir), nenv = 0;
  size_t size = SO__SHEP_HDR + 8 + 8 + 8 + 1 + 4 + t->cmd_len + 4 + dirlen + 4;
  for (const char *const *e = t->env; e && *e; e++, nenv++)
    size += 4 + strlen(*e);
  if (size > SO__SHEP_MAX_FRAME) {
    so__seterr(err, errlen, "the command and its environment exceed %zu bytes", SO__SHEP_MAX_FRAME);
    return SO_EINVAL;
  }
  if (out_reserve(s, size)) {
    so__seterr(err, errlen, "out of memory for a command of %zu bytes", t->cmd_len);
    return SO_ENOMEM;
  }
  size_t at = so__shep_frame_begin(&s->out, SO__SHEP_RUN);
  so__shep_put_u64(&s->out, t->id);
  so__shep_put_u64(&s->out, t->seq);
  so__shep_put_f64(&s->out, t->timeout);
  so__shep_put_u8(&s->out, (unsigned)t->output);
  so__shep_put_str(&s->out, t->cmd, t->cmd_len);
  so__shep_put_str(&s->out, dir, dirlen);
  so__shep_put_u32(&s->out, (uint32_t)nenv);
  for (const char *const *e = t->env; e && *e; e++)
    so__shep_put_str(&s->out, *e, strlen(*e));
  so__shep_frame_end(&s->out, at);
  s->running++;
  flush_out(s);
  return 0;
}

/* Queues a frame with an optional u64 and tries to send it. */
static int send_small(so__shepherd *s, int tag, const uint64_t *id, char *err, size_t errlen) {
  if (!s) {
    so__seterr(err, errlen, "no shepherd");
    return SO_EINVAL;
  }
  if (s->dead || s->eof)
    return died(s, "", err, errlen);
  if (out_reserve(s, SO__SHEP_HDR + 8)) {
    so__seterr(err, errlen, "out of memory for a frame to the shepherd");
    return SO_ENOMEM;
  }
  size_t at = so__shep_frame_begin(&s->out, tag);
  if (id)
    so__shep_put_u64(&s->out, *id);
  so__shep_frame_end(&s->out, at);
  flush_out(s);
  return 0;
}

int so__shepherd_kill(so__shepherd *s, uint64_t id, char *err, size_t errlen) {
  return send_small(s, SO__SHEP_KILL, &id, err, errlen);
}

int so__shepherd_kill_all(so__shepherd *s, char *err, size_t errlen) {
  return send_small(s, SO__SHEP_KILL_ALL, NULL, err, errlen);
}

int so__shepherd_set_timeout(so__shepherd *s, double timeout, char *err, size_t errlen) {
  if (!(timeout >= 0) || isinf(timeout)) {
    so__seterr(err, errlen, "the timeout must be a finite number of seconds, not %g", timeout);
    return SO_EINVAL;
  }
  uint64_t bits;
  memcpy(&bits, &timeout, sizeof bits); /* a u64 frame field carries the f64 unchanged */
  return send_small(s, SO__SHEP_LIMIT, &bits, err, errlen);
}

int so__shepherd_fd(const so__shepherd *s) { return s ? s->fd : -1; }
size_t so__shepherd_unsent(const so__shepherd *s) { return s ? s->out.len - s->out_off : 0; }
unsigned so__shepherd_running(const so__shepherd *s) { return s ? s->running : 0; }
pid_t so__shepherd_pid(const so__shepherd *s) { return s ? s->pid : -1; }

/* ---- start and stop ---------------------------------------------------------------------- */

static void shepherd_free(so__shepherd *s) {
  if (s->fd >= 0)
    close(s->fd);
  so__buf_free(&s->out);
  so__buf_free(&s->in);
  so__buf_free(&s->errtext);
  free(s);
}

static int check_opts(const so__shepherd_opts *o, char *err, size_t errlen) {
  if (!o || !o->exe || !*o->exe) {
    so__seterr(err, errlen, "no program to run as the shepherd");
    return SO_EINVAL;
  }
  if (!(o->grace >= 0) || isinf(o->grace)) {
    so__seterr(err, errlen, "the grace period must be a finite number of seconds, not %g",
               o->grace);
    return SO_EINVAL;
  }
  if (isnan(o->sync_interval) || isnan(o->drain) || isinf(o->drain)) {
    so__seterr(err, errlen, "the sync interval and the drain period must be numbers");
    return SO_EINVAL;
  }
  if (o->host && (!*o->host || strpbrk(o->host, "\t\n"))) {
    so__seterr(err, errlen,
               "the host name for the joblog must be non-empty, without tab or newline");
    return SO_EINVAL;
  }
  if ((o->shard && !*o->shard) || (o->lock && !*o->lock)) {
    so__seterr(err, errlen, "the shard or lock path is empty");
    return SO_EINVAL;
  }
  return 0;
}

/* Starts the process: its end of the socket becomes descriptor `target` (not the number it has
 * here: posix_spawn of older glibc (< 2.29?) leaves close-on-exec set on a dup2 onto itself). */
static int spawn(so__shepherd *s, const so__shepherd_opts *o, int child_end, char *err,
                 size_t errlen) {
  int target = child_end == 3 ? 4 : 3;
  char fdnum[16], ppid[24], slots[16], grace[40], sync[40], drain[40];
  snprintf(fdnum, sizeof fdnum, "%d", target);
  snprintf(ppid, sizeof ppid, "%ld", (long)getpid());
  snprintf(slots, sizeof slots, "%u", o->slots ? o->slots : 1);
  snprintf(grace, sizeof grace, "%.17g", o->grace);
  snprintf(sync, sizeof sync, "%.17g", o->sync_interval);
  snprintf(drain, sizeof drain, "%.17g", o->drain);
  char *argv[24];
  int n = 0;
  argv[n++] = (char *)o->exe;
  argv[n++] = SO_SHEPHERD_ARG;
  argv[n++] = fdnum;
  argv[n++] = "--ppid", argv[n++] = ppid;
  argv[n++] = "--slots", argv[n++] = slots;
  argv[n++] = "--grace", argv[n++] = grace;
  argv[n++] = "--sync", argv[n++] = sync;
  argv[n++] = "--drain", argv[n++] = drain;
  if (o->shard)
    argv[n++] = "--shard", argv[n++] = (char *)o->shard;
  if (o->host)
    argv[n++] = "--host", argv[n++] = (char *)o->host;
  if (o->lock)
    argv[n++] = "--lock", argv[n++] = (char *)o->lock;
  argv[n] = NULL;

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc)
    goto fail_fa;
  if ((rc = posix_spawnattr_init(&attr)))
    goto fail_attr;
  /* Its own session (and so process group) from the first instruction: a launcher's kill of the
   * worker's group must miss it, and every command it starts stays in that session even in a
   * group of its own, which is how reap_until finds what a killed shepherd left. Default
   * dispositions and an empty mask, whatever the worker set. */
  if ((rc = posix_spawn_file_actions_adddup2(&fa, child_end, target)) ||
      (rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) ||
      (rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) ||
      (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF)) ||
      (rc = posix_spawnattr_setsigmask(&attr, &none)) ||
      (rc = posix_spawnattr_setsigdefault(&attr, &all)))
    goto fail_setup;
  rc = posix_spawn(&s->pid, o->exe, &fa, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc) {
    so__seterr(err, errlen, "cannot start the shepherd %s: %s", o->exe, strerror(rc));
    return SO_EIO;
  }
  return 0;

fail_setup:
  posix_spawnattr_destroy(&attr);
fail_attr:
  posix_spawn_file_actions_destroy(&fa);
fail_fa:
  so__seterr(err, errlen, "cannot prepare to start the shepherd: %s", strerror(rc));
  return rc == ENOMEM ? SO_ENOMEM : SO_EIO;
}

/* Waits for the HELLO frame. Returns 0 or an error with a sentence in err (the process is then
 * reaped). */
static int await_hello(so__shepherd *s, char *err, size_t errlen) {
  double until = so__mono_s() + READY_TIMEOUT_S;
  for (;;) {
    int tag;
    so__shep_rd rd;
    size_t need;
    int rc = next_frame(s, &tag, &rd, &need);
    if (rc < 0 || (rc == 1 && tag != SO__SHEP_HELLO))
      return protocol_error(s, "expected HELLO", err, errlen);
    if (rc == 1) {
      int status = so__shep_get_i32(&rd);
      so__shep_get_u32(&rd);
      const char *msg;
      size_t len = so__shep_get_str(&rd, &msg);
      if (rd.bad)
        return protocol_error(s, "HELLO", err, errlen);
      if (status == 0)
        return 0;
      so__seterr(err, errlen, "%.*s", (int)len, msg);
      s->dead = 1;
      reap_or_kill(s, so__mono_s() + REAP_WAIT_S);
      return status < 0 ? status : SO_EIO;
    }
    if (s->eof)
      return died(s, "the shepherd did not start: ", err, errlen);
    ssize_t n = read_some(s, need);
    if (n == READ_NOMEM) {
      so__seterr(err, errlen, "out of memory");
      kill(s->pid, SIGKILL);
      reap_until(s, INFINITY);
      return SO_ENOMEM;
    }
    if (n == 0)
      s->eof = 1;
    if (n >= 0)
      continue;
    double left = until - so__mono_s();
    if (left <= 0) {
      kill(s->pid, SIGKILL);
      died(s, "", NULL, 0);
      so__seterr(err, errlen, "the shepherd (pid %d) was not ready within %.0f s and was killed",
                 (int)s->pid, READY_TIMEOUT_S);
      return SO_EIO;
    }
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    poll(&p, 1, (int)ceil(left * 1e3));
  }
}

int so__shepherd_start(const so__shepherd_opts *o, so__shepherd **out, char *err, size_t errlen) {
  *out = NULL;
  int rc = check_opts(o, err, errlen);
  if (rc)
    return rc;
  so__shepherd *s = calloc(1, sizeof *s);
  if (!s) {
    so__seterr(err, errlen, "out of memory for a shepherd");
    return SO_ENOMEM;
  }
  s->fd = -1;
  s->grace = o->grace > 0 ? o->grace : SO__PROC_GRACE_DEFAULT;
  s->drain = o->drain == 0 ? SO_SHEP_DRAIN_DEFAULT : fmax(o->drain, 0);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    so__seterr(err, errlen, "cannot create the shepherd's socket: %s", strerror(errno));
    shepherd_free(s);
    return SO_EIO;
  }
  s->fd = sv[0];
  if (fcntl(s->fd, F_SETFL, O_NONBLOCK) < 0) {
    so__seterr(err, errlen, "cannot make the shepherd's socket non-blocking: %s", strerror(errno));
    close(sv[1]);
    shepherd_free(s);
    return SO_EIO;
  }
  rc = spawn(s, o, sv[1], err, errlen);
  close(sv[1]); /* from now on, end of file on sv[0] means the shepherd is gone */
  if (!rc)
    rc = await_hello(s, err, errlen);
  if (rc) {
    shepherd_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int so__shepherd_stop(so__shepherd *s, char *err, size_t errlen) {
  if (!s)
    return 0;
  int was_dead = s->dead;
  if (!s->dead && !s->eof && send_small(s, SO__SHEP_QUIT, NULL, NULL, 0) == 0) {
    /* The shepherd closes the socket when it exits: read (and drop) until then. */
    double until = so__mono_s() + s->grace + 5;
    while (!s->eof && so__mono_s() < until) {
      flush_out(s);
      s->in.len = s->in_off = 0;
      ssize_t n = read_some(s, READ_CHUNK);
      if (n == 0)
        s->eof = 1;
      if (n >= 0)
        continue;
      struct pollfd p = {.fd = s->fd, .events = POLLIN | (so__shepherd_unsent(s) ? POLLOUT : 0)};
      poll(&p, 1, (int)ceil(fmax(until - so__mono_s(), 0) * 1e3));
    }
  }
  double until = so__mono_s() + REAP_WAIT_S;
  if (!s->eof && !s->dead) {
    /* Not done in time: a closed socket sends it down its worker-death path (drain, SIGKILL). */
    shutdown(s->fd, SHUT_RDWR);
    until = so__mono_s() + s->drain + REAP_WAIT_S;
  }
  if (!s->dead) {
    s->dead = 1;
    reap_or_kill(s, until);
    describe(s->why, sizeof s->why, s->pid, s->status_known, s->status);
  }
  int rc = 0;
  if (was_dead || !s->status_known || !WIFEXITED(s->status) || WEXITSTATUS(s->status) != 0) {
    so__seterr(err, errlen, "%s", s->why);
    rc = SO_EIO;
  }
  shepherd_free(s);
  return rc;
}

/* The shepherd process: runs a worker's commands through the process supervisor, records each
 * finished one in the joblog shard before telling the worker, and outlives the worker just long
 * enough to record what finished (see shepherd.h for the rules). */
#define _GNU_SOURCE /* mkostemp, close_range through syscall(), O_ASYNC */

#include "shepherd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "fileio.h"
#include "joblock.h"
#include "joblog.h"
#include "proc.h"
#include "quote.h"
#include "rankenv.h"
#include "shepherd_wire.h"

/* While commands run, the shepherd sleeps inside so__proc_poll, which cannot watch the socket; a
 * SIGIO on the socket interrupts it. A SIGIO that comes after the socket was read but before the
 * poll() sets g_io, checked just before the call; these caps bound the delay when it comes in the
 * few instructions left between that check and poll() (the race a plain poll() cannot close).
 * The worker answers a DONE with its next RUN within microseconds, which makes that race likelier
 * than chance (measured: 5 in 10,000 round trips), so shortly after traffic the cap is short. */
#define WAKE_CAP_MS 50
#define WAKE_CAP_BUSY_MS 2
#define BUSY_S 0.02
/* Stop collecting commands' output while this much waits for the worker to read it. */
#define OUT_HIGH ((size_t)1 << 20)
/* After SIGKILL (plus the grace period in which proc.c would repeat it), how long to wait for
 * processes in uninterruptible sleep before exiting without them. */
#define KILL_WAIT_S 3.0
#define READ_CHUNK 65536

enum { EXIT_QUIT = 0, EXIT_SETUP = 1, EXIT_USAGE = 2, EXIT_ORPHANED = 3 };
enum { MODE_NORMAL = 0, MODE_QUIT, MODE_DEATH }; /* how the shepherd was ending when a job ended */

typedef struct job {
  struct job *next; /* in the queue of jobs waiting for a slot */
  uint64_t id, seq;
  char *cmd;        /* NUL-terminated copy */
  size_t cmd_len;
  char **env;       /* NULL-terminated, owned */
  double timeout;
  int output;
  char *dir;        /* SO_SHEP_OUT_RESULTS: DIR/<seq/1000>/<seq> */
  char *tmpfile;    /* the script of a command too long for one argument, removed at the end */
  so__proc *proc;   /* while running */
  int mode;
} job;

typedef struct shep {
  int sock;
  int wake[2];          /* self-pipe: the SIGTERM handler writes to wake[1] */
  so__proc_sup *sup;
  job **run;            /* slots entries, NULL when free */
  unsigned slots;
  job *qhead, *qtail;
  so__buf in;            /* received bytes, consumed up to in_off */
  size_t in_off, need;
  so__buf out;           /* frames for the worker, sent up to out_off */
  size_t out_off;
  double last_traffic;  /* when bytes last went either way on the socket */
  int shard;            /* -1 without one */
  int lock;             /* the joblog's owner lock, held shared and inherited by commands; -1 */
  const char *host;
  double sync_interval, sync_due;
  int unsynced;
  so__buf line;
  int quitting, dying;
  int shard_failed;     /* a line could not be written to the shard: start no more commands */
  double grace, drain;
} shep;

static volatile sig_atomic_t g_term, g_io;
static int g_wake_fd = -1;

/* Async-signal-safe: a flag, and a byte for the self-pipe so a poll() of ours wakes up. */
static void on_term(int sig) {
  (void)sig;
  int saved = errno;
  g_term = 1;
  if (g_wake_fd >= 0) {
    char c = 0;
    ssize_t r = write(g_wake_fd, &c, 1);
    (void)r;
  }
  errno = saved;
}

/* SIGIO interrupts poll(), and says the socket has news in case poll() has not started yet. */
static void on_io(int sig) {
  (void)sig;
  g_io = 1;
}

/* ---- frames to the worker ---------------------------------------------------------------- */

static size_t unsent(const shep *sh) { return sh->out.len - sh->out_off; }

/* Sends what the socket takes. Returns 0, or -1 when the worker's end is gone. */
static int flush_out(shep *sh) {
  while (sh->out_off < sh->out.len) {
    ssize_t n = send(sh->sock, sh->out.data + sh->out_off, sh->out.len - sh->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
      sh->out_off += (size_t)n, sh->last_traffic = so__mono_s();
    else if (n < 0 && errno == EINTR)
      continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    else
      return -1;
  }
  sh->out.len = sh->out_off = 0;
  return 0;
}

/* Room for a frame of n bytes. Sent bytes are dropped first, or the buffer would grow with all
 * the output ever sent while the socket stays part full. Out of memory loses the frame (and says
 * so). */
static int out_room(shep *sh, size_t n) {
  if (sh->out_off && sh->out.cap - sh->out.len < n) {
    memmove(sh->out.data, sh->out.data + sh->out_off, sh->out.len - sh->out_off);
    sh->out.len -= sh->out_off;
    sh->out_off = 0;
  }
  if (so__buf_reserve(&sh->out, n) == 0)
    return 1;
  fprintf(stderr, "scaleout: shepherd: out of memory for a frame to the worker\n");
  return 0;
}

static void send_hello(shep *sh, int status, const char *msg) {
  size_t len = strlen(msg);
  if (!out_room(sh, SO__SHEP_HDR + 12 + len))
    return;
  size_t at = so__shep_frame_begin(&sh->out, SO__SHEP_HELLO);
  so__shep_put_i32(&sh->out, status);
  so__shep_put_u32(&sh->out, (uint32_t)getpid());
  so__shep_put_str(&sh->out, msg, len);
  so__shep_frame_end(&sh->out, at);
  double until = so__mono_s() + 5;
  while (unsent(sh) && so__mono_s() < until && flush_out(sh) == 0) {
    struct pollfd p = {.fd = sh->sock, .events = POLLOUT};
    poll(&p, 1, 100);
  }
}

/* A DONE frame; res NULL for a job that never started. */
static void send_done(shep *sh, const job *j, const so__proc_result *res, int killed, int recorded,
                      int unlogged, const char *error) {
  if (sh->quitting || sh->dying)
    return;
  so__proc_result none = {.exitval = killed ? -1 : 127};
  const so__proc_result *r = res ? res : &none;
  size_t elen = error ? strlen(error) : 0;
  if (!out_room(sh, SO__SHEP_HDR + 100 + elen))
    return;
  size_t at = so__shep_frame_begin(&sh->out, SO__SHEP_DONE);
  so__shep_put_u64(&sh->out, j->id);
  so__shep_put_i32(&sh->out, r->exitval);
  so__shep_put_i32(&sh->out, r->signal);
  so__shep_put_u8(&sh->out, (unsigned)r->timed_out);
  so__shep_put_u8(&sh->out, (unsigned)(r->killed || killed));
  so__shep_put_u8(&sh->out, res != NULL);
  so__shep_put_u8(&sh->out, (unsigned)recorded);
  so__shep_put_u8(&sh->out, (unsigned)unlogged);
  so__shep_put_f64(&sh->out, r->start);
  so__shep_put_f64(&sh->out, r->wall);
  so__shep_put_f64(&sh->out, r->utime);
  so__shep_put_f64(&sh->out, r->stime);
  so__shep_put_i64(&sh->out, r->maxrss_kb);
  so__shep_put_u64(&sh->out, r->out_bytes);
  so__shep_put_u64(&sh->out, r->err_bytes);
  so__shep_put_str(&sh->out, error ? error : "", elen);
  so__shep_frame_end(&sh->out, at);
}

/* proc.c's output callback (line mode for piped jobs): one OUTPUT frame per piece. */
static void on_output(void *arg, so__proc *task, int stream, const char *data, size_t len) {
  shep *sh = arg;
  const job *j = so__proc_user(task);
  if (sh->quitting || sh->dying || !out_room(sh, SO__SHEP_HDR + 9 + len))
    return;
  size_t at = so__shep_frame_begin(&sh->out, SO__SHEP_OUTPUT);
  so__shep_put_u64(&sh->out, j->id);
  so__shep_put_u8(&sh->out, (unsigned)stream);
  so__buf_put(&sh->out, data, len);
  so__shep_frame_end(&sh->out, at);
}

/* ---- jobs -------------------------------------------------------------------------------- */

static void job_free(job *j) {
  if (!j)
    return;
  if (j->tmpfile)
    unlink(j->tmpfile);
  free(j->tmpfile);
  for (char **e = j->env; e && *e; e++)
    free(*e);
  free(j->env);
  free(j->cmd);
  free(j->dir);
  free(j);
}

/* A RUN frame as a job, or NULL (a malformed frame sets *bad; out of memory does not). */
static job *job_decode(so__shep_rd *rd, int *bad) {
  job *j = calloc(1, sizeof *j);
  if (!j)
    return NULL;
  j->id = so__shep_get_u64(rd);
  j->seq = so__shep_get_u64(rd);
  j->timeout = so__shep_get_f64(rd);
  j->output = (int)so__shep_get_u8(rd);
  const char *cmd, *dir;
  j->cmd_len = so__shep_get_str(rd, &cmd);
  size_t dirlen = so__shep_get_str(rd, &dir);
  uint32_t nenv = so__shep_get_u32(rd);
  if (rd->bad || nenv > rd->left / 4 || j->output > SO_SHEP_OUT_NULL || j->seq == 0 ||
      (j->output == SO_SHEP_OUT_RESULTS && !dirlen))
    goto bad;
  if (!(j->cmd = strndup(cmd, j->cmd_len)) || !(j->env = calloc(nenv + 1, sizeof *j->env)))
    goto fail;
  for (uint32_t i = 0; i < nenv; i++) {
    const char *e;
    size_t len = so__shep_get_str(rd, &e);
    if (rd->bad)
      goto bad;
    if (!(j->env[i] = strndup(e, len)))
      goto fail;
  }
  if (rd->left)
    goto bad;
  if (j->output == SO_SHEP_OUT_RESULTS) {
    size_t n = dirlen + 64;
    if (!(j->dir = malloc(n)))
      goto fail;
    snprintf(j->dir, n, "%.*s/%llu/%llu", (int)dirlen, dir,
             (unsigned long long)(j->seq / 1000), (unsigned long long)j->seq);
  }
  return j;
bad:
  *bad = 1;
fail:
  job_free(j);
  return NULL;
}

/* Writes a command too long for one argument to a temporary file and turns j->cmd's run form
 * into "exec /bin/sh FILE". Returns 0 or SO_EIO/SO_ENOMEM with a sentence in err. */
static int long_command(job *j, so__buf *run, char *err, size_t errlen) {
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir)
    dir = "/tmp";
  size_t n = strlen(dir) + 32;
  if (!(j->tmpfile = malloc(n))) {
    so__seterr(err, errlen, "out of memory");
    return SO_ENOMEM;
  }
  snprintf(j->tmpfile, n, "%s/scaleout-cmd-XXXXXX", dir);
  int fd = mkostemp(j->tmpfile, O_CLOEXEC);
  if (fd < 0) {
    so__seterr(err, errlen, "cannot create a file for a %zu-byte command in %s: %s", j->cmd_len,
               dir, strerror(errno));
    free(j->tmpfile);
    j->tmpfile = NULL;
    return SO_EIO;
  }
  size_t done = 0;
  while (done < j->cmd_len) {
    ssize_t w = write(fd, j->cmd + done, j->cmd_len - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    done += (size_t)w;
  }
  int saved = errno;
  if (close(fd) < 0 && done == j->cmd_len)
    saved = errno, done = 0;
  if (done < j->cmd_len) {
    so__seterr(err, errlen, "cannot write the command to %s: %s", j->tmpfile, strerror(saved));
    return SO_EIO;
  }
  static const char prefix[] = "exec /bin/sh ";
  if (so__buf_append(run, prefix, sizeof prefix - 1) ||
      so__shell_quote(run, j->tmpfile, strlen(j->tmpfile)) || so__buf_append(run, "", 1)) {
    so__seterr(err, errlen, "out of memory");
    return SO_ENOMEM;
  }
  return 0;
}

/* Starts j in a free slot. On failure the job is reported (never started) and freed. */
static void job_start(shep *sh, job *j) {
  char err[512] = "", out_path[4096], err_path[4096];
  so__buf run = SO_BUF_INIT;
  so__proc_spec spec = {.cmd = j->cmd, .env = (const char *const *)j->env,
                        .timeout = j->timeout, .user = j};
  int rc = 0;
  if (j->cmd_len > SO__SHEP_MAX_ARG) {
    if ((rc = long_command(j, &run, err, sizeof err)))
      goto fail;
    spec.cmd = (const char *)run.data;
  }
  if (j->output == SO_SHEP_OUT_PIPE) {
    spec.out.kind = spec.err.kind = SO__PROC_PIPE;
    spec.flags = SO__PROC_LINES;
  } else if (j->output == SO_SHEP_OUT_RESULTS) {
    int e = so__mkdirs(j->dir);
    if (e) {
      so__seterr(err, sizeof err, "cannot create the results directory %s: %s", j->dir,
                 strerror(e));
      goto fail;
    }
    snprintf(out_path, sizeof out_path, "%s/stdout", j->dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", j->dir);
    spec.out = (so__proc_sink){SO__PROC_FILE, out_path};
    spec.err = (so__proc_sink){SO__PROC_FILE, err_path};
  }
  if ((rc = so__proc_spawn(sh->sup, &spec, &j->proc, err, sizeof err)))
    goto fail;
  so__buf_free(&run);
  for (unsigned i = 0; i < sh->slots; i++)
    if (!sh->run[i]) {
      sh->run[i] = j;
      break;
    }
  return;
fail:
  so__buf_free(&run);
  send_done(sh, j, NULL, 0, 0, 0, err);
  job_free(j);
}

static void start_queued(shep *sh) {
  while (sh->qhead && !sh->quitting && !sh->dying && so__proc_running(sh->sup) < sh->slots) {
    job *j = sh->qhead;
    if (!(sh->qhead = j->next))
      sh->qtail = NULL;
    j->next = NULL;
    if (sh->shard_failed) {
      /* The disk under the shard is full (or failing): a command run now could not be
       * recorded, so it is handed back unstarted for --resume to run. */
      send_done(sh, j, NULL, 1, 0, 1, "not started: the joblog shard cannot be written");
      job_free(j);
      continue;
    }
    job_start(sh, j);
  }
}

/* Drops queued jobs; with report, each gets a DONE saying it was killed before it started. */
static void drop_queue(shep *sh, int report, const uint64_t *only_id) {
  job **link = &sh->qhead;
  sh->qtail = NULL;
  while (*link) {
    job *j = *link;
    if (only_id && j->id != *only_id) {
      sh->qtail = j;
      link = &j->next;
      continue;
    }
    *link = j->next;
    if (report)
      send_done(sh, j, NULL, 1, 0, 0, NULL);
    job_free(j);
  }
}

/* ---- recording --------------------------------------------------------------------------- */

static void sync_shard(shep *sh) {
  if (sh->shard >= 0 && sh->unsynced && sh->sync_interval >= 0)
    fdatasync(sh->shard);
  sh->unsynced = 0;
}

/* Appends j's line with one write(). Returns 1 when it is in the shard, else 0 with err set. */
static int record(shep *sh, const job *j, const so__proc_result *r, char *err, size_t errlen) {
  so__joblog_entry e = {.seq = j->seq, .host = sh->host, .starttime = r->start,
                       .runtime = r->wall, .send = 0,
                       .receive = (int64_t)r->out_bytes, /* stdout only, as GNU parallel */
                       .command = j->cmd, .command_len = j->cmd_len};
  so__joblog_set_status(&e, r->exitval, r->signal, r->timed_out);
  sh->line.len = 0;
  int rc = so__joblog_format(&sh->line, &e);
  if (rc) {
    so__seterr(err, errlen, "cannot format the joblog line: %s", so_strerror(rc));
    return 0;
  }
  ssize_t n;
  while ((n = write(sh->shard, sh->line.data, sh->line.len)) < 0 && errno == EINTR)
    ;
  if (n != (ssize_t)sh->line.len) {
    int saved = n < 0 ? errno : ENOSPC;
    if (n > 0) { /* never leave half a line: the next one would be glued to it */
      off_t end = lseek(sh->shard, 0, SEEK_END);
      if (end >= n && ftruncate(sh->shard, end - n) == 0)
        n = 0;
    }
    so__seterr(err, errlen, "cannot append to the joblog shard: %s%s", strerror(saved),
               n > 0 ? " (and a partial line stays)" : "");
    return 0;
  }
  if (sh->sync_interval == 0) {
    if (fdatasync(sh->shard) < 0)
      so__seterr(err, errlen, "cannot sync the joblog shard: %s", strerror(errno));
  } else if (sh->sync_interval > 0 && !sh->unsynced) {
    sh->unsynced = 1;
    sh->sync_due = so__mono_s() + sh->sync_interval;
  }
  return 1;
}

static void write_status(const job *j, const so__proc_result *r, char *err, size_t errlen) {
  char path[4096], text[48];
  snprintf(path, sizeof path, "%s/status", j->dir);
  int n = r->timed_out ? snprintf(text, sizeof text, "timeout\n")
          : r->signal  ? snprintf(text, sizeof text, "signal %d\n", r->signal)
                       : snprintf(text, sizeof text, "exit %d\n", r->exitval);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0 || write(fd, text, (size_t)n) != n)
    so__seterr(err, errlen, "cannot write %s: %s", path, strerror(errno));
  if (fd >= 0)
    close(fd);
}

/* A job ended: its status file, then its shard line, then its DONE, in that order, so the worker
 * never hears of a command before its record exists. */
static void finish(shep *sh, job *j, const so__proc_result *r) {
  char err[512] = "";
  /* After the worker's death a command killed by a signal was most likely killed by the run's
   * teardown (our SIGKILL, or the SIGTERM a direct run's parent sends every leftover): logged as a
   * failure, --resume would skip it. Only what exited, or timed out, finished on its own. */
  int keep = j->mode == MODE_NORMAL ? 1
             : j->mode == MODE_QUIT ? r->exitval == 0 && r->signal == 0
                                    : r->signal == 0 || r->timed_out;
  if (j->output == SO_SHEP_OUT_RESULTS)
    write_status(j, r, err, sizeof err);
  int recorded = keep && sh->shard >= 0 && record(sh, j, r, err, sizeof err);
  /* A result that could not be written is kept nowhere yet: start nothing more (start_queued). */
  int unlogged = keep && sh->shard >= 0 && !recorded;
  sh->shard_failed |= unlogged;
  send_done(sh, j, r, 0, recorded, unlogged, err[0] ? err : NULL);
  for (unsigned i = 0; i < sh->slots; i++)
    if (sh->run[i] == j)
      sh->run[i] = NULL;
}

static void collect(shep *sh) {
  so__proc *p;
  while ((p = so__proc_next_done(sh->sup))) {
    job *j = so__proc_user(p);
    finish(sh, j, so__proc_result_of(p));
    so__proc_free(p);
    job_free(j);
  }
}

/* ---- frames from the worker -------------------------------------------------------------- */

static void quit(shep *sh) {
  sh->quitting = 1;
  sh->out.len = sh->out_off = 0; /* the worker reads nothing more */
  drop_queue(sh, 0, NULL);
  for (unsigned i = 0; i < sh->slots; i++)
    if (sh->run[i])
      sh->run[i]->mode = MODE_QUIT;
  so__proc_kill_all(sh->sup);
}

/* Returns 0, or -1 for a frame that makes no sense (the worker is then treated as dead). */
static int handle(shep *sh, int tag, so__shep_rd *rd) {
  if (tag == SO__SHEP_RUN) {
    int bad = 0;
    so__shep_rd start = *rd;
    job *j = job_decode(rd, &bad);
    if (bad)
      return -1;
    if (!j) { /* out of memory: the worker hears of it, nothing ran */
      job none = {.id = so__shep_get_u64(&start)};
      send_done(sh, &none, NULL, 0, 0, 0, "the shepherd ran out of memory for the command");
      return 0;
    }
    if (sh->qtail)
      sh->qtail->next = j;
    else
      sh->qhead = j;
    sh->qtail = j;
  } else if (tag == SO__SHEP_KILL) {
    uint64_t id = so__shep_get_u64(rd);
    if (rd->bad)
      return -1;
    for (unsigned i = 0; i < sh->slots; i++)
      if (sh->run[i] && sh->run[i]->id == id)
        so__proc_kill(sh->run[i]->proc);
    drop_queue(sh, 1, &id);
  } else if (tag == SO__SHEP_KILL_ALL) {
    /* The run is stopping (halt now, or a signal past its grace): what we kill now did not
     * finish, so like at QUIT only commands that still exit 0 are recorded; the others are run
     * again by --resume. */
    for (unsigned i = 0; i < sh->slots; i++)
      if (sh->run[i])
        sh->run[i]->mode = MODE_QUIT;
    so__proc_kill_all(sh->sup);
    drop_queue(sh, 1, NULL);
  } else if (tag == SO__SHEP_LIMIT) {
    double t = so__shep_get_f64(rd);
    if (rd->bad || !(t >= 0) || isinf(t))
      return -1;
    for (unsigned i = 0; i < sh->slots; i++)
      if (sh->run[i]) {
        sh->run[i]->timeout = t;
        so__proc_set_timeout(sh->run[i]->proc, t);
      }
    for (job *j = sh->qhead; j; j = j->next)
      j->timeout = t;
  } else if (tag == SO__SHEP_QUIT) {
    quit(sh);
  } else {
    return -1;
  }
  return 0;
}

/* Reads and handles everything the socket holds. Returns 0, or -1 at end of file, on an error or
 * a malformed frame: the worker is gone (or must be treated so). */
static int read_socket(shep *sh) {
  for (;;) {
    if (sh->in_off == sh->in.len) {
      sh->in.len = sh->in_off = 0;
    } else if (sh->in_off) {
      memmove(sh->in.data, sh->in.data + sh->in_off, sh->in.len - sh->in_off);
      sh->in.len -= sh->in_off;
      sh->in_off = 0;
    }
    size_t want = sh->need > sh->in.len + READ_CHUNK ? sh->need - sh->in.len : READ_CHUNK;
    if (so__buf_reserve(&sh->in, want))
      return -1;
    ssize_t n = recv(sh->sock, sh->in.data + sh->in.len, sh->in.cap - sh->in.len, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (n <= 0)
      return -1;
    sh->last_traffic = so__mono_s();
    if (sh->quitting)
      continue; /* after QUIT only the end of file matters */
    sh->in.len += (size_t)n;
    for (;;) {
      int tag;
      so__shep_rd rd;
      int rc = so__shep_frame_peek(sh->in.data + sh->in_off, sh->in.len - sh->in_off, &tag, &rd,
                                   &sh->need);
      if (rc < 0)
        return -1;
      if (rc == 0)
        break;
      sh->in_off += sh->need;
      sh->need = 0;
      if (handle(sh, tag, &rd) < 0)
        return -1;
      if (sh->quitting)
        break;
    }
  }
}

/* ---- the loop ---------------------------------------------------------------------------- */

/* Polls proc until `until`, recording what completes; no frames go out any more. */
static void reap_until(shep *sh, double until) {
  double now;
  while (so__proc_running(sh->sup) && (now = so__mono_s()) < until) {
    so__proc_poll(sh->sup, (int)ceil(fmin(until - now, 0.1) * 1e3), NULL, 0);
    collect(sh);
  }
}

/* The worker is gone: let running commands finish for the drain period, SIGKILL the rest, record
 * what finished, and leave. */
static int die(shep *sh) {
  sh->dying = 1;
  sh->out.len = sh->out_off = 0;
  drop_queue(sh, 0, NULL);
  reap_until(sh, so__mono_s() + sh->drain);
  for (unsigned i = 0; i < sh->slots; i++)
    if (sh->run[i] && sh->run[i]->mode == MODE_NORMAL)
      sh->run[i]->mode = MODE_DEATH;
  so__proc_kill_now(sh->sup);
  so__proc_kill_all(sh->sup); /* marks them killed; the SIGTERM it sends finds them dead */
  reap_until(sh, so__mono_s() + sh->grace + KILL_WAIT_S);
  return EXIT_ORPHANED;
}

static int serve(shep *sh) {
  char err[256];
  for (;;) {
    g_io = 0; /* what arrives from here on is read below or sets it again */
    if (g_term || read_socket(sh) < 0)
      return die(sh);
    start_queued(sh);
    if (!sh->quitting && flush_out(sh) < 0)
      return die(sh);
    if (sh->unsynced && so__mono_s() >= sh->sync_due)
      sync_shard(sh);
    if (sh->quitting && !so__proc_running(sh->sup))
      return EXIT_QUIT;
    int ms = -1;
    if (sh->unsynced)
      ms = (int)ceil(fmax(sh->sync_due - so__mono_s(), 0) * 1e3);
    if (so__proc_running(sh->sup) && unsent(sh) < OUT_HIGH) {
      int cap = so__mono_s() - sh->last_traffic < BUSY_S ? WAKE_CAP_BUSY_MS : WAKE_CAP_MS;
      ms = g_io ? 0 : ms < 0 || ms > cap ? cap : ms;
      if (so__proc_poll(sh->sup, ms, err, sizeof err) < 0)
        fprintf(stderr, "scaleout: shepherd: %s\n", err);
    } else {
      /* Nothing runs, or the worker is behind with our frames: timeouts wait until it reads. */
      struct pollfd p[2] = {{.fd = sh->sock, .events = POLLIN | (unsent(sh) ? POLLOUT : 0)},
                            {.fd = sh->wake[0], .events = POLLIN}};
      if (poll(p, 2, ms) > 0 && p[1].revents) {
        char buf[64];
        while (read(sh->wake[0], buf, sizeof buf) > 0)
          ;
      }
    }
    collect(sh);
  }
}

/* ---- setup ------------------------------------------------------------------------------- */

/* Closes every descriptor but 0-2 and keep: the worker's MPI sockets and files are not ours. */
static void close_others(int keep) {
#ifdef SYS_close_range
  if ((keep <= 3 || syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0) &&
      syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
    return;
#endif
  DIR *d = opendir("/proc/self/fd");
  if (!d) {
    for (int fd = 3; fd < 65536; fd++)
      if (fd != keep)
        close(fd);
    return;
  }
  int fds[256], n = 0, self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d)) && n < 256) {
    int fd = atoi(e->d_name);
    if (fd > 2 && fd != keep && fd != self)
      fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++)
    close(fds[i]);
  if (n == 256)
    close_others(keep);
}

/* Opens, locks and repairs the shard. Returns 0 or -1 with a sentence in err. */
static int open_shard(shep *sh, const char *path, char *err, size_t errlen) {
  int created = 0;
  int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    created = 1;
  }
  if (fd < 0) {
    so__seterr(err, errlen, "cannot open the joblog shard %s: %s", path, strerror(errno));
    return -1;
  }
  sh->shard = fd;
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    so__seterr(err, errlen, "the joblog shard %s %s", path,
               errno == EWOULDBLOCK ? "is in use by another shepherd" : strerror(errno));
    return -1;
  }
  /* A machine crash can tear the last line; the next one must not be glued to it. */
  off_t size = lseek(fd, 0, SEEK_END), keep = size;
  char buf[4096];
  while (keep > 0) {
    off_t from = keep > (off_t)sizeof buf ? keep - (off_t)sizeof buf : 0;
    ssize_t n = pread(fd, buf, (size_t)(keep - from), from);
    if (n != keep - from) { /* cannot tell where the last line ends: leave the file alone */
      keep = size;
      break;
    }
    while (n > 0 && buf[n - 1] != '\n')
      n--;
    if (n > 0) {
      keep = from + n;
      break;
    }
    keep = from;
  }
  if (keep != size && ftruncate(fd, keep) < 0) {
    so__seterr(err, errlen, "cannot cut the torn last line of %s: %s", path, strerror(errno));
    return -1;
  }
  if (created && sh->sync_interval >= 0) { /* the lines' durability needs the directory entry */
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
      slash[slash == dir] = '\0';
    int dfd = dir ? open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
    free(dir);
  }
  return 0;
}

/* The process supervisor. Every command holds a share of the joblog's owner lock while it lives,
 * so no later run starts beside a command (or a process it left) that outlived its shepherd
 * (joblock.h). Returns 0 or an SO_E* code with a sentence in err. */
static int start_supervisor(shep *sh, char *err, size_t errlen) {
  so__proc_opts po = {.max_tasks = sh->slots, .grace = sh->grace, .on_output = on_output,
                      .arg = sh, .inherit_fd = sh->lock > 2 ? sh->lock : 0};
  return so__proc_sup_new(&po, &sh->sup, err, errlen);
}

static int parse_num(const char *s, double *v) {
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  return s[0] && !*end && !errno && !isnan(*v);
}

int so__shepherd_main(int argc, char **argv) {
  char *end = NULL;
  long sock = argc >= 3 ? strtol(argv[2], &end, 10) : -1;
  if (argc < 3 || strcmp(argv[1], SO_SHEPHERD_ARG) || !argv[2][0] || *end || sock < 3 ||
      sock > 65535 || fcntl((int)sock, F_GETFD) < 0) {
    fprintf(stderr, "scaleout: %s is started by a farm worker, not by hand\n", SO_SHEPHERD_ARG);
    return EXIT_USAGE;
  }
  double num;
  shep sh = {.sock = (int)sock, .wake = {-1, -1}, .shard = -1, .lock = -1, .slots = 1,
             .sync_interval = -1};
  close_others(sh.sock);
  so__rankenv_scrub(); /* commands must not take themselves for our MPI rank (rankenv.h) */

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_io;
  sigaction(SIGIO, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  int ignored[] = {SIGINT, SIGHUP, SIGUSR1, SIGPIPE};
  for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
    sigaction(ignored[i], &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* posix_spawn made it a session leader already; one started another way still gets a session
   * (or at least a group) of its own. */
  if (setsid() < 0)
    setpgid(0, 0);

  char err[512] = "";
  const char *shard = NULL, *lock = NULL;
  double ppid = 0;
  int ok = 1;
  for (int i = 3; ok && i < argc; i += 2) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    ok = v != NULL;
    if (!ok)
      break;
    if (!strcmp(k, "--shard"))
      shard = v;
    else if (!strcmp(k, "--lock"))
      lock = v;
    else if (!strcmp(k, "--host"))
      sh.host = v;
    else if (!parse_num(v, &num))
      ok = 0;
    else if (!strcmp(k, "--ppid"))
      ppid = num;
    else if (!strcmp(k, "--slots"))
      ok = num >= 1 && num <= 65536 && (sh.slots = (unsigned)num) == num;
    else if (!strcmp(k, "--grace"))
      ok = (sh.grace = num) >= 0 && !isinf(num);
    else if (!strcmp(k, "--sync"))
      sh.sync_interval = num;
    else if (!strcmp(k, "--drain"))
      sh.drain = num == 0 ? SO_SHEP_DRAIN_DEFAULT : fmax(num, 0);
    else
      ok = 0;
    if (!ok)
      so__seterr(err, sizeof err, "the shepherd does not understand %s %s", k, v ? v : "");
  }
  /* The worker's death sends SIGTERM; if it died before this line, nobody will. */
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || (ppid > 0 && getppid() != (pid_t)ppid))
    g_term = 1;

  int status = EXIT_SETUP;
  if (!ok) {
    status = EXIT_USAGE;
  } else if (pipe2(sh.wake, O_CLOEXEC | O_NONBLOCK) < 0 ||
             fcntl(sh.sock, F_SETOWN, getpid()) < 0 ||
             fcntl(sh.sock, F_SETFL, O_NONBLOCK | O_ASYNC) < 0) {
    so__seterr(err, sizeof err, "the shepherd cannot set up its socket: %s", strerror(errno));
  } else if (lock && so__joblock_join(lock, &sh.lock, err, sizeof err)) {
    /* Its run lost the joblog (its master died and another run took it): run nothing. */
  } else if (shard && open_shard(&sh, shard, err, sizeof err) < 0) {
  } else if (start_supervisor(&sh, err, sizeof err) == 0 &&
             (sh.run = calloc(sh.slots, sizeof *sh.run))) {
    if (sh.grace == 0)
      sh.grace = SO__PROC_GRACE_DEFAULT;
    g_wake_fd = sh.wake[1];
    if (g_term) /* the worker died meanwhile: say so in the pipe too */
      on_term(SIGTERM);
    send_hello(&sh, 0, "ready");
    status = serve(&sh);
  } else if (!err[0]) {
    so__seterr(err, sizeof err, "the shepherd ran out of memory");
  }
  if (err[0] && status != EXIT_QUIT && status != EXIT_ORPHANED)
    send_hello(&sh, status == EXIT_USAGE ? SO_EINVAL : SO_EIO, err);

  /* A command stuck in uninterruptible sleep would make so__proc_sup_free block; leave it. */
  if (!so__proc_running(sh.sup)) {
    so__proc_sup_free(sh.sup);
    sh.sup = NULL;
  }
  sync_shard(&sh);
  if (sh.shard >= 0)
    close(sh.shard);
  if (sh.lock >= 0)
    close(sh.lock); /* commands still running (left in uninterruptible sleep) keep their share */
  drop_queue(&sh, 0, NULL);
  for (unsigned i = 0; sh.run && !sh.sup && i < sh.slots; i++)
    job_free(sh.run[i]);
  free(sh.run);
  so__buf_free(&sh.in);
  so__buf_free(&sh.out);
  so__buf_free(&sh.line);
  g_wake_fd = -1;
  for (int i = 0; i < 2; i++)
    if (sh.wake[i] >= 0)
      close(sh.wake[i]);
  close(sh.sock);
  return status;
}

/* The GNU parallel compatible joblog: line format, streaming reader, resume status, writer. */
#include "joblog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "fileio.h"
#include "scaleout/scaleout.h"
#include "taskfile.h"

/* ---- Helpers. ---- */

/* Makes a newly created file's directory entry durable, best effort: some file systems refuse
 * to sync directories, and losing the entry only loses a log that had nothing in it yet. */
static void sync_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  if (!dir)
    return;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  free(dir);
}

static int parse_i64(const char *s, int64_t *v) {
  int neg = *s == '-';
  uint64_t x;
  if (so__parse_u64(s + neg, &x) || x > (uint64_t)INT64_MAX + neg)
    return -1;
  *v = neg ? (int64_t)(0 - x) : (int64_t)x;
  return 0;
}

static int parse_int(const char *s, int *v) {
  int64_t x;
  if (parse_i64(s, &x) || x < INT_MIN || x > INT_MAX)
    return -1;
  *v = (int)x;
  return 0;
}

/* A decimal number as printf "%.3f" / "%10.3f" write it: leading spaces, an optional '-',
 * digits, an optional fraction. strtod alone would also take "inf", hex and exponents. */
static int parse_fixed(const char *s, double *v) {
  while (*s == ' ')
    s++;
  const char *p = s + (*s == '-');
  if (*p < '0' || *p > '9')
    return -1;
  while (*p >= '0' && *p <= '9')
    p++;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++)
      ;
  if (*p)
    return -1;
  *v = strtod(s, NULL);
  return isfinite(*v) ? 0 : -1;
}

/* ---- The line format. ---- */

void so__joblog_set_status(so__joblog_entry *e, int exitval, int sig, int timed_out) {
  e->signal = sig;
  e->exitval = timed_out ? -1 : sig ? 0 : exitval;
}

int so__joblog_format(so__buf *out, const so__joblog_entry *e) {
  const char *host = e->host ? e->host : ":";
  size_t hostlen = strlen(host);
  if (e->seq == 0 || hostlen == 0 || strpbrk(host, "\t\n") || !isfinite(e->starttime) ||
      !isfinite(e->runtime) || (e->command_len && memchr(e->command, '\0', e->command_len)))
    return SO_EINVAL;
  char head[32], tail[160];
  int nh = snprintf(head, sizeof head, "%llu\t", (unsigned long long)e->seq);
  int nt = snprintf(tail, sizeof tail, "\t%.3f\t%10.3f\t%lld\t%lld\t%d\t%d\t", e->starttime,
                    e->runtime, (long long)e->send, (long long)e->receive, e->exitval, e->signal);
  if (nt < 0 || (size_t)nt >= sizeof tail)
    return SO_EINVAL; /* only absurd times (1e150 seconds) get here */
  if (e->command_len > SO_JOBLOG_MAX_LINE ||
      hostlen > SO_JOBLOG_MAX_LINE - e->command_len - (size_t)nh - (size_t)nt)
    return SO_EINVAL;
  size_t total = (size_t)nh + hostlen + (size_t)nt + e->command_len + 1;
  int rc = so__buf_reserve(out, total);
  if (rc)
    return rc;
  so__buf_put(out, head, (size_t)nh);
  so__buf_put(out, host, hostlen);
  so__buf_put(out, tail, (size_t)nt);
  /* GNU parallel's escaping: a newline in the command becomes NUL, so one line stays one task. */
  unsigned char *cmd = out->data + out->len;
  so__buf_put(out, e->command, e->command_len);
  for (size_t i = 0; i < e->command_len; i++)
    if (cmd[i] == '\n')
      cmd[i] = '\0';
  so__buf_put(out, "\n", 1);
  return 0;
}

static const char *const field_names[] = {"Seq",  "Host",    "Starttime", "JobRuntime",
                                          "Send", "Receive", "Exitval",   "Signal"};

/* Parses a task line in place. Returns NULL, or the name of the first field that is wrong
 * ("fields" when there are fewer than nine). */
static const char *parse_fields(char *line, size_t len, so__joblog_entry *e) {
  char *f[8];
  char *p = line, *end = line + len;
  for (int i = 0; i < 8; i++) {
    char *tab = memchr(p, '\t', (size_t)(end - p));
    if (!tab)
      return "fields";
    /* A NUL is only legal in the command, where it stands for a newline. */
    if (memchr(p, '\0', (size_t)(tab - p)))
      return field_names[i];
    *tab = '\0';
    f[i] = p;
    p = tab + 1;
  }
  memset(e, 0, sizeof *e);
  if (so__parse_u64(f[0], &e->seq) || e->seq == 0)
    return field_names[0];
  if (!*f[1])
    return field_names[1];
  e->host = f[1];
  if (parse_fixed(f[2], &e->starttime))
    return field_names[2];
  if (parse_fixed(f[3], &e->runtime))
    return field_names[3];
  if (parse_i64(f[4], &e->send))
    return field_names[4];
  if (parse_i64(f[5], &e->receive))
    return field_names[5];
  if (parse_int(f[6], &e->exitval))
    return field_names[6];
  if (parse_int(f[7], &e->signal))
    return field_names[7];
  for (char *c = p; c < end; c++)
    if (*c == '\0')
      *c = '\n';
  e->command = p;
  e->command_len = (size_t)(end - p);
  return NULL;
}

int so__joblog_parse_line(char *line, size_t len, so__joblog_entry *e) {
  return parse_fields(line, len, e) ? SO_EINVAL : 0;
}

/* ---- The reader. ---- */

static int is_header(const char *line, size_t len) {
  return len == sizeof SO_JOBLOG_HEADER - 2 && memcmp(line, SO_JOBLOG_HEADER, len) == 0;
}

static int scan_fd(int fd, const char *name, so__joblog_fn fn, void *ctx, uint64_t *valid_len,
                   char *err, size_t errlen) {
  so__lines lr;
  if (so__lines_init(&lr, fd, SO_JOBLOG_MAX_LINE)) {
    snprintf(err, errlen, "out of memory while reading the joblog '%s'", name);
    return SO_ENOMEM;
  }
  int rc, reported = 0;
  char *line;
  size_t len;
  uint64_t whole = 0; /* where the last line taken ends */
  while ((rc = so__lines_next(&lr, &line, &len)) == 1) {
    so__joblog_entry e;
    const char *bad = NULL;
    if (!lr.complete) {
      /* A last line without its '\n' is taken when its first eight fields are all there and
       * valid: the tab after Signal was written, so Exitval and Signal are whole (a crash can
       * only have cut the command short), and the line is a result as sure as any other. Less
       * than that (the writer died mid-line, or a machine crash left zeros) never happened, as
       * far as resume goes: its command runs again, unless a shard holds its line. */
      if (is_header(line, len) || parse_fields(line, len, &e))
        break;
    } else if (is_header(line, len)) {
      whole = lr.consumed;
      continue;
    } else {
      bad = parse_fields(line, len, &e);
    }
    if (bad) {
      if (strcmp(bad, "fields") == 0)
        snprintf(err, errlen,
                 "'%s' is not a joblog: line %llu does not have the nine tab-separated fields "
                 "Seq, Host, Starttime, JobRuntime, Send, Receive, Exitval, Signal, Command",
                 name, (unsigned long long)lr.lineno);
      else
        snprintf(err, errlen, "'%s' is not a joblog: the %s field on line %llu is not valid", name,
                 bad, (unsigned long long)lr.lineno);
      rc = SO_EINVAL;
      reported = 1;
      break;
    }
    char sub[256] = "";
    rc = fn ? fn(ctx, &e, sub, sizeof sub) : 0;
    if (rc) {
      snprintf(err, errlen, "line %llu of the joblog '%s': %s", (unsigned long long)lr.lineno,
               name, sub[0] ? sub : so_strerror(rc));
      reported = 1;
      break;
    }
    whole = lr.consumed;
  }
  if (!reported && rc == SO_EINVAL)
    snprintf(err, errlen, "'%s' is not a joblog: line %llu is longer than %zu bytes", name,
             (unsigned long long)lr.lineno, SO_JOBLOG_MAX_LINE);
  else if (!reported && rc == SO_EIO)
    snprintf(err, errlen, "cannot read the joblog '%s': %s", name, strerror(errno));
  else if (!reported && rc == SO_ENOMEM)
    snprintf(err, errlen, "out of memory while reading the joblog '%s'", name);
  if (rc == 1 || rc == 0) {
    rc = 0;
    if (valid_len)
      *valid_len = whole;
  }
  so__lines_free(&lr);
  return rc;
}

int so__joblog_scan_fd(int fd, const char *name, so__joblog_fn fn, void *ctx, uint64_t *valid_len,
                       char *err, size_t errlen) {
  return scan_fd(fd, name, fn, ctx, valid_len, err, errlen);
}

int so__joblog_scan(const char *path, so__joblog_fn fn, void *ctx, uint64_t *valid_len, char *err,
                    size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open the joblog '%s': %s", path, strerror(errno));
    return SO_EIO;
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "the joblog '%s' is a directory", path);
    close(fd);
    return SO_EIO;
  }
  int rc = scan_fd(fd, path, fn, ctx, valid_len, err, errlen);
  close(fd);
  return rc;
}

/* ---- Resume status. ---- */

int so__joblog_status_of(const so__joblog_status *st, uint64_t seq) {
  return seq >= 1 && seq <= st->max_seq ? st->state[seq] : SO_JOBLOG_NOT_RUN;
}

void so__joblog_status_free(so__joblog_status *st) {
  free(st->state);
  *st = (so__joblog_status)SO_JOBLOG_STATUS_INIT;
}

static int status_add(void *ctx, const so__joblog_entry *e, char *err, size_t errlen) {
  so__joblog_status *st = ctx;
  if (e->seq > SO_JOBLOG_MAX_SEQ) {
    snprintf(err, errlen, "Seq %llu is above the highest supported, %llu",
             (unsigned long long)e->seq, (unsigned long long)SO_JOBLOG_MAX_SEQ);
    return SO_EINVAL;
  }
  if (e->seq > st->cap) {
    /* Doubling keeps reading a log in Seq order linear; the table holds cap + 1 bytes. */
    uint64_t cap = st->cap ? st->cap : 1023;
    while (cap < e->seq)
      cap = cap * 2 + 1;
    if (cap > SO_JOBLOG_MAX_SEQ)
      cap = SO_JOBLOG_MAX_SEQ;
    if (cap >= SIZE_MAX)
      return SO_ENOMEM;
    size_t had = st->state ? (size_t)st->cap + 1 : 0;
    unsigned char *p = realloc(st->state, (size_t)cap + 1);
    if (!p)
      return SO_ENOMEM;
    memset(p + had, 0, (size_t)cap + 1 - had);
    st->state = p;
    st->cap = cap;
  }
  if (e->seq > st->max_seq)
    st->max_seq = e->seq;
  st->records++;
  unsigned char *s = &st->state[e->seq];
  if (e->exitval == 0 && e->signal == 0) {
    if (*s == SO_JOBLOG_FAILED)
      st->failed--;
    if (*s != SO_JOBLOG_SUCCEEDED)
      st->succeeded++;
    *s = SO_JOBLOG_SUCCEEDED;
  } else if (*s == SO_JOBLOG_NOT_RUN) {
    st->failed++;
    *s = SO_JOBLOG_FAILED;
  }
  return 0;
}

int so__joblog_status_add(so__joblog_status *st, const so__joblog_entry *e, char *err,
                          size_t errlen) {
  return status_add(st, e, err, errlen);
}

int so__joblog_read(const char *path, so__joblog_status *st, char *err, size_t errlen) {
  return so__joblog_scan(path, status_add, st, NULL, err, errlen);
}

/* ---- The writer. ---- */

struct so__joblog {
  int fd;
  char *path;
  so__buf line;          /* the line being written, reused */
  uint64_t size;        /* bytes of whole lines in the file: where a failed write is cut back to */
  double interval;
  so__srcprint *source;
  uint64_t unsynced;    /* lines written since the last sync */
  double oldest;        /* monotonic time of the oldest of them */
};

static int write_header(so__joblog *jl, char *err, size_t errlen) {
  if (so__write_all(jl->fd, SO_JOBLOG_HEADER, sizeof SO_JOBLOG_HEADER - 1) || so__sync_data(jl->fd)) {
    snprintf(err, errlen, "cannot write the joblog '%s': %s", jl->path, strerror(errno));
    return SO_EIO;
  }
  jl->size += sizeof SO_JOBLOG_HEADER - 1;
  sync_parent_dir(jl->path);
  return 0;
}

/* Opens an existing log for resume: reads it into status, then cuts off a partial last line so
 * the next line starts on a line of its own. */
static int open_resume(so__joblog *jl, so__joblog_status *status, char *err, size_t errlen) {
  jl->fd = open(jl->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (jl->fd < 0) {
    snprintf(err, errlen, "cannot open the joblog '%s': %s", jl->path, strerror(errno));
    return SO_EIO;
  }
  struct stat st;
  if (fstat(jl->fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "the joblog '%s' is a directory", jl->path);
    return SO_EIO;
  }
  uint64_t valid = 0;
  int rc = scan_fd(jl->fd, jl->path, status ? status_add : NULL, status, &valid, err, errlen);
  if (rc)
    return rc;
  if (valid < (uint64_t)st.st_size) {
    if (ftruncate(jl->fd, (off_t)valid) != 0 || so__sync_data(jl->fd) != 0) {
      snprintf(err, errlen, "cannot cut the partial last line off the joblog '%s': %s", jl->path,
               strerror(errno));
      return SO_EIO;
    }
  }
  /* A whole last line that lacks only its '\n' gets it, so the next line starts on its own. */
  char last = '\n';
  if (valid > 0 && pread(jl->fd, &last, 1, (off_t)valid - 1) == 1 && last != '\n') {
    if (so__write_all(jl->fd, "\n", 1) != 0 || so__sync_data(jl->fd) != 0) {
      snprintf(err, errlen, "cannot end the last line of the joblog '%s': %s", jl->path,
               strerror(errno));
      return SO_EIO;
    }
    valid++;
  }
  jl->size = valid;
  return valid == 0 ? write_header(jl, err, errlen) : 0;
}

int so__joblog_open(so__joblog **out, const char *path, const so__joblog_options *opts,
                    so__joblog_status *status, char *err, size_t errlen) {
  *out = NULL;
  so__joblog *jl = calloc(1, sizeof *jl);
  if (!jl || !(jl->path = strdup(path))) {
    free(jl);
    snprintf(err, errlen, "out of memory while opening the joblog '%s'", path);
    return SO_ENOMEM;
  }
  static const so__joblog_options defaults = {0, 0.0, NULL};
  if (!opts)
    opts = &defaults;
  jl->fd = -1;
  jl->interval = opts->sync_interval;
  jl->source = opts->source;
  int rc;
  if (opts->resume) {
    rc = open_resume(jl, status, err, errlen);
  } else {
    jl->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (jl->fd < 0) {
      snprintf(err, errlen, "cannot create the joblog '%s': %s", path, strerror(errno));
      rc = SO_EIO;
    } else {
      rc = write_header(jl, err, errlen);
    }
  }
  if (rc) {
    if (jl->fd >= 0)
      close(jl->fd);
    free(jl->path);
    free(jl);
    return rc;
  }
  *out = jl;
  return 0;
}

int so__joblog_sync(so__joblog *jl, char *err, size_t errlen) {
  /* The sidecar first: a result line must never be on disk without its task's fingerprint. */
  if (jl->source) {
    int rc = so__srcprint_sync(jl->source, err, errlen);
    if (rc)
      return rc;
  }
  if (so__sync_data(jl->fd)) {
    snprintf(err, errlen, "cannot sync the joblog '%s' to disk: %s", jl->path, strerror(errno));
    return SO_EIO;
  }
  jl->unsynced = 0;
  return 0;
}

int so__joblog_tick(so__joblog *jl, char *err, size_t errlen) {
  if (jl->unsynced == 0 || jl->interval < 0 || so__mono_s() - jl->oldest < jl->interval)
    return 0;
  return so__joblog_sync(jl, err, errlen);
}

int so__joblog_append(so__joblog *jl, const so__joblog_entry *e, char *err, size_t errlen) {
  so__buf_clear(&jl->line);
  int rc = so__joblog_format(&jl->line, e);
  if (rc) {
    snprintf(err, errlen, "cannot log task %llu: %s", (unsigned long long)e->seq,
             rc == SO_ENOMEM ? "out of memory"
                             : "its host, times or command cannot be written as a joblog line");
    return rc;
  }
  if (so__write_all(jl->fd, jl->line.data, jl->line.len)) {
    int saved = errno;
    /* Cut back whatever part of the line made it, so the log stays whole lines. */
    if (ftruncate(jl->fd, (off_t)jl->size) != 0)
      snprintf(err, errlen,
               "cannot write task %llu to the joblog '%s' (%s), nor cut its partial line off (%s)",
               (unsigned long long)e->seq, jl->path, strerror(saved), strerror(errno));
    else
      snprintf(err, errlen, "cannot write task %llu to the joblog '%s': %s",
               (unsigned long long)e->seq, jl->path, strerror(saved));
    return SO_EIO;
  }
  jl->size += jl->line.len;
  if (jl->unsynced++ == 0)
    jl->oldest = so__mono_s();
  return jl->interval == 0 ? so__joblog_sync(jl, err, errlen) : so__joblog_tick(jl, err, errlen);
}

uint64_t so__joblog_unsynced(const so__joblog *jl) { return jl->unsynced; }

int so__joblog_close(so__joblog *jl, char *err, size_t errlen) {
  if (!jl)
    return 0;
  int rc = jl->unsynced ? so__joblog_sync(jl, err, errlen) : 0;
  if (close(jl->fd) != 0 && rc == 0) {
    snprintf(err, errlen, "cannot close the joblog '%s': %s", jl->path, strerror(errno));
    rc = SO_EIO;
  }
  so__buf_free(&jl->line);
  free(jl->path);
  free(jl);
  return rc;
}

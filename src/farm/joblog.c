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
#include <time.h>
#include <unistd.h>

#include "scaleout/scaleout.h"
#include "taskfile.h"

/* ---- Helpers shared with the sidecar code below. ---- */

/* Writes all of len bytes, continuing after short writes and EINTR. Returns 0 or -1 (errno). */
static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Syncs a file's data; EINVAL means the file (a pipe, /dev/null) cannot be synced, which is not
 * a failure of ours. Returns 0 or -1 (errno). */
static int sync_fd(int fd) {
  if (fdatasync(fd) == 0 || errno == EINVAL || errno == EROFS)
    return 0;
  return -1;
}

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

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse_u64(const char *s, uint64_t *v) {
  if (*s < '0' || *s > '9')
    return -1;
  uint64_t x = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    unsigned d = (unsigned)(*s - '0');
    if (x > (UINT64_MAX - d) / 10)
      return -1;
    x = x * 10 + d;
  }
  *v = x;
  return *s ? -1 : 0;
}

static int parse_i64(const char *s, int64_t *v) {
  int neg = *s == '-';
  uint64_t x;
  if (parse_u64(s + neg, &x) || x > (uint64_t)INT64_MAX + neg)
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

int so__joblog_format(so_buf *out, const so_joblog_entry *e) {
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
static const char *parse_fields(char *line, size_t len, so_joblog_entry *e) {
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
  if (parse_u64(f[0], &e->seq) || e->seq == 0)
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

int so__joblog_parse_line(char *line, size_t len, so_joblog_entry *e) {
  return parse_fields(line, len, e) ? SO_EINVAL : 0;
}

/* ---- The reader. ---- */

static int is_header(const char *line, size_t len) {
  return len == sizeof SO_JOBLOG_HEADER - 2 && memcmp(line, SO_JOBLOG_HEADER, len) == 0;
}

static int scan_fd(int fd, const char *name, so_joblog_fn fn, void *ctx, uint64_t *valid_len,
                   char *err, size_t errlen) {
  so_lines lr;
  if (so__lines_init(&lr, fd, SO_JOBLOG_MAX_LINE)) {
    snprintf(err, errlen, "out of memory while reading the joblog '%s'", name);
    return SO_ENOMEM;
  }
  int rc, reported = 0;
  char *line;
  size_t len;
  while ((rc = so__lines_next(&lr, &line, &len)) == 1) {
    if (!lr.complete) {
      /* Half a line: the writer died mid-write. It never happened, as far as resume goes. */
      break;
    }
    if (is_header(line, len))
      continue;
    so_joblog_entry e;
    const char *bad = parse_fields(line, len, &e);
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
  }
  if (!reported && rc == SO_EINVAL)
    snprintf(err, errlen, "'%s' is not a joblog: line %llu is longer than %zu bytes", name,
             (unsigned long long)lr.lineno, SO_JOBLOG_MAX_LINE);
  else if (!reported && rc == SO_EIO)
    snprintf(err, errlen, "cannot read the joblog '%s': %s", name, strerror(errno));
  else if (!reported && rc == SO_ENOMEM)
    snprintf(err, errlen, "out of memory while reading the joblog '%s'", name);
  if (rc == 1 || rc == 0) {
    /* At end of file line_offset is the end; after half a line it is where that half starts. */
    rc = 0;
    if (valid_len)
      *valid_len = lr.line_offset;
  }
  so__lines_free(&lr);
  return rc;
}

int so__joblog_scan(const char *path, so_joblog_fn fn, void *ctx, uint64_t *valid_len, char *err,
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

int so__joblog_status_of(const so_joblog_status *st, uint64_t seq) {
  return seq >= 1 && seq <= st->max_seq ? st->state[seq] : SO_JOBLOG_NOT_RUN;
}

void so__joblog_status_free(so_joblog_status *st) {
  free(st->state);
  *st = (so_joblog_status)SO_JOBLOG_STATUS_INIT;
}

static int status_add(void *ctx, const so_joblog_entry *e, char *err, size_t errlen) {
  so_joblog_status *st = ctx;
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

int so__joblog_status_add(so_joblog_status *st, const so_joblog_entry *e, char *err,
                          size_t errlen) {
  return status_add(st, e, err, errlen);
}

int so__joblog_read(const char *path, so_joblog_status *st, char *err, size_t errlen) {
  return so__joblog_scan(path, status_add, st, NULL, err, errlen);
}

/* ---- The writer. ---- */

struct so_joblog {
  int fd;
  char *path;
  so_buf line;          /* the line being written, reused */
  uint64_t size;        /* bytes of whole lines in the file: where a failed write is cut back to */
  double interval;
  so_srcprint *source;
  uint64_t unsynced;    /* lines written since the last sync */
  double oldest;        /* monotonic time of the oldest of them */
};

static int write_header(so_joblog *jl, char *err, size_t errlen) {
  if (write_all(jl->fd, SO_JOBLOG_HEADER, sizeof SO_JOBLOG_HEADER - 1) || sync_fd(jl->fd)) {
    snprintf(err, errlen, "cannot write the joblog '%s': %s", jl->path, strerror(errno));
    return SO_EIO;
  }
  jl->size += sizeof SO_JOBLOG_HEADER - 1;
  sync_parent_dir(jl->path);
  return 0;
}

/* Opens an existing log for resume: reads it into status, then cuts off a partial last line so
 * the next line starts on a line of its own. */
static int open_resume(so_joblog *jl, so_joblog_status *status, char *err, size_t errlen) {
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
    if (ftruncate(jl->fd, (off_t)valid) != 0 || sync_fd(jl->fd) != 0) {
      snprintf(err, errlen, "cannot cut the partial last line off the joblog '%s': %s", jl->path,
               strerror(errno));
      return SO_EIO;
    }
  }
  jl->size = valid;
  return valid == 0 ? write_header(jl, err, errlen) : 0;
}

int so__joblog_open(so_joblog **out, const char *path, const so_joblog_options *opts,
                    so_joblog_status *status, char *err, size_t errlen) {
  *out = NULL;
  so_joblog *jl = calloc(1, sizeof *jl);
  if (!jl || !(jl->path = strdup(path))) {
    free(jl);
    snprintf(err, errlen, "out of memory while opening the joblog '%s'", path);
    return SO_ENOMEM;
  }
  static const so_joblog_options defaults = {0, 0.0, NULL};
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

int so__joblog_sync(so_joblog *jl, char *err, size_t errlen) {
  /* The sidecar first: a result line must never be on disk without its task's fingerprint. */
  if (jl->source) {
    int rc = so__srcprint_sync(jl->source, err, errlen);
    if (rc)
      return rc;
  }
  if (sync_fd(jl->fd)) {
    snprintf(err, errlen, "cannot sync the joblog '%s' to disk: %s", jl->path, strerror(errno));
    return SO_EIO;
  }
  jl->unsynced = 0;
  return 0;
}

int so__joblog_tick(so_joblog *jl, char *err, size_t errlen) {
  if (jl->unsynced == 0 || jl->interval < 0 || now_seconds() - jl->oldest < jl->interval)
    return 0;
  return so__joblog_sync(jl, err, errlen);
}

int so__joblog_append(so_joblog *jl, const so_joblog_entry *e, char *err, size_t errlen) {
  so__buf_clear(&jl->line);
  int rc = so__joblog_format(&jl->line, e);
  if (rc) {
    snprintf(err, errlen, "cannot log task %llu: %s", (unsigned long long)e->seq,
             rc == SO_ENOMEM ? "out of memory"
                             : "its host, times or command cannot be written as a joblog line");
    return rc;
  }
  if (write_all(jl->fd, jl->line.data, jl->line.len)) {
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
    jl->oldest = now_seconds();
  return jl->interval == 0 ? so__joblog_sync(jl, err, errlen) : so__joblog_tick(jl, err, errlen);
}

uint64_t so__joblog_unsynced(const so_joblog *jl) { return jl->unsynced; }

int so__joblog_close(so_joblog *jl, char *err, size_t errlen) {
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

/* ---- The task source fingerprint sidecar. ---- */

#define SRCPRINT_MAGIC "scaleout-source-fingerprints\t1\n"
#define SRCPRINT_VALID (SO_SRCPRINT_RESUME | SO_SRCPRINT_FORCE | SO_SRCPRINT_CHECK_ONLY)

uint64_t so__fnv1a64(uint64_t h, const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

struct so_srcprint {
  int fd;
  char *path;
  char *source;       /* the task source's name, for messages */
  unsigned flags;
  int comparing;      /* still reading old entries to compare with */
  so_lines old;       /* the reader over the old entries */
  uint64_t next_seq;  /* the seq the next add must carry */
  uint64_t total;     /* the chained hash of the tasks so far */
  int dirty;          /* written since the last sync */
  int ended;          /* the file holds a matching end line */
};

/* One line of an old sidecar. */
typedef struct old_line {
  int kind;           /* 0 end of file (or a partial last line), 1 task, 2 end line */
  uint64_t a, b;      /* seq and line, or task count and (unused) */
  uint64_t hash;
  uint64_t offset;    /* where the line starts */
} old_line;

static int parse_hash(const char *s, uint64_t *h) {
  if (strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16)
    return -1;
  *h = strtoull(s, NULL, 16);
  return 0;
}

/* Reads the next old line. Returns 0 or SO_EINVAL / SO_EIO with a sentence in err. */
static int read_old(so_srcprint *sp, old_line *o, char *err, size_t errlen) {
  char *line;
  size_t len;
  memset(o, 0, sizeof *o);
  int rc = so__lines_next(&sp->old, &line, &len);
  o->offset = sp->old.line_offset;
  if (rc == 0 || (rc == 1 && !sp->old.complete))
    return 0;
  if (rc == SO_EIO) {
    snprintf(err, errlen, "cannot read '%s': %s", sp->path, strerror(errno));
    return SO_EIO;
  }
  if (rc == 1) {
    char *f[3], *save = NULL;
    f[0] = strtok_r(line, "\t", &save);
    f[1] = f[0] ? strtok_r(NULL, "\t", &save) : NULL;
    f[2] = f[1] ? strtok_r(NULL, "\t", &save) : NULL;
    int end = f[0] && strcmp(f[0], "end") == 0;
    if (f[2] && !strtok_r(NULL, "\t", &save) && (end || parse_u64(f[0], &o->a) == 0) &&
        parse_u64(f[1], end ? &o->a : &o->b) == 0 && parse_hash(f[2], &o->hash) == 0) {
      o->kind = end ? 2 : 1;
      return 0;
    }
  }
  snprintf(err, errlen, "line %llu of '%s' is not a task fingerprint: the file is damaged",
           (unsigned long long)sp->old.lineno, sp->path);
  return SO_EINVAL;
}

/* Stops comparing: the file is cut at offset and what comes next is written there. */
static int start_writing(so_srcprint *sp, uint64_t offset, char *err, size_t errlen) {
  sp->comparing = 0;
  if (sp->flags & SO_SRCPRINT_CHECK_ONLY)
    return 0;
  if (ftruncate(sp->fd, (off_t)offset) != 0) {
    snprintf(err, errlen, "cannot truncate '%s': %s", sp->path, strerror(errno));
    return SO_EIO;
  }
  if (offset == 0 && write_all(sp->fd, SRCPRINT_MAGIC, sizeof SRCPRINT_MAGIC - 1) != 0) {
    snprintf(err, errlen, "cannot write '%s': %s", sp->path, strerror(errno));
    return SO_EIO;
  }
  sp->dirty = 1;
  return 0;
}

/* A difference between the tasks and the sidecar: refused, or with FORCE accepted by rewriting
 * the sidecar from the differing line on. msg is the sentence for err. */
static int differ(so_srcprint *sp, uint64_t offset, const char *msg, char *err, size_t errlen) {
  snprintf(err, errlen, "%s", msg);
  if (!(sp->flags & SO_SRCPRINT_FORCE))
    return SO_EINVAL;
  char keep[512];
  snprintf(keep, sizeof keep, "%s", msg);
  int rc = start_writing(sp, offset, err, errlen);
  if (rc)
    return rc;
  snprintf(err, errlen, "%s", keep);
  return 1;
}

static int write_line(so_srcprint *sp, const char *text, int n, char *err, size_t errlen) {
  if (sp->flags & SO_SRCPRINT_CHECK_ONLY)
    return 0;
  if (write_all(sp->fd, text, (size_t)n) != 0) {
    snprintf(err, errlen, "cannot write '%s': %s", sp->path, strerror(errno));
    return SO_EIO;
  }
  sp->dirty = 1;
  return 0;
}

int so__srcprint_open(so_srcprint **out, const char *path, unsigned flags, const char *source_name,
                      char *err, size_t errlen) {
  *out = NULL;
  int resume = (flags & SO_SRCPRINT_RESUME) != 0;
  if ((flags & ~SRCPRINT_VALID) || (!resume && flags) ||
      ((flags & SO_SRCPRINT_FORCE) && (flags & SO_SRCPRINT_CHECK_ONLY))) {
    snprintf(err, errlen, "invalid source fingerprint flags 0x%x", flags);
    return SO_EINVAL;
  }
  so_srcprint *sp = calloc(1, sizeof *sp);
  if (!sp)
    goto fail_alloc;
  sp->fd = -1; /* before any failure path closes it: calloc's 0 is standard input */
  if (!(sp->path = strdup(path)) || !(sp->source = strdup(source_name)))
    goto fail_alloc;
  sp->flags = flags;
  sp->next_seq = 1;
  sp->total = SO_FNV1A64_INIT;
  int rc;
  if (resume) {
    int check = (flags & SO_SRCPRINT_CHECK_ONLY) != 0;
    sp->fd = open(path, check ? O_RDONLY | O_CLOEXEC : O_RDWR | O_APPEND | O_CLOEXEC);
    if (sp->fd < 0 && errno == ENOENT && (flags & SO_SRCPRINT_FORCE)) {
      sp->flags &= ~(unsigned)SO_SRCPRINT_RESUME;
      resume = 0;
    } else if (sp->fd < 0) {
      if (errno == ENOENT)
        snprintf(err, errlen,
                 "'%s' is missing, so it cannot be checked that the task source '%s' is the one "
                 "the joblog was written for; pass --force to resume anyway",
                 path, source_name);
      else
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
      rc = SO_EIO;
      goto fail;
    }
  }
  if (!resume) {
    sp->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (sp->fd < 0) {
      snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
      rc = SO_EIO;
      goto fail;
    }
    if ((rc = start_writing(sp, 0, err, errlen)) != 0)
      goto fail;
    *out = sp;
    return 0;
  }
  if (so__lines_init(&sp->old, sp->fd, 256))
    goto fail_alloc;
  sp->comparing = 1;
  char *line;
  size_t len;
  rc = so__lines_next(&sp->old, &line, &len);
  if (rc == 0 || (rc == 1 && !sp->old.complete)) {
    /* Created but never written to, or its first line only half written: nothing to compare. */
    rc = start_writing(sp, 0, err, errlen);
  } else if (rc == 1 && (len != sizeof SRCPRINT_MAGIC - 2 || memcmp(line, SRCPRINT_MAGIC, len))) {
    snprintf(err, errlen, "'%s' is not a scaleout task source fingerprint file", path);
    rc = SO_EINVAL;
  } else if (rc < 0) {
    snprintf(err, errlen, "'%s' is not a scaleout task source fingerprint file%s%s", path,
             rc == SO_EIO ? ": " : "", rc == SO_EIO ? strerror(errno) : "");
  } else {
    rc = 0;
  }
  if (rc)
    goto fail;
  *out = sp;
  return 0;

fail_alloc:
  snprintf(err, errlen, "out of memory while opening '%s'", path);
  rc = SO_ENOMEM;
fail:
  so__srcprint_close(sp);
  return rc;
}

int so__srcprint_add(so_srcprint *sp, uint64_t seq, uint64_t lineno, const char *cmd, size_t len,
                     char *err, size_t errlen) {
  if (sp->ended) {
    snprintf(err, errlen, "task %llu was fingerprinted after the end of the task source",
             (unsigned long long)seq);
    return SO_EINVAL;
  }
  if (seq != sp->next_seq) {
    snprintf(err, errlen, "task %llu was fingerprinted out of order: task %llu was expected",
             (unsigned long long)seq, (unsigned long long)sp->next_seq);
    return SO_EINVAL;
  }
  uint64_t h = so__fnv1a64(SO_FNV1A64_INIT, cmd, len);
  char text[80];
  int n = snprintf(text, sizeof text, "%llu\t%llu\t%016llx\n", (unsigned long long)seq,
                   (unsigned long long)lineno, (unsigned long long)h);
  int rc = 0, forced = 0;
  if (sp->comparing) {
    old_line o;
    char msg[512];
    if ((rc = read_old(sp, &o, err, errlen)) != 0)
      return rc;
    if (o.kind == 0) {
      /* The earlier run stopped reading the source here; the rest was never fingerprinted. */
      rc = start_writing(sp, o.offset, err, errlen);
    } else if (o.kind == 2) {
      snprintf(msg, sizeof msg,
               "the task source '%s' changed since the joblog was written: it had %llu tasks, "
               "and now has more (task %llu is on line %llu)",
               sp->source, (unsigned long long)o.a, (unsigned long long)seq,
               (unsigned long long)lineno);
      rc = forced = differ(sp, o.offset, msg, err, errlen);
    } else if (o.a != seq) {
      snprintf(err, errlen, "'%s' is damaged: its line %llu is for task %llu, not task %llu",
               sp->path, (unsigned long long)sp->old.lineno, (unsigned long long)o.a,
               (unsigned long long)seq);
      return SO_EINVAL;
    } else if (o.hash != h) {
      snprintf(msg, sizeof msg,
               "the task source '%s' changed since the joblog was written: task %llu (now on "
               "line %llu) is not the command it was (then on line %llu)",
               sp->source, (unsigned long long)seq, (unsigned long long)lineno,
               (unsigned long long)o.b);
      rc = forced = differ(sp, o.offset, msg, err, errlen);
    } else {
      sp->total = so__fnv1a64(sp->total, text + n - 17, 16);
      sp->next_seq++;
      return 0;
    }
    if (rc < 0)
      return rc;
  }
  if ((rc = write_line(sp, text, n, err, errlen)) != 0)
    return rc;
  /* The whole-source hash chains the hex text, so it does not depend on byte order. */
  sp->total = so__fnv1a64(sp->total, text + n - 17, 16);
  sp->next_seq++;
  return forced;
}

int so__srcprint_finish(so_srcprint *sp, char *err, size_t errlen) {
  uint64_t count = sp->next_seq - 1;
  int rc = 0;
  if (sp->comparing) {
    old_line o;
    char msg[512];
    if ((rc = read_old(sp, &o, err, errlen)) != 0)
      return rc;
    if (o.kind == 0) {
      rc = start_writing(sp, o.offset, err, errlen);
    } else if (o.kind == 2 && o.a == count && o.hash == sp->total) {
      /* The same source, read to its end before: the file already says so. */
      sp->comparing = 0;
      sp->ended = 1;
      return so__srcprint_sync(sp, err, errlen);
    } else if (o.kind == 2) {
      snprintf(err, errlen, "'%s' is damaged: its end line does not match its task lines",
               sp->path);
      return SO_EINVAL;
    } else {
      snprintf(msg, sizeof msg,
               "the task source '%s' changed since the joblog was written: it now ends after "
               "%llu tasks, but had more (task %llu was on line %llu)",
               sp->source, (unsigned long long)count, (unsigned long long)o.a,
               (unsigned long long)o.b);
      rc = differ(sp, o.offset, msg, err, errlen);
    }
    if (rc < 0)
      return rc;
  }
  char text[64];
  int n = snprintf(text, sizeof text, "end\t%llu\t%016llx\n", (unsigned long long)count,
                   (unsigned long long)sp->total);
  int wrc = write_line(sp, text, n, err, errlen);
  if (wrc == 0)
    wrc = so__srcprint_sync(sp, err, errlen);
  sp->ended = 1;
  return wrc ? wrc : rc;
}

int so__srcprint_sync(so_srcprint *sp, char *err, size_t errlen) {
  if (!sp->dirty)
    return 0;
  if (sync_fd(sp->fd) != 0) {
    snprintf(err, errlen, "cannot sync '%s' to disk: %s", sp->path, strerror(errno));
    return SO_EIO;
  }
  sp->dirty = 0;
  return 0;
}

void so__srcprint_close(so_srcprint *sp) {
  if (!sp)
    return;
  so__lines_free(&sp->old);
  if (sp->fd >= 0)
    close(sp->fd);
  free(sp->source);
  free(sp->path);
  free(sp);
}

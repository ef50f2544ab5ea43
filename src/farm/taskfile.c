/* Streaming readers of task sources, built on a chunked line splitter that never loads a file. */
#include "taskfile.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scaleout/scaleout.h"

/* Large enough that reading is a few system calls per megabyte, small enough to not matter. */
#define CHUNK ((size_t)64 << 10)

int so__lines_init(so__lines *lr, int fd, size_t max) {
  memset(lr, 0, sizeof *lr);
  lr->fd = fd;
  lr->max = max;
  lr->chunk = malloc(CHUNK);
  return lr->chunk ? 0 : SO_ENOMEM;
}

void so__lines_free(so__lines *lr) {
  free(lr->chunk);
  lr->chunk = NULL;
  so__buf_free(&lr->line);
}

/* Copies the straddling part of a line into lr->line, refusing to grow past the limit. */
static int keep(so__lines *lr, const unsigned char *p, size_t n) {
  if (n > lr->max - lr->line.len) {
    lr->lineno++;
    return SO_EINVAL;
  }
  /* One byte more for the NUL terminator handed out with the line. */
  int rc = so__buf_reserve(&lr->line, n + 1);
  if (rc)
    return rc;
  so__buf_put(&lr->line, p, n);
  return 0;
}

/* 1 when a read() of fd would not wait: data, end of file or an error is there. */
static int ready(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int n = poll(&p, 1, 0);
  return n != 0 && !(n < 0 && errno == EINTR);
}

int so__lines_next(so__lines *lr, char **line, size_t *len) {
  if (!lr->midline) {
    so__buf_clear(&lr->line);
    lr->line_offset = lr->consumed;
  }
  lr->midline = 0;
  for (;;) {
    if (lr->chunk_pos < lr->chunk_len) {
      unsigned char *p = lr->chunk + lr->chunk_pos;
      size_t avail = lr->chunk_len - lr->chunk_pos;
      unsigned char *nl = memchr(p, '\n', avail);
      size_t n = nl ? (size_t)(nl - p) : avail;
      lr->chunk_pos += n + (nl != NULL);
      lr->consumed += n + (nl != NULL);
      if (nl && lr->line.len == 0) {
        /* The common case: the whole line sits in the chunk and is handed out in place. */
        if (n > lr->max) {
          lr->lineno++;
          return SO_EINVAL;
        }
        *nl = '\0';
        *line = (char *)p;
        *len = n;
        lr->lineno++;
        lr->complete = 1;
        return 1;
      }
      int rc = keep(lr, p, n);
      if (rc)
        return rc;
      if (nl) {
        lr->line.data[lr->line.len] = '\0';
        *line = (char *)lr->line.data;
        *len = lr->line.len;
        lr->lineno++;
        lr->complete = 1;
        return 1;
      }
    }
    if (lr->eof) {
      if (lr->consumed == lr->line_offset)
        return 0;
      /* A last line without a newline: returned, but marked so a log reader can drop it. */
      lr->line.data[lr->line.len] = '\0';
      *line = (char *)lr->line.data;
      *len = lr->line.len;
      lr->lineno++;
      lr->complete = 0;
      return 1;
    }
    if (lr->poll_first && !ready(lr->fd)) {
      lr->midline = 1;
      return SO_LINES_LATER;
    }
    ssize_t r;
    do
      r = read(lr->fd, lr->chunk, CHUNK);
    while (r < 0 && errno == EINTR);
    if (r < 0)
      return SO_EIO;
    lr->chunk_len = (size_t)r;
    lr->chunk_pos = 0;
    lr->eof = r == 0;
  }
}

struct so__taskfile {
  char *name;     /* for messages */
  int fd;
  int own_fd;     /* 0 for standard input, which is not ours to close */
  int regular;    /* a regular file: read twice, and never waited on */
  so__taskfile_mode mode;
  so__lines lines;
  int error;      /* a sticky error code, repeated with msg by later calls */
  char msg[512];
};

static const char *what_items(so__taskfile_mode mode) {
  return mode == SO_TASKFILE_COMMANDS ? "commands" : "arguments";
}

int so__taskfile_open(so__taskfile **out, const char *path, so__taskfile_mode mode, char *err,
                      size_t errlen) {
  *out = NULL;
  if (mode != SO_TASKFILE_COMMANDS && mode != SO_TASKFILE_ARGS) {
    snprintf(err, errlen, "unknown task source mode %d", (int)mode);
    return SO_EINVAL;
  }
  int is_stdin = strcmp(path, "-") == 0;
  const char *name = is_stdin ? "standard input" : path;
  so__taskfile *tf = calloc(1, sizeof *tf);
  if (!tf || !(tf->name = strdup(name)))
    goto fail_alloc;
  tf->mode = mode;
  tf->fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  tf->own_fd = !is_stdin;
  if (tf->fd < 0) {
    snprintf(err, errlen, "cannot open the file of %s '%s': %s", what_items(mode), name,
             strerror(errno));
    goto fail_open;
  }
  /* A directory opens fine and only fails at read(), with a less helpful message. */
  struct stat st;
  if (fstat(tf->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "'%s' is a directory, not a file of %s", name, what_items(mode));
    goto fail_open;
  }
  if (so__lines_init(&tf->lines, tf->fd, SO_TASKFILE_MAX_LINE))
    goto fail_alloc;
  /* A pipe or terminal may hold half a line for as long as its writer likes: the master that reads
   * it must not wait in read() while its workers wait for answers. */
  tf->regular = fstat(tf->fd, &st) == 0 && S_ISREG(st.st_mode);
  tf->lines.poll_first = !tf->regular;
  *out = tf;
  return 0;

fail_open:
  so__taskfile_close(tf);
  return SO_EIO;
fail_alloc:
  so__taskfile_close(tf);
  snprintf(err, errlen, "out of memory while opening '%s'", name);
  return SO_ENOMEM;
}

/* Records a sticky error and copies its message out. */
static int fail(so__taskfile *tf, int rc, char *err, size_t errlen) {
  tf->error = rc;
  snprintf(err, errlen, "%s", tf->msg);
  return rc;
}

static int is_skipped(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
    i++;
  return i == len || s[i] == '#';
}

int so__taskfile_next(so__taskfile *tf, const char **text, size_t *len, uint64_t *lineno,
                      char *err, size_t errlen) {
  if (tf->error) {
    snprintf(err, errlen, "%s", tf->msg);
    return tf->error;
  }
  for (;;) {
    char *line;
    size_t n;
    int rc = so__lines_next(&tf->lines, &line, &n);
    if (rc == SO_LINES_LATER)
      return rc;
    uint64_t at = tf->lines.lineno;
    if (rc == SO_EINVAL) {
      snprintf(tf->msg, sizeof tf->msg,
               "line %llu of '%s' is longer than the limit of %zu bytes (4 MiB) for one line",
               (unsigned long long)at, tf->name, SO_TASKFILE_MAX_LINE);
      return fail(tf, rc, err, errlen);
    }
    if (rc == SO_EIO) {
      snprintf(tf->msg, sizeof tf->msg, "cannot read '%s' after line %llu: %s", tf->name,
               (unsigned long long)at, strerror(errno));
      return fail(tf, rc, err, errlen);
    }
    if (rc == SO_ENOMEM) {
      snprintf(tf->msg, sizeof tf->msg, "out of memory reading line %llu of '%s'",
               (unsigned long long)at + 1, tf->name);
      return fail(tf, rc, err, errlen);
    }
    if (rc == 0)
      return 0; /* an empty source is nothing to do, as for GNU parallel and xargs -r */
    if (memchr(line, '\0', n)) {
      snprintf(tf->msg, sizeof tf->msg,
               "line %llu of '%s' holds a NUL byte, which no command or argument can contain",
               (unsigned long long)at, tf->name);
      return fail(tf, SO_EINVAL, err, errlen);
    }
    if (tf->mode == SO_TASKFILE_COMMANDS && is_skipped(line, n))
      continue;
    *text = line;
    *len = n;
    *lineno = at;
    return 1;
  }
}

int so__taskfile_rereadable(const so__taskfile *tf) { return tf->regular; }

const char *so__taskfile_name(const so__taskfile *tf) { return tf->name; }

void so__taskfile_close(so__taskfile *tf) {
  if (!tf)
    return;
  so__lines_free(&tf->lines);
  if (tf->own_fd && tf->fd >= 0)
    close(tf->fd);
  free(tf->name);
  free(tf);
}

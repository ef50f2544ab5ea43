/* The task source fingerprint sidecar ("<joblog>.source"): what --resume compares. */
#include "srcprint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "scaleout/scaleout.h"
#include "taskfile.h"

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

struct so__srcprint {
  int fd;
  char *path;
  char *source;       /* the task source's name, for messages */
  unsigned flags;
  int comparing;      /* still reading old entries to compare with */
  so__lines old;       /* the reader over the old entries */
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
static int read_old(so__srcprint *sp, old_line *o, char *err, size_t errlen) {
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
    if (f[2] && !strtok_r(NULL, "\t", &save) && (end || so__parse_u64(f[0], &o->a) == 0) &&
        so__parse_u64(f[1], end ? &o->a : &o->b) == 0 && parse_hash(f[2], &o->hash) == 0) {
      o->kind = end ? 2 : 1;
      return 0;
    }
  }
  snprintf(err, errlen, "line %llu of '%s' is not a task fingerprint: the file is damaged",
           (unsigned long long)sp->old.lineno, sp->path);
  return SO_EINVAL;
}

/* Stops comparing: the file is cut at offset and what comes next is written there. */
static int start_writing(so__srcprint *sp, uint64_t offset, char *err, size_t errlen) {
  sp->comparing = 0;
  if (sp->flags & SO_SRCPRINT_CHECK_ONLY)
    return 0;
  if (ftruncate(sp->fd, (off_t)offset) != 0) {
    snprintf(err, errlen, "cannot truncate '%s': %s", sp->path, strerror(errno));
    return SO_EIO;
  }
  if (offset == 0 && so__write_all(sp->fd, SRCPRINT_MAGIC, sizeof SRCPRINT_MAGIC - 1) != 0) {
    snprintf(err, errlen, "cannot write '%s': %s", sp->path, strerror(errno));
    return SO_EIO;
  }
  sp->dirty = 1;
  return 0;
}

/* A difference between the tasks and the sidecar: refused, or with FORCE accepted by rewriting
 * the sidecar from the differing line on. msg is the sentence for err. */
static int differ(so__srcprint *sp, uint64_t offset, const char *msg, char *err, size_t errlen) {
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

static int write_line(so__srcprint *sp, const char *text, int n, char *err, size_t errlen) {
  if (sp->flags & SO_SRCPRINT_CHECK_ONLY)
    return 0;
  if (so__write_all(sp->fd, text, (size_t)n) != 0) {
    snprintf(err, errlen, "cannot write '%s': %s", sp->path, strerror(errno));
    return SO_EIO;
  }
  sp->dirty = 1;
  return 0;
}

/* Reads the next entry of the old sidecar to compare with. Where the old one ends (o->kind 0:
 * the earlier run stopped reading the source there, and the rest was never fingerprinted), it
 * switches to writing from that point. */
static int next_old(so__srcprint *sp, old_line *o, char *err, size_t errlen) {
  int rc = read_old(sp, o, err, errlen);
  if (rc == 0 && o->kind == 0)
    rc = start_writing(sp, o->offset, err, errlen);
  return rc;
}

int so__srcprint_open(so__srcprint **out, const char *path, unsigned flags, const char *source_name,
                      char *err, size_t errlen) {
  *out = NULL;
  int resume = (flags & SO_SRCPRINT_RESUME) != 0;
  if ((flags & ~SRCPRINT_VALID) || (!resume && flags) ||
      ((flags & SO_SRCPRINT_FORCE) && (flags & SO_SRCPRINT_CHECK_ONLY))) {
    snprintf(err, errlen, "invalid source fingerprint flags 0x%x", flags);
    return SO_EINVAL;
  }
  so__srcprint *sp = calloc(1, sizeof *sp);
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

int so__srcprint_add(so__srcprint *sp, uint64_t seq, uint64_t lineno, const char *cmd, size_t len,
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
    if ((rc = next_old(sp, &o, err, errlen)) != 0)
      return rc;
    if (o.kind == 2) {
      snprintf(msg, sizeof msg,
               "the task source '%s' changed since the joblog was written: it had %llu tasks, "
               "and now has more (task %llu is on line %llu)",
               sp->source, (unsigned long long)o.a, (unsigned long long)seq,
               (unsigned long long)lineno);
      rc = forced = differ(sp, o.offset, msg, err, errlen);
    } else if (o.kind == 1 && o.a != seq) {
      snprintf(err, errlen, "'%s' is damaged: its line %llu is for task %llu, not task %llu",
               sp->path, (unsigned long long)sp->old.lineno, (unsigned long long)o.a,
               (unsigned long long)seq);
      return SO_EINVAL;
    } else if (o.kind == 1 && o.hash != h) {
      snprintf(msg, sizeof msg,
               "the task source '%s' changed since the joblog was written: task %llu (now on "
               "line %llu) is not the command it was (then on line %llu)",
               sp->source, (unsigned long long)seq, (unsigned long long)lineno,
               (unsigned long long)o.b);
      rc = forced = differ(sp, o.offset, msg, err, errlen);
    } else if (o.kind == 1) {
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

int so__srcprint_finish(so__srcprint *sp, char *err, size_t errlen) {
  uint64_t count = sp->next_seq - 1;
  int rc = 0;
  if (sp->comparing) {
    old_line o;
    char msg[512];
    if ((rc = next_old(sp, &o, err, errlen)) != 0)
      return rc;
    if (o.kind == 2 && o.a == count && o.hash == sp->total) {
      /* The same source, read to its end before: the file already says so. */
      sp->comparing = 0;
      sp->ended = 1;
      return so__srcprint_sync(sp, err, errlen);
    } else if (o.kind == 2) {
      snprintf(err, errlen, "'%s' is damaged: its end line does not match its task lines",
               sp->path);
      return SO_EINVAL;
    } else if (o.kind == 1) {
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

int so__srcprint_sync(so__srcprint *sp, char *err, size_t errlen) {
  if (!sp->dirty)
    return 0;
  if (so__sync_data(sp->fd) != 0) {
    snprintf(err, errlen, "cannot sync '%s' to disk: %s", sp->path, strerror(errno));
    return SO_EIO;
  }
  sp->dirty = 0;
  return 0;
}

void so__srcprint_close(so__srcprint *sp) {
  if (!sp)
    return;
  so__lines_free(&sp->old);
  if (sp->fd >= 0)
    close(sp->fd);
  free(sp->source);
  free(sp->path);
  free(sp);
}

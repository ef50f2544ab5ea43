/* The joblog's owner lock (see joblock.h for the protocol and what it relies on). */
#include "joblock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "scaleout/scaleout.h"

#define POLL_NS 50000000L /* 50 ms between looks while waiting for the owner to go */

int so__joblock_path(const char *joblog, char *out, size_t outlen) {
  int n = snprintf(out, outlen, "%s.lock", joblog);
  return n > 0 && (size_t)n < outlen ? 0 : SO_EINVAL;
}

static int open_lock(const char *path, int *fd, char *err, size_t errlen) {
  *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (*fd < 0) {
    so__seterr(err, errlen, "cannot open the joblog lock %s: %s", path, strerror(errno));
    return SO_EINVAL; /* like a joblog that cannot be created: the path given cannot be used */
  }
  return 0;
}

/* Describes the owner the lock file names: "pid P on HOST since TIME", with a note when that
 * process is known to be gone (its shepherds or commands hold the lock then). */
static void describe_owner(int fd, char *out, size_t outlen) {
  char buf[512], host[256];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  long pid = 0;
  long long since = 0;
  buf[n > 0 ? n : 0] = '\0';
  if (n <= 0 || sscanf(buf, "%ld %255s %lld", &pid, host, &since) != 3 || pid <= 0) {
    snprintf(out, outlen, "another run (which has not said which yet)");
    return;
  }
  char when[64] = "?";
  time_t t = (time_t)since;
  struct tm tm;
  if (localtime_r(&t, &tm))
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  char self[256] = "";
  gethostname(self, sizeof self - 1);
  int gone = strcmp(self, host) == 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
  snprintf(out, outlen, "the run of pid %ld on %s, started %s%s", pid, host, when,
           gone ? " (that process has ended, but shepherds or commands it started still run)"
                : "");
}

/* Writes who owns the lock now; the caller holds it exclusively. */
static int write_owner(int fd, const char *path, char *err, size_t errlen) {
  char host[256] = "", text[400];
  if (gethostname(host, sizeof host - 1) || !host[0])
    snprintf(host, sizeof host, "unknown");
  int n = snprintf(text, sizeof text, "%ld %s %lld\n", (long)getpid(), host,
                   (long long)time(NULL));
  if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n) {
    so__seterr(err, errlen, "cannot write the joblog lock %s: %s", path, strerror(errno));
    return SO_EIO;
  }
  return 0;
}

int so__joblock_own(const char *path, int how, int quiet, int (*stop)(void), int *fd, char *err,
                    size_t errlen) {
  int rc = open_lock(path, fd, err, errlen);
  if (rc)
    return rc;
  char owner[600];
  int told = 0;
  while (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno == EINTR)
      continue;
    if (errno != EWOULDBLOCK) {
      so__seterr(err, errlen, "cannot lock the joblog lock %s: %s", path, strerror(errno));
      rc = SO_EIO;
      goto fail;
    }
    describe_owner(*fd, owner, sizeof owner);
    if (how != SO_JOBLOCK_WAIT) {
      so__seterr(err, errlen, "the joblog is in use by %s; run again when it has ended, or give "
                              "--wait-joblog to wait for it (lock file %s)", owner, path);
      rc = SO_EINVAL;
      goto fail;
    }
    if (!told && !quiet)
      fprintf(stderr, "scaleout: waiting for %s to release the joblog (%s)\n", owner, path);
    told = 1;
    if (stop && stop()) {
      so__seterr(err, errlen, "stopped while waiting for %s to release the joblog", owner);
      rc = SO_ESTOPPED;
      goto fail;
    }
    struct timespec ts = {0, POLL_NS};
    nanosleep(&ts, NULL);
  }
  if ((rc = write_owner(*fd, path, err, errlen)))
    goto fail;
  /* Not atomic (joblock.h): a run that takes the exclusive lock in between wins, and we leave. */
  if (flock(*fd, LOCK_SH | LOCK_NB) < 0) {
    describe_owner(*fd, owner, sizeof owner);
    so__seterr(err, errlen, "the joblog was taken over by %s while this run started", owner);
    rc = errno == EWOULDBLOCK ? SO_EINVAL : SO_EIO;
    goto fail;
  }
  return 0;
fail:
  close(*fd);
  *fd = -1;
  return rc;
}

int so__joblock_join(const char *path, int *fd, char *err, size_t errlen) {
  int rc = open_lock(path, fd, err, errlen);
  if (rc)
    return rc;
  int r;
  while ((r = flock(*fd, LOCK_SH | LOCK_NB)) < 0 && errno == EINTR)
    ;
  if (r == 0)
    return 0;
  if (errno == EWOULDBLOCK) {
    char owner[600];
    describe_owner(*fd, owner, sizeof owner);
    so__seterr(err, errlen, "the joblog now belongs to %s, not to this shepherd's run", owner);
    rc = SO_EINVAL;
  } else {
    so__seterr(err, errlen, "cannot lock the joblog lock %s: %s", path, strerror(errno));
    rc = SO_EIO;
  }
  close(*fd);
  *fd = -1;
  return rc;
}

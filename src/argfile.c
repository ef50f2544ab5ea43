/* The words after ":::" of a direct run: written to a memory file by the parent, read back by
 * each rank. */
#define _GNU_SOURCE
#include "argfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes all of len bytes. Returns 0 or an errno value. */
static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return w < 0 ? errno : EIO;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int so__argfile_offer(int n, char *const *words, char *err, size_t errlen) {
  int fd = memfd_create("scaleout-args", MFD_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot make a memory file for the ::: arguments: %s", strerror(errno));
    return -1;
  }
  int e = 0;
  for (int i = 0; i < n && !e; i++)
    e = write_all(fd, words[i], strlen(words[i]) + 1); /* with its NUL */
  if (e) {
    snprintf(err, errlen, "cannot write the ::: arguments to a memory file: %s", strerror(e));
    close(fd);
    return -1;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/fd/%d", (long)getpid(), fd);
  setenv(SO_ARGFILE_ENV, path, 1);
  return fd;
}

/* Reads the whole file into a NUL-terminated buffer. Returns it (length in *len) or NULL. */
static char *slurp(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  struct stat st;
  char *buf = NULL;
  if (fstat(fd, &st) == 0 && (buf = malloc((size_t)st.st_size + 1))) {
    size_t have = 0;
    while (have < (size_t)st.st_size) {
      ssize_t r = read(fd, buf + have, (size_t)st.st_size - have);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      have += (size_t)r;
    }
    if (have == (size_t)st.st_size) {
      buf[have] = 0;
      *len = have;
    } else {
      free(buf);
      buf = NULL;
    }
  }
  int e = errno;
  close(fd);
  errno = e;
  return buf;
}

int so__argfile_splice(int argc, char **argv, so__argv *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->argc = argc;
  out->argv = argv;
  const char *env = getenv(SO_ARGFILE_ENV);
  if (!env || !*env)
    return 0;
  char path[4096];
  snprintf(path, sizeof path, "%s", env);
  unsetenv(SO_ARGFILE_ENV);
  if (argc < 1 || strcmp(argv[argc - 1], ":::") != 0) {
    snprintf(err, errlen, "%s is set but the command line does not end with ':::'",
             SO_ARGFILE_ENV);
    return -1;
  }
  size_t len = 0;
  char *data = slurp(path, &len);
  if (!data) {
    snprintf(err, errlen, "cannot read the ::: arguments from %s: %s", path, strerror(errno));
    return -1;
  }
  /* Every word ends with a NUL; a file that does not is cut short. */
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += data[i] == 0;
  if (len > 0 && data[len - 1] != 0) {
    snprintf(err, errlen, "the ::: arguments in %s are cut short", path);
    free(data);
    return -1;
  }
  char **v = malloc(((size_t)argc + n + 1) * sizeof *v);
  if (!v) {
    snprintf(err, errlen, "out of memory reading the ::: arguments");
    free(data);
    return -1;
  }
  memcpy(v, argv, (size_t)argc * sizeof *v);
  size_t k = (size_t)argc;
  for (char *p = data; p < data + len; p += strlen(p) + 1)
    v[k++] = p;
  v[k] = NULL;
  out->argc = (int)k;
  out->argv = v;
  out->data = data;
  out->owned = v;
  return 0;
}

void so__argv_free(so__argv *a) {
  free(a->owned);
  free(a->data);
  a->owned = NULL;
  a->data = NULL;
}

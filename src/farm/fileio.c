/* Small file helpers the farm shares. */
#include "fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int so__write_all(int fd, const void *data, size_t len) {
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

int so__sync_data(int fd) {
  if (fdatasync(fd) == 0 || errno == EINVAL || errno == EROFS)
    return 0;
  return -1;
}

int so__parse_u64(const char *s, uint64_t *v) {
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

int so__mkdirs(const char *path) {
  if (!path || !*path)
    return ENOENT;
  char *p = strdup(path);
  if (!p)
    return ENOMEM;
  int rc = 0;
  for (char *s = p + 1; !rc; s++) {
    int end = *s == '\0';
    if (*s != '/' && !end)
      continue;
    *s = '\0';
    if (mkdir(p, 0777) < 0 && errno != EEXIST)
      rc = errno;
    if (end)
      break;
    *s = '/';
  }
  free(p);
  struct stat sb;
  if (!rc && stat(path, &sb) < 0)
    rc = errno;
  else if (!rc && !S_ISDIR(sb.st_mode))
    rc = ENOTDIR;
  return rc;
}

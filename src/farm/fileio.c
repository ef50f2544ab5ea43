/* Small file helpers the farm's durable files share. */
#include "fileio.h"

#include <errno.h>
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

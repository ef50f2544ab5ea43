/* Small file helpers the farm shares (joblog, fingerprint sidecar, results directories). */
#ifndef SO_FARM_FILEIO_H
#define SO_FARM_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all of len bytes, continuing after short writes and EINTR. Returns 0 or -1 (errno). */
int so__write_all(int fd, const void *data, size_t len);

/* Syncs a file's data; EINVAL or EROFS mean the file (a pipe, /dev/null) cannot be synced, which
 * is not a failure of ours. Returns 0 or -1 (errno). */
int so__sync_data(int fd);

/* mkdir -p with mode 0777 (less the umask): an existing directory is fine. Returns 0 or an errno
 * value. */
int so__mkdirs(const char *path);

/* A whole decimal number without sign or spaces that fits 64 bits. Returns 0, or -1 with *v
 * untouched. */
int so__parse_u64(const char *s, uint64_t *v);

#endif

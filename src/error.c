/* Error codes as text, and the one place MPI return codes become scaleout errors. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

const char *so_strerror(int code) {
  switch (code) {
  case SO_OK: return "success";
  case SO_ENOMEM: return "out of memory";
  case SO_EINVAL: return "invalid argument";
  case SO_EMPI: return "an MPI call failed";
  case SO_EJOB: return "the job failed";
  case SO_EPROTO: return "a malformed message arrived";
  case SO_EHWLOC: return "topology discovery or binding failed";
  case SO_EIO: return "an I/O error occurred";
  case SO_ENOWORKERS: return "there are no worker ranks";
  case SO_ESTOPPED: return "a stop signal ended the run";
  case SO_ETASKS: return "some tasks failed";
  default: return "unknown error";
  }
}

int so__mpi_check(int rc, const char *what) {
  if (rc == MPI_SUCCESS)
    return 0;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
    snprintf(text, sizeof text, "MPI error %d", rc);
  so__errorf("%s failed: %s", what, text);
  return SO_EMPI;
}

/* One write per line so lines from several ranks do not interleave. */
static void emit(const char *level, const char *fmt, va_list ap) {
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  fprintf(stderr, "scaleout: %s: %s\n", level, line);
  fflush(stderr);
}

void so__errorf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit("error", fmt, ap);
  va_end(ap);
}

void so__warnf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit("warning", fmt, ap);
  va_end(ap);
}

void so__seterr(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

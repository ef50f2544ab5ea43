/* Internal error reporting: one-line messages on stderr and the MPI return-code wrapper. */
#ifndef SO_ERROR_H
#define SO_ERROR_H

#include <stddef.h>

#include "scaleout/scaleout.h"

/* Prints "scaleout: error: <message>" as one line on stderr. */
void so__errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void so__warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats a message into err[errlen], truncating; does nothing when err is NULL or errlen 0.
 * Internal functions report failures through such an (err, errlen) pair as well as a code. */
void so__seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Turns an MPI return code into 0 or SO_EMPI, printing "<what> failed: <MPI's text>" on error.
 * Every MPI call the engine makes goes through this, on communicators set to MPI_ERRORS_RETURN. */
int so__mpi_check(int rc, const char *what);

#endif

/* Internal error reporting: one-line messages on stderr and the MPI return-code wrapper. */
#ifndef SO_ERROR_H
#define SO_ERROR_H

#include "scaleout/scaleout.h"

/* Prints "scaleout: error: <message>" as one line on stderr. */
void so__errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void so__warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Turns an MPI return code into 0 or SO_EMPI, printing "<what> failed: <MPI's text>" on error.
 * Every MPI call the engine makes goes through this, on communicators set to MPI_ERRORS_RETURN. */
int so__mpi_check(int rc, const char *what);

#endif

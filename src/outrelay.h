/* The direct run's standard output, relayed by the parent so that a write error is seen. */
#ifndef SO_OUTRELAY_H
#define SO_OUTRELAY_H

#include <poll.h>
#include <stddef.h>

/*
 * mpirun forwards the ranks' output to its own standard output and drops write errors there, so
 * a summary written to a full disk or a closed pipe would pass for delivered. The parent of a
 * direct run therefore gives mpirun a pipe as standard output and copies it to its own, where
 * every write is checked. Writes go out in pieces of at most PIPE_BUF bytes, and only when poll
 * says stdout can take them, so the parent's wait loop never blocks on a slow reader. After the
 * first failed write the rest is read and dropped, so mpirun is never held up.
 */
typedef struct so__outrelay {
  int rd, wr;      /* the pipe; wr is mpirun's standard output, closed in the parent */
  char buf[65536];
  size_t have, off;
  int eof;
  int err;         /* errno of the first failed write to stdout, 0 if none */
} so__outrelay;

/* Makes the pipe. Returns 0, or -1 with errno set. */
int so__outrelay_open(so__outrelay *r);
/* In the child, before exec: the pipe becomes standard output. */
void so__outrelay_child(so__outrelay *r);
/* In the parent, after fork: closes the child's end. */
void so__outrelay_parent(so__outrelay *r);
/* Fills a poll entry for the next step: the pipe to read, or stdout to write; fd -1 when the
 * relay has nothing left to do. */
void so__outrelay_poll(const so__outrelay *r, struct pollfd *p);
/* Moves what poll said could move. */
void so__outrelay_step(so__outrelay *r, short revents);
/* Once mpirun has ended: copies what is left in the pipe and closes it. Returns the errno of the
 * first failed write, or 0 when everything reached stdout. */
int so__outrelay_finish(so__outrelay *r);

#endif

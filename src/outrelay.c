/* The direct run's standard output, relayed by the parent so that a write error is seen. */
#define _GNU_SOURCE /* pipe2 */
#include "outrelay.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

int so__outrelay_open(so__outrelay *r) {
  int fds[2];
  memset(r, 0, sizeof *r);
  r->rd = r->wr = -1;
  if (pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  r->rd = fds[0];
  r->wr = fds[1];
  return 0;
}

void so__outrelay_child(so__outrelay *r) {
  if (r->wr >= 0)
    dup2(r->wr, STDOUT_FILENO); /* dup2 clears close-on-exec on the copy */
}

void so__outrelay_parent(so__outrelay *r) {
  if (r->wr >= 0)
    close(r->wr);
  r->wr = -1;
  if (r->rd >= 0)
    fcntl(r->rd, F_SETFL, O_NONBLOCK);
}

void so__outrelay_poll(const so__outrelay *r, struct pollfd *p) {
  p->revents = 0;
  if (r->have > r->off) {
    p->fd = STDOUT_FILENO;
    p->events = POLLOUT;
  } else {
    p->fd = r->eof || r->rd < 0 ? -1 : r->rd;
    p->events = POLLIN;
  }
}

/* Writes one piece of the buffer; drops the rest once a write has failed. */
static void put(so__outrelay *r) {
  size_t n = r->have - r->off;
  if (n > PIPE_BUF)
    n = PIPE_BUF;
  ssize_t w = r->err ? (ssize_t)n : write(STDOUT_FILENO, r->buf + r->off, n);
  if (w < 0) {
    if (errno == EAGAIN || errno == EINTR)
      return;
    r->err = errno;
    w = (ssize_t)n;
  }
  r->off += (size_t)w;
  if (r->off == r->have)
    r->off = r->have = 0;
}

/* Reads what the pipe holds now into the empty buffer. Returns 1 when it read something. */
static int get(so__outrelay *r) {
  ssize_t n = read(r->rd, r->buf, sizeof r->buf);
  if (n > 0) {
    r->have = (size_t)n;
    r->off = 0;
    return 1;
  }
  if (n == 0 || (errno != EAGAIN && errno != EINTR))
    r->eof = 1;
  return 0;
}

void so__outrelay_step(so__outrelay *r, short revents) {
  if (!revents)
    return;
  if (r->have > r->off)
    put(r);
  else if (!r->eof && r->rd >= 0)
    get(r);
}

int so__outrelay_finish(so__outrelay *r) {
  if (r->rd < 0)
    return r->err;
  /* mpirun has exited, so the pipe holds all it will get (a writer still holding it open would
   * only leave EAGAIN, which ends the copy too). Blocking writes are fine now. */
  for (;;) {
    while (r->have > r->off) {
      size_t before = r->off;
      put(r);
      if (r->off == before && r->have > r->off) {
        struct pollfd p = {.fd = STDOUT_FILENO, .events = POLLOUT};
        poll(&p, 1, 1000);
      }
    }
    if (r->eof || !get(r))
      break;
  }
  close(r->rd);
  r->rd = -1;
  return r->err;
}

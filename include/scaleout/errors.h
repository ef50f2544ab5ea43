/* Error codes shared by the engine and job authors, and their text. */
#ifndef SCALEOUT_ERRORS_H
#define SCALEOUT_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: every scaleout function returns 0 or one of these (negative). */
enum {
  SO_OK = 0,
  SO_ENOMEM = -1,    /* out of memory */
  SO_EINVAL = -2,    /* invalid argument or option */
  SO_EMPI = -3,      /* an MPI call failed */
  SO_EJOB = -4,      /* a job callback failed */
  SO_EPROTO = -5,    /* a malformed message arrived */
  SO_EHWLOC = -6,    /* topology discovery or binding failed */
  SO_EIO = -7,       /* reading or writing a file failed */
  SO_ENOWORKERS = -8, /* the communicator has no worker ranks */
  SO_ESTOPPED = -9,   /* a stop signal ended the run before every task had run */
  SO_ETASKS = -10     /* every task ran, but some failed: the answer is incomplete */
};

/* Turns an SO_E* code into a sentence fragment ("out of memory"). Never returns NULL. Any rank,
 * any thread, no MPI. */
const char *so_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif

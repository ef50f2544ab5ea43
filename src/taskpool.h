/* A worker's pool of threads running ordinary run() tasks at once (--threads T). */
#ifndef SO_TASKPOOL_H
#define SO_TASKPOOL_H

#include <stdint.h>

#include "buf.h"
#include "ctx.h"

/*
 * The worker's main thread owns the pool and is the only one to call these functions; the pool's
 * threads only run tasks, and never call MPI (or anything of the transport): the worker hands
 * them tasks, collects what they finished and sends it, so MPI needs only MPI_THREAD_FUNNELED.
 *
 * Each thread runs its task with its own copy of the worker's context, so so_ctx_errorf,
 * so_result_write and so_ctx_output act on the calling thread's task. Output goes into one
 * buffer the main thread sends (so__taskpool_take_output); a thread whose output fills it waits
 * until the main thread has taken it, so output is streamed, never gathered whole.
 *
 * Locking: one mutex guards the hand-over of tasks and results and the output buffer; a thread
 * never holds it while it runs a task, and the main thread never holds it while it sends.
 */
typedef struct so__taskpool so__taskpool;

/* A finished task, as so__taskpool_collect passes it on; valid during the call only. */
typedef struct so__taskpool_done {
  uint64_t id;
  int32_t status;     /* what run() returned (SO_EINVAL for a type the job lacks) */
  const void *data;   /* the result bytes */
  size_t len;
  const char *error;  /* the text the task gave so_ctx_errorf, "" if none */
  uint64_t ns;        /* time inside run() */
  int nomem;          /* so_result_write ran out of memory */
} so__taskpool_done;

/* Starts n threads that run tasks with copies of ctx (a worker's context after init()). Signals
 * are blocked in them, so handlers run on the main thread. Returns 0, SO_ENOMEM, or SO_EJOB when
 * a thread could not be started (the message printed). */
int so__taskpool_new(so__taskpool **out, unsigned n, const so_ctx *ctx);

/* Waits for the running tasks to end (nothing interrupts run()), stops the threads and frees the
 * pool; accepts NULL. */
void so__taskpool_free(so__taskpool *p);

/* Threads with no task. */
unsigned so__taskpool_idle(const so__taskpool *p);

/* Hands a task to an idle thread (there must be one); its data is copied, so the caller may
 * release the batch it came from. state is the job's state (so_ctx_state) for the task's
 * context. Returns 0 or SO_ENOMEM. */
int so__taskpool_start(so__taskpool *p, const so_task *task, void *state);

/* Calls fn for each task finished since the last call, then makes its thread idle. Returns the
 * number of tasks passed on, or the first error fn returned (the tasks after it stay for the
 * next call). */
int so__taskpool_collect(so__taskpool *p, int (*fn)(void *arg, const so__taskpool_done *d),
                         void *arg);

/* Waits until a task finishes or a thread waits for its output to be taken, at most timeout_us
 * microseconds; returns at once when either has happened already. */
void so__taskpool_wait(so__taskpool *p, long timeout_us);

/* Nonzero while a thread waits for the output buffer to be taken. */
int so__taskpool_output_wanted(so__taskpool *p);

/* Swaps the pool's output (OUTPUT records, under SO_OUTPUT_MAX bytes) into *dst, which must be
 * empty, and lets waiting threads go on. */
void so__taskpool_take_output(so__taskpool *p, so__buf *dst);

/* The run is halting: so_ctx_halting becomes true in every task's context. */
void so__taskpool_halting(so__taskpool *p);

#endif

/* The command farm's process supervisor: runs shell commands as process groups, streams their
 * output, enforces timeouts and reaps them, several at once from one thread (worker only). */
#ifndef SO_FARM_PROC_H
#define SO_FARM_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Size of each piped stream's read buffer: the most bytes one output callback ever receives, and
 * the longest line the line mode delivers whole. Output is never held beyond this per stream. */
#define SO__PROC_BUFSZ 65536

/* Seconds between SIGTERM and SIGKILL when the options leave the grace period at 0. */
#define SO__PROC_GRACE_DEFAULT 3.0

/* Supervisor flags. SO__PROC_NO_PIDFD reaps by polling wait4() every 10 ms instead of waiting on a
 * pidfd; it is what happens anyway on kernels older than 5.3, and lets tests cover that path. */
#define SO__PROC_NO_PIDFD 0x1u
#define SO__PROC_SUP_FLAGS SO__PROC_NO_PIDFD

/* Task flags. SO__PROC_LINES hands piped output to the callback in whole lines: every piece ends
 * in '\n' except a line longer than SO__PROC_BUFSZ (delivered in buffer-sized pieces) and an
 * unterminated last line at end of output. */
#define SO__PROC_LINES 0x1u
#define SO__PROC_TASK_FLAGS SO__PROC_LINES

typedef struct so__proc_sup so__proc_sup; /* supervises up to max_tasks running commands */
typedef struct so__proc so__proc;         /* one command: running, then completed */

/* Receives piped output as it arrives: stream is 1 (stdout) or 2 (stderr), data is valid only
 * during the call. It may call so__proc_kill and so__proc_kill_all, nothing else of this module. */
typedef void (*so__proc_output_fn)(void *arg, so__proc *task, int stream, const char *data,
                                   size_t len);

typedef struct so__proc_opts {
  unsigned max_tasks;           /* most commands running at once (--threads); 0 means 1 */
  double grace;                 /* seconds from SIGTERM to SIGKILL; 0 means the default */
  unsigned flags;               /* SO__PROC_SUP_FLAGS */
  so__proc_output_fn on_output; /* required when a task pipes a stream */
  void *arg;                    /* passed to on_output */
  int inherit_fd;               /* a descriptor above 2 that every command inherits under the same
                                   number (the joblog's owner lock: joblock.h); 0 for none */
} so__proc_opts;

/* Where one of the child's output streams goes. The zero value sends it to /dev/null. */
typedef enum so__proc_sink_kind {
  SO__PROC_DEVNULL = 0,
  SO__PROC_FILE,    /* path, created or truncated (mode 0666 minus umask); its directory must exist */
  SO__PROC_PIPE,    /* read by the supervisor and handed to on_output */
  SO__PROC_INHERIT  /* the worker's own stream */
} so__proc_sink_kind;

typedef struct so__proc_sink {
  so__proc_sink_kind kind;
  const char *path; /* SO__PROC_FILE only; stdout and stderr may name the same file (2>&1) */
} so__proc_sink;

typedef struct so__proc_spec {
  const char *cmd;        /* run as /bin/sh -c cmd */
  const char *const *env; /* NULL-terminated "NAME=value" entries added to (or replacing in) the
                             worker's environment; NULL adds nothing */
  so__proc_sink out, err; /* stdin is always /dev/null */
  double timeout;         /* seconds until the group gets SIGTERM, grace, SIGKILL; 0 for none */
  unsigned flags;         /* SO__PROC_TASK_FLAGS */
  void *user;             /* the caller's pointer, returned by so__proc_user */
} so__proc_spec;

/* What happened to one command. Times are seconds; CPU times and the peak RSS come from wait4()
 * and so cover the shell and every descendant it waited for. */
typedef struct so__proc_result {
  pid_t pid;          /* the shell, which was also the process group id */
  int exitval;        /* exit status 0-255, or -1 when killed by a signal or the status was lost */
  int signal;         /* the signal that killed the shell, 0 if it exited */
  int timed_out;      /* the timeout fired and the group was terminated */
  int killed;         /* so__proc_kill (or shutdown) terminated the group */
  int strays;         /* processes outlived the shell and were terminated to finish the task */
  int group_left;     /* processes of the group still ran 2 s after SIGKILL and were abandoned */
  int status_lost;    /* someone else reaped the shell (SIGCHLD ignored, waitpid(-1) elsewhere) */
  double start;       /* epoch time of the spawn */
  double wall;        /* from the spawn until the shell exited */
  double utime, stime;
  long maxrss_kb;
  uint64_t out_bytes; /* bytes received on stdout (piped) or the stdout file's final size */
  uint64_t err_bytes; /* same for stderr; 0 when stderr shared stdout's file */
} so__proc_result;

/* Creates a supervisor. Returns 0, SO_EINVAL (bad options: unknown flags, negative or NaN grace)
 * or SO_ENOMEM / SO_EIO with a sentence in err. On failure *out is NULL and nothing leaks.
 * Children get SIGKILL if the thread that spawned them dies (PR_SET_PDEATHSIG), so create and use
 * a supervisor from one long-lived thread. */
int so__proc_sup_new(const so__proc_opts *opts, so__proc_sup **out, char *err, size_t errlen);

/* Shuts down: gives every running group SIGTERM, waits up to the grace period, SIGKILLs what is
 * left, reaps, and frees the supervisor with the completed tasks nobody took. Blocks up to about
 * grace + 3 seconds, delivering output to on_output meanwhile. Tasks already taken with
 * so__proc_next_done stay the caller's. A shell that survives even SIGKILL (uninterruptible
 * sleep) is left unreaped. NULL is fine. */
void so__proc_sup_free(so__proc_sup *sup);

/* Starts one command in its own new process group. Returns 0 and, if out is not NULL, a handle
 * that stays owned by the supervisor until so__proc_next_done hands it over. Returns SO_EINVAL
 * (bad spec, unknown flags, a pipe without on_output, or max_tasks already running), SO_EIO (an
 * output file could not be opened, or /bin/sh could not be started) or SO_ENOMEM, with a sentence
 * in err; then nothing was started and nothing leaks. spec's strings are not kept. */
int so__proc_spawn(so__proc_sup *sup, const so__proc_spec *spec, so__proc **out, char *err,
                   size_t errlen);

/* Waits up to timeout_ms (-1: until something happens) for output, exits and deadlines, delivers
 * output to on_output, enforces timeouts and grace periods, and queues tasks that completed.
 * Returns at once with 0 when nothing is running. Returns the number of tasks that completed
 * during the call, or SO_EIO if poll() itself failed (with a sentence in err). A task completes
 * once its shell has been reaped, no live process is left in its group, and its pipes are drained. */
int so__proc_poll(so__proc_sup *sup, int timeout_ms, char *err, size_t errlen);

/* Pops the earliest completed task not yet taken, or NULL. The caller now owns it and frees it
 * with so__proc_free. */
so__proc *so__proc_next_done(so__proc_sup *sup);

/* Runs one command to completion, blocking, while still supervising the other running tasks
 * (their output is delivered and their completions queued). Same errors as so__proc_spawn, plus
 * so__proc_poll's; on success *res holds the result. */
int so__proc_run(so__proc_sup *sup, const so__proc_spec *spec, so__proc_result *res, char *err,
                 size_t errlen);

/* Starts SIGTERM, grace, SIGKILL on the task's whole process group and returns at once; the
 * task completes through so__proc_poll. Does nothing to a completed or already terminating task. */
void so__proc_kill(so__proc *task);

/* Changes a running task's timeout to timeout seconds from its spawn (0: none), as for
 * --timeout P% when the median runtime moves. A deadline already past fires at the next
 * so__proc_poll, as a timeout. Does nothing to a task that completed, is terminating or whose
 * shell was reaped, or for a negative or infinite timeout. */
void so__proc_set_timeout(so__proc *task, double timeout);

/* so__proc_kill for every running task (--halt now, shutdown on SIGTERM). */
void so__proc_kill_all(so__proc_sup *sup);

/* Sends SIGKILL to every running group at once without reaping or freeing anything. Async-signal
 * safe: meant for a fatal signal handler, where nothing else of the supervisor may be used. */
void so__proc_kill_now(const so__proc_sup *sup);

/* Sends SIGKILL to every live process of session sid and to their process groups, scan after
 * scan of /proc until one finds none (a second at most). The caller's own session is refused.
 * For what a dead shepherd (a session leader) left behind: while the leader is an unreaped
 * zombie, sid cannot name anyone else. Returns how many processes were found. */
int so__proc_kill_session(pid_t sid);

/* Tasks spawned and not yet completed; a new spawn succeeds while this is below max_tasks. */
unsigned so__proc_running(const so__proc_sup *sup);

/* Accessors. The result is final once so__proc_done is true; before that only pid and start are. */
int so__proc_done(const so__proc *task);
const so__proc_result *so__proc_result_of(const so__proc *task);
void *so__proc_user(const so__proc *task);

/* Frees a completed task taken with so__proc_next_done. NULL is fine. */
void so__proc_free(so__proc *task);

#endif

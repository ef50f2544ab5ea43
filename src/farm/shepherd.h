/* The shepherd: a small process beside each farm worker that runs its shell commands, records each
 * finished one durably at once, and outlives the worker just long enough to record what finished. */
#ifndef SO_FARM_SHEPHERD_H
#define SO_FARM_SHEPHERD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Why a separate process: a command that succeeded must never run twice, even when the worker
 * (or mpirun) is killed with SIGKILL. If the worker itself reaped commands, a kill between a
 * command's exit and the worker's record of it would lose the success, and --resume would run the
 * command again. The shepherd leads its own session and process group (so a launcher's kill of
 * the worker's group misses it); it receives SIGTERM when the worker dies (PR_SET_PDEATHSIG) and also notices
 * the closed socket; either way it kills what is still running (SIGKILL to each task's group),
 * reaps everything, appends the joblog line of every command that had already finished, and
 * exits. A command's success is thus always written (one write(), O_APPEND) by the process that
 * saw it, before anyone else hears of it.
 *
 * The worker talks to its shepherd over a socketpair with length-prefixed frames; the worker side
 * below never blocks on it except in so__shepherd_start, so__shepherd_poll and so__shepherd_stop.
 *
 * What the shard holds. A command that ends while the shepherd runs normally is recorded, whatever
 * its status (that includes timeouts and so__shepherd_kill). When the shepherd shuts down, the
 * rule is "record what finished, leave out what we cut short", so that --resume runs again
 * exactly the commands that did not get to finish, and never one that succeeded:
 *   - the worker died (SIGTERM from PR_SET_PDEATHSIG or from anyone, or the socket closed): the
 *     running commands get `drain` seconds to finish on their own (each one that does is recorded
 *     as usual), then SIGKILL on their groups; one that a signal ended is left out (ours, or the
 *     SIGTERM a dying run's parent sends its leftovers: it did not finish on its own), unless
 *     its timeout fired; one that exited (even 0, just before the kill) is recorded.
 *   - QUIT (so__shepherd_stop): the running commands get SIGTERM, grace, SIGKILL; the ones that
 *     still exited 0 are recorded, the others left out. Commands queued but not started are
 *     dropped either way. No DONE event reports what happens after QUIT or the worker's death.
 * Why drain: killing a command always risks catching it between its last side effect and its
 * exit (it appended its result, then died of our SIGKILL before exiting 0), and such a command
 * runs twice after --resume. Letting running commands finish for a moment removes that risk for
 * every command shorter than the drain, and bounds how long a shepherd outlives its worker.
 *
 * Only a SIGKILL of the shepherd itself can lose a finished command (one that exited but was not
 * yet recorded; the window is the few system calls between its reaping and its line); its
 * commands then die with it: each shell by PR_SET_PDEATHSIG (proc.c), and everything else in the
 * shepherd's session (it is started as a session leader) by the worker, which kills that session
 * when it reaps the shepherd, before the session id can be reused.
 *
 * The shepherd holds flock(LOCK_EX) on its shard from start to exit, and refuses to start on a
 * shard another shepherd holds. A resuming master should take flock(LOCK_SH) on each shard
 * before reading it: that waits for shepherds of a killed run that are still draining, so no line
 * is appended after the master read the shard. A shard whose last line was torn by a machine
 * crash is truncated back to its last whole line at start. Shards have no header line.
 *
 * PR_SET_PDEATHSIG fires when the *thread* that started the shepherd exits, so start shepherds
 * from the worker's long-lived main thread. The shepherd ignores SIGINT, SIGHUP, SIGUSR1 and
 * SIGPIPE (Ctrl-C and Slurm's --signal are for the master, which coordinates), runs in its own
 * session, inherits the worker's environment, working directory and CPU binding (its
 * commands inherit them in turn), and has /dev/null as stdin and stdout (it must not hold the
 * launcher's output pipes open; stderr stays, for diagnostics).
 */

typedef struct so__shepherd so__shepherd;

typedef struct so__shepherd_opts {
  const char *exe;        /* program to exec as the shepherd: it must call so__shepherd_main
                             when its argv[1] is SO_SHEPHERD_ARG (scaleout does, in main.c) */
  unsigned slots;         /* commands running at once (--threads); 0 means 1 */
  double grace;           /* seconds from SIGTERM to SIGKILL for timeouts and kills; 0: default */
  const char *shard;      /* joblog shard to append each finished command to; NULL: none */
  const char *host;       /* the Host column of the shard lines */
  const char *lock;       /* the joblog's owner lock (joblock.h) to hold shared, and to pass on to
                             every command, for as long as they live; NULL: none */
  double sync_interval;   /* fdatasync the shard at most this many seconds after a line; <0 never */
  double drain;           /* seconds running commands may take to finish on their own after the
                             worker died, before SIGKILL; 0: SO_SHEP_DRAIN_DEFAULT; <0: none */
} so__shepherd_opts;

#define SO_SHEP_DRAIN_DEFAULT 1.0

#define SO_SHEPHERD_ARG "__shepherd"

/* Where a command's output goes. */
typedef enum so__shep_output {
  SO_SHEP_OUT_PIPE = 0, /* stdout and stderr come back as SO_SHEP_EV_OUTPUT events, whole lines */
  SO_SHEP_OUT_RESULTS,  /* files under results_dir (see below); nothing comes back */
  SO_SHEP_OUT_NULL      /* discarded */
} so__shep_output;

typedef struct so__shep_task {
  uint64_t id;              /* the caller's identifier, returned in events */
  uint64_t seq;             /* 1-based sequence number: joblog Seq and the results layout */
  const char *cmd;          /* run with /bin/sh; commands too long for one argument (> 128 KiB)
                               are passed to sh through a file instead, transparently */
  size_t cmd_len;
  const char *const *env;   /* NULL-terminated NAME=value list added to the environment */
  double timeout;           /* seconds; 0 none */
  so__shep_output output;
  const char *results_dir;  /* SO_SHEP_OUT_RESULTS: DIR/<seq/1000>/<seq>/{stdout,stderr,status},
                               so no directory holds more than 1000 entries; created as needed */
} so__shep_task;

typedef enum so__shep_event_kind {
  SO_SHEP_EV_NONE = 0,
  SO_SHEP_EV_OUTPUT, /* a piece of output: whole lines (a line over 64 KiB comes in pieces) */
  SO_SHEP_EV_DONE    /* the command finished, was killed or timed out; already in the shard */
} so__shep_event_kind;

typedef struct so__shep_event {
  so__shep_event_kind kind;
  uint64_t id;
  /* OUTPUT */
  int stream;              /* 1 stdout, 2 stderr */
  const char *data;        /* valid until the next poll */
  size_t len;
  /* DONE */
  int exitval;             /* 0-255, or -1 when killed by a signal */
  int signal;
  int timed_out;
  int killed;
  double start, wall;      /* epoch seconds of the start; seconds it ran */
  double utime, stime;     /* CPU seconds (wait4) */
  long maxrss_kb;
  uint64_t out_bytes, err_bytes;
  int started;             /* 0: the command never ran (it could not be started, exitval 127, or
                              it was killed while queued, exitval -1); nothing was recorded */
  int recorded;            /* its line is in the shard (0 without a shard) */
  int unlogged;            /* the shard could not be written: this result (if it ran) is not
                              durable, and the shepherd starts no more commands; every later one
                              comes back unstarted, killed, and unlogged too */
  const char *error;       /* NULL, or why it could not be started or recorded (valid until the
                              next poll) */
} so__shep_event;

/* Starts the shepherd process and waits (up to 10 s) until it is ready. Returns 0, or an SO_E*
 * code with a sentence in err: SO_EINVAL for bad options, SO_EIO when it cannot be started or
 * reports that it cannot open or lock the shard, SO_ENOMEM. On failure *out is NULL and no
 * process is left. Worker only; opts->exe is best "/proc/self/exe". */
int so__shepherd_start(const so__shepherd_opts *o, so__shepherd **out, char *err, size_t errlen);

/* Hands a command to the shepherd (copied; buffered if the socket is full). At most `slots`
 * commands should be outstanding; more are queued by the shepherd. Returns 0 or an SO_E* code. */
int so__shepherd_run(so__shepherd *s, const so__shep_task *t, char *err, size_t errlen);

/* Waits up to timeout_ms (0: just look, -1: forever) for the next event. Returns 1 with *ev
 * filled, 0 when none came, or an SO_E* code: SO_EIO when the shepherd died (err says how, and
 * every later call says it again), SO_EPROTO for a malformed frame (the shepherd is then killed).
 * Poll often: once 1 MiB of events waits unread, the shepherd stops reading its commands' output
 * (they block on their pipes) and their timeouts wait until the worker reads again. */
int so__shepherd_poll(so__shepherd *s, int timeout_ms, so__shep_event *ev, char *err, size_t errlen);

/* The descriptor to watch for readability, for callers that poll several things at once; watch it
 * for writability too while so__shepherd_unsent is not 0, and call so__shepherd_poll(s, 0, ...)
 * when it is ready (readable does not mean a whole event has arrived). */
int so__shepherd_fd(const so__shepherd *s);

/* Bytes handed to so__shepherd_run and friends that the socket has not taken yet. */
size_t so__shepherd_unsent(const so__shepherd *s);

/* The shepherd's process id. */
pid_t so__shepherd_pid(const so__shepherd *s);

/* Number of commands handed over and not yet reported DONE. */
unsigned so__shepherd_running(const so__shepherd *s);

/* Terminates one command (TERM, grace, KILL on its group) or all of them; their DONE events
 * follow with killed set. After kill_all (the run is stopping), only commands that still exit 0
 * are recorded in the shard, as at so__shepherd_stop. Returns 0 or an SO_E* code. */
int so__shepherd_kill(so__shepherd *s, uint64_t id, char *err, size_t errlen);
int so__shepherd_kill_all(so__shepherd *s, char *err, size_t errlen);

/* Gives every command handed over and not yet ended, running or queued, a timeout of timeout
 * seconds from its own start (0: none) in place of its own; one already past it is terminated at
 * once as timed out. For --timeout P%, whose limit moves with the median runtime. Returns 0 or an
 * SO_E* code (SO_EINVAL for a negative or infinite timeout). */
int so__shepherd_set_timeout(so__shepherd *s, double timeout, char *err, size_t errlen);

/* Asks the shepherd to finish: commands still running are killed; waits for it to exit and frees
 * everything. Events not yet polled are lost. Accepts NULL. Returns 0 or an SO_E* code.
 * Blocks up to grace + 5 s; a shepherd that has not exited by then loses its socket (its
 * worker-death path: drain, SIGKILL), and SIGKILL after drain + 3 s more. Returns SO_EIO, saying
 * how, when the shepherd did not exit with status 0 (or had died before). */
int so__shepherd_stop(so__shepherd *s, char *err, size_t errlen);

/* The shepherd process itself: serves the socket fd until told to quit or the worker dies.
 * Called by main() when argv[1] is SO_SHEPHERD_ARG; returns the process exit status: 0 after a
 * QUIT, 3 after the worker's death (or a SIGTERM), 1 when it could not set up (the worker got
 * the reason), 2 for arguments it does not understand. */
int so__shepherd_main(int argc, char **argv);

#endif

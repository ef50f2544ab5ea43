/* The shepherd: a small process beside each farm worker that runs its shell commands, records each
 * finished one durably at once, and outlives the worker just long enough to record what finished. */
#ifndef SO_FARM_SHEPHERD_H
#define SO_FARM_SHEPHERD_H

#include <stddef.h>
#include <stdint.h>

/*
 * Why a separate process: a command that succeeded must never run twice, even when the worker
 * (or mpirun) is killed with SIGKILL. If the worker itself reaped commands, a kill between a
 * command's exit and the worker's record of it would lose the success, and --resume would run the
 * command again. The shepherd is its own process group (so a launcher's kill of the worker's
 * group misses it); it receives SIGTERM when the worker dies (PR_SET_PDEATHSIG) and also notices
 * the closed socket; either way it kills what is still running (SIGKILL to each task's group),
 * reaps everything, appends the joblog line of every command that had already finished, and
 * exits. A command's success is thus always written (one write(), O_APPEND) by the process that
 * saw it, before anyone else hears of it.
 *
 * The worker talks to its shepherd over a socketpair with length-prefixed frames; the worker side
 * below never blocks on it except in so__shepherd_poll and so__shepherd_stop.
 */

typedef struct so_shepherd so_shepherd;

typedef struct so_shepherd_opts {
  const char *exe;        /* program to exec as the shepherd: it must call so__shepherd_main
                             when its argv[1] is SO_SHEPHERD_ARG (scaleout does, in main.c) */
  unsigned slots;         /* commands running at once (--threads); 0 means 1 */
  double grace;           /* seconds from SIGTERM to SIGKILL for timeouts and kills; 0: default */
  const char *shard;      /* joblog shard to append each finished command to; NULL: none */
  const char *host;       /* the Host column of the shard lines */
  double sync_interval;   /* fdatasync the shard at most this many seconds after a line; <0 never */
} so_shepherd_opts;

#define SO_SHEPHERD_ARG "__shepherd"

/* Where a command's output goes. */
typedef enum so_shep_output {
  SO_SHEP_OUT_PIPE = 0, /* stdout and stderr come back as SO_SHEP_EV_OUTPUT events, whole lines */
  SO_SHEP_OUT_RESULTS,  /* files under results_dir (see below); nothing comes back */
  SO_SHEP_OUT_NULL      /* discarded */
} so_shep_output;

typedef struct so_shep_task {
  uint64_t id;              /* the caller's identifier, returned in events */
  uint64_t seq;             /* 1-based sequence number: joblog Seq and the results layout */
  const char *cmd;          /* run with /bin/sh; commands too long for one argument (> 128 KiB)
                               are passed to sh through a file instead, transparently */
  size_t cmd_len;
  const char *const *env;   /* NULL-terminated NAME=value list added to the environment */
  double timeout;           /* seconds; 0 none */
  so_shep_output output;
  const char *results_dir;  /* SO_SHEP_OUT_RESULTS: DIR/<seq/1000>/<seq>/{stdout,stderr,status},
                               so no directory holds more than 1000 entries; created as needed */
} so_shep_task;

typedef enum so_shep_event_kind {
  SO_SHEP_EV_NONE = 0,
  SO_SHEP_EV_OUTPUT, /* a piece of output: whole lines (a line over 64 KiB comes in pieces) */
  SO_SHEP_EV_DONE    /* the command finished, was killed or timed out; already in the shard */
} so_shep_event_kind;

typedef struct so_shep_event {
  so_shep_event_kind kind;
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
} so_shep_event;

/* Starts the shepherd process. Returns 0, or an SO_E* code with a sentence in err. */
int so__shepherd_start(const so_shepherd_opts *o, so_shepherd **out, char *err, size_t errlen);

/* Hands a command to the shepherd (copied; buffered if the socket is full). At most `slots`
 * commands should be outstanding; more are queued by the shepherd. Returns 0 or an SO_E* code. */
int so__shepherd_run(so_shepherd *s, const so_shep_task *t, char *err, size_t errlen);

/* Waits up to timeout_ms (0: just look, -1: forever) for the next event. Returns 1 with *ev
 * filled, 0 when none came, or an SO_E* code (the shepherd died: err says how). */
int so__shepherd_poll(so_shepherd *s, int timeout_ms, so_shep_event *ev, char *err, size_t errlen);

/* The descriptor to watch for readability, for callers that poll several things at once. */
int so__shepherd_fd(const so_shepherd *s);

/* Number of commands handed over and not yet reported DONE. */
unsigned so__shepherd_running(const so_shepherd *s);

/* Terminates one command (TERM, grace, KILL on its group) or all of them; their DONE events
 * follow with killed set. Returns 0 or an SO_E* code. */
int so__shepherd_kill(so_shepherd *s, uint64_t id, char *err, size_t errlen);
int so__shepherd_kill_all(so_shepherd *s, char *err, size_t errlen);

/* Asks the shepherd to finish: commands still running are killed; waits for it to exit and frees
 * everything. Events not yet polled are lost. Accepts NULL. Returns 0 or an SO_E* code. */
int so__shepherd_stop(so_shepherd *s, char *err, size_t errlen);

/* The shepherd process itself: serves the socket fd until told to quit or the worker dies.
 * Called by main() when argv[1] is SO_SHEPHERD_ARG; returns the process exit status. */
int so__shepherd_main(int argc, char **argv);

#endif

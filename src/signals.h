/* Signals that ask a run to stop (SIGTERM, SIGINT, SIGUSR1): caught on the master, noted, acted
 * on by its loop. And the loss of the process that started a direct run (the orphan flag), which
 * every rank of a direct run watches. */
#ifndef SO_SIGNALS_H
#define SO_SIGNALS_H

#include <signal.h>

/* Installs the handlers, remembering the previous ones. Calls nest: only the outermost installs
 * (and clears the flag) and only its matching restore puts the previous handlers back, so a
 * signal caught before so_run starts is still seen by the master's loop. Not reentrant across
 * runs: one run per process at a time, which is how so_run is used (the flag is process-wide
 * because a handler can reach no other state). */
void so__signals_catch(void);
/* Undoes one so__signals_catch; the outermost puts the previous handlers back. */
void so__signals_restore(void);
/* The first stop signal caught since so__signals_catch, or 0. */
int so__signals_caught(void);
/* The stop signal caught since the last take (or the catch), clearing it; 0 if none. */
int so__signals_take(void);

/* The dispositions of the stop signals (SIGTERM, SIGINT, SIGUSR1), as so_run found them: saved
 * on entry and put back on return, so whatever the run installed for them (the master's handlers,
 * a worker's SIG_IGN) does not outlive it. */
typedef struct so__sigstate {
  struct sigaction act[3];
} so__sigstate;
void so__signals_save(so__sigstate *s);
void so__signals_put_back(const so__sigstate *s);

/* From now on, takes note only of stop signals sent by process pid (a direct run's master hears
 * them from the parent the user started; mpirun's own SIGTERM, sent when a rank died, is not a
 * request to stop but the launcher ending the job). */
void so__signals_only_from(long pid);

/* Watches for the loss of this process's starters: fd (or -1) is a connected socket whose peer
 * is the process the user started, and the parent process (the launcher) is watched through
 * PR_SET_PDEATHSIG. Either loss sets the orphan flag at once, from a SIGIO handler. Call once,
 * in a rank of a direct run. */
void so__signals_lifeline(int fd);
/* True once the process that started the run, or the launcher, has gone: launch nothing more. */
int so__signals_orphaned(void);

#endif

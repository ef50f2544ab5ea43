/* Signals that ask a run to stop (SIGTERM, SIGINT, SIGUSR1): caught on the master, noted, acted
 * on by its loop. */
#ifndef SO_SIGNALS_H
#define SO_SIGNALS_H

/* Installs the handlers, remembering the previous ones. Not reentrant: one run per process at a
 * time, which is how so_run is used (the flag is process-wide because a handler can reach no
 * other state). */
void so__signals_catch(void);
/* Puts the previous handlers back. */
void so__signals_restore(void);
/* The first stop signal caught since so__signals_catch, or 0. */
int so__signals_caught(void);
/* The stop signal caught since the last take (or the catch), clearing it; 0 if none. */
int so__signals_take(void);

#endif

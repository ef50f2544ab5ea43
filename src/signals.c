/* The stop-signal flag: the only process-wide state of the engine, since a handler has no other. */
#include "signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t caught;
static struct sigaction saved[3];
static const int stop_signals[3] = {SIGTERM, SIGINT, SIGUSR1};

static void on_signal(int sig) {
  if (!caught)
    caught = sig;
}

void so__signals_catch(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: a sleeping master should wake up and look. */
  caught = 0;
  for (int i = 0; i < 3; i++)
    sigaction(stop_signals[i], &sa, &saved[i]);
}

void so__signals_restore(void) {
  for (int i = 0; i < 3; i++)
    sigaction(stop_signals[i], &saved[i], NULL);
}

int so__signals_caught(void) { return caught; }

int so__signals_take(void) {
  int sig = caught;
  caught = 0;
  return sig;
}

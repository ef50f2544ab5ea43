/* The stop-signal flag and the orphan flag: the only process-wide state of the engine, since a
 * handler has no other. */
#define _GNU_SOURCE /* F_SETOWN_EX, F_SETSIG */
#include "signals.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t caught, orphaned;
static int depth; /* so__signals_catch calls not yet matched by a restore */
static struct sigaction saved[3];
static const int stop_signals[3] = {SIGTERM, SIGINT, SIGUSR1};
static int lifeline_fd = -1;
static pid_t parent_at_start;

static volatile sig_atomic_t only_from; /* a pid: signals from anyone else are ignored */

static void on_signal(int sig, siginfo_t *info, void *uc) {
  (void)uc;
  if (only_from > 0 && (!info || info->si_pid != (pid_t)only_from))
    return;
  if (!caught)
    caught = sig;
}

void so__signals_only_from(long pid) { only_from = (sig_atomic_t)pid; }

void so__signals_catch(void) {
  if (depth++ > 0)
    return; /* already caught (a direct run's master catches them from its first moment) */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: a sleeping master should wake up and look. */
  caught = 0;
  for (int i = 0; i < 3; i++)
    sigaction(stop_signals[i], &sa, &saved[i]);
}

void so__signals_restore(void) {
  if (depth == 0 || --depth > 0)
    return;
  for (int i = 0; i < 3; i++)
    sigaction(stop_signals[i], &saved[i], NULL);
}

void so__signals_save(so__sigstate *s) {
  for (int i = 0; i < 3; i++)
    sigaction(stop_signals[i], NULL, &s->act[i]);
}

void so__signals_put_back(const so__sigstate *s) {
  for (int i = 0; i < 3; i++)
    sigaction(stop_signals[i], &s->act[i], NULL);
}

int so__signals_caught(void) { return caught; }

int so__signals_take(void) {
  int sig = caught;
  caught = 0;
  return sig;
}

/* SIGIO comes when the lifeline hangs up and, through PR_SET_PDEATHSIG, when the launcher dies;
 * both are checked here (poll and getppid are async-signal-safe), so a stray SIGIO changes
 * nothing. */
static void on_lifeline(int sig) {
  (void)sig;
  if (lifeline_fd >= 0) {
    struct pollfd p = {.fd = lifeline_fd, .events = POLLIN};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLIN)))
      orphaned = 1;
  }
  if (parent_at_start > 0 && getppid() != parent_at_start)
    orphaned = 1;
}

void so__signals_lifeline(int fd) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_lifeline;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGIO, &sa, NULL);
  lifeline_fd = fd;
  parent_at_start = getppid();
  /* The launcher's death: its thread that started us is the one watched, which for mpirun is its
   * main thread. */
  prctl(PR_SET_PDEATHSIG, SIGIO);
  if (fd >= 0) {
    /* The signal goes to this thread, so a sleep of the main loop is cut short. */
    struct f_owner_ex owner = {.type = F_OWNER_TID, .pid = (pid_t)syscall(SYS_gettid)};
    if (fcntl(fd, F_SETOWN_EX, &owner) != 0)
      fcntl(fd, F_SETOWN, getpid());
    fcntl(fd, F_SETSIG, SIGIO);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC);
  }
  on_lifeline(SIGIO); /* a loss before the watch was set up */
}

int so__signals_orphaned(void) { return orphaned; }

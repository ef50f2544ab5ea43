/* Runs shell commands as supervised process groups: clone-vfork spawning, pidfd reaping, streamed
 * pipes, and the SIGTERM, grace, SIGKILL sequence that leaves no process of a task behind. */
#define _GNU_SOURCE /* clone, pidfd_open and close_range through syscall(), environ */

#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "scaleout/scaleout.h"

/* The spawn child runs on this stack; it only makes a few system calls before execve. */
#define STACK_SIZE (256 * 1024)
#define TICK_S 0.010      /* wait4() polling period without a pidfd */
#define LINGER_S 0.020    /* how often a group is checked for survivors after its shell exited */
#define ABANDON_S 2.0     /* how long processes may outlive SIGKILL before they are given up */
#define DRAIN_READS 64    /* bound on the final drain, against writers that escaped the group */

typedef struct stream {
  int fd;      /* the pipe's read end, -1 when not piped or once at end of file */
  size_t len;  /* bytes held back in line mode: an incomplete line */
  char *buf;   /* SO__PROC_BUFSZ bytes */
} stream;

struct so__proc {
  so__proc_sup *sup; /* NULL once the task was handed to the caller */
  so__proc *next;    /* in the supervisor's queue of completed tasks */
  unsigned slot;
  unsigned flags;
  void *user;
  so__proc_result res;
  int pidfd;          /* -1 without one, and once the shell is reaped */
  int file_fd[2];     /* output files, kept to read their final sizes */
  stream st[2];       /* stdout, stderr */
  int reaped;         /* the shell was waited for */
  int group_gone;     /* no live process is left in the group */
  int done;
  int term_sent, kill_sent;
  double t0;          /* CLOCK_MONOTONIC at the spawn */
  double deadline;    /* when the timeout fires, 0 for none */
  double kill_at;     /* when SIGKILL follows the SIGTERM */
  double abandon_at;  /* when survivors of SIGKILL are given up */
  double next_check;  /* when to look for survivors again */
};

struct so__proc_sup {
  so__proc_opts opts;
  so__proc **slots;       /* max_tasks entries, NULL when free */
  volatile pid_t *pgids;  /* the running groups, read by so__proc_kill_now in a signal handler */
  unsigned nrunning;
  so__proc *done_head, *done_tail;
  struct pollfd *pfd;     /* 3 per slot: pidfd, stdout, stderr */
  so__proc **pfd_task;
  int *pfd_what;          /* 0 for the pidfd, 1 or 2 for a stream */
  int devnull;            /* /dev/null, read-write, for stdin and discarded streams */
  char *stack;
};

/* Moves a descriptor to 3 or above, keeping close-on-exec, so that the child's dup2() onto 0-2
 * can never overwrite a descriptor it still has to copy. Returns -1 (and closes fd) on failure. */
static int high_fd(int fd) {
  if (fd < 0 || fd > 2)
    return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int saved = errno;
  close(fd);
  errno = saved;
  return moved;
}

/* ---- spawning ---------------------------------------------------------------------------- */

/* Shared with the child, which runs in the parent's memory until it execs (CLONE_VM). */
typedef struct child_args {
  char *argv[4];
  char **envp;
  int fd[3];            /* what becomes 0, 1, 2; -1 keeps the worker's */
  int keep;             /* a descriptor above 2 the command inherits under its number, or 0 */
  pid_t parent;
  volatile int err;     /* errno of the step that failed, 0 if execve succeeded */
  const char *volatile step;
} child_args;

/* The child between clone and execve. It shares the parent's memory and the parent is suspended,
 * so it touches nothing but its arguments and calls only plain system-call wrappers: no malloc,
 * no stdio, no locks. Signal handlers are reset first because the parent's would run on shared
 * memory; the task then starts with default dispositions and nothing blocked, whatever the worker
 * ignores or blocks (an ignored SIGPIPE would change how pipelines end). */
static int child_main(void *p) {
  child_args *a = p;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++)
    sigaction(s, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and glibc's own */
  a->step = "setpgid";
  if (setpgid(0, 0) < 0)
    goto fail;
  /* Dies with the spawning thread; the check closes the race with a parent that died first. */
  a->step = "prctl(PR_SET_PDEATHSIG)";
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
    goto fail;
  if (getppid() != a->parent) {
    errno = ESRCH;
    goto fail;
  }
  a->step = "dup2";
  for (int i = 0; i < 3; i++)
    if (a->fd[i] >= 0 && dup2(a->fd[i], i) < 0)
      goto fail;
#ifdef SYS_close_range
  /* Descriptors other libraries (MPI's sockets, shared memory) left inheritable stay behind;
   * ours are close-on-exec anyway, so an old kernel without close_range loses nothing of ours. */
  if (a->keep > 3)
    syscall(SYS_close_range, 3u, (unsigned)a->keep - 1, 0u);
  syscall(SYS_close_range, a->keep > 2 ? (unsigned)a->keep + 1 : 3u, ~0u, 0u);
#endif
  /* Our table is the child's own (no CLONE_FILES): this clears close-on-exec for it alone. */
  a->step = "fcntl(F_SETFD)";
  if (a->keep > 2 && fcntl(a->keep, F_SETFD, 0) < 0)
    goto fail;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  a->step = "execve";
  execve("/bin/sh", a->argv, a->envp);
fail:
  a->err = errno ? errno : EINVAL;
  _exit(127);
}

/* Starts /bin/sh -c cmd in a new process group. fork() would copy the page tables of a worker
 * that may hold gigabytes (76 ms at 4 GB, 230 ms at 12 GB, measured) and is hazardous with
 * RDMA-registered memory; posix_spawn avoids that by cloning with CLONE_VM|CLONE_VFORK but cannot
 * set PR_SET_PDEATHSIG. So this does what glibc's posix_spawn does, with that one step added:
 * the same cost (about 0.35 ms per spawn), and failures of any step reported as errno values.
 * Returns 0 or SO_EIO with a sentence in err; on failure no child is left. */
static int launch(so__proc_sup *sup, const char *cmd, char **envp, const int fd[3], pid_t *pid,
                  char *err, size_t errlen) {
  child_args a = {.argv = {"sh", "-c", (char *)cmd, NULL}, .envp = envp, .parent = getpid(),
                  .err = 0, .step = "clone"};
  memcpy(a.fd, fd, sizeof a.fd);
  a.keep = sup->opts.inherit_fd > 2 ? sup->opts.inherit_fd : 0;
  /* Nothing may interrupt the child before it resets the handlers it shares our memory with. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t child = clone(child_main, sup->stack + STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (child < 0) {
    so__seterr(err, errlen, "cannot start /bin/sh: clone: %s", strerror(clone_errno));
    return SO_EIO;
  }
  if (a.err) { /* CLONE_VFORK: the child has exited by now, its failure written into a */
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
      ;
    so__seterr(err, errlen, "cannot start /bin/sh: %s: %s", a.step, strerror(a.err));
    return SO_EIO;
  }
  *pid = child;
  return 0;
}

/* The worker's environment with the task's NAME=value entries added, replacing same-named ones
 * (the last of duplicates wins). The array is the caller's to free; its strings are borrowed. */
static char **build_env(const char *const *extra) {
  size_t n = 0, m = 0;
  for (char **e = environ; e && *e; e++)
    n++;
  for (const char *const *x = extra; x && *x; x++)
    m++;
  char **env = malloc((n + m + 1) * sizeof *env);
  if (!env)
    return NULL;
  size_t k = 0;
  for (char **e = environ; e && *e; e++) {
    int replaced = 0;
    for (size_t j = 0; j < m && !replaced; j++)
      replaced = strncmp(*e, extra[j], (size_t)(strchr(extra[j], '=') - extra[j]) + 1) == 0;
    if (!replaced)
      env[k++] = *e;
  }
  for (size_t j = 0; j < m; j++) {
    size_t name = (size_t)(strchr(extra[j], '=') - extra[j]) + 1;
    int later = 0;
    for (size_t l = j + 1; l < m && !later; l++)
      later = strncmp(extra[j], extra[l], name) == 0;
    if (!later)
      env[k++] = (char *)extra[j];
  }
  env[k] = NULL;
  return env;
}

static int check_spec(const so__proc_sup *sup, const so__proc_spec *spec, char *err,
                      size_t errlen) {
  if (!spec || !spec->cmd) {
    so__seterr(err, errlen, "no command to run");
    return SO_EINVAL;
  }
  if (spec->flags & ~SO__PROC_TASK_FLAGS) {
    so__seterr(err, errlen, "unknown task flags 0x%x", spec->flags & ~SO__PROC_TASK_FLAGS);
    return SO_EINVAL;
  }
  if (!(spec->timeout >= 0) || isinf(spec->timeout)) {
    so__seterr(err, errlen, "the timeout must be a finite number of seconds, not %g",
               spec->timeout);
    return SO_EINVAL;
  }
  const so__proc_sink *sinks[2] = {&spec->out, &spec->err};
  for (int i = 0; i < 2; i++) {
    const char *name = i ? "stderr" : "stdout";
    if (sinks[i]->kind < SO__PROC_DEVNULL || sinks[i]->kind > SO__PROC_INHERIT) {
      so__seterr(err, errlen, "unknown %s destination %d", name, (int)sinks[i]->kind);
      return SO_EINVAL;
    }
    if (sinks[i]->kind == SO__PROC_FILE && (!sinks[i]->path || !*sinks[i]->path)) {
      so__seterr(err, errlen, "%s goes to a file but no path was given", name);
      return SO_EINVAL;
    }
    if (sinks[i]->kind == SO__PROC_PIPE && !sup->opts.on_output) {
      so__seterr(err, errlen, "%s is piped but the supervisor has no output callback", name);
      return SO_EINVAL;
    }
  }
  for (const char *const *x = spec->env; x && *x; x++) {
    const char *eq = strchr(*x, '=');
    if (!eq || eq == *x) {
      so__seterr(err, errlen, "environment entry \"%s\" is not NAME=value", *x);
      return SO_EINVAL;
    }
  }
  if (sup->nrunning >= sup->opts.max_tasks) {
    so__seterr(err, errlen, "already running the most tasks allowed (%u)", sup->opts.max_tasks);
    return SO_EINVAL;
  }
  return 0;
}

/* Closes everything a task holds except its result. Safe to call twice. */
static void release_fds(so__proc *t) {
  if (t->pidfd >= 0)
    close(t->pidfd);
  t->pidfd = -1;
  for (int i = 0; i < 2; i++) {
    if (t->st[i].fd >= 0)
      close(t->st[i].fd);
    t->st[i].fd = -1;
    if (t->file_fd[i] >= 0)
      close(t->file_fd[i]);
    t->file_fd[i] = -1;
  }
}

static void task_free(so__proc *t) {
  release_fds(t);
  free(t->st[0].buf);
  free(t->st[1].buf);
  free(t);
}

/* Opens where the child's stdout (i = 0) or stderr (i = 1) goes: *child_fd is what the child
 * gets, and for a pipe *write_end is the parent's copy of it to close after the spawn. */
static int open_sink(so__proc_sup *sup, so__proc *t, const so__proc_spec *spec, int i,
                     int *child_fd, int *write_end, char *err, size_t errlen) {
  const so__proc_sink *s = i ? &spec->err : &spec->out;
  const char *name = i ? "stderr" : "stdout";
  switch (s->kind) {
  case SO__PROC_DEVNULL:
    *child_fd = sup->devnull;
    return 0;
  case SO__PROC_INHERIT:
    *child_fd = -1;
    return 0;
  case SO__PROC_FILE:
    if (i == 1 && spec->out.kind == SO__PROC_FILE && strcmp(spec->out.path, s->path) == 0) {
      *child_fd = t->file_fd[0]; /* one open file description, as 2>&1 would share */
      return 0;
    }
    t->file_fd[i] = high_fd(open(s->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
    if (t->file_fd[i] < 0) {
      so__seterr(err, errlen, "cannot open the %s file %s: %s", name, s->path, strerror(errno));
      return SO_EIO;
    }
    *child_fd = t->file_fd[i];
    return 0;
  case SO__PROC_PIPE: {
    t->st[i].buf = malloc(SO__PROC_BUFSZ);
    if (!t->st[i].buf) {
      so__seterr(err, errlen, "out of memory for the %s buffer", name);
      return SO_ENOMEM;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
      so__seterr(err, errlen, "cannot create the %s pipe: %s", name, strerror(errno));
      return SO_EIO;
    }
    t->st[i].fd = high_fd(p[0]);
    *write_end = high_fd(p[1]);
    if (t->st[i].fd < 0 || *write_end < 0 || fcntl(t->st[i].fd, F_SETFL, O_NONBLOCK) < 0) {
      so__seterr(err, errlen, "cannot set up the %s pipe: %s", name, strerror(errno));
      return SO_EIO;
    }
    *child_fd = *write_end;
    return 0;
  }
  }
  return SO_EINVAL;
}

int so__proc_spawn(so__proc_sup *sup, const so__proc_spec *spec, so__proc **out, char *err,
                   size_t errlen) {
  if (out)
    *out = NULL;
  if (!sup) {
    so__seterr(err, errlen, "no supervisor");
    return SO_EINVAL;
  }
  int rc = check_spec(sup, spec, err, errlen);
  if (rc)
    return rc;
  so__proc *t = calloc(1, sizeof *t);
  if (!t) {
    so__seterr(err, errlen, "out of memory for a task");
    return SO_ENOMEM;
  }
  t->pidfd = -1;
  for (int i = 0; i < 2; i++)
    t->file_fd[i] = t->st[i].fd = -1;
  int child_fd[3] = {sup->devnull, -1, -1}, write_end[2] = {-1, -1};
  char **envp = NULL;
  for (int i = 0; i < 2; i++)
    if ((rc = open_sink(sup, t, spec, i, &child_fd[i + 1], &write_end[i], err, errlen)))
      goto fail_sinks;
  if (!(envp = build_env(spec->env))) {
    so__seterr(err, errlen, "out of memory for the environment");
    rc = SO_ENOMEM;
    goto fail_sinks;
  }
  t->res.start = so__clock_s(CLOCK_REALTIME);
  t->t0 = so__mono_s();
  if ((rc = launch(sup, spec->cmd, envp, child_fd, &t->res.pid, err, errlen)))
    goto fail_launch;
  free(envp);
  for (int i = 0; i < 2; i++)
    if (write_end[i] >= 0)
      close(write_end[i]); /* the pipes now end when the last process of the task lets go */
  if (!(sup->opts.flags & SO__PROC_NO_PIDFD)) {
#ifdef SYS_pidfd_open
    /* The shell is our unreaped child, so its pid cannot name anyone else yet: no race. */
    t->pidfd = (int)syscall(SYS_pidfd_open, t->res.pid, 0);
#endif
  }
  t->res.exitval = -1;
  t->user = spec->user;
  t->flags = spec->flags;
  t->deadline = spec->timeout > 0 ? t->t0 + spec->timeout : 0;
  t->sup = sup;
  for (t->slot = 0; sup->slots[t->slot]; t->slot++)
    ;
  sup->slots[t->slot] = t;
  sup->pgids[t->slot] = t->res.pid;
  sup->nrunning++;
  if (out)
    *out = t;
  return 0;

fail_launch:
  free(envp);
fail_sinks:
  for (int i = 0; i < 2; i++)
    if (write_end[i] >= 0)
      close(write_end[i]);
  task_free(t);
  return rc;
}

/* ---- supervising ------------------------------------------------------------------------- */

/* The next process of a /proc listing that is neither a zombie nor dead, with its process group
 * and session. Returns its pid, or 0 at the end. */
static long next_live(DIR *d, int *pgrp, int *session) {
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end, path[64], buf[512];
    long pid = strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end)
      continue;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
      continue;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'), state;
    int ppid;
    if (p && sscanf(p + 1, " %c %d %d %d", &state, &ppid, pgrp, session) == 4 && state != 'Z' &&
        state != 'X')
      return pid;
  }
  return 0;
}

int so__proc_kill_session(pid_t sid) {
  if (sid <= 0 || sid == getsid(0))
    return 0;
  int total = 0;
  /* Rounds until a scan finds nobody: a process may fork between our scan and our kill. */
  for (int round = 0; round < 100; round++) {
    DIR *d = opendir("/proc");
    if (!d)
      return total;
    int found = 0, pgrp, session;
    long pid;
    while ((pid = next_live(d, &pgrp, &session)) > 0) {
      if (session != sid)
        continue;
      kill((pid_t)pid, SIGKILL);
      if (pgrp > 0)
        kill(-pgrp, SIGKILL); /* a group of this session: no process outside it is in it */
      found++;
    }
    closedir(d);
    total += found;
    if (!found)
      break;
    struct timespec ts = {0, 10000000L};
    nanosleep(&ts, NULL);
  }
  return total;
}

/* Whether any process of the group is still alive. kill(-pgid, 0) alone also counts zombies that
 * the group's orphans became, which only init can reap and may reap late (seconds, in some
 * containers); those hold neither CPUs nor pipes, so a scan of /proc tells them apart. Without a
 * readable /proc, the zombies count as alive and SIGKILL's abandon period ends the wait. */
static int group_alive(pid_t pgid) {
  if (kill(-pgid, 0) < 0 && errno == ESRCH)
    return 0;
  DIR *d = opendir("/proc");
  if (!d)
    return 1;
  int alive = 0, pgrp, session;
  long pid;
  while (!alive && (pid = next_live(d, &pgrp, &session)) > 0)
    alive = pgrp == pgid;
  closedir(d);
  return alive;
}

/* SIGTERM to the whole group, then SIGCONT so that stopped members can act on it, as timeout(1)
 * does. Signals go to the group id while the shell is unreaped or live members still hold it,
 * so the id cannot have been reused. */
static void terminate(so__proc *t, double now) {
  if (t->term_sent || t->done)
    return;
  t->term_sent = 1;
  t->kill_at = now + t->sup->opts.grace;
  kill(-t->res.pid, SIGTERM);
  kill(-t->res.pid, SIGCONT);
}

/* Reads what one pipe holds (at most one buffer) and hands it on; closes it at end of file.
 * Returns the bytes read, 0 at end of file, -1 when nothing was there. */
static ssize_t read_stream(so__proc *t, int i) {
  stream *s = &t->st[i];
  so__proc_sup *sup = t->sup;
  int lines = t->flags & SO__PROC_LINES;
  ssize_t n = read(s->fd, s->buf + s->len, SO__PROC_BUFSZ - s->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return -1;
  if (n <= 0) { /* end of file, or an error that ends the stream just the same */
    if (s->len)
      sup->opts.on_output(sup->opts.arg, t, i + 1, s->buf, s->len);
    s->len = 0;
    close(s->fd);
    s->fd = -1;
    return 0;
  }
  if (i == 0)
    t->res.out_bytes += (uint64_t)n;
  else
    t->res.err_bytes += (uint64_t)n;
  s->len += (size_t)n;
  size_t give = s->len;
  if (lines) { /* up to the last newline; a full buffer without one goes out as it is */
    while (give > 0 && s->buf[give - 1] != '\n')
      give--;
    if (give == 0 && s->len == SO__PROC_BUFSZ)
      give = s->len;
  }
  if (give)
    sup->opts.on_output(sup->opts.arg, t, i + 1, s->buf, give);
  memmove(s->buf, s->buf + give, s->len - give);
  s->len -= give;
  return n;
}

/* Reaps the shell if it has exited and records how it ended. When processes of
 * the group outlive it on their own, they get the termination sequence: a task's group must not
 * outlast the task, or its leftovers would keep the CPUs meant for the next one. */
static void reap(so__proc *t) {
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  pid_t r;
  while ((r = wait4(t->res.pid, &status, WNOHANG, &ru)) < 0 && errno == EINTR)
    ;
  if (r == 0)
    return;
  double now = so__mono_s();
  t->reaped = 1;
  t->res.wall = now - t->t0;
  if (t->pidfd >= 0)
    close(t->pidfd);
  t->pidfd = -1;
  if (r < 0) {
    t->res.status_lost = 1;
  } else {
    if (WIFEXITED(status))
      t->res.exitval = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      t->res.signal = WTERMSIG(status);
    t->res.utime = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
    t->res.stime = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    t->res.maxrss_kb = ru.ru_maxrss;
  }
  if (!group_alive(t->res.pid)) {
    t->group_gone = 1;
  } else if (!t->term_sent) {
    t->res.strays = 1;
    terminate(t, now);
  }
  t->next_check = now + LINGER_S;
}

/* Moves a finished task to the queue of completed ones, after reading what its pipes still hold
 * and the sizes of its output files. */
static void complete(so__proc *t) {
  so__proc_sup *sup = t->sup;
  for (int i = 0; i < 2; i++) {
    /* Stops when the pipe is empty even if not closed: a writer outside the group is cut off. */
    for (int r = 0; r < DRAIN_READS && t->st[i].fd >= 0 && read_stream(t, i) > 0; r++)
      ;
    if (t->st[i].fd >= 0 && t->st[i].len)
      sup->opts.on_output(sup->opts.arg, t, i + 1, t->st[i].buf, t->st[i].len);
    struct stat sb;
    if (t->file_fd[i] >= 0 && fstat(t->file_fd[i], &sb) == 0 && S_ISREG(sb.st_mode))
      *(i ? &t->res.err_bytes : &t->res.out_bytes) = (uint64_t)sb.st_size;
  }
  release_fds(t);
  for (int i = 0; i < 2; i++) {
    free(t->st[i].buf);
    t->st[i].buf = NULL;
  }
  t->done = 1;
  sup->slots[t->slot] = NULL;
  sup->pgids[t->slot] = 0;
  sup->nrunning--;
  if (sup->done_tail)
    sup->done_tail->next = t;
  else
    sup->done_head = t;
  sup->done_tail = t;
}

/* Applies the task's deadlines at time now. Returns 1 when the task completed. */
static int tick(so__proc *t, double now) {
  if (!t->reaped && t->pidfd < 0)
    reap(t);
  if (!t->term_sent && !t->reaped && t->deadline && now >= t->deadline) {
    t->res.timed_out = 1;
    terminate(t, now);
  }
  if (t->term_sent && !t->kill_sent && now >= t->kill_at) {
    t->kill_sent = 1;
    t->abandon_at = now + ABANDON_S;
    kill(-t->res.pid, SIGKILL);
  }
  if (t->reaped && !t->group_gone && now >= t->next_check) {
    t->next_check = now + LINGER_S;
    if (!group_alive(t->res.pid)) {
      t->group_gone = 1;
    } else if (t->kill_sent && now >= t->abandon_at) {
      t->res.group_left = 1;
      t->group_gone = 1;
    }
  }
  if (t->reaped && t->group_gone) {
    complete(t);
    return 1;
  }
  return 0;
}

/* The earliest moment tick() has something to do for t, or INFINITY. */
static double next_event(const so__proc *t) {
  double at = INFINITY;
  if (!t->reaped && t->pidfd < 0)
    at = 0; /* the caller caps this at one tick */
  if (!t->term_sent && !t->reaped && t->deadline)
    at = fmin(at, t->deadline);
  if (t->term_sent && !t->kill_sent)
    at = fmin(at, t->kill_at);
  if (t->reaped && !t->group_gone)
    at = fmin(at, t->next_check);
  return at;
}

int so__proc_poll(so__proc_sup *sup, int timeout_ms, char *err, size_t errlen) {
  if (!sup || !sup->nrunning)
    return 0;
  double now = so__mono_s(), wake = timeout_ms < 0 ? INFINITY : now + timeout_ms * 1e-3;
  nfds_t n = 0;
  for (unsigned i = 0; i < sup->opts.max_tasks; i++) {
    so__proc *t = sup->slots[i];
    if (!t)
      continue;
    double at = next_event(t);
    wake = fmin(wake, at == 0 ? now + TICK_S : at);
    int fds[3] = {t->pidfd, t->st[0].fd, t->st[1].fd};
    for (int w = 0; w < 3; w++) {
      if (fds[w] < 0)
        continue;
      sup->pfd[n] = (struct pollfd){.fd = fds[w], .events = POLLIN};
      sup->pfd_task[n] = t;
      sup->pfd_what[n++] = w;
    }
  }
  /* An hour at most, so that far deadlines cannot overflow the milliseconds; ceil() so that a
   * deadline has always passed when poll() times out. */
  int ms = isinf(wake) ? -1 : (int)ceil(fmin(fmax(0, wake - now), 3600) * 1e3);
  int ready = poll(sup->pfd, n, ms);
  if (ready < 0 && errno != EINTR) {
    so__seterr(err, errlen, "poll failed: %s", strerror(errno));
    return SO_EIO;
  }
  for (nfds_t k = 0; ready > 0 && k < n; k++) {
    so__proc *t = sup->pfd_task[k];
    if (!sup->pfd[k].revents)
      continue;
    if (sup->pfd_what[k] == 0)
      reap(t);
    else if (t->st[sup->pfd_what[k] - 1].fd >= 0)
      read_stream(t, sup->pfd_what[k] - 1);
  }
  int completed = 0;
  now = so__mono_s();
  for (unsigned i = 0; i < sup->opts.max_tasks; i++)
    if (sup->slots[i])
      completed += tick(sup->slots[i], now);
  return completed;
}

/* ---- lifetime and accessors -------------------------------------------------------------- */

int so__proc_sup_new(const so__proc_opts *opts, so__proc_sup **out, char *err, size_t errlen) {
  *out = NULL;
  so__proc_opts o = opts ? *opts : (so__proc_opts){0};
  if (o.flags & ~SO__PROC_SUP_FLAGS) {
    so__seterr(err, errlen, "unknown supervisor flags 0x%x", o.flags & ~SO__PROC_SUP_FLAGS);
    return SO_EINVAL;
  }
  if (!(o.grace >= 0) || isinf(o.grace)) {
    so__seterr(err, errlen, "the grace period must be a finite number of seconds, not %g", o.grace);
    return SO_EINVAL;
  }
  if (o.max_tasks == 0)
    o.max_tasks = 1;
  if (o.grace == 0)
    o.grace = SO__PROC_GRACE_DEFAULT;
  so__proc_sup *sup = calloc(1, sizeof *sup);
  if (!sup)
    goto fail_alloc;
  sup->opts = o;
  sup->devnull = -1;
  sup->stack = MAP_FAILED;
  sup->slots = calloc(o.max_tasks, sizeof *sup->slots);
  sup->pgids = calloc(o.max_tasks, sizeof *sup->pgids);
  sup->pfd = calloc(3 * (size_t)o.max_tasks, sizeof *sup->pfd);
  sup->pfd_task = calloc(3 * (size_t)o.max_tasks, sizeof *sup->pfd_task);
  sup->pfd_what = calloc(3 * (size_t)o.max_tasks, sizeof *sup->pfd_what);
  if (!sup->slots || !sup->pgids || !sup->pfd || !sup->pfd_task || !sup->pfd_what)
    goto fail_alloc;
  /* A guard page below the child's stack turns an overflow into a crash instead of corruption. */
  sup->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (sup->stack == MAP_FAILED || mprotect(sup->stack, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE)) {
    so__seterr(err, errlen, "cannot map the spawn stack: %s", strerror(errno));
    so__proc_sup_free(sup);
    return SO_ENOMEM;
  }
  sup->devnull = high_fd(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (sup->devnull < 0) {
    so__seterr(err, errlen, "cannot open /dev/null: %s", strerror(errno));
    so__proc_sup_free(sup);
    return SO_EIO;
  }
  *out = sup;
  return 0;

fail_alloc:
  so__seterr(err, errlen, "out of memory for the process supervisor");
  so__proc_sup_free(sup);
  return SO_ENOMEM;
}

void so__proc_sup_free(so__proc_sup *sup) {
  if (!sup)
    return;
  if (sup->slots) {
    so__proc_kill_all(sup);
    double give_up = so__mono_s() + sup->opts.grace + ABANDON_S + 1;
    while (sup->nrunning && so__mono_s() < give_up)
      so__proc_poll(sup, 100, NULL, 0);
    /* Whatever is left survived SIGKILL (uninterruptible sleep): it stays an unreaped zombie. */
    for (unsigned i = 0; i < sup->opts.max_tasks; i++) {
      if (!sup->slots[i])
        continue;
      kill(-sup->slots[i]->res.pid, SIGKILL);
      task_free(sup->slots[i]);
    }
  }
  while (sup->done_head) {
    so__proc *t = sup->done_head;
    sup->done_head = t->next;
    task_free(t);
  }
  if (sup->devnull >= 0)
    close(sup->devnull);
  if (sup->stack != MAP_FAILED)
    munmap(sup->stack, STACK_SIZE);
  free(sup->slots);
  free((void *)sup->pgids);
  free(sup->pfd);
  free(sup->pfd_task);
  free(sup->pfd_what);
  free(sup);
}

so__proc *so__proc_next_done(so__proc_sup *sup) {
  so__proc *t = sup ? sup->done_head : NULL;
  if (!t)
    return NULL;
  sup->done_head = t->next;
  if (!sup->done_head)
    sup->done_tail = NULL;
  t->next = NULL;
  t->sup = NULL;
  return t;
}

int so__proc_run(so__proc_sup *sup, const so__proc_spec *spec, so__proc_result *res, char *err,
                 size_t errlen) {
  so__proc *t;
  int rc = so__proc_spawn(sup, spec, &t, err, errlen);
  if (rc)
    return rc;
  while (!t->done) {
    if ((rc = so__proc_poll(sup, -1, err, errlen)) < 0) {
      so__proc_kill(t); /* it completes into the queue like any other task */
      return rc;
    }
  }
  so__proc **link = &sup->done_head;
  so__proc *prev = NULL;
  while (*link != t) {
    prev = *link;
    link = &(*link)->next;
  }
  *link = t->next;
  if (sup->done_tail == t)
    sup->done_tail = prev;
  *res = t->res;
  task_free(t);
  return 0;
}

void so__proc_kill(so__proc *task) {
  if (!task || task->done || task->term_sent)
    return;
  task->res.killed = 1;
  terminate(task, so__mono_s());
}

void so__proc_set_timeout(so__proc *task, double timeout) {
  if (!task || task->done || task->term_sent || task->reaped || !(timeout >= 0) || isinf(timeout))
    return;
  task->deadline = timeout > 0 ? task->t0 + timeout : 0;
}

void so__proc_kill_all(so__proc_sup *sup) {
  for (unsigned i = 0; sup && i < sup->opts.max_tasks; i++)
    so__proc_kill(sup->slots[i]);
}

void so__proc_kill_now(const so__proc_sup *sup) {
  for (unsigned i = 0; sup && i < sup->opts.max_tasks; i++) {
    pid_t pgid = sup->pgids[i];
    if (pgid > 0)
      kill(-pgid, SIGKILL);
  }
}

unsigned so__proc_running(const so__proc_sup *sup) { return sup ? sup->nrunning : 0; }
int so__proc_done(const so__proc *task) { return task->done; }
const so__proc_result *so__proc_result_of(const so__proc *task) { return &task->res; }
void *so__proc_user(const so__proc *task) { return task->user; }

void so__proc_free(so__proc *task) {
  if (task)
    task_free(task);
}

/* Launch detection and self-launch: a direct `scaleout run` starts its ranks with mpirun. */
#include "launch.h"

#define _GNU_SOURCE /* environ */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bind.h"
#include "error.h"
#include "signals.h"

/* Names the private directory of a direct run, for its ranks. */
#define SO_DIRECT_ENV "SCALEOUT_DIRECT_RUN"

/* Variables that launchers set for each rank they start. */
static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                        "SLURM_PROCID", NULL};

int so__launch_rank(void) {
  for (const char *const *v = rank_vars; *v; v++) {
    const char *s = getenv(*v);
    if (s && *s)
      return atoi(s);
  }
  return -1;
}

int so__launched(void) {
  /* SLURM_PROCID alone is also set in a batch script's shell, which is not a launched rank;
   * a rank started by srun also has a PMI or PMIx variable. */
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") ||
         getenv("PMI_SIZE");
}

void so__launch_local_tuning(void) {
  /* A direct run is one machine: Open MPI's shared-memory path (ob1 with vader) is all it needs,
   * and skipping UCX's device probing cuts MPI start-up from about 0.35 s to 0.12 s. A user's own
   * setting wins. */
  setenv("OMPI_MCA_pml", "ob1", 0);
  /* The master shares a core with a worker (N workers on N cores, plus the master), so Open MPI's
   * progress loop should yield the core while it waits. mpirun turns this on by itself only when
   * it sees more ranks than slots, and --host gives it as many slots as ranks. Without it a
   * 2-command farm run took 0.18 s instead of 0.12 s. */
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
}

void so__launch_nodelay(void) {
  struct rlimit lim;
  int top = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 4096 ? (int)lim.rlim_cur : 4096;
  for (int fd = 3; fd < top; fd++) {
    int type;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
      continue;
    struct sockaddr_storage addr;
    len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0 ||
        (addr.ss_family != AF_INET && addr.ss_family != AF_INET6))
      continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* best effort */
  }
}

void so__launch_allow_root(void) {
  if (geteuid() != 0)
    return;
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
}

int so__launch_default_workers(int bind_pu) {
  hwloc_topology_t topo;
  int n = 0;
  if (so__bind_topology_load(&topo, NULL) != 0)
    return 1;
  hwloc_bitmap_t cur = hwloc_bitmap_alloc();
  if (cur && so__bind_get(topo, cur) == 0)
    n = so__bind_count(topo, cur, bind_pu ? SO_BIND_PU : SO_BIND_CORE);
  hwloc_bitmap_free(cur);
  hwloc_topology_destroy(topo);
  return n > 0 ? n : 1;
}

/* ---- the direct run's parent ---- */

/* The launcher: the SCALEOUT_MPIRUN variable, else the mpiexec CMake found beside the MPI this
 * program is linked with, else mpirun or mpiexec from PATH. */
static int find_mpirun(char *out, size_t len) {
  const char *env = getenv("SCALEOUT_MPIRUN");
  if (env && *env) {
    snprintf(out, len, "%s", env);
    return access(out, X_OK) == 0 ? 0 : -1;
  }
#ifdef SO_MPIEXEC
  if (access(SO_MPIEXEC, X_OK) == 0) {
    snprintf(out, len, "%s", SO_MPIEXEC);
    return 0;
  }
#endif
  const char *path = getenv("PATH");
  static const char *const names[] = {"mpirun", "mpiexec"};
  for (size_t k = 0; path && k < 2; k++) {
    for (const char *p = path; *p;) {
      const char *colon = strchr(p, ':');
      size_t n = colon ? (size_t)(colon - p) : strlen(p);
      if (n > 0 && snprintf(out, len, "%.*s/%s", (int)n, p, names[k]) < (int)len &&
          access(out, X_OK) == 0)
        return 0;
      p += n + (colon != NULL);
    }
  }
  return -1;
}

/* Reads a small integer file written by the master (see write_int_file); 0 when it is there. */
static int read_int_file(const char *dir, const char *name, long *value) {
  char path[PATH_MAX], text[32];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0)
    return -1;
  text[n] = 0;
  char *end;
  *value = strtol(text, &end, 10);
  return end == text ? -1 : 0;
}

/* Passes what arrives on the terminal to mpirun's standard input, which mpirun hands to the
 * master. mpirun runs in a process group of its own (so Ctrl-C reaches only this parent, which
 * turns it into the master's graceful stop), and a background group may not read the terminal.
 * Returns 0 while the relay goes on, -1 once it has ended (end of input, or nobody reads). */
static int relay_stdin(int to, char *buf, size_t *have, size_t cap) {
  if (*have == 0) {
    ssize_t n = read(STDIN_FILENO, buf, cap);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
      return -1;
    if (n > 0)
      *have = (size_t)n;
  }
  while (*have > 0) {
    ssize_t w = write(to, buf, *have);
    if (w < 0)
      return errno == EAGAIN || errno == EINTR ? 0 : -1;
    memmove(buf, buf + w, *have - (size_t)w);
    *have -= (size_t)w;
  }
  return 0;
}

/* Waits for mpirun to end, asleep in ppoll: the parent is idle for the whole run and must not
 * take a core from the workers. Stop signals sent to the parent (Ctrl-C, a batch system's
 * SIGTERM) are passed on to the master once it has said its process id. The stop signals stay
 * blocked except inside ppoll, so one that comes just before the call still wakes it. */
static int wait_mpirun(pid_t child, const char *dir, int relay_fd, int *status) {
  sigset_t stops, old;
  sigemptyset(&stops);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGUSR1);
  sigprocmask(SIG_BLOCK, &stops, &old);
  int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  long master = 0;
  int pending = 0, rc = 0;
  char buf[4096];
  size_t have = 0;
  for (;;) {
    pid_t r = waitpid(child, status, WNOHANG);
    if (r == child)
      break;
    if (r < 0 && errno != EINTR) {
      rc = -1;
      break;
    }
    int sig = so__signals_take();
    if (sig)
      pending = sig;
    if (pending && master <= 0 && read_int_file(dir, "master.pid", &master) != 0)
      master = 0;
    if (pending && master > 0) {
      kill((pid_t)master, pending);
      pending = 0;
    }
    struct pollfd p[2] = {{.fd = pidfd, .events = POLLIN}, {.fd = -1}};
    if (relay_fd >= 0) {
      p[1].fd = have > 0 ? relay_fd : STDIN_FILENO;
      p[1].events = have > 0 ? POLLOUT : POLLIN;
    }
    /* Without a pidfd (Linux before 5.3), look every 2 ms; a signal not yet passed on (the
     * master has not started) is tried again every 5 ms. */
    long ms = pidfd < 0 ? 2 : pending ? 5 : -1;
    struct timespec ts = {0, ms * 1000000L};
    int n = ppoll(p, 2, ms < 0 ? NULL : &ts, &old);
    if (n > 0 && p[1].revents && relay_stdin(relay_fd, buf, &have, sizeof buf) != 0) {
      close(relay_fd);
      relay_fd = -1;
    }
  }
  if (pidfd >= 0)
    close(pidfd);
  if (relay_fd >= 0)
    close(relay_fd);
  sigprocmask(SIG_SETMASK, &old, NULL);
  return rc;
}

int so__launch_local_run(int n, char **argv) {
  char exe[PATH_MAX], mpirun[PATH_MAX], dir[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) {
    so__errorf("cannot find this program's path to start its workers");
    return SO_EINVAL;
  }
  exe[len] = 0;
  if (find_mpirun(mpirun, sizeof mpirun) != 0) {
    so__errorf("cannot find Open MPI's mpirun to start the workers (looked at $SCALEOUT_MPIRUN, "
               "the mpiexec found at build time and PATH); install openmpi-bin or set "
               "SCALEOUT_MPIRUN");
    return SO_EMPI;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/scaleout-run.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    so__errorf("cannot create a directory under %s for the run: %s", tmp && *tmp ? tmp : "/tmp",
               strerror(errno));
    return SO_EIO;
  }
  int argc = 0;
  while (argv[argc])
    argc++;
  char np[32], hosts[48];
  snprintf(np, sizeof np, "%d", n + 1);
  snprintf(hosts, sizeof hosts, "localhost:%d", n + 1);
  /* One node (this one, with room for the master beside one worker per core); our own hwloc plan
   * pins the workers, so Open MPI must not bind them first. */
  const char *pre[] = {mpirun, "-np", np, "--host", hosts, "--bind-to", "none", exe};
  size_t npre = sizeof pre / sizeof *pre;
  char **args = calloc(npre + (size_t)argc, sizeof *args);
  if (!args) {
    rmdir(dir);
    return SO_ENOMEM;
  }
  for (size_t i = 0; i < npre; i++)
    args[i] = (char *)pre[i];
  for (int i = 1; i < argc; i++)
    args[npre + (size_t)i - 1] = argv[i];
  setenv(SO_DIRECT_ENV, dir, 1);

  int relay[2] = {-1, -1};
  if (isatty(STDIN_FILENO) && pipe2(relay, O_CLOEXEC) != 0)
    relay[0] = relay[1] = -1;
  fflush(NULL);
  so__signals_catch();
  pid_t self = getpid();
  pid_t child = fork();
  if (child == 0) {
    /* mpirun in a process group of its own: a terminal's Ctrl-C reaches the parent only. If the
     * parent dies, mpirun gets SIGTERM and ends the run. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != self)
      _exit(127);
    if (relay[0] >= 0)
      dup2(relay[0], STDIN_FILENO);
    execv(mpirun, args);
    fprintf(stderr, "scaleout: error: cannot run %s: %s\n", mpirun, strerror(errno));
    _exit(127);
  }
  int err = errno, status = 0, rc = 0;
  free(args);
  unsetenv(SO_DIRECT_ENV);
  if (relay[0] >= 0)
    close(relay[0]);
  if (child < 0) {
    so__errorf("cannot start %s: %s", mpirun, strerror(err));
    if (relay[1] >= 0)
      close(relay[1]);
    rc = SO_EMPI;
  } else {
    setpgid(child, child); /* also here, so no signal finds it in our group meanwhile */
    if (relay[1] >= 0)
      fcntl(relay[1], F_SETFL, O_NONBLOCK);
    if (wait_mpirun(child, dir, relay[1], &status) != 0) { /* it closes relay[1] */
      so__errorf("lost track of %s: %s", mpirun, strerror(errno));
      rc = SO_EMPI;
    }
  }
  so__signals_restore();
  long verdict = 0;
  if (child > 0 && rc == 0) {
    if (read_int_file(dir, "verdict", &verdict) == 0) {
      rc = (int)verdict;
    } else {
      if (WIFSIGNALED(status))
        so__errorf("the run ended without a result: mpirun was killed by signal %d",
                   WTERMSIG(status));
      else
        so__errorf("the run ended without a result (mpirun exited with status %d)",
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
      rc = SO_EMPI;
    }
  }
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/master.pid", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/verdict", dir);
  unlink(path);
  rmdir(dir);
  return rc;
}

/* ---- a rank of a direct run ---- */

static char direct_dir[PATH_MAX];

int so__launch_direct_rank(void) {
  const char *d = getenv(SO_DIRECT_ENV);
  if (d && *d && so__launched() && !direct_dir[0])
    snprintf(direct_dir, sizeof direct_dir, "%s", d);
  /* Commands and programs the run starts must not take themselves for part of it. */
  unsetenv(SO_DIRECT_ENV);
  return direct_dir[0] != 0;
}

/* Writes name in the run's directory all at once (a temporary file renamed into place), so the
 * parent never reads half a number. */
static int write_int_file(const char *name, long value) {
  char path[PATH_MAX + 32], tmp[PATH_MAX + 48], text[32];
  snprintf(path, sizeof path, "%s/%s", direct_dir, name);
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
  int len = snprintf(text, sizeof text, "%ld\n", value);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  int ok = write(fd, text, (size_t)len) == len;
  ok &= close(fd) == 0;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

void so__launch_direct_hello(void) {
  if (direct_dir[0] && write_int_file("master.pid", (long)getpid()) != 0)
    so__warnf("cannot tell the waiting scaleout process this master's id; it will not pass "
              "stop signals on");
}

int so__launch_direct_verdict(int rc) {
  if (!direct_dir[0])
    return 0;
  if (write_int_file("verdict", rc) != 0) {
    so__errorf("cannot give the run's result to the waiting scaleout process (%s: %s)",
               direct_dir, strerror(errno));
    return -1;
  }
  return 0;
}

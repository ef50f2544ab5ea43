/* Launch detection and self-launch: a direct `scaleout run` starts its ranks with mpirun. */
#include "launch.h"

#define _GNU_SOURCE /* environ */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "argfile.h"
#include "bind.h"
#include "error.h"
#include "outrelay.h"
#include "pinplan.h"
#include "signals.h"

/* Names the private sockets of a direct run, for its ranks. */
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

void so__launch_local_tuning(int one_node) {
  /* A direct run on one machine: Open MPI's shared-memory path (ob1 with vader) is all it needs,
   * and skipping UCX's device probing cuts MPI start-up from about 0.35 s to 0.12 s. Over several
   * machines Open MPI chooses (UCX on a fast network). A user's own setting wins. */
  if (one_node)
    setenv("OMPI_MCA_pml", "ob1", 0);
  /* The master shares a core with a worker (N workers on N cores, plus the master), so Open MPI's
   * progress loop should yield the core while it waits. mpirun turns this on by itself only when
   * it sees more ranks than slots, and --host gives it as many slots as ranks. Without it a
   * 2-command farm run took 0.18 s instead of 0.12 s. */
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
  /* A rank that crashes dies of its signal without Open MPI's backtrace banner; the waiting
   * parent says in one line which signal ended the run. */
  setenv("OMPI_MCA_opal_signal", "", 0);
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

int so__launch_default_workers(int bind_pu, const so_config *cfg) {
  hwloc_topology_t topo;
  int n = 0;
  if (so__bind_topology_load(&topo, NULL) != 0)
    return 1;
  hwloc_bitmap_t cur = hwloc_bitmap_alloc(), region = hwloc_bitmap_alloc();
  if (cur && region && so__bind_get(topo, cur) == 0) {
    /* The region the ranks will plan in (pinplan.h), so -n's default fits --cpuset and
     * --core-offset/--core-count instead of oversubscribing the few cores they leave. */
    so__pin_input in = {.topo = topo,
                        .cpuset = cfg ? cfg->cpuset : NULL,
                        .core_offset = cfg ? cfg->core_offset : 0,
                        .core_count = cfg ? cfg->core_count : 0};
    char err[256];
    if (so__pin_region(&in, cur, region, err, sizeof err) == 0 && !hwloc_bitmap_iszero(region))
      hwloc_bitmap_copy(cur, region);
    n = so__bind_count(topo, cur, bind_pu ? SO_BIND_PU : SO_BIND_CORE);
  }
  hwloc_bitmap_free(region);
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

/* ---- the channel between the direct run's parent and its ranks ----
 *
 * Two abstract Unix sockets (names in no file system, so nothing is left behind whatever dies),
 * named after the parent's pid and a random number: the master connects to "<name>.master",
 * which the parent accepts, and reports its verdict there; every rank connects to
 * "<name>.life", which nobody accepts: when the parent dies its listener closes, every
 * connection to it hangs up, and each rank hears of it at once (signals.c). */

static int abstract_addr(const char *name, const char *suffix, struct sockaddr_un *a,
                         socklen_t *len) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "%s.%s", name, suffix);
  if (n < 0 || (size_t)n >= sizeof a->sun_path - 1)
    return -1;
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
  return 0;
}

/* A non-blocking socket with the address of NAME.SUFFIX in the abstract namespace, or -1.
 * Non-blocking: with more ranks than the listener's backlog a connect would otherwise wait. */
static int abstract_socket(const char *name, const char *suffix, struct sockaddr_un *a,
                           socklen_t *len) {
  if (abstract_addr(name, suffix, a, len) != 0)
    return -1;
  return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

static int listen_abstract(const char *name, const char *suffix) {
  struct sockaddr_un a;
  socklen_t len;
  int fd = abstract_socket(name, suffix, &a, &len);
  if (fd >= 0 && (bind(fd, (struct sockaddr *)&a, len) != 0 || listen(fd, SOMAXCONN) != 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

static int connect_abstract(const char *name, const char *suffix) {
  struct sockaddr_un a;
  socklen_t len;
  int fd = abstract_socket(name, suffix, &a, &len);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* ---- the direct run's parent ---- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The parent process id of pid from /proc, or -1. */
static pid_t parent_of(pid_t pid, int *zombie) {
  char path[64], text[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0)
    return -1;
  text[n] = 0;
  char *p = strrchr(text, ')');
  char state;
  long ppid;
  if (!p || sscanf(p + 1, " %c %ld", &state, &ppid) != 2)
    return -1;
  if (zombie)
    *zombie = state == 'Z';
  return (pid_t)ppid;
}

/* Sends sig to every live descendant of this process (mpirun, the ranks, their commands, and the
 * orphans of a dead mpirun, which come to us as a child subreaper) but spare (or 0) and the
 * processes between us and spare (mpirun, and a wrapper script around it). Returns how
 * many live ones it found. The ranks are each in a process group of their own (Open MPI's doing), so one kill
 * of mpirun's group would not reach them. */
static int kill_descendants(int sig, pid_t spare) {
  DIR *d = opendir("/proc");
  if (!d)
    return 0;
  size_t n = 0, cap = 256;
  pid_t(*pp)[2] = malloc(cap * sizeof *pp);
  struct dirent *e;
  while (pp && (e = readdir(d)) != NULL) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    int zombie = 0;
    if (*end || pid <= 0)
      continue;
    pid_t ppid = parent_of((pid_t)pid, &zombie);
    if (ppid <= 0 || zombie)
      continue;
    if (n == cap) {
      void *q = realloc(pp, 2 * cap * sizeof *pp);
      if (!q)
        break;
      pp = q;
      cap *= 2;
    }
    pp[n][0] = (pid_t)pid;
    pp[n][1] = ppid;
    n++;
  }
  closedir(d);
  if (!pp)
    return 0;
  /* Mark descendants pass by pass (a tree a few levels deep); the parent pid of a marked process
   * is overwritten with 0 so it is counted once. */
  pid_t self = getpid();
  int found = 0, more = 1;
  pid_t *marked = malloc((n + 1) * sizeof *marked);
  size_t nmarked = 0;
  if (marked)
    marked[nmarked++] = self;
  while (marked && more) {
    more = 0;
    for (size_t i = 0; i < n; i++) {
      if (pp[i][1] == 0)
        continue;
      for (size_t k = 0; k < nmarked; k++)
        if (pp[i][1] == marked[k]) {
          marked[nmarked++] = pp[i][0];
          pp[i][1] = 0;
          more = 1;
          break;
        }
    }
  }
  pid_t spared[10];
  int nspared = 0;
  for (pid_t p = spare; p > 1 && p != self && nspared < 10; p = parent_of(p, NULL))
    spared[nspared++] = p;
  for (size_t k = 1; marked && k < nmarked; k++) {
    int keep = 0;
    for (int i = 0; i < nspared; i++)
      keep |= marked[k] == spared[i];
    if (!keep && kill(marked[k], sig) == 0)
      found++;
  }
  free(marked);
  free(pp);
  return found;
}

/* What the parent knows while it waits. */
typedef struct watch {
  pid_t mpirun;
  int listen_fd;    /* "<name>.master", until the master connected */
  int master_fd;    /* the master's connection */
  pid_t master;     /* its pid, once connected */
  pid_t launcher;   /* its parent: mpirun itself, when a wrapper script stands between */
  char line[64];    /* the verdict as it arrives: "RC ABANDONED\n" */
  size_t have;
  int verdict_in;
  long verdict;
  int abandoned;    /* the master left workers inside run(): end them at once (2 once done, 3
                       once the master is gone too) */
  int stop_sig;     /* the first stop signal the parent got */
  int passed;       /* and it went to the master */
  int killing;      /* 0, 1 once SIGTERM went to mpirun, 2 once SIGKILL went to the run */
  double kill_at;   /* when SIGKILL follows */
  double deadline;  /* the master has until then to end a signalled run */
} watch;

/* True when pid descends from ancestor within a few generations (mpirun may be a wrapper's
 * child, as with a SCALEOUT_MPIRUN script that does not exec it). */
static int descends_from(pid_t pid, pid_t ancestor) {
  for (int i = 0; i < 8 && pid > 1; i++) {
    pid = parent_of(pid, NULL);
    if (pid == ancestor)
      return 1;
  }
  return 0;
}

/* Accepts the master's connection: a process of this user under our mpirun. */
static void accept_master(watch *w) {
  int fd;
  while ((fd = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (w->master_fd < 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
        cred.uid == geteuid() && descends_from(cred.pid, w->mpirun)) {
      w->master_fd = fd;
      w->master = cred.pid;
      w->launcher = parent_of(cred.pid, NULL);
      close(w->listen_fd);
      w->listen_fd = -1;
      return;
    }
    close(fd);
  }
}

static void read_verdict(watch *w) {
  for (;;) {
    ssize_t n = read(w->master_fd, w->line + w->have, sizeof w->line - 1 - w->have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n > 0) {
      w->have += (size_t)n;
      w->line[w->have] = 0;
      long rc;
      int ab;
      if (strchr(w->line, '\n') && sscanf(w->line, "%ld %d", &rc, &ab) == 2) {
        w->verdict = rc;
        w->abandoned = ab != 0; /* the master sends how many workers it left */
        w->verdict_in = 1;
      }
      if (w->have < sizeof w->line - 1 && !w->verdict_in)
        continue;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN) || w->verdict_in || w->have >= sizeof w->line - 1) {
      close(w->master_fd); /* said its word, or gone */
      w->master_fd = -1;
    }
    return;
  }
}

/* Ends the whole run: first SIGTERM to mpirun, which then ends its ranks (but ignores it while
 * it starts them), and a second later SIGKILL to mpirun and then to every process of the run.
 * mpirun goes first, so it neither starts more ranks nor prints what it thinks of their end. */
static void end_run(watch *w, int hard) {
  if (w->killing >= (hard ? 2 : 1))
    return;
  kill(w->mpirun, hard ? SIGKILL : SIGTERM);
  if (hard)
    kill_descendants(SIGKILL, 0);
  w->killing = hard ? 2 : 1;
  w->kill_at = now_s() + 1.0;
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
 * take a core from the workers. A stop signal (Ctrl-C, a batch system's SIGTERM) goes to the
 * master once it has connected, which it does only after its own handlers are in place; before
 * that (the ranks are still starting, which takes seconds with many), the parent ends the run
 * itself. If the master has not ended a signalled run grace + 30 s later, or has reported and
 * left workers stuck in run(), the parent ends it too. The stop signals stay blocked except
 * inside ppoll, so one that comes just before the call still wakes it. */
static int wait_mpirun(watch *w, double grace, int relay_fd, so__outrelay *out, int *status) {
  sigset_t stops, old;
  sigemptyset(&stops);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGUSR1);
  sigprocmask(SIG_BLOCK, &stops, &old);
  int pidfd = (int)syscall(SYS_pidfd_open, w->mpirun, 0);
  int rc = 0;
  char buf[4096];
  size_t have = 0;
  double finish_by = 0;
  for (;;) {
    pid_t r = waitpid(w->mpirun, status, WNOHANG);
    if (r == w->mpirun)
      break;
    if (r < 0 && errno != EINTR) {
      rc = -1;
      break;
    }
    double now = now_s();
    int sig = so__signals_take();
    if (sig && !w->verdict_in) {
      if (!w->stop_sig)
        w->stop_sig = sig;
      if (w->master > 0 && !w->killing) {
        kill(w->master, sig);
        w->passed = 1;
        if (!w->deadline)
          w->deadline = now + grace + 30;
      } else {
        end_run(w, 0);
      }
    }
    if (w->verdict_in && w->abandoned == 1 && !w->killing) {
      /* The workers stuck in run(): the master, which has printed its report, exits by itself,
       * and mpirun (spared too) passes its output on and ends when the others are gone. */
      kill_descendants(SIGKILL, w->master);
      w->abandoned = 2;
      /* mpirun takes seconds to see the job's end: it is ended 0.2 s after the master (time
       * enough to pass on its last output), or a second from now at the latest. */
      finish_by = now + 1;
    }
    int zombie = 0;
    if (w->abandoned == 2 && (parent_of(w->master, &zombie) < 0 || zombie)) {
      w->abandoned = 3;
      if (finish_by > now + 0.2)
        finish_by = now + 0.2;
    }
    /* After its verdict the master only finalizes MPI; a run that hangs there is ended. */
    if (w->verdict_in && !finish_by)
      finish_by = now + 30;
    if ((w->killing == 1 && now >= w->kill_at) || (finish_by && now >= finish_by))
      end_run(w, 1);
    if (w->deadline && now >= w->deadline && !w->verdict_in && !w->killing) {
      so__errorf("the run did not stop %.0f s after signal %d; ending it", grace + 30, w->stop_sig);
      end_run(w, 1);
    }
    struct pollfd p[5] = {{.fd = pidfd, .events = POLLIN},
                          {.fd = w->listen_fd, .events = POLLIN},
                          {.fd = w->master_fd, .events = POLLIN},
                          {.fd = -1},
                          {.fd = -1}};
    if (relay_fd >= 0) {
      p[3].fd = have > 0 ? relay_fd : STDIN_FILENO;
      p[3].events = have > 0 ? POLLOUT : POLLIN;
    }
    /* Without a pidfd (Linux before 5.3), look every 2 ms; while ending the run, every 50 ms. */
    long ms = pidfd < 0 ? 2 : w->killing == 1 || finish_by || w->deadline ? 50 : -1;
    struct timespec ts = {0, ms * 1000000L};
    so__outrelay_poll(out, &p[4]);
    int n = ppoll(p, 5, ms < 0 ? NULL : &ts, &old);
    if (n <= 0)
      continue;
    so__outrelay_step(out, p[4].revents);
    if (p[1].revents)
      accept_master(w);
    if (p[2].revents)
      read_verdict(w);
    if (p[3].revents && relay_stdin(relay_fd, buf, &have, sizeof buf) != 0) {
      close(relay_fd);
      relay_fd = -1;
    }
  }
  /* A verdict sent just before the end is still in the socket. */
  if (w->master_fd >= 0 && !w->verdict_in)
    read_verdict(w);
  if (pidfd >= 0)
    close(pidfd);
  if (relay_fd >= 0)
    close(relay_fd);
  sigprocmask(SIG_SETMASK, &old, NULL);
  return rc;
}

/* After mpirun ended without a verdict (killed, or a rank died): its ranks may live on, now our
 * children (we are their subreaper). End them, SIGTERM and then SIGKILL, before returning, so no
 * rank launches anything after the user saw the exit status. */
static void end_leftovers(void) {
  if (kill_descendants(SIGTERM, 0) == 0)
    return;
  double until = now_s() + 1.0;
  while (now_s() < until) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    if (kill_descendants(0, 0) == 0)
      return;
  }
  kill_descendants(SIGKILL, 0);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return (type == FTW_DP ? rmdir(path) : unlink(path)), 0;
}

/* Open MPI's session directory of an mpirun that could not clean up after itself (we killed it
 * with SIGKILL, or someone did): $TMPDIR/ompi.HOST.UID/pid.PID, and its parent if now empty. */
static void remove_session_dir(pid_t mpirun) {
  const char *tmp = getenv("TMPDIR");
  char host[256], top[PATH_MAX], dir[PATH_MAX + 32];
  if (gethostname(host, sizeof host) != 0)
    return;
  host[sizeof host - 1] = 0;
  snprintf(top, sizeof top, "%s/ompi.%s.%ld", tmp && *tmp ? tmp : "/tmp", host, (long)getuid());
  snprintf(dir, sizeof dir, "%s/pid.%ld", top, (long)mpirun);
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  rmdir(top); /* only when empty: other runs may share it */
}

/* The variables ranks on other machines need, which mpirun passes on with -x (ssh passes no
 * environment; Open MPI passes on only its own OMPI_MCA_ ones by itself). */
static const char *const forward_vars[] = {
    SO_DIRECT_ENV,  "SCALEOUT_JOB_PATH",           "LD_LIBRARY_PATH",
    "OMPI_MCA_pml", "OMPI_MCA_mpi_yield_when_idle", "OMPI_MCA_opal_signal", NULL};

/* Linux refuses one argument or environment string over 128 KiB, and mpirun gives each rank its
 * whole command line once more in one variable (argfile.h): a command line for ranks on other
 * machines (which cannot read this machine's memory file) stays below this. */
#define SO_REMOTE_ARGV_MAX (120 * 1024)

/* mpirun's command line: mpirun and its options, then exe and argv[1..argc-1] but for the
 * --hostfile/--hosts words (where->skip). NULL when out of memory; free the vector and *hostarg. */
static char **mpirun_args(const char *mpirun, const char *exe, int n, int argc, char **argv,
                          const so__where *where, int direct, char *np, size_t nplen,
                          char **hostarg) {
  static char qflag[] = "-q", npflag[] = "-np", hostflag[] = "--host", over[] = "--oversubscribe",
              bindflag[] = "--bind-to", none[] = "none", xflag[] = "-x";
  size_t nfwd = sizeof forward_vars / sizeof *forward_vars;
  char **args = calloc(12 + 2 * nfwd + (size_t)argc, sizeof *args);
  size_t k = 0;
  *hostarg = NULL;
  if (!args)
    return NULL;
  snprintf(np, nplen, "%d", n + 1);
  args[k++] = (char *)mpirun;
  args[k++] = qflag;
  args[k++] = npflag;
  args[k++] = np;
  if (!where || where->kind == SO_WHERE_HOSTS) {
    /* This machine alone has room for the master beside one worker per core; over hosts, the
     * hosts' slots, this machine first so that rank 0 runs here (mpirun fills the hosts in turn;
     * Open MPI 4.1 would also map rank 0 onto its own node when that node is listed). */
    size_t len = 64;
    for (int i = 0; where && i < where->hosts.n; i++)
      len += strlen(where->hosts.hosts[i].name) + 12;
    if (!(*hostarg = malloc(len)) ||
        (where ? so__hostlist_format(&where->hosts, *hostarg, len)
               : snprintf(*hostarg, len, "localhost:%d", n + 1) < 0) != 0) {
      free(*hostarg);
      *hostarg = NULL;
      free(args);
      return NULL;
    }
    args[k++] = hostflag;
    args[k++] = *hostarg;
  }
  if (where && where->oversubscribe)
    args[k++] = over;
  /* Our own hwloc plan pins the workers, so Open MPI must not bind them first. */
  args[k++] = bindflag;
  args[k++] = none;
  for (const char *const *v = forward_vars; where && *v; v++)
    if (getenv(*v) && (direct || strcmp(*v, SO_DIRECT_ENV) != 0)) {
      args[k++] = xflag;
      args[k++] = (char *)*v;
    }
  args[k++] = (char *)exe;
  for (int i = 1; i < argc; i++) {
    if (where && where->skip && argv[i] == where->skip) {
      i += where->skip_words - 1;
      continue;
    }
    args[k++] = argv[i];
  }
  return args;
}

int so__launch_local_run(int n, double grace, char **argv, int list_at, const so__where *where) {
  char exe[PATH_MAX], mpirun[PATH_MAX], name[64];
  /* Rank 0 here, where the parent's sockets are (else the ranks run as under the user's mpirun),
   * and whether ranks run on other machines too. */
  int direct = !where || where->here, remote = where && where->others;
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
  int argc = 0;
  size_t argbytes = 0;
  while (argv[argc])
    argbytes += strlen(argv[argc++]) + 1;
  if (remote && argbytes + strlen(exe) > SO_REMOTE_ARGV_MAX) {
    so__errorf("the command line takes %zu bytes, more than mpirun can pass to ranks on other "
               "hosts (%d KiB); give the farm its arguments with --args FILE instead of :::",
               argbytes + strlen(exe), SO_REMOTE_ARGV_MAX / 1024);
    return SO_EINVAL;
  }
  uint64_t nonce = 0;
  if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
    nonce = (uint64_t)now_s() * 1000003u ^ (uint64_t)getpid();
  snprintf(name, sizeof name, "scaleout-run.%ld.%016llx", (long)getpid(),
           (unsigned long long)nonce);
  watch w = {.listen_fd = listen_abstract(name, "master"), .master_fd = -1};
  int life = listen_abstract(name, "life");
  if (w.listen_fd < 0 || life < 0) {
    so__errorf("cannot open a socket for the run's ranks to report to: %s", strerror(errno));
    if (w.listen_fd >= 0)
      close(w.listen_fd);
    if (life >= 0)
      close(life);
    return SO_EIO;
  }
  /* The words after ::: reach the ranks apart from mpirun's command line (argfile.h), when every
   * rank runs on this machine. */
  int words_fd = -1;
  if (!remote && list_at > 0 && list_at + 1 < argc) {
    char e[256];
    if ((words_fd = so__argfile_offer(argc - list_at - 1, argv + list_at + 1, e, sizeof e)) < 0) {
      so__errorf("%s", e);
      close(w.listen_fd);
      close(life);
      return SO_EIO;
    }
    argc = list_at + 1;
  }
  /* -q keeps Open MPI's banners (a rank that exited early, a signal) off the user's terminal:
   * this process says in one line what happened. */
  char np[32], *hostarg = NULL;
  if (direct)
    setenv(SO_DIRECT_ENV, name, 1);
  char **args = mpirun_args(mpirun, exe, n, argc, argv, where, direct, np, sizeof np, &hostarg);
  if (!args) {
    close(w.listen_fd);
    close(life);
    if (words_fd >= 0)
      close(words_fd);
    unsetenv(SO_ARGFILE_ENV);
    unsetenv(SO_DIRECT_ENV);
    return SO_ENOMEM;
  }

  int relay[2] = {-1, -1};
  if (isatty(STDIN_FILENO) && pipe2(relay, O_CLOEXEC) != 0)
    relay[0] = relay[1] = -1;
  so__outrelay out;
  if (so__outrelay_open(&out) != 0) {
    so__errorf("cannot make a pipe for the run's output: %s", strerror(errno));
    free(args);
    free(hostarg);
    unsetenv(SO_DIRECT_ENV);
    if (relay[0] >= 0) {
      close(relay[0]);
      close(relay[1]);
    }
    close(w.listen_fd);
    close(life);
    if (words_fd >= 0)
      close(words_fd);
    unsetenv(SO_ARGFILE_ENV);
    return SO_EIO;
  }
  fflush(NULL);
  so__signals_catch();
  /* Ranks whose mpirun died come to this process, which can then end them. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
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
    so__outrelay_child(&out);
    execv(mpirun, args);
    fprintf(stderr, "scaleout: error: cannot run %s: %s\n", mpirun, strerror(errno));
    _exit(127);
  }
  int err = errno, status = 0, rc = 0;
  so__outrelay_parent(&out);
  /* A reader that went away is a write error to report, not a reason to die of SIGPIPE. */
  struct sigaction ign = {.sa_handler = SIG_IGN}, oldpipe;
  sigaction(SIGPIPE, &ign, &oldpipe);
  free(args);
  free(hostarg);
  unsetenv(SO_DIRECT_ENV);
  unsetenv(SO_ARGFILE_ENV);
  if (relay[0] >= 0)
    close(relay[0]);
  w.mpirun = child;
  if (child < 0) {
    so__errorf("cannot start %s: %s", mpirun, strerror(err));
    if (relay[1] >= 0)
      close(relay[1]);
    rc = SO_EMPI;
  } else {
    setpgid(child, child); /* also here, so no signal finds it in our group meanwhile */
    if (relay[1] >= 0)
      fcntl(relay[1], F_SETFL, O_NONBLOCK);
    if (wait_mpirun(&w, grace, relay[1], &out, &status) != 0) { /* it closes relay[1] */
      so__errorf("lost track of %s: %s", mpirun, strerror(errno));
      rc = SO_EMPI;
    }
  }
  if (child > 0 && !w.verdict_in)
    end_leftovers();
  if (child > 0 && (w.killing == 2 || WIFSIGNALED(status))) {
    remove_session_dir(child);
    if (w.launcher > 0 && w.launcher != child)
      remove_session_dir(w.launcher);
  }
  so__signals_restore();
  if (w.listen_fd >= 0)
    close(w.listen_fd);
  if (w.master_fd >= 0)
    close(w.master_fd);
  close(life);
  /* The ranks' output came through the pipe; what could not be written is a lost answer. */
  int werr = so__outrelay_finish(&out);
  sigaction(SIGPIPE, &oldpipe, NULL);
  if (words_fd >= 0)
    close(words_fd);
  if (child > 0 && rc == 0) {
    if (w.verdict_in) {
      rc = (int)w.verdict;
    } else if (w.stop_sig) {
      so__errorf("stopped by signal %d %s", w.stop_sig,
                 w.passed  ? "before the run could report"
                 : !direct ? "(this machine is not one of the run's hosts: mpirun ended the ranks)"
                           : "while the ranks were starting; no task ran");
      rc = SO_ESTOPPED;
    } else if (!direct && WIFEXITED(status) && WEXITSTATUS(status) <= 128) {
      /* No master reports here: mpirun's status is that of the first rank to fail, the master's
       * (which said why on stderr), or 0. */
      rc = WEXITSTATUS(status);
    } else {
      if (WIFSIGNALED(status))
        so__errorf("the run ended without a result: mpirun was killed by signal %d",
                   WTERMSIG(status));
      else if (WIFEXITED(status) && WEXITSTATUS(status) > 128)
        so__errorf("the run ended without a result: a rank was killed by signal %d",
                   WEXITSTATUS(status) - 128);
      else
        so__errorf("the run ended without a result (mpirun exited with status %d)",
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
      rc = SO_EMPI;
    }
  }
  if (werr && (rc >= 0 || rc == SO_ETASKS || rc == SO_ESTOPPED)) {
    so__errorf("cannot write the run's output to standard output: %s", strerror(werr));
    rc = SO_EIO;
  }
  return rc;
}

/* ---- a rank of a direct run ---- */

static char direct_name[64];
static int report_fd = -1;

int so__launch_direct_rank(void) {
  const char *d = getenv(SO_DIRECT_ENV);
  if (d && *d && so__launched() && !direct_name[0] && strlen(d) < sizeof direct_name) {
    snprintf(direct_name, sizeof direct_name, "%s", d);
    /* Every rank watches the parent (and mpirun): once either is gone, it launches nothing. */
    so__signals_lifeline(connect_abstract(direct_name, "life"));
  }
  /* Commands and programs the run starts must not take themselves for part of it. */
  unsetenv(SO_DIRECT_ENV);
  return direct_name[0] != 0;
}

void so__launch_direct_hello(void) {
  if (!direct_name[0])
    return;
  /* The handlers first: the parent passes signals on only once we are connected, and one that
   * came before them would end this process by its default action. */
  so__signals_catch();
  const char *prefix = "scaleout-run.";
  long parent = strncmp(direct_name, prefix, strlen(prefix)) == 0
                    ? strtol(direct_name + strlen(prefix), NULL, 10)
                    : 0;
  if (parent > 0)
    so__signals_only_from(parent);
  report_fd = connect_abstract(direct_name, "master");
  if (report_fd < 0)
    so__warnf("cannot reach the waiting scaleout process (%s); it will not pass stop signals on",
              strerror(errno));
}

int so__launch_direct_verdict(int rc, int abandoned) {
  if (!direct_name[0])
    return 0;
  char text[48];
  int len = snprintf(text, sizeof text, "%d %d\n", rc, abandoned);
  /* The socket is non-blocking and the message small: one write fits. */
  if (report_fd < 0 || write(report_fd, text, (size_t)len) != len) {
    so__errorf("cannot give the run's result to the waiting scaleout process: %s",
               report_fd < 0 ? "not connected" : strerror(errno));
    return -1;
  }
  return 0;
}

/* Launch detection and self-launch: a direct `scaleout run` spawns its workers through MPI. */
#include "launch.h"

#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bind.h"
#include "error.h"
#include "signals.h"

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

#define SO_TAG_VERDICT 0x5c7f
#define SO_TAG_HELLO 0x5c7e

/* Waits for the spawned master's verdict, sleeping between tests: the parent of a local run is
 * idle for the whole run and must not take a core from the workers. Stop signals sent to the
 * parent (Ctrl-C in a terminal, a batch system's SIGTERM) are passed on to the master. */
static int wait_for_verdict(MPI_Comm inter, int *verdict) {
  long master_pid = 0;
  MPI_Request hello, done;
  int rc = so__mpi_check(MPI_Irecv(&master_pid, 1, MPI_LONG, 0, SO_TAG_HELLO, inter, &hello),
                         "MPI_Irecv");
  if (!rc)
    rc = so__mpi_check(MPI_Irecv(verdict, 1, MPI_INT, 0, SO_TAG_VERDICT, inter, &done), "MPI_Irecv");
  if (rc)
    return rc;
  so__signals_catch();
  long ns = 20000;
  int have_pid = 0, pending = 0;
  for (;;) {
    int flag = 0;
    if (!have_pid) {
      if ((rc = so__mpi_check(MPI_Test(&hello, &have_pid, MPI_STATUS_IGNORE), "MPI_Test")) != 0)
        break;
    }
    int sig = so__signals_take();
    if (sig)
      pending = sig;
    if (pending && have_pid && master_pid > 0) {
      kill((pid_t)master_pid, pending);
      pending = 0;
    }
    if ((rc = so__mpi_check(MPI_Test(&done, &flag, MPI_STATUS_IGNORE), "MPI_Test")) != 0 || flag)
      break;
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
    if (ns < 2000000) /* 2 ms: the verdict is noticed at once, at 500 wake-ups a second */
      ns *= 2;
  }
  so__signals_restore();
  if (!have_pid) {
    MPI_Cancel(&hello);
    MPI_Wait(&hello, MPI_STATUS_IGNORE);
  }
  return rc;
}

/* The hello goes out without waiting: the first message to the parent also sets up the TCP
 * connection between the two jobs, which takes milliseconds the run need not wait for. Progress
 * made by the run's own MPI calls delivers it; so__launch_report completes it. */
static long hello_pid;
static MPI_Request hello_req = MPI_REQUEST_NULL;

int so__launch_hello(MPI_Comm parent) {
  hello_pid = (long)getpid();
  return so__mpi_check(MPI_Isend(&hello_pid, 1, MPI_LONG, 0, SO_TAG_HELLO, parent, &hello_req),
                       "MPI_Isend");
}

int so__launch_local_run(int n, char **argv) {
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) {
    so__errorf("cannot find this program's path to start its workers");
    return SO_EINVAL;
  }
  exe[len] = 0;
  MPI_Info info;
  MPI_Info_create(&info);
  /* Our own hwloc plan pins the workers; Open MPI must not bind them first, and it must accept
   * the master as one process beyond one worker per core. */
  MPI_Info_set(info, "map_by", "node:OVERSUBSCRIBE");
  MPI_Info_set(info, "bind_to", "none");
  int *errcodes = calloc((size_t)n + 1, sizeof *errcodes);
  if (!errcodes) {
    MPI_Info_free(&info);
    return SO_ENOMEM;
  }
  MPI_Comm inter;
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  int rc = so__mpi_check(MPI_Comm_spawn(exe, argv + 1, n + 1, info, 0, MPI_COMM_SELF, &inter, errcodes),
                         "starting the workers (MPI_Comm_spawn)");
  MPI_Info_free(&info);
  free(errcodes);
  if (rc)
    return rc;
  MPI_Comm_set_errhandler(inter, MPI_ERRORS_RETURN);
  int verdict = SO_EMPI;
  rc = wait_for_verdict(inter, &verdict);
  MPI_Comm_free(&inter);
  return rc ? rc : verdict;
}

MPI_Comm so__launch_parent(void) {
  MPI_Comm parent = MPI_COMM_NULL;
  if (MPI_Comm_get_parent(&parent) != MPI_SUCCESS)
    return MPI_COMM_NULL;
  if (parent != MPI_COMM_NULL)
    MPI_Comm_set_errhandler(parent, MPI_ERRORS_RETURN);
  return parent;
}

int so__launch_report(MPI_Comm parent, int rc) {
  int hrc = so__mpi_check(MPI_Wait(&hello_req, MPI_STATUS_IGNORE), "MPI_Wait");
  int vrc = so__mpi_check(MPI_Send(&rc, 1, MPI_INT, 0, SO_TAG_VERDICT, parent), "MPI_Send");
  return hrc ? hrc : vrc;
}

void so__launch_release(MPI_Comm *parent) {
  if (*parent != MPI_COMM_NULL)
    MPI_Comm_free(parent);
}

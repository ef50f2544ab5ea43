/* so_run: sets up a run on a communicator (private duplicate, worker pinning) and hands each rank
 * to the master or the worker loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bind.h"
#include "error.h"
#include "jobcheck.h"
#include "map.h"
#include "master.h"
#include "transport.h"
#include "worker.h"

#define SO_CPUSET_TEXT 256

void so_config_default(so_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->discipline = SO_QUEUE_FIFO;
  cfg->bind = SO_BIND_CORE;
  cfg->prefetch = SO_PREFETCH_AUTO;
  cfg->grace = -1; /* signals keep their default action unless a front asks otherwise */
}

typedef struct binding {
  hwloc_topology_t topo; /* NULL when hwloc could not load the machine */
} binding;

static void where(void *arg, int *pu, int *core) {
  binding *b = arg;
  *pu = *core = -1;
  if (b->topo)
    so__bind_where(b->topo, pu, core);
}

/*
 * Pins this worker to its own part of the node. Collective over comm (the master takes part in
 * the exchange but is never pinned: it sleeps while it waits, see transport_mpi.c).
 *
 * The ranks of one node compare the bindings they were started with. If they differ, the
 * launcher already bound each rank (mpirun --bind-to core, srun --cpu-bind) and that binding is
 * kept and reported. If they are all the same, that set is the region the batch system, cgroup or
 * taskset gave the job, and scaleout plans its workers inside it.
 */
static int pin(MPI_Comm comm, int rank, const so_config *cfg, binding *b, so__worker_info *info) {
  MPI_Comm node;
  int rc = so__mpi_check(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node),
                         "MPI_Comm_split_type");
  if (rc)
    return rc;
  int nrank, nsize, is_master = rank == 0, master_here = 0;
  MPI_Comm_rank(node, &nrank);
  MPI_Comm_size(node, &nsize);

  char mine[SO_CPUSET_TEXT] = "";
  hwloc_bitmap_t cur = hwloc_bitmap_alloc();
  int have_topo = so__bind_topology_load(&b->topo, NULL) == 0;
  if (!have_topo)
    b->topo = NULL;
  if (cur && have_topo && so__bind_get(b->topo, cur) == 0)
    so__bind_list(cur, mine, sizeof mine);
  char *all = malloc((size_t)nsize * SO_CPUSET_TEXT);
  rc = all ? 0 : SO_ENOMEM;
  if (!rc)
    rc = so__mpi_check(MPI_Allgather(mine, SO_CPUSET_TEXT, MPI_CHAR, all, SO_CPUSET_TEXT, MPI_CHAR, node),
                       "MPI_Allgather");
  if (!rc)
    rc = so__mpi_check(MPI_Allreduce(&is_master, &master_here, 1, MPI_INT, MPI_MAX, node),
                       "MPI_Allreduce");
  int differ = 0;
  for (int i = 1; !rc && i < nsize; i++)
    differ |= strcmp(all ? all : "", all + (size_t)i * SO_CPUSET_TEXT) != 0;
  snprintf(info->cpuset, sizeof info->cpuset, "%.127s", mine);

  if (rc || is_master) {
    /* nothing to pin */
  } else if (!have_topo || !mine[0]) {
    snprintf(info->bound_by, sizeof info->bound_by, "none");
  } else if (differ) {
    snprintf(info->bound_by, sizeof info->bound_by, "launcher");
  } else {
    /* The master, when on this node, has node rank 0 (ranks are ordered by world rank). A plan
     * is made under --bind none too: it applies nothing, but warns of oversubscription alike. */
    int index = nrank - master_here, nlocal = nsize - master_here;
    so__bind_plan plan;
    char warn[256] = "";
    int prc = so__bind_plan_make(b->topo, cur, cfg->bind, nlocal, &plan, warn, sizeof warn);
    if (cfg->bind == SO_BIND_NONE) {
      snprintf(info->bound_by, sizeof info->bound_by, "none");
    } else if (prc == 0 && so__bind_apply(b->topo, plan.sets[index]) == 0) {
      snprintf(info->bound_by, sizeof info->bound_by, "scaleout");
      so__bind_list(plan.sets[index], info->cpuset, sizeof info->cpuset);
    } else {
      snprintf(info->bound_by, sizeof info->bound_by, "none");
      if (index == 0 && !cfg->quiet)
        so__warnf("could not bind workers with hwloc; they run unbound");
    }
    if (prc == 0 && warn[0] && index == 0 && !cfg->quiet)
      so__warnf("%s", warn);
    so__bind_plan_free(&plan);
  }
  free(all);
  hwloc_bitmap_free(cur);
  MPI_Comm_free(&node);
  return rc;
}

/*
 * MPI_Bcast of one int from rank 0 that sleeps while it waits. Collective over comm. Open MPI's
 * blocking collectives busy-poll, and the ranks can wait here a long time: for the master's
 * init (a farm waiting with --wait-joblog for another run's joblog) and for its verdict at the
 * end. Pauses double from 1 us to 1 ms, so a quick broadcast costs no more than before.
 */
static int bcast_int_idle(int *value, MPI_Comm comm) {
  MPI_Request req;
  int rc = MPI_Ibcast(value, 1, MPI_INT, 0, comm, &req);
  long pause_ns = 1000;
  while (rc == MPI_SUCCESS) {
    int done = 0;
    rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS || done)
      break;
    struct timespec ts = {0, pause_ns};
    nanosleep(&ts, NULL);
    if (pause_ns < 1000000L)
      pause_ns *= 2;
  }
  return rc;
}

int so_run(MPI_Comm comm, const so_job *job, const so_params *params, const so_config *cfg,
           so_report *rep) {
  MPI_Comm dup;
  /* A private duplicate: our tags can never meet a message of the caller's. */
  int rc = so__mpi_check(MPI_Comm_dup(comm, &dup), "MPI_Comm_dup");
  if (rc)
    return rc;
  MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
  int rank, size;
  MPI_Comm_rank(dup, &rank);
  MPI_Comm_size(dup, &size);
  if (size < 2) {
    so__errorf("the run has 1 rank, so no workers: start at least 2 ranks (1 master + 1 worker)");
    MPI_Comm_free(&dup);
    return SO_ENOWORKERS;
  }

  /* Every rank reads the job through a checked copy of this engine's size (jobcheck.h). */
  so_job accepted;
  char why[320];
  if ((rc = so__job_accept(job, &accepted, why, sizeof why)) != 0) {
    if (rank == 0)
      so__errorf("%s", why);
    MPI_Comm_free(&dup);
    return rc;
  }
  job = &accepted;
  if (job->map && !so__map_is_wrapper(job)) { /* a map runs as the job map.c makes of it */
    MPI_Comm_free(&dup);
    return so__map_run(comm, job, params, cfg, rep);
  }

  /* The master prepares first and everyone hears the verdict, so a refused job (bad parameters,
   * more workers than tasks) ends before any worker is pinned or asked for work. */
  so__master *m = NULL;
  int ready = rank == 0 ? so__master_init(&m, job, params, cfg, size - 1) : 0;
  if (bcast_int_idle(&ready, dup) != MPI_SUCCESS && ready == 0)
    ready = SO_EMPI;
  if (ready) {
    so__master_free(m);
    MPI_Comm_free(&dup);
    return ready;
  }

  binding b = {NULL};
  so__worker_info info;
  memset(&info, 0, sizeof info);
  if (gethostname(info.host, sizeof info.host - 1) != 0)
    snprintf(info.host, sizeof info.host, "unknown");
  info.where = where;
  info.where_arg = &b;
  rc = pin(dup, rank, cfg, &b, &info);

  /* The master shares the cores with the workers: it spins briefly (requests from busy workers
   * come close together anyway), then sleeps. A worker waiting for its batch spins on its own
   * core much longer. */
  so__transport *t = rc ? NULL : so__transport_mpi(dup, rank == 0 ? 50000L : 4000000L);
  if (!rc && !t)
    rc = SO_ENOMEM;
  if (!rc) {
    if (rank == 0)
      rc = so__master_run(m, t, rep);
    else
      rc = so__worker_run(t, job, params, cfg, &info);
  }
  if (rank == 0 && !rc && rep->abandoned) {
    /* Workers stuck in run() will never take part in the collectives below, nor take the
     * messages still in flight to them: leave everything as it is, the caller ends the job. */
    so__master_free(m);
    if (b.topo)
      hwloc_topology_destroy(b.topo);
    return 0;
  }
  so__transport_destroy(t);
  so__master_free(m);

  /* Every rank leaves with the master's verdict, so launchers see one consistent exit status. */
  int verdict = rc;
  if (bcast_int_idle(&verdict, dup) == MPI_SUCCESS && rank != 0)
    rc = verdict;
  if (b.topo)
    hwloc_topology_destroy(b.topo);
  MPI_Comm_free(&dup);
  return rc;
}

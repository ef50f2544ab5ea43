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
#include "pinplan.h"
#include "signals.h"
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
  hwloc_cpuset_t saved;  /* the binding this rank had before the run pinned it; NULL if unpinned */
} binding;

static void where(void *arg, int *pu, int *core) {
  binding *b = arg;
  *pu = *core = -1;
  if (b->topo)
    so__bind_where(b->topo, pu, core);
}

/* Puts back the binding the rank had before pin() bound it, so a later run (or whatever the
 * caller does next) starts from the process as the launcher left it. */
static void unpin(binding *b) {
  if (b->saved && b->topo && so__bind_apply(b->topo, b->saved) != 0)
    so__warnf("could not restore this rank's CPU binding after the run");
  hwloc_bitmap_free(b->saved);
  b->saved = NULL;
  if (b->topo)
    hwloc_topology_destroy(b->topo);
  b->topo = NULL;
}

/* The bindings the node's ranks were started with, from their gathered texts ("" = unknown). */
static int parse_started(const char *all, int nsize, hwloc_bitmap_t *sets,
                         hwloc_const_cpuset_t *started) {
  for (int i = 0; i < nsize; i++) {
    const char *text = all + (size_t)i * SO_CPUSET_TEXT;
    sets[i] = NULL;
    started[i] = NULL;
    if (!text[0])
      continue;
    if (!(sets[i] = hwloc_bitmap_alloc()))
      return SO_ENOMEM;
    if (hwloc_bitmap_list_sscanf(sets[i], text) != 0)
      return SO_EHWLOC;
    started[i] = sets[i];
  }
  return 0;
}

/* Applies the decision to this rank and says so in info; prints the node's warning once. */
static void apply(const so__pin_decision *d, const so_config *cfg, binding *b,
                  so__worker_info *info) {
  so__bind_list(d->set, info->cpuset, sizeof info->cpuset);
  snprintf(info->bound_by, sizeof info->bound_by, "%s", so__pin_kind_name(d->kind));
  if (d->kind == SO_PIN_PLAN) {
    hwloc_cpuset_t before = hwloc_bitmap_alloc();
    if (before && so__bind_get(b->topo, before) == 0 && so__bind_apply(b->topo, d->set) == 0) {
      b->saved = before;
      before = NULL;
    } else {
      snprintf(info->bound_by, sizeof info->bound_by, "none");
      if (d->worker == 0 && !cfg->quiet)
        so__warnf("could not bind workers with hwloc; they run unbound");
    }
    hwloc_bitmap_free(before);
  }
  if (d->warn[0] && d->worker == 0 && !cfg->quiet)
    so__warnf("%s", d->warn);
}

/*
 * Pins this worker to its own part of the node. Collective over comm (the master takes part in
 * the exchange but is never pinned: it sleeps while it waits, see transport_mpi.c).
 *
 * The ranks of one node gather the bindings they were started with and each takes the same
 * decision from them (so__pin_decide, pinplan.h): the launcher's binding when they differ, else
 * scaleout's plan inside the region cfg asks for. A bad region is an error on every rank of the
 * node; the first of them says it.
 */
static int pin(MPI_Comm comm, int rank, const so_config *cfg, binding *b, so__worker_info *info) {
  MPI_Comm node;
  int rc = so__mpi_check(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node),
                         "MPI_Comm_split_type");
  if (rc)
    return rc;
  int nrank = 0, nsize = 1, is_master = rank == 0, master_here = 0;
  rc = so__mpi_check(MPI_Comm_rank(node, &nrank), "MPI_Comm_rank");
  if (!rc)
    rc = so__mpi_check(MPI_Comm_size(node, &nsize), "MPI_Comm_size");

  char mine[SO_CPUSET_TEXT] = "";
  hwloc_bitmap_t cur = hwloc_bitmap_alloc();
  if (so__bind_topology_load(&b->topo, NULL) != 0)
    b->topo = NULL;
  if (cur && b->topo && so__bind_get(b->topo, cur) == 0)
    so__bind_list(cur, mine, sizeof mine);
  char *all = rc ? NULL : malloc((size_t)nsize * SO_CPUSET_TEXT);
  if (!rc && !all)
    rc = SO_ENOMEM;
  /* Every rank takes part in the exchange even after a local failure, so none waits. */
  int grc = so__mpi_check(MPI_Allgather(mine, SO_CPUSET_TEXT, MPI_CHAR, all ? all : mine,
                                        all ? SO_CPUSET_TEXT : 0, MPI_CHAR, node),
                          "MPI_Allgather");
  rc = rc ? rc : grc;
  grc = so__mpi_check(MPI_Allreduce(&is_master, &master_here, 1, MPI_INT, MPI_MAX, node),
                      "MPI_Allreduce");
  rc = rc ? rc : grc;

  hwloc_bitmap_t *sets = rc ? NULL : calloc((size_t)nsize, sizeof *sets);
  hwloc_const_cpuset_t *started = rc ? NULL : calloc((size_t)nsize, sizeof *started);
  if (!rc && (!sets || !started))
    rc = SO_ENOMEM;
  if (!rc)
    rc = parse_started(all, nsize, sets, started);
  so__pin_decision d;
  memset(&d, 0, sizeof d);
  if (!rc && !b->topo) {
    /* Without hwloc nobody is bound; the run goes on. */
    snprintf(info->bound_by, sizeof info->bound_by, "none");
  } else if (!rc) {
    /* The master, when on this node, has node rank 0 (ranks are ordered by world rank). */
    so__pin_input in = {.topo = b->topo, .nlocal = nsize, .started = started,
                        .master = master_here ? 0 : -1, .me = nrank, .pol = cfg->bind,
                        .cpuset = cfg->cpuset, .core_offset = cfg->core_offset,
                        .core_count = cfg->core_count};
    rc = so__pin_decide(&in, &d);
    if (!rc)
      apply(&d, cfg, b, info);
  }
  /* Whoever failed first on this node says why (a bad region fails every rank alike). */
  int first = nsize, failed = rc ? nrank : nsize;
  grc = so__mpi_check(MPI_Allreduce(&failed, &first, 1, MPI_INT, MPI_MIN, node), "MPI_Allreduce");
  if (rc && first == nrank) {
    if (d.err[0])
      so__errorf("%s", d.err);
    else if (rc != SO_EMPI)
      so__errorf("rank %d could not plan its CPU binding: %s", rank, so_strerror(rc));
  }
  rc = rc ? rc : grc;
  so__pin_decision_free(&d);
  for (int i = 0; sets && i < nsize; i++)
    hwloc_bitmap_free(sets[i]);
  free(sets);
  free(started);
  free(all);
  hwloc_bitmap_free(cur);
  grc = so__mpi_check(MPI_Comm_free(&node), "MPI_Comm_free");
  return rc ? rc : grc;
}

/*
 * The verdict of every rank on its set-up (pinning, transport): collective over comm. A rank that
 * failed has said why; the others return the same code silently, so no rank enters a loop that
 * waits for one that never will. Returns 0 when every rank is ready.
 */
static int agree(int local, MPI_Comm comm) {
  int worst = 0;
  /* The codes are negative: the minimum is one of them, the same on every rank. */
  int rc = so__mpi_check(MPI_Allreduce(&local, &worst, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce");
  return rc ? rc : worst;
}

/*
 * MPI_Bcast of one int from rank 0 that sleeps while it waits. Collective over comm. Open MPI's
 * blocking collectives busy-poll, and the ranks can wait here a long time: for the master's
 * init (a farm waiting with --wait-joblog for another run's joblog) and for its verdict at the
 * end. Pauses double from 1 us to 1 ms, so a quick broadcast costs no more than before.
 */
static int bcast_int_idle(int *value, MPI_Comm comm) {
  MPI_Request req;
  int rc = so__mpi_check(MPI_Ibcast(value, 1, MPI_INT, 0, comm, &req), "MPI_Ibcast");
  long pause_ns = 1000;
  while (!rc) {
    int done = 0;
    rc = so__mpi_check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (rc || done)
      break;
    struct timespec ts = {0, pause_ns};
    nanosleep(&ts, NULL);
    if (pause_ns < 1000000L)
      pause_ns *= 2;
  }
  return rc;
}

/* What run_on returns on the master when it left workers stuck inside run() (rep->abandoned). */
#define SO_RUN_ABANDONED 1

/* so_run on the private duplicate dup of comm; b holds what must be undone on return. Returns 0, an
 * SO_E* code or SO_RUN_ABANDONED. */
static int run_on(MPI_Comm comm, MPI_Comm dup, const so_job *job, const so_params *params,
                  const so_config *cfg, so_report *rep, binding *b) {
  int rank = 0, size = 0;
  int rc = so__mpi_check(MPI_Comm_rank(dup, &rank), "MPI_Comm_rank");
  if (!rc)
    rc = so__mpi_check(MPI_Comm_size(dup, &size), "MPI_Comm_size");
  if (rc)
    return rc;
  if (size < 2) {
    so__errorf("the run has 1 rank, so no workers: start at least 2 ranks (1 master + 1 worker)");
    return SO_ENOWORKERS;
  }

  /* Every rank reads the job through a checked copy of this engine's size (jobcheck.h). */
  so_job accepted;
  char why[320];
  if ((rc = so__job_accept(job, &accepted, why, sizeof why)) != 0) {
    if (rank == 0)
      so__errorf("%s", why);
    return rc;
  }
  job = &accepted;
  /* A map runs as the job map.c makes of it, through so_run again on the caller's comm (this
   * call's duplicate is freed by so_run as on every other return). */
  if (job->map && !so__map_is_wrapper(job))
    return so__map_run(comm, job, params, cfg, rep);

  /* Tasks in threads (--threads with run()) need MPI to know of threads, though only each
   * worker's main thread calls it. Every rank was started alike, so every rank decides alike. */
  int level = MPI_THREAD_SINGLE;
  if (cfg->slots > 1 && !(job->start && job->progress) &&
      so__mpi_check(MPI_Query_thread(&level), "MPI_Query_thread") == 0 &&
      level < MPI_THREAD_FUNNELED) {
    if (rank == 0)
      so__errorf("--threads %u needs MPI started with MPI_Init_thread at MPI_THREAD_FUNNELED or "
                 "above; this process has MPI_THREAD_SINGLE", cfg->slots);
    return SO_EINVAL;
  }

  /* The master prepares first and everyone hears the verdict, so a refused job (bad parameters,
   * more workers than tasks) ends before any worker is pinned or asked for work. */
  so__master *m = NULL;
  int ready = rank == 0 ? so__master_init(&m, job, params, cfg, size - 1) : 0;
  if (bcast_int_idle(&ready, dup) != 0 && ready == 0)
    ready = SO_EMPI;
  if (ready) {
    so__master_free(m);
    return ready;
  }

  so__worker_info info;
  memset(&info, 0, sizeof info);
  if (gethostname(info.host, sizeof info.host - 1) != 0)
    snprintf(info.host, sizeof info.host, "unknown");
  info.where = where;
  info.where_arg = b;
  rc = pin(dup, rank, cfg, b, &info);

  /* The master shares the cores with the workers: it spins briefly (requests from busy workers
   * come close together anyway), then sleeps. A worker waiting for its batch spins on its own
   * core much longer. */
  so__transport *t = rc ? NULL : so__transport_mpi(dup, rank == 0 ? 50000L : 4000000L);
  if (!rc && !t) {
    so__errorf("rank %d could not set up its MPI transport", rank);
    rc = SO_ENOMEM;
  }
  /* A rank whose set-up failed must not leave the others waiting in their loops for it. */
  rc = agree(rc, dup);
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
    return SO_RUN_ABANDONED;
  }
  so__transport_destroy(t);
  so__master_free(m);

  /* Every rank leaves with the master's verdict, so launchers see one consistent exit status. */
  int verdict = rc;
  if (bcast_int_idle(&verdict, dup) == 0 && rank != 0)
    rc = verdict;
  return rc;
}

int so_run(MPI_Comm comm, const so_job *job, const so_params *params, const so_config *cfg,
           so_report *rep) {
  /* The process is left as it was found: the stop signals' dispositions (the master catches
   * them, a worker ignores them) and this rank's CPU binding are put back on every return. */
  so__sigstate sig;
  so__signals_save(&sig);
  MPI_Comm dup;
  /* A private duplicate: our tags can never meet a message of the caller's. */
  int rc = so__mpi_check(MPI_Comm_dup(comm, &dup), "MPI_Comm_dup");
  if (rc)
    return rc;
  binding b = {NULL, NULL};
  rc = so__mpi_check(MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  if (!rc)
    rc = run_on(comm, dup, job, params, cfg, rep, &b);
  unpin(&b);
  so__signals_put_back(&sig);
  if (rc == SO_RUN_ABANDONED)
    return 0; /* abandoned: dup stays, the communicator is no longer usable */
  so__mpi_check(MPI_Comm_free(&dup), "MPI_Comm_free");
  return rc;
}

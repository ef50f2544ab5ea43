/* Start-up checks: a run that cannot succeed is refused before any rank starts or task runs. */
#include "startcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx.h"
#include "error.h"
#include "hostlist.h"
#include "launch.h"

int so__startcheck_report(const char *path) {
  struct stat st;
  int fd, err = 0;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      so__errorf("cannot write the JSON report '%s': it is a directory", path);
      return SO_EINVAL;
    }
    /* Opened without O_TRUNC, so the file keeps what it has; a FIFO nobody reads yet (ENXIO)
     * may well have its reader by the end of the run. */
    fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && errno != ENXIO)
      err = errno;
  } else if (errno != ENOENT) {
    err = errno;
    fd = -1;
  } else {
    /* Created and removed again at once: the report itself is written when the run ends. A name
     * that appeared meanwhile (EEXIST) is someone else's file, and writable or not later. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY | O_CLOEXEC, 0666);
    if (fd >= 0)
      unlink(path);
    else if (errno != EEXIST)
      err = errno;
  }
  if (fd >= 0)
    close(fd);
  if (err) {
    so__errorf("cannot write the JSON report '%s': %s", path, strerror(err));
    return SO_EINVAL;
  }
  return 0;
}

/* The job's own check of its parameters, as its master would make it, and the task count it
 * declares (*total, or UINT64_MAX when it declares none). Returns 0 or SO_EINVAL (printed). */
static int job_check(const so__cli *cli, int n, uint64_t *total) {
  *total = UINT64_MAX;
  if (!cli->job->check)
    return 0;
  so_ctx ctx;
  so__ctx_init(&ctx, cli->job, cli->params, SO_ROLE_MASTER, 0, n);
  int rc = cli->job->check(&ctx);
  if (rc) {
    so__ctx_fail(&ctx, "the parameter check", rc);
    return SO_EINVAL;
  }
  if (ctx.has_total)
    *total = ctx.total;
  return 0;
}

/* Whether this process's parent is Slurm's step daemon, i.e. srun started it as a task. */
static int started_by_slurmstepd(void) {
  char path[64], comm[64] = "";
  snprintf(path, sizeof path, "/proc/%ld/comm", (long)getppid());
  FILE *f = fopen(path, "r");
  if (f) {
    if (!fgets(comm, sizeof comm, f))
      comm[0] = 0;
    fclose(f);
  }
  comm[strcspn(comm, "\n")] = 0;
  return strcmp(comm, "slurmstepd") == 0;
}

/* A direct run inside a Slurm allocation's batch script (SLURM_JOB_ID set, but not inside a step
 * of it: no SLURM_STEP_ID) spans the allocation's nodes when it has more than one. */
static int slurm_where(so__where *w) {
  const char *job = getenv("SLURM_JOB_ID"), *step = getenv("SLURM_STEP_ID");
  /* One of several tasks srun started without an MPI plugin (no PMI or PMIx variables, so not
   * launched): each would start a whole run of its own on its node, and the job would print as
   * many one-worker reports. Only the first task says why; all refuse. A process further down
   * (a farm's command running scaleout inherits the step's variables) is not such a task: only
   * a child of slurmstepd is. */
  const char *ntasks = getenv("SLURM_STEP_NUM_TASKS");
  if (job && *job && step && *step && ntasks && atol(ntasks) > 1 && started_by_slurmstepd()) {
    const char *procid = getenv("SLURM_PROCID");
    if (!procid || atol(procid) == 0)
      so__errorf("srun started %ld separate copies of scaleout with no MPI between them (Slurm "
                 "job %s, step %s): use srun --mpi=pmix, or run scaleout once in the batch "
                 "script and let it start its ranks", atol(ntasks), job, step);
    return SO_EINVAL;
  }
  const char *nodes = getenv("SLURM_JOB_NUM_NODES");
  if (!nodes)
    nodes = getenv("SLURM_NNODES");
  /* One node: the one-machine run, whose workers follow the cpuset Slurm confines it to. */
  if (!job || !*job || (step && *step) || !nodes || atol(nodes) <= 1)
    return 0;
  const char *tasks = getenv("SLURM_TASKS_PER_NODE");
  long t = so__hostlist_slurm_tasks(tasks);
  if (t < 0) {
    so__errorf("inside Slurm job %s, cannot read the allocation's tasks from "
               "SLURM_TASKS_PER_NODE='%s' (expected a form such as 2(x3),1)", job,
               tasks ? tasks : "");
    return SO_EINVAL;
  }
  w->kind = SO_WHERE_SLURM;
  w->slots = t;
  w->others = 1;
  /* The batch script runs on the allocation's first node, where mpirun puts rank 0; slurmd sets
   * SLURMD_NODENAME there. Under salloc the shell runs where salloc was typed, outside. */
  const char *here = getenv("SLURMD_NODENAME");
  w->here = here && *here;
  return 0;
}

int so__startcheck_where(const so__cli *cli, so__where *w) {
  char err[512];
  memset(w, 0, sizeof *w);
  w->kind = SO_WHERE_LOCAL;
  w->here = 1;
  if (!cli->hostfile && !cli->hosts)
    return slurm_where(w);
  int rc = cli->hostfile ? so__hostlist_parse_file(cli->hostfile, so__launch_default_workers(0, NULL),
                                                   &w->hosts, err, sizeof err)
                         : so__hostlist_parse_hosts(cli->hosts, &w->hosts, err, sizeof err);
  if (rc) {
    so__errorf("%s", rc == SO_ENOMEM ? "out of memory" : err);
    so__hostlist_free(&w->hosts);
    return rc;
  }
  w->kind = SO_WHERE_HOSTS;
  w->slots = w->hosts.slots;
  w->here = so__hostlist_local_first(&w->hosts, so__hostlist_is_local);
  w->others = w->hosts.n > (w->here ? 1 : 0);
  w->skip = cli->hosts_word;
  w->skip_words = cli->hosts_words;
  return 0;
}

/* The ranks the hosts or the allocation hold: n workers and the master fit their slots, or
 * --oversubscribe lets mpirun start more. */
static int check_slots(const so__cli *cli, so__where *w, int n) {
  const char *what = w->kind == SO_WHERE_SLURM ? "the Slurm allocation's tasks" : "the hosts' slots";
  if (w->slots < 2 && cli->workers < 1) {
    so__errorf("%s hold one rank, the master's, and no worker; give the hosts 2 slots or more, "
               "or -n N with --oversubscribe", what);
    return SO_EINVAL;
  }
  if (n + 1L > w->slots) {
    if (!cli->oversubscribe) {
      so__errorf("%d %s and the master need %d ranks, more than the %ld of %s; use -n %ld at "
                 "most, or add --oversubscribe", n, n == 1 ? "worker" : "workers", n + 1,
                 w->slots, what, w->slots - 1 > 0 ? w->slots - 1 : 1);
      return SO_EINVAL;
    }
    w->oversubscribe = 1;
  }
  return 0;
}

int so__startcheck_direct(const so__cli *cli, so__where *w, int *n) {
  if (cli->json && so__startcheck_report(cli->json) != 0)
    return SO_EINVAL;
  uint64_t total;
  if (job_check(cli, *n, &total) != 0)
    return SO_EINVAL;
  if (total != UINT64_MAX && !(cli->job->flags & SO_JOB_FEW_TASKS_OK)) {
    if (total == 0) {
      so__errorf("job '%s' has no tasks to run", cli->job->name);
      return SO_EINVAL;
    }
    if (total < (uint64_t)*n) {
      if (cli->workers < 1) {
        *n = (int)total; /* one per core was only a default: one per task is enough */
      } else {
        so__errorf("%d workers but job '%s' has only %llu %s; use at most %llu %s", *n,
                   cli->job->name, (unsigned long long)total, total == 1 ? "task" : "tasks",
                   (unsigned long long)total, total == 1 ? "worker" : "workers");
        return SO_EINVAL;
      }
    }
  }
  if (w->kind != SO_WHERE_LOCAL)
    return check_slots(cli, w, *n);
  int pus = so__launch_default_workers(1, NULL);
  if (!cli->oversubscribe && *n > SO_OVERSUBSCRIBE_PER_PU * pus) {
    so__errorf("%d workers on the %d %s this process may use is more than %d per PU, where they "
               "only take turns; use at most %d, or add --oversubscribe to start them anyway",
               *n, pus, pus == 1 ? "PU" : "PUs", SO_OVERSUBSCRIBE_PER_PU,
               SO_OVERSUBSCRIBE_PER_PU * pus);
    return SO_EINVAL;
  }
  return 0;
}

int so__startcheck_ranks(MPI_Comm comm, const so__cli *cli) {
  int rank, rc = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0 && cli->json)
    rc = so__startcheck_report(cli->json);
  if (MPI_Bcast(&rc, 1, MPI_INT, 0, comm) != MPI_SUCCESS && rc == 0)
    rc = SO_EMPI;
  return rc;
}

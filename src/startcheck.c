/* Start-up checks: a run that cannot succeed is refused before any rank starts or task runs. */
#include "startcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx.h"
#include "error.h"
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

int so__startcheck_direct(const so__cli *cli, int *n) {
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
  int pus = so__launch_default_workers(1);
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

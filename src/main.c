/* The scaleout command: parse, start MPI (spawning workers for a direct run), run, report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "error.h"
#include "launch.h"
#include "options.h"
#include "report.h"
#include "topo_cmd.h"

/* Exit statuses: 0 success, 1 the run failed, 2 bad input. */
enum { EXIT_RUN_FAILED = 1, EXIT_USAGE = 2 };

static int exit_status(int rc) {
  if (rc == 0)
    return 0;
  return (rc == SO_EINVAL || rc == SO_ENOWORKERS) ? EXIT_USAGE : EXIT_RUN_FAILED;
}

/* Runs the job on comm and prints the master's report. Returns an SO_E* code. */
static int run_on(MPI_Comm comm, so_cli *cli) {
  so_report rep;
  memset(&rep, 0, sizeof rep);
  int rc = so_run(comm, cli->job, cli->params, &cli->cfg, &rep);
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0 && rc == 0) {
    so__report_print(stdout, &rep, cli->job, &cli->cfg);
    fflush(stdout);
    if (cli->json)
      rc = so__report_json(cli->json, &rep, cli->job, cli->params, &cli->cfg);
  }
  so_report_free(&rep);
  return rc;
}

/* Everything after MPI_Init. Returns an SO_E* code. */
static int run(char **argv, so_cli *cli, int launched) {
  MPI_Comm parent = so__launch_parent();
  if (parent != MPI_COMM_NULL) {
    /* One rank of a direct run's spawned job: run, and the master tells the waiting parent. */
    int rc = run_on(MPI_COMM_WORLD, cli), rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0)
      so__launch_report(parent, rc);
    so__launch_release(&parent);
    /* The user sees the parent's exit status; a failing child would only add launcher noise. */
    return 0;
  }
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size == 1 && !launched) {
    int n = cli->workers > 0 ? cli->workers : so__launch_default_workers(cli->cfg.bind == SO_BIND_PU);
    return so__launch_local_run(n, argv);
  }
  if (cli->workers > 0 && cli->workers != size - 1) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0)
      so__errorf("-n %d asks for %d workers, but the launcher started %d ranks (%d workers); "
                 "drop -n or start %d ranks",
                 cli->workers, cli->workers, size, size - 1, cli->workers + 1);
    return SO_EINVAL;
  }
  return run_on(MPI_COMM_WORLD, cli);
}

int main(int argc, char **argv) {
  so_cli cli;
  char err[512];
  int rc = so__cli_parse(argc, argv, so_builtin_find, so_builtin_jobs, &cli, err, sizeof err);
  if (rc) {
    /* Under a launcher every rank parses the same arguments; one of them says what is wrong. */
    if (so__launch_rank() <= 0)
      so__errorf("%s", rc == SO_ENOMEM ? "out of memory" : err);
    so__cli_free(&cli);
    return EXIT_USAGE;
  }
  switch (cli.cmd) {
  case SO_CMD_HELP:
    so__cli_usage(stdout);
    return 0;
  case SO_CMD_VERSION:
    printf("scaleout %s\n", SO_VERSION);
    return 0;
  case SO_CMD_JOBS:
    so__cli_jobs(stdout, so_builtin_jobs);
    return 0;
  case SO_CMD_TOPO:
    return so__topo_main(cli.sub_argc, cli.sub_argv, stdout);
  case SO_CMD_RUN:
    break;
  }
  if (cli.help) {
    if (so__launch_rank() <= 0) {
      if (cli.job)
        so__cli_job_usage(stdout, cli.job);
      else
        so__cli_run_usage(stdout, so_builtin_jobs);
    }
    so__cli_free(&cli);
    return 0;
  }

  /* Asked before MPI_Init, which sets some of the same variables in a process nobody launched. */
  int launched = so__launched();
  if (!launched)
    so__launch_allow_root();
  int provided;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) {
    so__errorf("MPI could not start");
    so__cli_free(&cli);
    return EXIT_RUN_FAILED;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  rc = run(argv, &cli, launched);
  MPI_Finalize();
  so__cli_free(&cli);
  return exit_status(rc);
}

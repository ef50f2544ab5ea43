/* The scaleout command: parse, start MPI (through mpirun for a direct run), run, report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argfile.h"
#include "builtin.h"
#include "ctx.h"
#include "error.h"
#include "launch.h"
#include "map.h"
#include "options.h"
#include "plugin.h"
#include "report.h"
#include "signals.h"
#include "shepherd.h"
#include "startcheck.h"
#include "topo_cmd.h"

/* Exit statuses of ordinary jobs: 0 every task ran and succeeded; 1 the run failed (a job
 * callback, MPI, the runner, a lost answer); 2 bad input; 3 some tasks failed (the answer is
 * incomplete); 4 a stop signal ended the run before every task ran (the answer is partial).
 * A job may choose others through its so_job.exit statuses and, for a run that completed, with
 * so_ctx_set_exit from finish() (the farm counts failed commands, so its own are 102, 103, 104). */
enum { EXIT_RUN_FAILED = 1, EXIT_USAGE = 2, EXIT_TASKS_FAILED = 3, EXIT_STOPPED = 4 };

static int usage_status(const so_job *job) {
  return job && job->exit.usage ? job->exit.usage : EXIT_USAGE;
}

static int exit_status(const so_job *job, int rc) {
  if (rc > 0)
    return rc; /* the job's own exit status, from its answer */
  if (rc == 0)
    return 0;
  if (rc == SO_EINVAL || rc == SO_ENOWORKERS)
    return usage_status(job);
  if (rc == SO_ESTOPPED)
    return job && job->exit.stopped ? job->exit.stopped : EXIT_STOPPED;
  if (rc == SO_ETASKS)
    return EXIT_TASKS_FAILED;
  return job && job->exit.failure ? job->exit.failure : EXIT_RUN_FAILED;
}

/* Flushes standard output and says whether everything written to it arrived: an answer lost to
 * a full disk or a closed pipe is a failed run. Returns 0 or SO_EIO (printed). */
static int stdout_check(void) {
  errno = 0;
  if (fflush(stdout) == 0 && !ferror(stdout))
    return 0;
  if (errno)
    so__errorf("cannot write to standard output: %s", strerror(errno));
  else
    so__errorf("cannot write to standard output: part of the output is lost");
  return SO_EIO;
}

/* Runs the job on comm and prints the master's report. Returns an SO_E* code or the job's own
 * positive exit status; *abandoned says the master left workers inside run() after a stop
 * signal's grace (see so_run). */
static int run_on(MPI_Comm comm, so__cli *cli, int *abandoned) {
  so_report rep;
  memset(&rep, 0, sizeof rep);
  *abandoned = 0;
  int rc = so__startcheck_ranks(comm, cli); /* before any task runs */
  if (rc)
    return rc;
  rc = so_run(comm, cli->job, cli->params, &cli->cfg, &rep);
  *abandoned = rep.abandoned;
  int rank;
  MPI_Comm_rank(comm, &rank);
  /* A run that a stop signal ended has a report too: its partial answer, said to be partial. */
  if (rank == 0 && (rc == 0 || rc == SO_ESTOPPED)) {
    /* A job whose results go to stdout keeps it for them: the summary goes to stderr. */
    FILE *out = so__job_owns_stdout(cli->job) ? stderr : stdout;
    if (!cli->cfg.quiet || out == stdout)
      so__report_print(out, &rep, cli->job, &cli->cfg);
    else
      so__report_notice(out, &rep); /* -q hides the summary, never that the answer is partial */
    fflush(out);
    int wrc = stdout_check();
    if (cli->json) {
      int jrc = so__report_json(cli->json, &rep, cli->job, cli->params, &cli->cfg);
      wrc = wrc ? wrc : jrc;
    }
    int asked = so_report_exit(&rep);
    if (wrc)
      rc = wrc; /* the answer did not reach its reader */
    else if (rc == 0 && rep.stopped == SO_STOPPED_SIGNAL)
      rc = SO_ESTOPPED;
    else if (rc == 0 && asked >= 0)
      rc = asked;
    else if (rc == 0 && rep.failed)
      rc = SO_ETASKS;
  }
  so_report_free(&rep);
  return rc;
}

/* Everything after MPI_Init. Returns an SO_E* code. */
static int run(so__cli *cli) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int abandoned = 0;
  if (so__launch_direct_rank()) {
    /* One rank of a direct run: run, and the master reports the result to the waiting parent.
     * The stop signals the parent passes on always get the graceful stop: without --grace
     * (the command line's or the job's so_job.options), running tasks get none. */
    if (cli->cfg.grace < 0)
      cli->cfg.grace = 0;
    if (rank == 0)
      so__launch_direct_hello();
    int rc = run_on(MPI_COMM_WORLD, cli, &abandoned);
    if (rank == 0 && so__launch_direct_verdict(rc, abandoned) != 0)
      return SO_EIO;
    if (abandoned) {
      /* The parent ends the stuck workers; MPI_Finalize would wait for them forever. mpirun
       * passes on what this process printed once it has exited. */
      fflush(NULL);
      _exit(0);
    }
    /* The user sees the parent's exit status; a failing rank would only add launcher noise. */
    return 0;
  }
  if (cli->workers > 0 && cli->workers != size - 1) {
    if (rank == 0)
      so__errorf("-n %d asks for %d %s, but the launcher started %d ranks (%d %s); "
                 "drop -n or start %d ranks",
                 cli->workers, cli->workers, cli->workers == 1 ? "worker" : "workers", size,
                 size - 1, size == 2 ? "worker" : "workers", cli->workers + 1);
    return SO_EINVAL;
  }
  int rc = run_on(MPI_COMM_WORLD, cli, &abandoned);
  if (abandoned) {
    /* Under the user's own launcher the report is out; the workers still inside run() can only
     * be ended by the launcher, which MPI_Abort asks for (it prints its own notice). */
    fflush(NULL);
    MPI_Abort(MPI_COMM_WORLD, exit_status(cli->job, rc ? rc : SO_ESTOPPED));
  }
  return rc;
}

/* In the master of a direct run that is refused after its ranks started: the waiting parent
 * gets the refusal as the run's verdict (and exits with the bad-input status). */
static void direct_refusal(int rc) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (so__launch_direct_rank() && rank == 0) {
    so__launch_direct_hello();
    so__launch_direct_verdict(rc, 0);
  }
}

/* A rank under a launcher whose plugin did not load: it still starts MPI, so that every rank
 * agrees on the refusal (so__plugin_agree) and none waits for it in a run. Returns the exit
 * status. */
static int refuse_together(int argc, char **argv, int load_rc, const char *err) {
  int provided;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) {
    so__errorf("%s", err);
    return EXIT_USAGE;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rc = so__plugin_agree(MPI_COMM_WORLD, load_rc, err);
  direct_refusal(rc ? rc : SO_EINVAL);
  MPI_Finalize();
  return rc == SO_EMPI ? EXIT_RUN_FAILED : EXIT_USAGE;
}

int main(int argc, char **argv) {
  /* A farm worker's shepherd is this same program started with a marker argument. */
  if (argc > 1 && strcmp(argv[1], SO_SHEPHERD_ARG) == 0)
    return so__shepherd_main(argc, argv);
  so__cli cli;
  char err[512];
  /* A direct run's ranks get the words after ::: from their parent (argfile.h). */
  so__argv av = {.argc = argc, .argv = argv};
  if (so__launched() && so__argfile_splice(argc, argv, &av, err, sizeof err)) {
    if (so__launch_rank() <= 0)
      so__errorf("%s", err);
    return EXIT_RUN_FAILED;
  }
  argc = av.argc;
  argv = av.argv;
  /* A plugin's jobs and their parameters are part of the command line: load before parsing. */
  int rc = so__plugin_prepare(argc, argv, err, sizeof err);
  if (rc && so__launched() && strcmp(argv[1], "run") == 0) {
    /* Under a launcher another rank may have loaded the file: it must hear of this failure
     * rather than wait for this rank in the run. */
    int status = refuse_together(argc, argv, rc, err);
    so__argv_free(&av);
    return status;
  }
  if (rc) {
    so__errorf("%s", rc == SO_ENOMEM ? "out of memory" : err);
    so__argv_free(&av);
    return EXIT_USAGE;
  }
  rc = so__cli_parse(argc, argv, so__jobs_find, so__jobs_all(), &cli, err, sizeof err);
  if (rc) {
    /* Under a launcher every rank parses the same arguments; one of them says what is wrong. */
    if (so__launch_rank() <= 0)
      so__errorf("%s", rc == SO_ENOMEM ? "out of memory" : err);
    int status = usage_status(cli.job);
    so__cli_free(&cli);
    return status;
  }
  switch (cli.cmd) {
  case SO_CMD_HELP:
    so__cli_usage(stdout);
    return stdout_check() ? EXIT_RUN_FAILED : 0;
  case SO_CMD_VERSION:
    printf("scaleout %s\n", SO_VERSION);
    return stdout_check() ? EXIT_RUN_FAILED : 0;
  case SO_CMD_JOBS:
    so__cli_jobs(stdout, so__jobs_all(), so__plugin_file);
    return stdout_check() ? EXIT_RUN_FAILED : 0;
  case SO_CMD_TOPO:
    return so__topo_main(cli.sub_argc, cli.sub_argv, stdout);
  case SO_CMD_RUN:
    break;
  }
  if (cli.help) {
    if (so__launch_rank() <= 0) {
      if (cli.job)
        so__cli_job_usage(stdout, cli.job, so__plugin_file(cli.job));
      else
        so__cli_run_usage(stdout, so__jobs_all());
    }
    so__cli_free(&cli);
    return stdout_check() ? EXIT_RUN_FAILED : 0;
  }

  /* Launcher variables (mpirun, srun) say whether this process is one rank of a started job. If
   * nobody launched it, it starts the ranks with mpirun and waits for them, without MPI itself. */
  if (!so__launched()) {
    /* A stop signal from now on ends the run with the stopped status (so__launch_local_run acts
     * on one caught here), instead of killing this process by its default action. */
    so__signals_catch();
    so__launch_allow_root();
    /* Where the ranks go: this machine, the hosts given, or a Slurm allocation's nodes. */
    so__where where;
    rc = so__startcheck_where(&cli, &where);
    so__launch_local_tuning(!where.others);
    /* One worker per core here; over hosts, one per slot but the master's. */
    int n = cli.workers > 0                  ? cli.workers
            : where.kind == SO_WHERE_LOCAL ? so__launch_default_workers(cli.cfg.bind == SO_BIND_PU, &cli.cfg)
            : where.slots > 1              ? (int)(where.slots - 1)
                                           : 1;
    /* What the master gives running tasks after a stop signal (as run() sets it in the ranks). */
    double grace = cli.cfg.grace >= 0 ? cli.cfg.grace : 0;
    /* What the command line alone can refuse is refused before any rank starts. */
    if (rc == 0)
      rc = so__startcheck_direct(&cli, &where, &n);
    /* The ranks load the plugin this process checked, by its absolute path. */
    int list_at = cli.list ? (int)(cli.list - argv) : 0;
    char **rank_argv = rc == 0 ? so__plugin_rank_argv(argv, cli.job, &list_at) : NULL;
    if (rc == 0 && !rank_argv)
      rc = SO_ENOMEM;
    if (rc == 0)
      rc = so__launch_local_run(n, grace, rank_argv, list_at,
                                where.kind == SO_WHERE_LOCAL ? NULL : &where);
    free(rank_argv);
    so__hostlist_free(&where.hosts);
    int status = exit_status(cli.job, rc);
    so__cli_free(&cli);
    return status;
  }
  if (cli.hostfile || cli.hosts) {
    /* The parent of a direct run leaves them out of its ranks' command line. */
    if (so__launch_rank() <= 0)
      so__errorf("--%s starts a direct run's ranks; under mpirun or srun, give the hosts to the "
                 "launcher", cli.hostfile ? "hostfile" : "hosts");
    so__cli_free(&cli);
    so__argv_free(&av);
    return EXIT_USAGE;
  }
  /* Funneled only when asked for: with --threads a worker runs run() tasks in threads of its
   * own, though only its main thread calls MPI (taskpool.h), and so_run checks the level it got.
   * Open MPI's funneled level costs every message: one task per message went from 3.3-3.4 to
   * 2.4-2.5 M tasks/s on this 2-core machine (noop --batch 1 -n 1, alternating builds). */
  int threads = cli.cfg.slots > 1 && !(cli.job && cli.job->start);
  int provided;
  if (MPI_Init_thread(&argc, &argv, threads ? MPI_THREAD_FUNNELED : MPI_THREAD_SINGLE,
                      &provided) != MPI_SUCCESS) {
    so__errorf("MPI could not start");
    so__cli_free(&cli);
    so__argv_free(&av);
    return EXIT_RUN_FAILED;
  }
  so__launch_nodelay();
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  /* Every rank loaded its plugin itself (refuse_together is the other side of this). */
  rc = so__plugin_agree(MPI_COMM_WORLD, 0, NULL);
  if (rc) {
    direct_refusal(rc);
    MPI_Finalize();
    so__cli_free(&cli);
    so__argv_free(&av);
    return rc == SO_EINVAL ? EXIT_USAGE : EXIT_RUN_FAILED;
  }
  rc = run(&cli);
  MPI_Finalize();
  int status = exit_status(cli.job, rc);
  so__cli_free(&cli);
  so__argv_free(&av);
  return status;
}

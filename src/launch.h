/* How this process was started, and starting workers ourselves when nobody else did. */
#ifndef SO_LAUNCH_H
#define SO_LAUNCH_H

#include "hostlist.h"
struct so_config;

/* Where a direct run's ranks go. */
typedef enum so__where_kind {
  SO_WHERE_LOCAL, /* this machine only (no hosts given, outside a Slurm allocation) */
  SO_WHERE_HOSTS, /* --hostfile or --hosts: mpirun --host, this machine first when listed */
  SO_WHERE_SLURM  /* a Slurm allocation of several nodes: mpirun reads its nodes and tasks */
} so__where_kind;

typedef struct so__where {
  so__where_kind kind;
  so__hostlist hosts; /* SO_WHERE_HOSTS: the hosts, this machine first when it is one of them */
  long slots;         /* HOSTS, SLURM: the ranks they hold */
  int here;           /* rank 0 runs on this machine, where the parent's sockets reach it; when
                         not (a login node), the ranks run as under the user's own mpirun and
                         the run's exit status is mpirun's */
  int others;         /* some ranks run on other machines */
  int oversubscribe;  /* more ranks than slots: mpirun --oversubscribe */
  const char *skip;   /* the --hostfile/--hosts word of argv the ranks do not get, and */
  int skip_words;     /* how many words it has (2 with its value) */
} so__where;

/* True when a launcher (mpirun, srun, a PMI/PMIx server) started this process as one rank of
 * several, as its environment tells before MPI_Init. */
int so__launched(void);

/* The rank the launcher gave this process, from its environment, or -1 when not launched.
 * Used before MPI_Init so that only rank 0 prints a command-line error. */
int so__launch_rank(void);

/* Lets Open MPI run as root for a direct local run (it refuses by default). Call before
 * starting mpirun; no effect for other users or when the variables are already set. */
void so__launch_allow_root(void);

/* Call right after MPI_Init: turns Nagle's algorithm off on this process's TCP sockets. The
 * PMIx 4 client connects to its server over loopback TCP without TCP_NODELAY, so the few small
 * messages MPI_Finalize sends back to back wait for the peer's delayed
 * acknowledgement, about 40 ms each time. Open MPI's own sockets already have it set. */
void so__launch_nodelay(void);

/* Chooses Open MPI's components for a direct run (in the environment mpirun and the ranks
 * inherit); one_node: every rank runs on this machine (shared memory is then all it needs). */
void so__launch_local_tuning(int one_node);

/* The number of workers a direct run uses by default: one per core (or PU, under --bind pu) of
 * the CPUs this process may run on, narrowed as the ranks will narrow them by cfg's cpuset,
 * core offset and core count (cfg NULL: not narrowed; a cpuset the ranks will refuse: not
 * narrowed either, they say why). Never less than 1. */
int so__launch_default_workers(int bind_pu, const struct so_config *cfg);

/* A direct run (`scaleout run` typed without a launcher), in the process the user started: runs
 * Open MPI's mpirun with n+1 ranks of this same program and these arguments (argv[1..]) on this
 * machine (when argv[list_at] is the ":::" of an argument list, its words reach the ranks through
 * argfile.h instead; list_at 0 when there is none), waits for it asleep, and returns the run's SO_E* code or exit status, which the master
 * reports over a private abstract socket. No MPI in this process.
 *
 * Why mpirun rather than MPI_Comm_spawn from a singleton: the ranks of one job talk over shared
 * memory either way, but a singleton's MPI_Init, the spawn and the spawned ranks' connection back
 * to it cost about 0.1 s more per run than mpirun starting the job (docs/benchmarks.md).
 *
 * mpirun runs in a process group of its own, so a terminal's Ctrl-C reaches only this process.
 * It passes SIGTERM, SIGINT and SIGUSR1 on to the master once the master has connected (its
 * handlers are then in place), whose graceful stop then runs; a stop signal that comes earlier,
 * while the ranks start, ends the run at once (SIGTERM to every process of it, SIGKILL a second
 * later) with SO_ESTOPPED. grace is the run's --grace (what the master gives running tasks): a
 * master that has not reported grace + 30 s after the signal is ended the same way, and so are
 * workers the master reported as stuck in run(). If this process dies, mpirun receives SIGTERM
 * (PR_SET_PDEATHSIG) and every rank stops launching tasks at once (its connection to this
 * process hangs up, see signals.h). If mpirun dies, the ranks are ended (this process is their
 * subreaper). A terminal on standard input is relayed to mpirun through a pipe (a background
 * process group may not read it).
 *
 * where (NULL: this machine) puts the ranks on other hosts too (so__where): the master (rank 0)
 * then runs on this machine, the only one where the parent's abstract sockets exist (they live
 * in this machine's network namespace); ranks elsewhere reach neither socket, and watch only
 * their Open MPI daemon, which ends them when mpirun or this process is gone. The variables the
 * ranks need go with mpirun -x, since ssh passes no environment; the words after ::: then go on
 * mpirun's command line (the memory file of argfile.h is this machine's). When this machine is
 * not one of the hosts, the ranks run as under the user's own mpirun and the exit status is
 * mpirun's (that of the first rank to fail: the master's verdict). */
int so__launch_local_run(int n, double grace, char **argv, int list_at, const so__where *where);

/* In a rank: true when a direct run's parent started this job (and waits for the master's
 * verdict). Call once, first thing after MPI_Init: it also starts watching the parent and mpirun
 * (so__signals_orphaned) and removes the variable that says so from the environment, so
 * commands the run starts do not inherit it. */
int so__launch_direct_rank(void);

/* In the master of a direct run, first thing: catches the stop signals (for the rest of the
 * process) and then connects to the waiting parent, which from then on passes on the stop
 * signals a terminal or batch system sends it. */
void so__launch_direct_hello(void);

/* In the master of a direct run, last thing: gives the waiting parent the run's result (an SO_E*
 * code or exit status), and whether workers were left inside run() after the grace (the parent
 * then ends them at once). Returns 0, or -1 after saying why on stderr. */
int so__launch_direct_verdict(int rc, int abandoned);

#endif

/* How this process was started, and starting workers ourselves when nobody else did. */
#ifndef SO_LAUNCH_H
#define SO_LAUNCH_H

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

/* Chooses Open MPI's components for a direct run on one machine (in the environment mpirun and
 * the ranks inherit). */
void so__launch_local_tuning(void);

/* The number of workers a direct run uses by default: one per core (or PU, under --bind pu) of
 * the cpuset this process may run on. Never less than 1. */
int so__launch_default_workers(int bind_pu);

/* A direct run (`scaleout run` typed without a launcher), in the process the user started: runs
 * Open MPI's mpirun with n+1 ranks of this same program and these arguments (argv[1..]) on this
 * machine, waits for it asleep, and returns the run's SO_E* code or exit status, which the master
 * leaves in a private directory. No MPI in this process.
 *
 * Why mpirun rather than MPI_Comm_spawn from a singleton: the ranks of one job talk over shared
 * memory either way, but a singleton's MPI_Init, the spawn and the spawned ranks' connection back
 * to it cost about 0.1 s more per run than mpirun starting the job (docs/benchmarks.md).
 *
 * mpirun runs in a process group of its own, so a terminal's Ctrl-C reaches only this process;
 * it passes SIGTERM, SIGINT and SIGUSR1 on to the master, whose graceful stop then runs. If this
 * process dies, mpirun receives SIGTERM (PR_SET_PDEATHSIG) and ends the run. A terminal on
 * standard input is relayed to mpirun through a pipe (a background process group may not read
 * it). */
int so__launch_local_run(int n, char **argv);

/* In a rank: true when a direct run's parent started this job (and it is waiting for the master's
 * files). Call once, first thing after MPI_Init: it also removes the variable that says so from
 * the environment, so commands the run starts do not inherit it. */
int so__launch_direct_rank(void);

/* In the master of a direct run, first thing: tells the waiting parent its process id, so the
 * parent can pass on the stop signals a terminal or batch system sends it. */
void so__launch_direct_hello(void);

/* In the master of a direct run, last thing: gives the waiting parent the run's result (an SO_E*
 * code or exit status). Returns 0, or -1 after saying why on stderr. */
int so__launch_direct_verdict(int rc);

#endif

/* How this process was started, and starting workers ourselves when nobody else did. */
#ifndef SO_LAUNCH_H
#define SO_LAUNCH_H

#include <mpi.h>

/* True when a launcher (mpirun, srun, a PMI/PMIx server) started this process as one rank of
 * several, as its environment tells before MPI_Init. */
int so__launched(void);

/* The rank the launcher gave this process, from its environment, or -1 when not launched.
 * Used before MPI_Init so that only rank 0 prints a command-line error. */
int so__launch_rank(void);

/* Lets Open MPI run as root for a direct local run (it refuses by default). Call before
 * MPI_Init; no effect for other users or when the variables are already set. */
void so__launch_allow_root(void);

/* Call right after MPI_Init: turns Nagle's algorithm off on this process's TCP sockets. The
 * PMIx 4 client connects to its server over loopback TCP without TCP_NODELAY, so the few small
 * messages MPI_Finalize (and MPI_Comm_spawn) send back to back wait for the peer's delayed
 * acknowledgement, about 40 ms each time. Open MPI's own sockets already have it set. */
void so__launch_nodelay(void);

/* Chooses Open MPI's components for a direct run on one machine. Call before MPI_Init. */
void so__launch_local_tuning(void);

/* The number of workers a direct run uses by default: one per core (or PU, under --bind pu) of
 * the cpuset this process may run on. Never less than 1. */
int so__launch_default_workers(int bind_pu);

/* Starts a whole run of n workers plus their master as one new MPI job running this same
 * program with these arguments (argv[1..]), through MPI_Comm_spawn, then waits for it without
 * spinning and returns the run's SO_E* code, which the spawned master sends back.
 *
 * Why a separate job rather than this process as master: Open MPI 4 connects processes of
 * different jobs over TCP only, while ranks of one job use shared memory; keeping master and
 * workers in one spawned job gives a direct run the same dispatch speed as one under mpirun. */
int so__launch_local_run(int n, char **argv);

/* In a process spawned by so__launch_local_run: the intercommunicator to the waiting parent,
 * or MPI_COMM_NULL when this process was not spawned. */
MPI_Comm so__launch_parent(void);

/* In the spawned master, first thing: tells the waiting parent its process id, so the parent can
 * pass on the stop signals (SIGTERM, SIGINT, SIGUSR1) a terminal or batch system sends it. */
int so__launch_hello(MPI_Comm parent);

/* In the spawned master: tells the waiting parent the run's result. Every spawned rank then
 * frees the parent communicator with so__launch_release. */
int so__launch_report(MPI_Comm parent, int rc);
void so__launch_release(MPI_Comm *parent);

#endif

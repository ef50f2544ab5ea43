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

/* The number of workers a direct run uses by default: one per core (or PU, under --bind pu) of
 * the cpuset this process may run on. Never less than 1. */
int so__launch_default_workers(int bind_pu);

/* Starts n workers running this same program with these arguments (argv[1..]) through
 * MPI_Comm_spawn, and merges them with this process into *comm, where this process is rank 0.
 * Collective over MPI_COMM_SELF. Returns 0 or an SO_E* code (printed). */
int so__launch_spawn(int n, int argc, char **argv, MPI_Comm *comm);

/* In a spawned worker: the communicator joining it to its parent and siblings, or
 * MPI_COMM_NULL when this process was not spawned. */
int so__launch_join_parent(MPI_Comm *comm);

#endif

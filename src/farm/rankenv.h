/* The variables a launcher gives each MPI rank, kept away from the commands a farm runs. */
#ifndef SO_FARM_RANKENV_H
#define SO_FARM_RANKENV_H

/*
 * A farm worker is an MPI rank: mpirun (or srun with PMIx/PMI) put its rank, the job's size and
 * the address of its PMIx server in its environment. A command that inherited them and is itself
 * an MPI program (a simulation code, a nested `scaleout run`, even a serial run that calls
 * MPI_Init) would take itself for that same rank of this job and fail in MPI_Init ("getting local
 * rank failed"). So the shepherd removes them before it runs anything, and commands start like
 * programs typed in a shell: a singleton, or a fresh job of their own mpirun.
 *
 * Removed: PMIX_* except PMIX_MCA_* (settings), PMI_* (Slurm's PMI-1/2), OMPI_COMM_WORLD_*,
 * OMPI_UNIVERSE_SIZE, OMPI_APP_CTX_*, OMPI_NUM_APP_CTX, OMPI_FIRST_RANKS, OMPI_ARGV,
 * OMPI_COMMAND, OMPI_FILE_LOCATION, and the OMPI_MCA_* entries mpirun sets for its ranks only
 * (orte_*, ess, ess_*, pmix, initial_wdir, shmem_RUNTIME_QUERY_hint). Kept: other OMPI_MCA_*
 * settings (the user's, and those of a direct run such as pml=ob1), OMPI_ALLOW_RUN_AS_ROOT*,
 * and SLURM_* (a command may well want to know its allocation).
 */

/* True when entry (NAME=value, or just NAME) is one of the variables above. */
int so__rankenv_is_launcher_var(const char *entry);

/* Removes them from this process's environment. Returns how many were removed. */
int so__rankenv_scrub(void);

#endif

/* Launch detection and self-launch: a direct `scaleout run` spawns its workers through MPI. */
#include "launch.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bind.h"
#include "error.h"

/* Variables that launchers set for each rank they start. */
static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                        "SLURM_PROCID", NULL};

int so__launch_rank(void) {
  for (const char *const *v = rank_vars; *v; v++) {
    const char *s = getenv(*v);
    if (s && *s)
      return atoi(s);
  }
  return -1;
}

int so__launched(void) {
  /* SLURM_PROCID alone is also set in a batch script's shell, which is not a launched rank;
   * a rank started by srun also has a PMI or PMIx variable. */
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") ||
         getenv("PMI_SIZE");
}

void so__launch_allow_root(void) {
  if (geteuid() != 0)
    return;
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
}

int so__launch_default_workers(int bind_pu) {
  hwloc_topology_t topo;
  int n = 0;
  if (so__bind_topology_load(&topo, NULL) != 0)
    return 1;
  hwloc_bitmap_t cur = hwloc_bitmap_alloc();
  if (cur && so__bind_get(topo, cur) == 0)
    n = so__bind_count(topo, cur, bind_pu ? SO_BIND_PU : SO_BIND_CORE);
  hwloc_bitmap_free(cur);
  hwloc_topology_destroy(topo);
  return n > 0 ? n : 1;
}

int so__launch_spawn(int n, int argc, char **argv, MPI_Comm *comm) {
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) {
    so__errorf("cannot find this program's path to start its workers");
    return SO_EINVAL;
  }
  exe[len] = 0;
  MPI_Info info;
  MPI_Info_create(&info);
  /* Our own hwloc plan pins the workers; Open MPI must not bind them first, and it must accept
   * the master as one extra process beside one worker per core. */
  MPI_Info_set(info, "map_by", "node:OVERSUBSCRIBE");
  MPI_Info_set(info, "bind_to", "none");
  int *errcodes = calloc((size_t)n, sizeof *errcodes);
  if (!errcodes) {
    MPI_Info_free(&info);
    return SO_ENOMEM;
  }
  MPI_Comm inter;
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  int rc = so__mpi_check(MPI_Comm_spawn(exe, argv + 1, n, info, 0, MPI_COMM_SELF, &inter, errcodes),
                         "starting the workers (MPI_Comm_spawn)");
  MPI_Info_free(&info);
  free(errcodes);
  (void)argc;
  if (rc)
    return rc;
  rc = so__mpi_check(MPI_Intercomm_merge(inter, 0, comm), "MPI_Intercomm_merge");
  MPI_Comm_free(&inter);
  return rc;
}

int so__launch_join_parent(MPI_Comm *comm) {
  MPI_Comm parent;
  *comm = MPI_COMM_NULL;
  if (MPI_Comm_get_parent(&parent) != MPI_SUCCESS || parent == MPI_COMM_NULL)
    return 0;
  int rc = so__mpi_check(MPI_Intercomm_merge(parent, 1, comm), "MPI_Intercomm_merge");
  MPI_Comm_free(&parent);
  return rc;
}

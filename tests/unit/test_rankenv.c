/* The launcher's per-rank variables are told apart from settings, and scrubbed from the
 * environment, so a command that is itself an MPI program starts on its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/rankenv.h"
#include "so_test.h"

static void test_classify(void) {
  static const char *const rank_vars[] = {
      "PMIX_RANK=1", "PMIX_NAMESPACE=907083777", "PMIX_SERVER_URI41=907083776.0;tcp4://127.0.0.1:1",
      "PMIX_ID=1.1", "PMI_RANK=3", "PMI_FD=7", "PMI_SIZE=4", "OMPI_COMM_WORLD_RANK=1",
      "OMPI_COMM_WORLD_SIZE=2", "OMPI_COMM_WORLD_LOCAL_RANK=0", "OMPI_UNIVERSE_SIZE=2",
      "OMPI_APP_CTX_NUM_PROCS=2", "OMPI_NUM_APP_CTX=1", "OMPI_FIRST_RANKS=0", "OMPI_ARGV=run pi",
      "OMPI_COMMAND=scaleout", "OMPI_FILE_LOCATION=/tmp/ompi", "OMPI_MCA_ess=pmi",
      "OMPI_MCA_ess_base_vpid=1", "OMPI_MCA_orte_hnp_uri=1.0;tcp://x", "OMPI_MCA_pmix=^s1",
      "OMPI_MCA_initial_wdir=/tmp", "OMPI_MCA_shmem_RUNTIME_QUERY_hint=mmap", "PMIX_RANK"};
  for (size_t i = 0; i < sizeof rank_vars / sizeof *rank_vars; i++) {
    int is = so__rankenv_is_launcher_var(rank_vars[i]);
    CU_ASSERT(is);
    if (!is)
      fprintf(stderr, "not taken for a launcher variable: %s\n", rank_vars[i]);
  }
  static const char *const kept[] = {
      "PATH=/usr/bin", "HOME=/root", "PMIX_MCA_psec=native", "OMPI_MCA_pml=ob1",
      "OMPI_MCA_btl=^openib", "OMPI_MCA_mpi_yield_when_idle=1", "OMPI_ALLOW_RUN_AS_ROOT=1",
      "OMPI_MCA_essential=1", "OMPI_MCA_pmix_extra_setting=1", "OMPI_ARGVX=1", "SLURM_JOB_ID=5",
      "SLURM_PROCID=0", "SCALEOUT_TASK_ID=3", "PMIXER=1", "PMI=1", ""};
  for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
    int is = so__rankenv_is_launcher_var(kept[i]);
    CU_ASSERT(!is);
    if (is)
      fprintf(stderr, "taken for a launcher variable: %s\n", kept[i]);
  }
}

static void test_scrub(void) {
  setenv("PMIX_RANK", "1", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  setenv("OMPI_MCA_orte_hnp_uri", "1.0;tcp://127.0.0.1:9", 1);
  setenv("PMI_FD", "5", 1);
  setenv("OMPI_MCA_pml", "ob1", 1);
  setenv("SO_RANKENV_TEST", "kept", 1);
  CU_ASSERT(so__rankenv_scrub() >= 4);
  CU_ASSERT_PTR_NULL(getenv("PMIX_RANK"));
  CU_ASSERT_PTR_NULL(getenv("OMPI_COMM_WORLD_SIZE"));
  CU_ASSERT_PTR_NULL(getenv("OMPI_MCA_orte_hnp_uri"));
  CU_ASSERT_PTR_NULL(getenv("PMI_FD"));
  CU_ASSERT_STRING_EQUAL(getenv("OMPI_MCA_pml") ? getenv("OMPI_MCA_pml") : "", "ob1");
  CU_ASSERT_STRING_EQUAL(getenv("SO_RANKENV_TEST") ? getenv("SO_RANKENV_TEST") : "", "kept");
  CU_ASSERT_EQUAL(so__rankenv_scrub(), 0); /* nothing left to remove */
}

int main(void) {
  static const so_test_case cases[] = {{"launcher variables told from settings", test_classify},
                                       {"scrubbing the environment", test_scrub},
                                       {NULL, NULL}};
  return so_test_run("rankenv", cases);
}

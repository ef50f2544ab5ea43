/* Runs a job on master and worker threads over the in-process transport, as so_run would over
 * MPI, so engine behaviour is testable without mpirun. */
#ifndef SO_ENGINE_HARNESS_H
#define SO_ENGINE_HARNESS_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "master.h"
#include "params.h"
#include "so_test.h"
#include "transport.h"
#include "worker.h"

typedef struct harness_worker {
  so__transport *t;
  const so_job *job;
  const so_params *params;
  const so_config *cfg;
  int rc;
} harness_worker;

/* 0: harness_run delivers messages in order (unless SO_TEST_REORDER_SEED names a seed).
 * Otherwise the seed of the reordering in-process transport, whose small and large messages
 * overtake each other the way MPI's may. */
static unsigned long harness_reorder_seed;

/* Optional: wraps each worker's transport (in the worker's thread, before it runs), e.g. to
 * watch which threads call it; the wrapper forwards to t and frees itself in its destroy. */
static so__transport *(*harness_wrap_worker)(so__transport *t);

static void *harness_worker_main(void *p) {
  harness_worker *a = p;
  if (harness_wrap_worker)
    a->t = harness_wrap_worker(a->t);
  a->rc = so__worker_run(a->t, a->job, a->params, a->cfg, NULL);
  return NULL;
}

/* Runs job with the given parameters on nworkers (at most 16) worker threads and returns the
 * master's code; *rep is filled (free with so_report_free) even when the master refused to
 * start. The caller keeps params. */
static inline int harness_run_params(const so_job *job, const so_params *params, int nworkers,
                                     const so_config *cfg, so_report *rep) {
  memset(rep, 0, sizeof *rep);
  so__master *m;
  int rc = so__master_init(&m, job, params, cfg, nworkers);
  if (rc) {
    so__master_free(m);
    return rc;
  }
  const char *env = getenv("SO_TEST_REORDER_SEED");
  unsigned long seed = harness_reorder_seed ? harness_reorder_seed
                                            : env ? strtoul(env, NULL, 10) : 0;
  so__inproc *g = seed ? so__inproc_new_reordering(nworkers + 1, seed) : so__inproc_new(nworkers + 1);
  CU_ASSERT_FATAL(g != NULL && nworkers <= 16);
  pthread_t th[16];
  harness_worker args[16];
  for (int i = 0; i < nworkers; i++) {
    args[i] = (harness_worker){so__inproc_endpoint(g, i + 1), job, params, cfg, 0};
    pthread_create(&th[i], NULL, harness_worker_main, &args[i]);
  }
  so__transport *mt = so__inproc_endpoint(g, 0);
  rc = so__master_run(m, mt, rep);
  for (int i = 0; i < nworkers; i++) {
    pthread_join(th[i], NULL);
    so__transport_destroy(args[i].t);
  }
  so__transport_destroy(mt);
  so__master_free(m);
  so__inproc_free(g);
  return rc;
}

/* harness_run_params with the job's default parameters. */
static inline int harness_run(const so_job *job, int nworkers, const so_config *cfg,
                              so_report *rep) {
  so_params *params = so__params_new(job);
  CU_ASSERT_FATAL(params != NULL);
  int rc = harness_run_params(job, params, nworkers, cfg, rep);
  so__params_free(params);
  return rc;
}

#endif

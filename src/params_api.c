/* The public parameter API (so_params_*): the internal store of params.c behind the checks an
 * embedding program needs, so it builds a job's parameters as the command line does. */
#include <stdio.h>

#include "error.h"
#include "jobcheck.h"
#include "params.h"

so_params *so_params_new(const so_job *job) {
  /* The store reads the job's parameter table, which only a job of this major version has where
   * this engine looks for it. */
  so_job accepted;
  char why[320];
  if (so__job_accept(job, &accepted, why, sizeof why)) {
    so__errorf("%s", why);
    return NULL;
  }
  so_params *p = so__params_new(job);
  if (!p)
    so__errorf("cannot build the parameters of job '%s'", job->name ? job->name : "(unnamed)");
  return p;
}

void so_params_free(so_params *p) { so__params_free(p); }

int so_params_set(so_params *p, const char *name, const char *value, char *err, size_t errlen) {
  if (!p || !name || !value) {
    so__seterr(err, errlen, "so_params_set needs parameters, a name and a value");
    return SO_EINVAL;
  }
  return so__params_set(p, name, value, err, errlen);
}

int so_params_set_args(so_params *p, int argc, const char *const *argv, char *err,
                       size_t errlen) {
  if (!p || argc < 0 || (argc > 0 && !argv)) {
    so__seterr(err, errlen, "so_params_set_args needs parameters and argc words in argv");
    return SO_EINVAL;
  }
  /* The flags field may lie past the end of an older job's table: read it through the copy. */
  so_job job;
  if (so__job_accept(so__params_job(p), &job, err, errlen))
    return SO_EINVAL;
  if (!(job.flags & SO_JOB_TAKES_ARGS)) {
    so__seterr(err, errlen, "job '%s' takes no arguments after ':::' (its flags lack "
                            "SO_JOB_TAKES_ARGS)", job.name ? job.name : "(unnamed)");
    return SO_EINVAL;
  }
  if (so__params_copy_args(p, argc, argv)) {
    so__seterr(err, errlen, "out of memory");
    return SO_ENOMEM;
  }
  return 0;
}

int so_params_ready(const so_params *p, char *err, size_t errlen) {
  if (!p) {
    so__seterr(err, errlen, "no parameters were given (so_params_new returned NULL?)");
    return SO_EINVAL;
  }
  return so__params_check(p, err, errlen);
}

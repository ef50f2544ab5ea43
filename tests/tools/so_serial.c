/* so_serial JOB [--NAME VALUE]...: runs a built-in job with the serial reference runner
 * (so__run_serial, no MPI) and prints its answer as the summary does ("name = value" lines), so
 * script tests can compare a distributed run's answer with the reference's. */
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "ctx.h"
#include "params.h"

int main(int argc, char **argv) {
  const so_job *job = argc > 1 ? so__builtin_find(argv[1]) : NULL;
  if (!job) {
    fprintf(stderr, "usage: so_serial JOB [--NAME VALUE]... (a built-in job)\n");
    return 2;
  }
  so_params *p = so__params_new(job);
  char err[256];
  if (!p)
    return 1;
  for (int i = 2; i < argc; i++) {
    const char *name = argv[i];
    if (strncmp(name, "--", 2) != 0) {
      fprintf(stderr, "so_serial: '%s' is not --NAME\n", name);
      return 2;
    }
    name += 2;
    const so_param_def *d = so__params_find(p, name);
    /* A flag stands alone; any other parameter takes the next word. */
    const char *value = d && d->type == SO_PARAM_FLAG ? "1" : (i + 1 < argc ? argv[++i] : "");
    if (so__params_set(p, name, value, err, sizeof err)) {
      fprintf(stderr, "so_serial: %s\n", err);
      return 2;
    }
  }
  if (so__params_check(p, err, sizeof err)) {
    fprintf(stderr, "so_serial: %s\n", err);
    return 2;
  }
  uint64_t tasks;
  so_answer *answer;
  int rc = so__run_serial(job, p, &tasks, &answer);
  if (rc == 0) {
    so__answer_print(stdout, answer);
    so__answer_free(answer);
  }
  so__params_free(p);
  return rc ? 1 : 0;
}

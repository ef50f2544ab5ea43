/* Unit tests of the batch job's id from the environment (Slurm, PBS) and of the default output
 * names that carry it (SO_PARAM_OUTPUT), so two batch jobs in one directory keep their files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchjob.h"
#include "jobs_list.h"
#include "params.h"
#include "so_test.h"

static void clear_env(void) {
  unsetenv("SLURM_JOB_ID");
  unsetenv("PBS_JOBID");
}

static void test_from_environment(void) {
  so__batch_job bj;
  clear_env();
  CU_ASSERT_EQUAL(so__batch_job_get(&bj), 0);
  CU_ASSERT_PTR_NULL(bj.scheduler);
  /* An empty id is no id. */
  setenv("SLURM_JOB_ID", "", 1);
  CU_ASSERT_EQUAL(so__batch_job_get(&bj), 0);
  setenv("PBS_JOBID", "77.server.example", 1);
  CU_ASSERT_EQUAL_FATAL(so__batch_job_get(&bj), 1);
  CU_ASSERT_STRING_EQUAL(bj.scheduler, "PBS");
  CU_ASSERT_STRING_EQUAL(bj.key, "pbs");
  CU_ASSERT_STRING_EQUAL(bj.id, "77.server.example");
  /* PBS leaves the server out of its own output names (job.o77): so do we. */
  CU_ASSERT_STRING_EQUAL(bj.tag, "77");
  /* A PBS array job's index keeps the name a plain file name. */
  setenv("PBS_JOBID", "12[3].srv", 1);
  CU_ASSERT_EQUAL_FATAL(so__batch_job_get(&bj), 1);
  CU_ASSERT_STRING_EQUAL(bj.tag, "12_3_");
  /* Slurm comes first. */
  setenv("SLURM_JOB_ID", "4242", 1);
  CU_ASSERT_EQUAL_FATAL(so__batch_job_get(&bj), 1);
  CU_ASSERT_STRING_EQUAL(bj.scheduler, "Slurm");
  CU_ASSERT_STRING_EQUAL(bj.key, "slurm");
  CU_ASSERT_STRING_EQUAL(bj.id, "4242");
  CU_ASSERT_STRING_EQUAL(bj.tag, "4242");
  /* Nothing in an id reaches a file name but letters, digits, '-' and '_'. */
  setenv("SLURM_JOB_ID", "9/../x y", 1);
  CU_ASSERT_EQUAL_FATAL(so__batch_job_get(&bj), 1);
  CU_ASSERT_STRING_EQUAL(bj.tag, "9_");
  clear_env();
}

static void test_output_names(void) {
  so__batch_job bj;
  memset(&bj, 0, sizeof bj);
  bj.scheduler = "Slurm";
  snprintf(bj.id, sizeof bj.id, "4242");
  snprintf(bj.tag, sizeof bj.tag, "4242");
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"mandelbrot.pgm", "mandelbrot-4242.pgm"},
      {"out", "out-4242"},
      {"dir.d/a.b.c", "dir.d/a.b-4242.c"},
      {"dir.d/plain", "dir.d/plain-4242"},
      {".hidden", ".hidden-4242"},
      {"/abs/x.json", "/abs/x-4242.json"},
      {"", ""},   /* no file */
      {"-", "-"}, /* standard output */
  };
  char buf[64];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    CU_ASSERT_EQUAL(so__batch_output_name(cases[i].in, &bj, buf, sizeof buf), 0);
    if (strcmp(buf, cases[i].out))
      fprintf(stderr, "\n    '%s' became '%s'\n", cases[i].in, buf);
    CU_ASSERT_STRING_EQUAL(buf, cases[i].out);
  }
  /* Outside a batch job names stay as they are. */
  CU_ASSERT_EQUAL(so__batch_output_name("mandelbrot.pgm", NULL, buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "mandelbrot.pgm");
  so__batch_job none;
  memset(&none, 0, sizeof none);
  CU_ASSERT_EQUAL(so__batch_output_name("a.pgm", &none, buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "a.pgm");
  /* A name that does not fit is an error, not a cut-off name. */
  char small[12];
  CU_ASSERT_EQUAL(so__batch_output_name("mandelbrot.pgm", &bj, small, sizeof small), SO_EINVAL);
}

/* mandelbrot's --out: its default carries the job id inside a batch job, a given name does not. */
static void test_param_default(void) {
  clear_env();
  so_params *p = so__params_new(&so_job_mandelbrot);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_STRING_EQUAL(so__params_string(p, "out"), "mandelbrot.pgm");
  so__params_free(p);

  setenv("SLURM_JOB_ID", "4242", 1);
  p = so__params_new(&so_job_mandelbrot);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_STRING_EQUAL(so__params_string(p, "out"), "mandelbrot-4242.pgm");
  /* The report's parameters show the name used. */
  CU_ASSERT_STRING_EQUAL(so__params_text(p, "out"), "mandelbrot-4242.pgm");
  char err[256];
  CU_ASSERT_EQUAL(so__params_set(p, "out", "mine.pgm", err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(so__params_string(p, "out"), "mine.pgm");
  so__params_free(p);
  clear_env();
}

int main(void) {
  static const so_test_case cases[] = {
      {"from_environment", test_from_environment},
      {"output_names", test_output_names},
      {"param_default", test_param_default},
      {NULL, NULL},
  };
  return so_test_run("batchjob", cases);
}

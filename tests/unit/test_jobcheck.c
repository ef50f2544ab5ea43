/* Unit tests of the so_job version check (so__job_accept): another major version is refused with a
 * sentence naming the job and both versions; a shorter table of this major version is taken with
 * its missing fields read as zero; a longer one only when its extra fields are zero. */
#include <stdlib.h>
#include <string.h>

#include "jobcheck.h"
#include "so_test.h"

static int fake_run(so_ctx *ctx, const so_task *task, so_result *res) { return 0; }

/* A job built for this version, every field set (so a copy that drops any of them shows). */
static so_job full_job(void) {
  static const so_task_type types[] = {{"one", fake_run}, {NULL, NULL}};
  so_job j = {SO_JOB_VERSION, .name = "full", .summary = "s", .run = fake_run};
  j.exit.usage = 9;
  j.flags = SO_JOB_TAKES_ARGS;
  j.options = "--grace 3";
  j.types = types;
  return j;
}

static void test_same_version(void) {
  so_job j = full_job(), out;
  char err[320] = "";
  CU_ASSERT_EQUAL(so__job_accept(&j, &out, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(err, "");
  CU_ASSERT_EQUAL(memcmp(&out, &j, sizeof j), 0);
}

static void test_wrong_major(void) {
  so_job j = full_job(), out;
  j.abi = 1;
  char err[320] = "";
  CU_ASSERT_EQUAL(so__job_accept(&j, &out, err, sizeof err), SO_EINVAL);
  CU_ASSERT_STRING_EQUAL(err, "job 'full' was built for job API 1, but this engine runs jobs of "
                              "API 2: rebuild it against this scaleout's headers");
  j.abi = 3;
  CU_ASSERT_EQUAL(so__job_accept(&j, &out, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "job 'full' was built for job API 3"));
  CU_ASSERT_PTR_NULL(strchr(err, '\n'));
  j.abi = 0; /* a table without SO_JOB_VERSION */
  CU_ASSERT_EQUAL(so__job_accept(&j, &out, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "job 'full' has no API version (abi 0)"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "SO_JOB_VERSION"));
  CU_ASSERT_EQUAL(so__job_accept(NULL, &out, err, sizeof err), SO_EINVAL);
}

/* An older minor version's table ends earlier: the copy has its fields and zero after them, even
 * where the caller's memory beyond the declared size holds something else. */
static void test_smaller_table(void) {
  so_job j = full_job(), out;
  j.size = (uint32_t)offsetof(so_job, exit);
  memset(&out, 0xa5, sizeof out);
  char err[320] = "";
  CU_ASSERT_EQUAL(so__job_accept(&j, &out, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(out.name, "full");
  CU_ASSERT_PTR_EQUAL(out.run, fake_run);
  CU_ASSERT_EQUAL(out.size, sizeof(so_job));
  CU_ASSERT_EQUAL(out.exit.usage, 0);
  CU_ASSERT_EQUAL(out.flags, 0);
  CU_ASSERT_PTR_NULL(out.options);
  CU_ASSERT_PTR_NULL(out.types);
  CU_ASSERT_PTR_NULL(out.map);
  /* The smallest table taken ends with fini(); one byte less is refused with the sizes. */
  j.size = (uint32_t)SO__JOB_MIN_SIZE;
  CU_ASSERT_EQUAL(so__job_accept(&j, &out, err, sizeof err), 0);
  CU_ASSERT_PTR_NULL(out.start);
  j.size = (uint32_t)SO__JOB_MIN_SIZE - 1;
  CU_ASSERT_EQUAL(so__job_accept(&j, &out, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "job 'full' declares a so_job table of"));
}

/* A newer minor version's table is longer: taken when the fields this engine lacks are zero. */
static void test_larger_table(void) {
  size_t big = sizeof(so_job) + 16;
  unsigned char *mem = calloc(1, big);
  CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
  so_job j = full_job(), out;
  j.size = (uint32_t)big;
  memcpy(mem, &j, sizeof j);
  char err[320] = "";
  CU_ASSERT_EQUAL(so__job_accept((so_job *)mem, &out, err, sizeof err), 0);
  CU_ASSERT_EQUAL(out.size, sizeof(so_job));
  CU_ASSERT_STRING_EQUAL(out.options, "--grace 3");
  mem[sizeof(so_job) + 7] = 1;
  CU_ASSERT_EQUAL(so__job_accept((so_job *)mem, &out, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "job 'full' was built for a newer minor version of job API 2"));
  free(mem);
}

int main(void) {
  static const so_test_case cases[] = {
    {"a job of this version is copied whole", test_same_version},
    {"another major version is refused naming the job and both versions", test_wrong_major},
    {"a smaller table is taken with a zero tail", test_smaller_table},
    {"a larger table is taken only when its extra fields are zero", test_larger_table},
    {NULL, NULL},
  };
  return so_test_run("jobcheck", cases);
}

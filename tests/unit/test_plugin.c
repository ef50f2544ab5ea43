/* Unit tests of the plugin loader (src/plugin.c) on fixture plugins built beside this program:
 * the job table it keeps, what it refuses and that a refused file leaves nothing behind, and the
 * command line a direct run gives its ranks. The cases run in order: the table is process-wide. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "plugin.h"
#include "so_test.h"

static char err[512];

static size_t count_jobs(void) {
  size_t n = 0;
  for (const so_job *const *j = so__jobs_all(); *j; j++)
    n++;
  return n;
}

static size_t count_builtins(void) {
  size_t n = 0;
  while (so__builtin_jobs[n])
    n++;
  return n;
}

/* Two jobs join the built-ins; the short table reads as a full one with the rest zero. */
static void test_load_good(void) {
  CU_ASSERT_EQUAL(count_jobs(), count_builtins());
  CU_ASSERT_EQUAL_FATAL(so__plugin_load(SO_FIXTURE_DIR "/good/fix_good.so", err, sizeof err), 0);
  CU_ASSERT_EQUAL(count_jobs(), count_builtins() + 2);
  const so_job *a = so__jobs_find("fix_a"), *b = so__jobs_find("fix_b");
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_PTR_NOT_NULL(so__jobs_find("pi"));
  CU_ASSERT_PTR_NULL(so__plugin_file(so__jobs_find("pi")));
  char abs[PATH_MAX];
  CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(SO_FIXTURE_DIR "/good/fix_good.so", abs));
  CU_ASSERT_STRING_EQUAL(so__plugin_file(a), abs);
  CU_ASSERT_STRING_EQUAL(so__plugin_file(b), abs);
  CU_ASSERT_EQUAL(b->size, sizeof(so_job));
  CU_ASSERT_EQUAL(b->flags, 0);
  CU_ASSERT_STRING_EQUAL(b->summary, "fixture b, a short table");
  /* The same file again, by another name, adds nothing. */
  CU_ASSERT_EQUAL(so__plugin_load(SO_FIXTURE_DIR "/good/../good/fix_good.so", err, sizeof err), 0);
  CU_ASSERT_EQUAL(count_jobs(), count_builtins() + 2);
}

/* A clash with a loaded job, or two jobs of one name: refused, and the table is as before. */
static void test_refused_leaves_nothing(void) {
  CU_ASSERT_EQUAL(so__plugin_load(SO_FIXTURE_DIR "/dup/fix_dup.so", err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "fix_dup.so': job 'fix_a' is already loaded from '"));
  CU_ASSERT_EQUAL(so__plugin_load(SO_FIXTURE_DIR "/twice/fix_twice.so", err, sizeof err),
                  SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "fix_twice.so' has two jobs named 'same'"));
  CU_ASSERT_PTR_NULL(so__jobs_find("fix_c")); /* its first job went with it */
  CU_ASSERT_EQUAL(count_jobs(), count_builtins() + 2);
  char abs[PATH_MAX];
  CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(SO_FIXTURE_DIR "/good/fix_good.so", abs));
  CU_ASSERT_STRING_EQUAL(so__plugin_file(so__jobs_find("fix_a")), abs);
  /* Through SCALEOUT_JOB_PATH too, the first bad file ends the load with its line. */
  CU_ASSERT_EQUAL(so__plugin_load_path(SO_FIXTURE_DIR "/good::" SO_FIXTURE_DIR "/dup", err,
                                       sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "fix_dup.so': job 'fix_a' is already loaded"));
}

/* --job-lib must hold the job named; the message lists what it has. */
static void test_prepare(void) {
  char *argv[] = {"scaleout", "run", "--job-lib", SO_FIXTURE_DIR "/good/fix_good.so", "nosuch",
                  NULL};
  CU_ASSERT_EQUAL(so__plugin_prepare(5, argv, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "has no job 'nosuch'; its jobs are: fix_a fix_b"));
  char *ok[] = {"scaleout", "run", "--job-lib", SO_FIXTURE_DIR "/good/fix_good.so", "fix_b",
                NULL};
  CU_ASSERT_EQUAL(so__plugin_prepare(5, ok, err, sizeof err), 0);
  char *builtin[] = {"scaleout", "run", "--job-lib", SO_FIXTURE_DIR "/good/fix_good.so", "pi",
                     NULL};
  CU_ASSERT_EQUAL(so__plugin_prepare(5, builtin, err, sizeof err), SO_EINVAL);
}

/* A direct run's ranks get one --job-lib with the absolute path, right after "run"; the words
 * after ::: are left alone and the index of ::: follows the change. */
static void test_rank_argv(void) {
  char abs[PATH_MAX];
  CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(SO_FIXTURE_DIR "/good/fix_good.so", abs));
  const so_job *a = so__jobs_find("fix_a");
  char *argv[] = {"scaleout", "run", "-n", "2", "--job-lib", "rel.so", "fix_a", "--job-lib=x.so",
                  ":::", "w", "--job-lib", "y", NULL};
  int at = 8;
  char **out = so__plugin_rank_argv(argv, a, &at);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  const char *want[] = {"scaleout", "run", "--job-lib", abs, "-n", "2", "fix_a", ":::", "w",
                        "--job-lib", "y", NULL};
  for (int i = 0; want[i]; i++) {
    CU_ASSERT_PTR_NOT_NULL_FATAL(out[i]);
    CU_ASSERT_STRING_EQUAL(out[i], want[i]);
  }
  CU_ASSERT_PTR_NULL(out[11]);
  CU_ASSERT_EQUAL(at, 7);
  CU_ASSERT_STRING_EQUAL(out[at], ":::");
  free(out);
  /* A built-in job: the line is passed on unchanged. */
  char *plain[] = {"scaleout", "run", "pi", "--samples", "1e6", NULL};
  at = 0;
  out = so__plugin_rank_argv(plain, so__jobs_find("pi"), &at);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  for (int i = 0; plain[i]; i++)
    CU_ASSERT_PTR_EQUAL(out[i], plain[i]);
  CU_ASSERT_PTR_NULL(out[5]);
  CU_ASSERT_EQUAL(at, 0);
  free(out);
}

int main(void) {
  static const so_test_case cases[] = {
    {"a plugin's jobs join the table; a short table reads as full", test_load_good},
    {"a refused plugin leaves the table as it was", test_refused_leaves_nothing},
    {"--job-lib must hold the job named", test_prepare},
    {"a direct run's ranks load the absolute path", test_rank_argv},
    {NULL, NULL},
  };
  return so_test_run("plugin", cases);
}

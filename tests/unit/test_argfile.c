/* The ::: words of a direct run in a memory file: written by the parent, read back in every rank. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argfile.h"
#include "so_test.h"

static char dir[] = "/tmp/so_test_argfile_XXXXXX";
static char path[512];

/* Words with everything a shell may pass: spaces, quotes, a newline, an empty word, a long one. */
static void test_round_trip(void) {
  static char longw[200001];
  memset(longw, 'w', sizeof longw - 1);
  char *words[] = {"a b", "it's \"quoted\"", "line\nbreak", "", "$HOME;`x`", longw};
  int n = (int)(sizeof words / sizeof *words);
  char err[512] = "";
  int fd = so__argfile_offer(n, words, err, sizeof err);
  CU_ASSERT_FATAL(fd >= 0);
  /* The name is the parent's descriptor, which another process of the same user can open. */
  char want[64];
  snprintf(want, sizeof want, "/proc/%ld/fd/%d", (long)getpid(), fd);
  CU_ASSERT_STRING_EQUAL(getenv(SO_ARGFILE_ENV), want);
  char *argv[] = {"scaleout", "run", "--command", "echo {}", ":::", NULL};
  so__argv av;
  CU_ASSERT_EQUAL_FATAL(so__argfile_splice(5, argv, &av, err, sizeof err), 0);
  close(fd);
  CU_ASSERT_EQUAL(av.argc, 5 + n);
  for (int i = 0; i < 5; i++)
    CU_ASSERT_STRING_EQUAL(av.argv[i], argv[i]);
  for (int i = 0; i < n && av.argc == 5 + n; i++)
    CU_ASSERT_STRING_EQUAL(av.argv[5 + i], words[i]);
  CU_ASSERT_PTR_NULL(av.argv[av.argc]);
  /* Commands the run starts must not inherit the variable. */
  CU_ASSERT_PTR_NULL(getenv(SO_ARGFILE_ENV));
  so__argv_free(&av);
}

/* Without the variable the command line is used as it is. */
static void test_no_variable(void) {
  unsetenv(SO_ARGFILE_ENV);
  char *argv[] = {"scaleout", "run", "pi", NULL};
  so__argv av;
  char err[512] = "";
  CU_ASSERT_EQUAL(so__argfile_splice(3, argv, &av, err, sizeof err), 0);
  CU_ASSERT_EQUAL(av.argc, 3);
  CU_ASSERT_PTR_EQUAL(av.argv, argv);
  so__argv_free(&av);
}

/* A missing or cut file, or a command line without the trailing :::, is one clear sentence. */
static void test_errors(void) {
  char *argv[] = {"scaleout", "run", ":::", NULL};
  so__argv av;
  char err[512] = "";
  setenv(SO_ARGFILE_ENV, "/nonexistent/args", 1);
  CU_ASSERT_EQUAL(so__argfile_splice(3, argv, &av, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/args"));
  snprintf(path, sizeof path, "%s/cut", dir);
  FILE *f = fopen(path, "w");
  CU_ASSERT_FATAL(f != NULL);
  fputs("one", f); /* no NUL after the word */
  fclose(f);
  setenv(SO_ARGFILE_ENV, path, 1);
  CU_ASSERT_EQUAL(so__argfile_splice(3, argv, &av, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "cut short"));
  setenv(SO_ARGFILE_ENV, path, 1);
  CU_ASSERT_EQUAL(so__argfile_splice(2, argv, &av, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, ":::"));
  unsetenv(SO_ARGFILE_ENV);
}

int main(void) {
  if (!mkdtemp(dir))
    return 2;
  static const so_test_case cases[] = {{"words survive the file unchanged", test_round_trip},
                                       {"no variable, no change", test_no_variable},
                                       {"a missing or cut file", test_errors},
                                       {NULL, NULL}};
  int rc = so_test_run("argfile", cases);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}

/* The joblog's owner lock: one owner at a time, named in the refusal; shepherds join it; a share
 * held by a descendant keeps it; --wait-joblog waits for the owner, and a stop ends the wait. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "farm/joblock.h"
#include "scaleout/scaleout.h"
#include "so_test.h"

static char dir[256], path[300];

static void setup(void) {
  const char *t = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/so-joblock-XXXXXX", t && *t ? t : "/tmp");
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/log.lock", dir);
}

static void teardown(void) {
  unlink(path);
  rmdir(dir);
}

static void test_path(void) {
  char out[64];
  CU_ASSERT_EQUAL(so__joblock_path("run.log", out, sizeof out), 0);
  CU_ASSERT_STRING_EQUAL(out, "run.log.lock");
  CU_ASSERT_EQUAL(so__joblock_path("run.log", out, 8), SO_EINVAL);
}

static void test_refused_names_owner(void) {
  setup();
  char err[512] = "", host[256] = "", want[300];
  int a = -1, b = -1;
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_REFUSE, 1, NULL, &a, err, sizeof err), 0);
  CU_ASSERT(a >= 0);
  /* Another open file description, as another run would have: refused at once. */
  double t0 = so__mono_s();
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_REFUSE, 1, NULL, &b, err, sizeof err), SO_EINVAL);
  CU_ASSERT(so__mono_s() - t0 < 0.5);
  CU_ASSERT_EQUAL(b, -1);
  gethostname(host, sizeof host - 1);
  snprintf(want, sizeof want, "in use by the run of pid %ld on %s, started ", (long)getpid(), host);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "--wait-joblog"));
  close(a);
  /* Once the owner is gone the next run owns it. */
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_REFUSE, 1, NULL, &b, err, sizeof err), 0);
  close(b);
  teardown();
}

static void test_join(void) {
  setup();
  char err[512] = "";
  int owner = -1, shep = -1, next = -1;
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_REFUSE, 1, NULL, &owner, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblock_join(path, &shep, err, sizeof err), 0);
  /* The master is gone, its shepherd is not: the joblog is still owned. */
  close(owner);
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_REFUSE, 1, NULL, &next, err, sizeof err),
                  SO_EINVAL);
  close(shep);
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_REFUSE, 1, NULL, &next, err, sizeof err), 0);
  /* A shepherd of a run that lost the joblog to this one must not join. */
  CU_ASSERT_EQUAL(flock(next, LOCK_EX | LOCK_NB), 0); /* as while a new owner starts */
  CU_ASSERT_EQUAL(so__joblock_join(path, &shep, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(shep, -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "not to this shepherd's run"));
  close(next);
  teardown();
}

/* A command inherits its shepherd's descriptor: the lock lasts while it lives. */
static void test_inherited_share(void) {
  setup();
  char err[512] = "";
  int owner = -1, next = -1;
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_REFUSE, 1, NULL, &owner, err, sizeof err), 0);
  pid_t child = fork();
  if (child == 0) {
    pause(); /* holds a copy of owner, as a command holds the shepherd's */
    _exit(0);
  }
  close(owner);
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_REFUSE, 1, NULL, &next, err, sizeof err),
                  SO_EINVAL);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_REFUSE, 1, NULL, &next, err, sizeof err), 0);
  close(next);
  teardown();
}

static int stops;
static int stop_after_three(void) { return ++stops >= 3; }

static void test_wait(void) {
  setup();
  char err[512] = "";
  int owner = -1, next = -1;
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_REFUSE, 1, NULL, &owner, err, sizeof err), 0);
  /* A stop signal ends the wait. */
  stops = 0;
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_WAIT, 1, stop_after_three, &next, err,
                                  sizeof err), SO_ESTOPPED);
  CU_ASSERT_EQUAL(stops, 3);
  /* The owner, a child that holds the lock for 0.3 s, ends: the waiter then owns it. */
  pid_t child = fork();
  if (child == 0) {
    struct timespec ts = {0, 300000000L};
    nanosleep(&ts, NULL);
    _exit(0);
  }
  close(owner);
  double t0 = so__mono_s();
  CU_ASSERT_EQUAL(so__joblock_own(path, SO_JOBLOCK_WAIT, 1, NULL, &next, err, sizeof err), 0);
  double waited = so__mono_s() - t0;
  CU_ASSERT(waited >= 0.2);
  printf("(waited %.2f s for an owner that held the lock 0.3 s) ", waited);
  waitpid(child, NULL, 0);
  char text[512] = "";
  CU_ASSERT(pread(next, text, sizeof text - 1, 0) > 0);
  char want[32];
  snprintf(want, sizeof want, "%ld ", (long)getpid());
  CU_ASSERT_EQUAL(strncmp(text, want, strlen(want)), 0);
  close(next);
  teardown();
}

static void test_unusable_path(void) {
  char err[512] = "";
  int fd = -1;
  CU_ASSERT_EQUAL(so__joblock_own("/nonexistent-dir/x.lock", SO_JOBLOCK_REFUSE, 1, NULL, &fd, err,
                                  sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent-dir/x.lock"));
  CU_ASSERT_EQUAL(fd, -1);
}

int main(void) {
  static const so_test_case cases[] = {{"lock path", test_path},
                                       {"a second owner is refused, naming the first", test_refused_names_owner},
                                       {"shepherds join; a shepherd keeps it owned", test_join},
                                       {"a command's inherited share keeps it owned", test_inherited_share},
                                       {"waiting for the owner, and a stop ending the wait", test_wait},
                                       {"a lock file that cannot be opened", test_unusable_path},
                                       {NULL, NULL}};
  return so_test_run("joblock", cases);
}

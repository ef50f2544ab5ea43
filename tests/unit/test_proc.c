/* Unit tests of the process supervisor: exit statuses, signals, timeouts that leave no process of
 * the group, environment, output files and streamed pipes, concurrency, rusage, and cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "farm/proc.h"
#include "scaleout/scaleout.h"
#include "so_proctest.h"
#include "so_test.h"

/* What the output callback saw: counts only, plus the first bytes, so memory stays bounded. */
typedef struct sink {
  uint64_t bytes[3];
  size_t calls, max_chunk;
  size_t odd_pieces;  /* line mode: pieces neither ending in '\n' nor a full buffer */
  char head[4096];
  size_t head_len;
  uint64_t line_sum, lines; /* line mode: the numbers seq printed, one per line */
} sink;

static sink g_sink;
static char g_dir[64];

static void on_output(void *arg, so__proc *task, int stream, const char *data, size_t len) {
  sink *s = arg;
  CU_ASSERT(stream == 1 || stream == 2);
  CU_ASSERT(len > 0 && len <= SO__PROC_BUFSZ);
  s->bytes[stream] += len;
  s->calls++;
  if (len > s->max_chunk)
    s->max_chunk = len;
  if (data[len - 1] != '\n' && len != SO__PROC_BUFSZ)
    s->odd_pieces++;
  size_t room = sizeof s->head - s->head_len;
  size_t take = len < room ? len : room;
  memcpy(s->head + s->head_len, data, take);
  s->head_len += take;
}

/* A line-mode callback that adds up the numbers printed one per line, piece by piece. */
static void on_lines(void *arg, so__proc *task, int stream, const char *data, size_t len) {
  sink *s = arg;
  on_output(arg, task, stream, data, len);
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\n') {
      s->line_sum += v;
      s->lines++;
      v = 0;
    } else {
      v = v * 10 + (uint64_t)(data[i] - '0');
    }
  }
  CU_ASSERT(data[len - 1] == '\n'); /* whole lines only: no number is ever split */
}

static so__proc_sup *new_sup(unsigned max, double grace, unsigned flags, so__proc_output_fn fn) {
  memset(&g_sink, 0, sizeof g_sink);
  so__proc_opts o = {.max_tasks = max, .grace = grace, .flags = flags, .on_output = fn,
                     .arg = &g_sink};
  so__proc_sup *sup = NULL;
  char err[256];
  int rc = so__proc_sup_new(&o, &sup, err, sizeof err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sup);
  return sup;
}

/* Whether kill(-pgid, 0) reports the group gone within max_s. Orphans of the group become
 * zombies of init, which in some containers reaps them only every second or so. */
static int group_vanishes(pid_t pgid, double max_s) {
  double until = so_test_now() + max_s;
  do {
    if (kill(-pgid, 0) == -1 && errno == ESRCH)
      return 1;
    usleep(20000);
  } while (so_test_now() < until);
  return 0;
}

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  while (d && readdir(d))
    n++;
  if (d)
    closedir(d);
  return n;
}

static size_t slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

/* Runs spec to completion like so__proc_run, but gives up after 10 s so that a supervisor that
 * never finishes a task fails the test instead of hanging it. */
static so__proc_result run_spec(so__proc_sup *sup, const so__proc_spec *spec) {
  so__proc_result r;
  memset(&r, 0, sizeof r);
  char err[256] = "";
  so__proc *t;
  int rc = so__proc_spawn(sup, spec, &t, err, sizeof err);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc) {
    fprintf(stderr, "so__proc_spawn: %s\n", err);
    return r;
  }
  double until = so_test_now() + 10;
  while (!so__proc_done(t) && so_test_now() < until)
    CU_ASSERT_FATAL(so__proc_poll(sup, 100, NULL, 0) >= 0);
  if (!so__proc_done(t)) {
    CU_FAIL("the task did not complete within 10 s");
    so__proc_kill_now(sup);
    return r;
  }
  CU_ASSERT_PTR_EQUAL(so__proc_next_done(sup), t);
  r = *so__proc_result_of(t);
  so__proc_free(t);
  return r;
}

static so__proc_result run(so__proc_sup *sup, const char *cmd, double timeout) {
  so__proc_spec spec = {.cmd = cmd, .timeout = timeout};
  return run_spec(sup, &spec);
}

static void test_exit_status(void) {
  so__proc_sup *sup = new_sup(1, 0, 0, NULL);
  so__proc_result r = run(sup, "exit 0", 0);
  CU_ASSERT_EQUAL(r.exitval, 0);
  CU_ASSERT_EQUAL(r.signal, 0);
  CU_ASSERT(!r.timed_out && !r.killed && !r.strays && !r.status_lost);
  CU_ASSERT(r.pid > 0);
  CU_ASSERT(r.start > (double)time(NULL) - 5 && r.start <= (double)time(NULL) + 1);
  CU_ASSERT(r.wall >= 0 && r.wall < 5);
  r = run(sup, "true; exit 3", 0);
  CU_ASSERT_EQUAL(r.exitval, 3);
  CU_ASSERT_EQUAL(r.signal, 0);
  CU_ASSERT_EQUAL(waitpid(r.pid, NULL, WNOHANG), -1); /* reaped already */
  so__proc_sup_free(sup);
}

static void test_signal(void) {
  so__proc_sup *sup = new_sup(1, 0, 0, NULL);
  so__proc_result r = run(sup, "kill -USR1 $$; sleep 5", 0);
  CU_ASSERT_EQUAL(r.signal, SIGUSR1);
  CU_ASSERT_EQUAL(r.exitval, -1);
  CU_ASSERT(!r.timed_out && !r.killed);
  so__proc_sup_free(sup);
}

/* The background and the foreground sleep both belong to the group; both hold the stdout pipe, so
 * completion also proves the supervisor does not wait for an end of file that never comes. */
static void test_timeout_whole_group(void) {
  so__proc_sup *sup = new_sup(1, 1.0, 0, on_output);
  so__proc_spec spec = {.cmd = "sleep 100 & sleep 100", .timeout = 0.3,
                        .out = {SO__PROC_PIPE, NULL}};
  so__proc_result r;
  double t0 = so_test_now();
  r = run_spec(sup, &spec);
  double took = so_test_now() - t0;
  CU_ASSERT(r.timed_out);
  CU_ASSERT(!r.killed && !r.group_left);
  CU_ASSERT_EQUAL(r.signal, SIGTERM);
  CU_ASSERT(took >= 0.29 && took < 0.3 + 0.5); /* everything died on SIGTERM: no grace waited */
  CU_ASSERT(r.wall >= 0.29 && r.wall <= took);
  CU_ASSERT_EQUAL(so_test_live_in_group(r.pid), 0);
  CU_ASSERT(group_vanishes(r.pid, 5.0));
  so__proc_sup_free(sup);
}

/* so__proc_set_timeout moves a running task's deadline, counted from its spawn: a limit set on a
 * task with none fires at spawn + limit; one already passed fires at the next poll; 0 removes it. */
static void test_set_timeout(void) {
  so__proc_sup *sup = new_sup(3, 1.0, 0, NULL);
  char err[256] = "";
  so__proc *a, *b, *c;
  so__proc_spec spec = {.cmd = "sleep 100"};
  double t0 = so_test_now();
  CU_ASSERT_EQUAL_FATAL(so__proc_spawn(sup, &spec, &a, err, sizeof err), 0);
  spec.timeout = 0.3;
  CU_ASSERT_EQUAL_FATAL(so__proc_spawn(sup, &spec, &b, err, sizeof err), 0);
  spec.cmd = "sleep 0.8";
  CU_ASSERT_EQUAL_FATAL(so__proc_spawn(sup, &spec, &c, err, sizeof err), 0);
  so__proc_set_timeout(a, 0.5); /* none -> 0.5 s from its spawn */
  so__proc_set_timeout(b, 0);   /* 0.3 s -> none: it must outlive 0.3 s */
  so__proc_set_timeout(c, 0);   /* and c runs to its own end */
  so__proc_set_timeout(c, -1);  /* ignored */
  double done_a = 0, at_b = 0;
  while ((!so__proc_done(a) || !so__proc_done(c) || !at_b) && so_test_now() < t0 + 10) {
    CU_ASSERT_FATAL(so__proc_poll(sup, 50, NULL, 0) >= 0);
    if (so__proc_done(a) && !done_a)
      done_a = so_test_now() - t0;
    if (!at_b && so_test_now() - t0 >= 0.9) {
      /* b has run 0.9 s: a limit of 0.6 s is already passed, so it ends at once. */
      CU_ASSERT_FALSE(so__proc_done(b));
      so__proc_set_timeout(b, 0.6);
      at_b = so_test_now() - t0;
    }
  }
  while (!so__proc_done(b) && so_test_now() < t0 + 10)
    CU_ASSERT_FATAL(so__proc_poll(sup, 50, NULL, 0) >= 0);
  double done_b = so_test_now() - t0;
  CU_ASSERT(so__proc_done(a) && so__proc_done(b) && so__proc_done(c));
  CU_ASSERT(so__proc_result_of(a)->timed_out && so__proc_result_of(b)->timed_out);
  CU_ASSERT(!so__proc_result_of(c)->timed_out && so__proc_result_of(c)->exitval == 0);
  CU_ASSERT(done_a >= 0.45 && done_a < 0.5 + 0.5);
  CU_ASSERT(done_b >= at_b && done_b < at_b + 0.5);
  if (!(done_a >= 0.45 && done_a < 1.0) || !(done_b < at_b + 0.5))
    fprintf(stderr, "\n  a ended at %.3f s (limit 0.5 s), b at %.3f s (limit set at %.3f s)\n",
            done_a, done_b, at_b);
  so__proc *t;
  while ((t = so__proc_next_done(sup)))
    so__proc_free(t);
  so__proc_sup_free(sup);
}

static void test_term_ignored_gets_killed(void) {
  so__proc_sup *sup = new_sup(1, 0.5, 0, NULL);
  double t0 = so_test_now();
  so__proc_result r = run(sup, "trap '' TERM; sleep 100 & sleep 100", 0.2);
  double took = so_test_now() - t0;
  CU_ASSERT(r.timed_out);
  CU_ASSERT_EQUAL(r.signal, SIGKILL);
  CU_ASSERT(took >= 0.2 + 0.5 - 0.02 && took < 0.2 + 0.5 + 1.0);
  CU_ASSERT_EQUAL(so_test_live_in_group(r.pid), 0);
  CU_ASSERT(group_vanishes(r.pid, 5.0));
  so__proc_sup_free(sup);
}

static void test_kill_on_demand(void) {
  so__proc_sup *sup = new_sup(2, 1.0, 0, NULL);
  so__proc_spec spec = {.cmd = "sleep 100", .user = &g_sink};
  so__proc *a, *b;
  CU_ASSERT_EQUAL_FATAL(so__proc_spawn(sup, &spec, &a, NULL, 0), 0);
  spec.cmd = "trap '' TERM; sleep 100";
  CU_ASSERT_EQUAL_FATAL(so__proc_spawn(sup, &spec, &b, NULL, 0), 0);
  CU_ASSERT_EQUAL(so__proc_running(sup), 2);
  CU_ASSERT_PTR_EQUAL(so__proc_user(a), &g_sink);
  CU_ASSERT_EQUAL(so__proc_poll(sup, 100, NULL, 0), 0);
  so__proc_kill(a);
  double t0 = so_test_now();
  while (!so__proc_done(a) && so_test_now() - t0 < 10)
    CU_ASSERT_FATAL(so__proc_poll(sup, 100, NULL, 0) >= 0);
  CU_ASSERT(so_test_now() - t0 < 0.8); /* a dies on SIGTERM, without waiting out the 1 s grace */
  CU_ASSERT_FALSE(so__proc_done(b));
  so__proc_kill_all(sup);
  double until = so_test_now() + 10;
  while (so__proc_running(sup) && so_test_now() < until)
    CU_ASSERT_FATAL(so__proc_poll(sup, 100, NULL, 0) >= 0);
  CU_ASSERT_EQUAL_FATAL(so__proc_running(sup), 0);
  so__proc *first = so__proc_next_done(sup), *second = so__proc_next_done(sup);
  CU_ASSERT_PTR_EQUAL(first, a);
  CU_ASSERT_PTR_EQUAL(second, b);
  CU_ASSERT_PTR_NULL(so__proc_next_done(sup));
  CU_ASSERT(so__proc_result_of(a)->killed && !so__proc_result_of(a)->timed_out);
  CU_ASSERT_EQUAL(so__proc_result_of(a)->signal, SIGTERM);
  CU_ASSERT_EQUAL(so__proc_result_of(b)->signal, SIGKILL);
  CU_ASSERT_EQUAL(so_test_live_in_group(so__proc_result_of(b)->pid), 0);
  so__proc_free(a);
  so__proc_free(b);
  so__proc_sup_free(sup);
}

/* A background job left behind by a shell that exited normally is terminated with the task. */
static void test_strays_terminated(void) {
  so__proc_sup *sup = new_sup(1, 1.0, 0, on_output);
  so__proc_spec spec = {.cmd = "sleep 100 & echo hi", .out = {SO__PROC_PIPE, NULL}};
  so__proc_result r;
  double t0 = so_test_now();
  r = run_spec(sup, &spec);
  CU_ASSERT(so_test_now() - t0 < 1.0);
  CU_ASSERT_EQUAL(r.exitval, 0);
  CU_ASSERT(r.strays && !r.timed_out && !r.killed);
  CU_ASSERT_EQUAL(r.out_bytes, 3);
  CU_ASSERT_EQUAL(g_sink.head_len, 3);
  CU_ASSERT_NSTRING_EQUAL(g_sink.head, "hi\n", 3);
  CU_ASSERT_EQUAL(so_test_live_in_group(r.pid), 0);
  so__proc_sup_free(sup);
}

static void test_environment(void) {
  so__proc_sup *sup = new_sup(1, 0, 0, on_output);
  setenv("SO_PROC_T_INHERIT", "kept", 1);
  setenv("SO_PROC_T_OVERRIDE", "old", 1);
  const char *env[] = {"SCALEOUT_TASK_ID=42", "SCALEOUT_WORKER=3", "SCALEOUT_HOST=node7",
                       "SCALEOUT_CPUS=2-3", "SO_PROC_T_OVERRIDE=mid", "SO_PROC_T_OVERRIDE=new",
                       NULL};
  so__proc_spec spec = {
      .cmd = "printf '%s|%s|%s|%s|%s|%s|' \"$SCALEOUT_TASK_ID\" \"$SCALEOUT_WORKER\" "
             "\"$SCALEOUT_HOST\" \"$SCALEOUT_CPUS\" \"$SO_PROC_T_OVERRIDE\" \"$SO_PROC_T_INHERIT\";"
             " env | grep -c '^SO_PROC_T_OVERRIDE='",
      .env = env, .out = {SO__PROC_PIPE, NULL}};
  so__proc_result r;
  CU_ASSERT_EQUAL_FATAL(so__proc_run(sup, &spec, &r, NULL, 0), 0);
  const char *want = "42|3|node7|2-3|new|kept|1\n";
  CU_ASSERT_EQUAL(g_sink.head_len, strlen(want));
  CU_ASSERT_NSTRING_EQUAL(g_sink.head, want, strlen(want));
  CU_ASSERT_STRING_EQUAL(getenv("SO_PROC_T_OVERRIDE"), "old"); /* the worker's is untouched */
  unsetenv("SO_PROC_T_INHERIT");
  unsetenv("SO_PROC_T_OVERRIDE");
  so__proc_sup_free(sup);
}

static void test_output_files(void) {
  so__proc_sup *sup = new_sup(1, 0, 0, NULL);
  char out[128], errp[128], both[128], buf[256];
  snprintf(out, sizeof out, "%s/out", g_dir);
  snprintf(errp, sizeof errp, "%s/err", g_dir);
  snprintf(both, sizeof both, "%s/both", g_dir);
  FILE *f = fopen(out, "w"); /* longer old content: O_TRUNC must remove it */
  fputs("this old content is longer than the new one", f);
  fclose(f);
  so__proc_spec spec = {.cmd = "printf 'out\\n'; printf 'e\\000r\\n' >&2",
                        .out = {SO__PROC_FILE, out}, .err = {SO__PROC_FILE, errp}};
  so__proc_result r;
  CU_ASSERT_EQUAL_FATAL(so__proc_run(sup, &spec, &r, NULL, 0), 0);
  CU_ASSERT_EQUAL(slurp(out, buf, sizeof buf), 4);
  CU_ASSERT(memcmp(buf, "out\n", 4) == 0);
  CU_ASSERT_EQUAL(slurp(errp, buf, sizeof buf), 4);
  CU_ASSERT(memcmp(buf, "e\0r\n", 4) == 0);
  CU_ASSERT_EQUAL(r.out_bytes, 4);
  CU_ASSERT_EQUAL(r.err_bytes, 4);

  spec = (so__proc_spec){.cmd = "printf a; printf b >&2; printf c",
                         .out = {SO__PROC_FILE, both}, .err = {SO__PROC_FILE, both}};
  CU_ASSERT_EQUAL_FATAL(so__proc_run(sup, &spec, &r, NULL, 0), 0);
  CU_ASSERT_EQUAL(slurp(both, buf, sizeof buf), 3);
  CU_ASSERT(memcmp(buf, "abc", 3) == 0);
  CU_ASSERT_EQUAL(r.out_bytes, 3);
  CU_ASSERT_EQUAL(r.err_bytes, 0);
  unlink(out);
  unlink(errp);
  unlink(both);
  so__proc_sup_free(sup);
}

/* 50 MB through a pipe: every byte counted, never more than one buffer per callback, and the
 * process's peak memory does not grow by anything near the output's size. */
static void test_stream_large(void) {
  struct rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  so__proc_sup *sup = new_sup(1, 0, 0, on_output);
  so__proc_spec spec = {.cmd = "head -c 50000000 /dev/zero; echo oops >&2",
                        .out = {SO__PROC_PIPE, NULL}, .err = {SO__PROC_PIPE, NULL}};
  so__proc_result r;
  CU_ASSERT_EQUAL_FATAL(so__proc_run(sup, &spec, &r, NULL, 0), 0);
  getrusage(RUSAGE_SELF, &after);
  CU_ASSERT_EQUAL(r.exitval, 0);
  CU_ASSERT_EQUAL(r.out_bytes, 50000000);
  CU_ASSERT_EQUAL(g_sink.bytes[1], 50000000);
  CU_ASSERT_EQUAL(r.err_bytes, 5);
  CU_ASSERT_EQUAL(g_sink.bytes[2], 5);
  CU_ASSERT(g_sink.max_chunk <= SO__PROC_BUFSZ);
  CU_ASSERT(g_sink.calls >= 50000000 / SO__PROC_BUFSZ);
  CU_ASSERT(after.ru_maxrss - before.ru_maxrss < 16 * 1024); /* KiB */
  so__proc_sup_free(sup);
}

static void test_stream_lines(void) {
  so__proc_sup *sup = new_sup(1, 0, 0, on_lines);
  so__proc_spec spec = {.cmd = "seq 1 20000", .out = {SO__PROC_PIPE, NULL},
                        .flags = SO__PROC_LINES};
  so__proc_result r;
  CU_ASSERT_EQUAL_FATAL(so__proc_run(sup, &spec, &r, NULL, 0), 0);
  CU_ASSERT_EQUAL(g_sink.lines, 20000);
  CU_ASSERT_EQUAL(g_sink.line_sum, 20000ull * 20001 / 2);
  CU_ASSERT_EQUAL(r.out_bytes, g_sink.bytes[1]);
  so__proc_sup_free(sup);

  /* A line longer than the buffer comes in full-buffer pieces; the unterminated tail comes last. */
  sup = new_sup(1, 0, 0, on_output);
  spec.cmd = "head -c 200000 /dev/zero | tr '\\000' x; printf '\\nend'";
  CU_ASSERT_EQUAL_FATAL(so__proc_run(sup, &spec, &r, NULL, 0), 0);
  CU_ASSERT_EQUAL(r.out_bytes, 200004);
  CU_ASSERT_EQUAL(g_sink.bytes[1], 200004);
  CU_ASSERT_EQUAL(g_sink.max_chunk, SO__PROC_BUFSZ);
  CU_ASSERT_EQUAL(g_sink.odd_pieces, 1); /* "end" */
  so__proc_sup_free(sup);
}

static void concurrent(unsigned flags) {
  so__proc_sup *sup = new_sup(4, 0, flags, NULL);
  int ids[4] = {0, 1, 2, 3}, seen[4] = {0};
  pid_t pids[4];
  char cmd[64];
  double t0 = so_test_now();
  for (int i = 0; i < 4; i++) {
    snprintf(cmd, sizeof cmd, "sleep 0.3; exit %d", 10 + i);
    so__proc_spec spec = {.cmd = cmd, .user = &ids[i]};
    so__proc *t;
    CU_ASSERT_EQUAL_FATAL(so__proc_spawn(sup, &spec, &t, NULL, 0), 0);
    pids[i] = so__proc_result_of(t)->pid;
  }
  char err[256] = "";
  so__proc_spec extra = {.cmd = "true"};
  CU_ASSERT_EQUAL(so__proc_spawn(sup, &extra, NULL, err, sizeof err), SO_EINVAL);
  CU_ASSERT(strstr(err, "(4)") != NULL);
  int completed = 0;
  while (completed < 4 && so_test_now() - t0 < 10) {
    int n = so__proc_poll(sup, 100, NULL, 0);
    CU_ASSERT_FATAL(n >= 0);
    completed += n;
    for (so__proc *t; (t = so__proc_next_done(sup));) {
      int i = *(int *)so__proc_user(t);
      seen[i]++;
      CU_ASSERT_EQUAL(so__proc_result_of(t)->exitval, 10 + i);
      CU_ASSERT_EQUAL(so__proc_result_of(t)->pid, pids[i]);
      so__proc_free(t);
    }
  }
  CU_ASSERT(so_test_now() - t0 < 0.9); /* one after the other would take 1.2 s */
  CU_ASSERT_EQUAL(so__proc_running(sup), 0);
  for (int i = 0; i < 4; i++) {
    CU_ASSERT_EQUAL(seen[i], 1);
    errno = 0;
    CU_ASSERT(waitpid(pids[i], NULL, WNOHANG) == -1 && errno == ECHILD);
  }
  so__proc_sup_free(sup);
}

static void test_concurrent_pidfd(void) { concurrent(0); }
static void test_concurrent_polling(void) { concurrent(SO__PROC_NO_PIDFD); }

static void test_rusage(void) {
  so__proc_sup *sup = new_sup(1, 0, 0, NULL);
  so__proc_result r = run(sup, "i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done", 0);
  CU_ASSERT_EQUAL(r.exitval, 0);
  CU_ASSERT(r.utime > 0);
  CU_ASSERT(r.stime >= 0);
  CU_ASSERT(r.utime + r.stime <= r.wall + 0.05);
  CU_ASSERT(r.maxrss_kb > 0 && r.maxrss_kb < 1024 * 1024);
  so__proc_sup_free(sup);
}

/* The child gets exactly 0-1-2 whatever the worker leaves inheritable, and starts with no signal
 * blocked or ignored whatever the worker blocks or ignores. */
static void test_clean_child_state(void) {
  int leak = open("/dev/null", O_RDONLY); /* deliberately inheritable */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  sigprocmask(SIG_BLOCK, &block, &old);
  void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
  so__proc_sup *sup = new_sup(1, 0, 0, on_output);
  so__proc_spec spec = {
      /* The shell reads its own mask before running anything: dash blocks every signal around
       * each vfork it makes and afterwards unblocks all. No pipeline for ls: its pipe would be
       * the shell's fds 3 and 4 while ls looks. */
      .cmd = "while read -r l; do case $l in SigBlk*|SigIgn*) echo \"$l\";; esac; done "
             "</proc/$$/status; ls /proc/$$/fd",
      .out = {SO__PROC_PIPE, NULL}};
  so__proc_result r;
  CU_ASSERT_EQUAL_FATAL(so__proc_run(sup, &spec, &r, NULL, 0), 0);
  const char *want = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n0\n1\n2\n";
  CU_ASSERT_EQUAL(g_sink.head_len, strlen(want));
  CU_ASSERT_NSTRING_EQUAL(g_sink.head, want, strlen(want));
  if (g_sink.head_len != strlen(want) || memcmp(g_sink.head, want, strlen(want)))
    fprintf(stderr, "child state: %.*s\n", (int)g_sink.head_len, g_sink.head);
  so__proc_sup_free(sup);
  signal(SIGPIPE, old_pipe);
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(leak);
}

static void test_free_kills_running(void) {
  so__proc_sup *sup = new_sup(2, 0.5, 0, on_output);
  so__proc_spec spec = {.cmd = "sleep 100 & sleep 100", .out = {SO__PROC_PIPE, NULL}};
  so__proc *t;
  CU_ASSERT_EQUAL_FATAL(so__proc_spawn(sup, &spec, &t, NULL, 0), 0);
  pid_t pgid = so__proc_result_of(t)->pid;
  spec.cmd = "trap '' TERM; sleep 100";
  CU_ASSERT_EQUAL_FATAL(so__proc_spawn(sup, &spec, &t, NULL, 0), 0);
  pid_t pgid2 = so__proc_result_of(t)->pid;
  so__proc_poll(sup, 100, NULL, 0);
  CU_ASSERT(so_test_live_in_group(pgid) >= 2);
  double t0 = so_test_now();
  so__proc_sup_free(sup);
  CU_ASSERT(so_test_now() - t0 < 0.5 + 0.5);
  CU_ASSERT_EQUAL(so_test_live_in_group(pgid), 0);
  CU_ASSERT_EQUAL(so_test_live_in_group(pgid2), 0);
  CU_ASSERT(waitpid(pgid, NULL, WNOHANG) == -1 && waitpid(pgid2, NULL, WNOHANG) == -1);
}

/* A worker that dies by SIGKILL takes its running command with it (PR_SET_PDEATHSIG). */
static void test_parent_death(void) {
  int p[2];
  CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
  pid_t worker = fork();
  CU_ASSERT_FATAL(worker >= 0);
  if (worker == 0) {
    close(p[0]);
    so__proc_opts o = {.max_tasks = 1};
    so__proc_sup *sup;
    so__proc *t;
    so__proc_spec spec = {.cmd = "exec sleep 100"};
    if (so__proc_sup_new(&o, &sup, NULL, 0) || so__proc_spawn(sup, &spec, &t, NULL, 0))
      _exit(1);
    pid_t pid = so__proc_result_of(t)->pid;
    if (write(p[1], &pid, sizeof pid) != sizeof pid)
      _exit(1);
    usleep(100000); /* let the shell exec sleep */
    raise(SIGKILL);
  }
  close(p[1]);
  pid_t child = 0;
  CU_ASSERT_EQUAL(read(p[0], &child, sizeof child), (ssize_t)sizeof child);
  close(p[0]);
  int status;
  CU_ASSERT_EQUAL(waitpid(worker, &status, 0), worker);
  CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  CU_ASSERT_FATAL(child > 0);
  CU_ASSERT(so_test_group_gone_within(child, 2.0));
}

static void test_errors(void) {
  int fds = open_fds();
  so__proc_sup *sup = NULL;
  char err[256] = "";
  so__proc_opts bad = {.flags = 0x80};
  CU_ASSERT_EQUAL(so__proc_sup_new(&bad, &sup, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NULL(sup);
  bad = (so__proc_opts){.grace = -1};
  CU_ASSERT_EQUAL(so__proc_sup_new(&bad, &sup, err, sizeof err), SO_EINVAL);
  sup = new_sup(1, 0, 0, NULL);
  so__proc_spec spec = {.cmd = NULL};
  CU_ASSERT_EQUAL(so__proc_spawn(sup, &spec, NULL, err, sizeof err), SO_EINVAL);
  const char *env[] = {"NOEQUALS", NULL};
  spec = (so__proc_spec){.cmd = "true", .env = env};
  CU_ASSERT_EQUAL(so__proc_spawn(sup, &spec, NULL, err, sizeof err), SO_EINVAL);
  CU_ASSERT(strstr(err, "NOEQUALS") != NULL);
  spec = (so__proc_spec){.cmd = "true", .flags = 0x40};
  CU_ASSERT_EQUAL(so__proc_spawn(sup, &spec, NULL, err, sizeof err), SO_EINVAL);
  spec = (so__proc_spec){.cmd = "true", .timeout = -2};
  CU_ASSERT_EQUAL(so__proc_spawn(sup, &spec, NULL, err, sizeof err), SO_EINVAL);
  spec = (so__proc_spec){.cmd = "true", .out = {SO__PROC_PIPE, NULL}};
  CU_ASSERT_EQUAL(so__proc_spawn(sup, &spec, NULL, err, sizeof err), SO_EINVAL);
  char missing[128];
  snprintf(missing, sizeof missing, "%s/no/such/dir/out", g_dir);
  spec = (so__proc_spec){.cmd = "true", .out = {SO__PROC_FILE, missing}};
  CU_ASSERT_EQUAL(so__proc_spawn(sup, &spec, NULL, err, sizeof err), SO_EIO);
  CU_ASSERT(strstr(err, missing) != NULL);
  CU_ASSERT_EQUAL(so__proc_running(sup), 0);
  so__proc_result r = run(sup, "exit 0", 0); /* still usable after the failures */
  CU_ASSERT_EQUAL(r.exitval, 0);
  so__proc_sup_free(sup);
  CU_ASSERT_EQUAL(open_fds(), fds); /* nothing leaked on any path */
}

/* The one descriptor asked for (the joblog's owner lock) reaches the command, close-on-exec or
 * not; no other does. */
static void test_inherit_fd(void) {
  int keep = open("/dev/null", O_RDONLY | O_CLOEXEC), other = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CU_ASSERT_FATAL(keep > 2 && other > 2);
  so__proc_opts o = {.inherit_fd = keep};
  so__proc_sup *sup = NULL;
  char err[256], cmd[128];
  CU_ASSERT_EQUAL_FATAL(so__proc_sup_new(&o, &sup, err, sizeof err), 0);
  snprintf(cmd, sizeof cmd, "test -e /proc/self/fd/%d && ! test -e /proc/self/fd/%d", keep, other);
  so__proc_result r = run(sup, cmd, 0);
  CU_ASSERT_EQUAL(r.exitval, 0);
  so__proc_sup_free(sup);
  close(keep);
  close(other);
}

/* What a dead session leader (a shepherd) left in its session dies, even in a group of its own. */
static void test_kill_session(void) {
  int p[2];
  CU_ASSERT_FATAL(pipe(p) == 0);
  pid_t leader = fork();
  if (leader == 0) {
    setsid();
    pid_t g = fork();
    if (g == 0) {
      setpgid(0, 0);
      close(p[0]);
      close(p[1]);
      execl("/bin/sleep", "sleep", "30", (char *)NULL);
      _exit(127);
    }
    ssize_t w = write(p[1], &g, sizeof g);
    _exit(w == sizeof g ? 0 : 1);
  }
  close(p[1]);
  pid_t g = 0;
  CU_ASSERT_FATAL(read(p[0], &g, sizeof g) == sizeof g);
  close(p[0]);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  waitid(P_PID, (id_t)leader, &si, WEXITED | WNOWAIT); /* the leader is a zombie now */
  CU_ASSERT_EQUAL(so__proc_kill_session(getsid(0)), 0); /* never the caller's own */
  CU_ASSERT(so__proc_kill_session(leader) >= 1);
  waitpid(leader, NULL, 0);
  int gone = 0;
  for (int i = 0; i < 200 && !gone; i++) {
    char path[64], buf[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)g);
    FILE *f = fopen(path, "r");
    gone = !f || !fgets(buf, sizeof buf, f) || (strrchr(buf, ')') && strrchr(buf, ')')[2] == 'Z');
    if (f)
      fclose(f);
    if (!gone)
      usleep(10000);
  }
  CU_ASSERT(gone);
  if (!gone)
    kill(g, SIGKILL);
}

static const so_test_case cases[] = {
    {"exit status 0 and 3", test_exit_status},
    {"the owner lock's descriptor is inherited", test_inherit_fd},
    {"a dead leader's session is killed", test_kill_session},
    {"killed by a signal", test_signal},
    {"50 MB streamed with bounded memory", test_stream_large},
    {"line mode", test_stream_lines},
    {"timeout terminates the whole group", test_timeout_whole_group},
    {"a running task's timeout moves", test_set_timeout},
    {"TERM ignored: KILL after the grace", test_term_ignored_gets_killed},
    {"kill on demand and kill all", test_kill_on_demand},
    {"strays of a finished shell", test_strays_terminated},
    {"environment", test_environment},
    {"output files", test_output_files},
    {"4 concurrent children (pidfd)", test_concurrent_pidfd},
    {"4 concurrent children (wait4 polling)", test_concurrent_polling},
    {"rusage", test_rusage},
    {"clean fds and signal state", test_clean_child_state},
    {"freeing the supervisor kills", test_free_kills_running},
    {"worker death kills the child", test_parent_death},
    {"errors", test_errors},
    {NULL, NULL},
};

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/so_test_proc.XXXXXX");
  if (!mkdtemp(g_dir))
    return 2;
  int rc = so_test_run("proc", cases);
  rmdir(g_dir);
  return rc;
}

/* Unit tests of the shepherd: output, environment, slots, timeouts, results files, exact shard
 * lines, long commands, kills, stop, and the death of the worker at random moments. The test
 * program is its own shepherd executable (/proc/self/exe), as scaleout is. */
#define _GNU_SOURCE /* mkdtemp, PR_SET_CHILD_SUBREAPER */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "farm/joblog.h"
#include "farm/shepherd.h"
#include "scaleout/scaleout.h"
#include "so_proctest.h"
#include "so_test.h"

#define EXE "/proc/self/exe"
#define MAXID 16

static char g_dir[64];

static void path_of(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", g_dir, name);
}

static size_t slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    buf[0] = '\0';
    return 0;
  }
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  return n;
}

/* ---- collecting events ------------------------------------------------------------------- */

typedef struct seen {
  so__buf out[MAXID], err[MAXID];
  so__shep_event done[64];
  char error[64][256];
  int ndone;
  int pieces_not_lines;
} seen;

static void seen_free(seen *c) {
  for (int i = 0; i < MAXID; i++) {
    so__buf_free(&c->out[i]);
    so__buf_free(&c->err[i]);
  }
  memset(c, 0, sizeof *c);
}

/* Polls until n DONE events arrived in all, or max_s passed. Returns the DONE count. */
static int collect(so__shepherd *s, seen *c, int n, double max_s) {
  double until = so_test_now() + max_s;
  while (c->ndone < n && so_test_now() < until) {
    so__shep_event ev;
    char err[256] = "";
    int rc = so__shepherd_poll(s, 50, &ev, err, sizeof err);
    if (rc < 0) {
      fprintf(stderr, "so__shepherd_poll: %s\n", err);
      CU_FAIL("the shepherd failed");
      break;
    }
    if (rc == 0)
      continue;
    if (ev.kind == SO_SHEP_EV_OUTPUT) {
      CU_ASSERT(ev.len > 0);
      if (ev.data[ev.len - 1] != '\n')
        c->pieces_not_lines++;
      if (ev.id < MAXID)
        so__buf_append(ev.stream == 1 ? &c->out[ev.id] : &c->err[ev.id], ev.data, ev.len);
    } else if (ev.kind == SO_SHEP_EV_DONE && c->ndone < 64) {
      snprintf(c->error[c->ndone], sizeof c->error[0], "%s", ev.error ? ev.error : "");
      c->done[c->ndone++] = ev;
    }
  }
  return c->ndone;
}

static const so__shep_event *done_of(const seen *c, uint64_t id) {
  for (int i = 0; i < c->ndone; i++)
    if (c->done[i].id == id)
      return &c->done[i];
  return NULL;
}

static int out_is(const seen *c, uint64_t id, int stream, const char *text) {
  const so__buf *b = stream == 1 ? &c->out[id] : &c->err[id];
  return b->len == strlen(text) && memcmp(b->data, text, b->len) == 0;
}

static so__shepherd *start_with(const so__shepherd_opts *o) {
  so__shepherd *s = NULL;
  char err[512] = "";
  int rc = so__shepherd_start(o, &s, err, sizeof err);
  if (rc)
    fprintf(stderr, "so__shepherd_start: %s\n", err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  return s;
}

static so__shepherd *start(unsigned slots, double grace) {
  so__shepherd_opts o = {.exe = EXE, .slots = slots, .grace = grace, .sync_interval = -1};
  return start_with(&o);
}

static void run(so__shepherd *s, uint64_t id, uint64_t seq, const char *cmd, double timeout,
                so__shep_output output, const char *dir, const char *const *env) {
  so__shep_task t = {.id = id, .seq = seq, .cmd = cmd, .cmd_len = strlen(cmd), .env = env,
                    .timeout = timeout, .output = output, .results_dir = dir};
  char err[256] = "";
  int rc = so__shepherd_run(s, &t, err, sizeof err);
  if (rc)
    fprintf(stderr, "so__shepherd_run: %s\n", err);
  CU_ASSERT_EQUAL(rc, 0);
}

static void stop(so__shepherd *s) {
  char err[256] = "";
  int rc = so__shepherd_stop(s, err, sizeof err);
  if (rc)
    fprintf(stderr, "so__shepherd_stop: %s\n", err);
  CU_ASSERT_EQUAL(rc, 0);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_pipe_output(void) {
  so__shepherd *s = start(1, 0);
  CU_ASSERT(so__shepherd_fd(s) >= 0);
  CU_ASSERT(so__shepherd_pid(s) > 0);
  run(s, 1, 1, "echo a; echo b >&2; echo c; exit 3", 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  run(s, 2, 2, "printf 'no newline'", 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  run(s, 3, 3, "echo x; kill -9 $$", 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  run(s, 4, 4, "echo hidden; echo hidden >&2", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  CU_ASSERT_EQUAL(so__shepherd_running(s), 4);
  seen c = {0};
  CU_ASSERT_EQUAL(collect(s, &c, 4, 10), 4);
  CU_ASSERT_EQUAL(so__shepherd_running(s), 0);
  for (int i = 0; i < 4; i++)
    CU_ASSERT_EQUAL(c.done[i].id, (uint64_t)i + 1); /* one slot: in order */
  const so__shep_event *d = done_of(&c, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT(out_is(&c, 1, 1, "a\nc\n"));
  CU_ASSERT(out_is(&c, 1, 2, "b\n"));
  CU_ASSERT_EQUAL(d->exitval, 3);
  CU_ASSERT_EQUAL(d->signal, 0);
  CU_ASSERT(d->started && !d->timed_out && !d->killed && !d->recorded && !d->error);
  CU_ASSERT_EQUAL(d->out_bytes, 4);
  CU_ASSERT_EQUAL(d->err_bytes, 2);
  CU_ASSERT(d->wall >= 0 && d->wall < 5 && d->start > 1.6e9);
  CU_ASSERT(out_is(&c, 2, 1, "no newline"));
  CU_ASSERT_EQUAL(c.pieces_not_lines, 1); /* only the unterminated last line */
  d = done_of(&c, 3);
  CU_ASSERT(d && d->exitval == -1 && d->signal == SIGKILL && out_is(&c, 3, 1, "x\n"));
  d = done_of(&c, 4);
  CU_ASSERT(d && d->exitval == 0 && c.out[4].len == 0 && c.err[4].len == 0);
  seen_free(&c);
  stop(s);
}

static void test_environment(void) {
  setenv("SO_TEST_INHERITED", "yes", 1); /* the shepherd starts with the worker's environment */
  so__shepherd *s = start(1, 0);
  unsetenv("SO_TEST_INHERITED");
  const char *env[] = {"SCALEOUT_TASK_ID=7", "SCALEOUT_WORKER=2", "FOO=bar baz", NULL};
  run(s, 1, 1, "echo \"$SCALEOUT_TASK_ID/$SCALEOUT_WORKER/$FOO/$SO_TEST_INHERITED\"", 0,
      SO_SHEP_OUT_PIPE, NULL, env);
  seen c = {0};
  CU_ASSERT_EQUAL(collect(s, &c, 1, 10), 1);
  CU_ASSERT(out_is(&c, 1, 1, "7/2/bar baz/yes\n")); /* added to the worker's environment */
  seen_free(&c);
  stop(s);
}

static void test_slots_concurrent(void) {
  so__shepherd *s = start(2, 0);
  double t0 = so_test_now();
  run(s, 1, 1, "sleep 0.5", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  run(s, 2, 2, "sleep 0.5", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  seen c = {0};
  CU_ASSERT_EQUAL(collect(s, &c, 2, 5), 2);
  double wall = so_test_now() - t0;
  CU_ASSERT(wall >= 0.49 && wall < 0.9); /* one after the other would take 1 s */
  /* More than slots: the shepherd queues them. Four of 0.3 s on two slots take two rounds (0.6 s);
   * four at once would take 0.3 s and one at a time 1.2 s. */
  t0 = so_test_now();
  for (uint64_t i = 3; i <= 6; i++)
    run(s, i, i, "sleep 0.3", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  CU_ASSERT_EQUAL(collect(s, &c, 6, 5), 6);
  wall = so_test_now() - t0;
  CU_ASSERT(wall >= 0.59 && wall < 1.05);
  seen_free(&c);
  stop(s);
}

/* A command in the slot next to a long one starts and reports at once: the shepherd is not
 * asleep inside the supervisor while a RUN waits on the socket. */
static void test_latency_beside_long_command(void) {
  so__shepherd *s = start(2, 0.1);
  run(s, 1, 1, "sleep 30", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  seen c = {0};
  collect(s, &c, 1, 0.1);
  double worst = 0;
  for (uint64_t i = 2; i < 12; i++) {
    double t0 = so_test_now();
    run(s, i, i, "true", 0, SO_SHEP_OUT_NULL, NULL, NULL);
    CU_ASSERT_EQUAL(collect(s, &c, (int)i - 1, 5), (int)i - 1);
    worst = fmax(worst, so_test_now() - t0);
  }
  /* Each takes about a millisecond. The bound is loose for a loaded machine: a shepherd that
   * missed the RUN would sit out the whole 30 s command (the wake-up caps in shepherd_main.c keep
   * a lost SIGIO to milliseconds, which no timing here could tell apart). */
  CU_ASSERT(worst < 0.5);
  CU_ASSERT_EQUAL(so__shepherd_kill(s, 1, NULL, 0), 0);
  CU_ASSERT_EQUAL(collect(s, &c, 11, 5), 11);
  const so__shep_event *d = done_of(&c, 1);
  CU_ASSERT(d && d->killed && d->signal == SIGTERM);
  seen_free(&c);
  stop(s);
}

static long vm_hwm_kb(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  slurp(path, buf, sizeof buf);
  const char *p = strstr(buf, "VmHWM:");
  return p ? atol(p + 6) : -1;
}

/* 15 MB of lines while the worker does not read: the shepherd holds back (its memory stays
 * bounded), and every line arrives whole once the worker polls again. */
static void test_output_backpressure(void) {
  so__shepherd *s = start(1, 0);
  pid_t pid = so__shepherd_pid(s);
  long before = vm_hwm_kb(pid);
  run(s, 1, 1, "seq 1 2000000", 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  usleep(400000);
  uint64_t sum = 0, lines = 0, bytes = 0, v = 0;
  int done = 0, whole = 1;
  double until = so_test_now() + 20;
  while (!done && so_test_now() < until) {
    so__shep_event ev;
    int rc = so__shepherd_poll(s, 100, &ev, NULL, 0);
    CU_ASSERT_FATAL(rc >= 0);
    if (rc == 1 && ev.kind == SO_SHEP_EV_DONE) {
      done = 1;
      CU_ASSERT_EQUAL(ev.out_bytes, bytes);
    } else if (rc == 1) {
      bytes += ev.len;
      whole &= ev.data[ev.len - 1] == '\n';
      for (size_t i = 0; i < ev.len; i++) {
        if (ev.data[i] == '\n') {
          sum += v, lines++, v = 0;
        } else {
          v = v * 10 + (uint64_t)(ev.data[i] - '0');
        }
      }
    }
  }
  CU_ASSERT(done && whole);
  CU_ASSERT_EQUAL(lines, 2000000);
  CU_ASSERT_EQUAL(sum, (uint64_t)2000000 * 2000001 / 2);
  long after = vm_hwm_kb(pid);
  CU_ASSERT(before > 0 && after - before < 8 * 1024);
  stop(s);
}

static void test_timeout_kills_group(void) {
  so__shepherd *s = start(1, 0.2);
  run(s, 1, 1, "echo $$; sleep 100 & sleep 100", 0.3, SO_SHEP_OUT_PIPE, NULL, NULL);
  seen c = {0};
  double t0 = so_test_now();
  CU_ASSERT_EQUAL(collect(s, &c, 1, 10), 1);
  CU_ASSERT(so_test_now() - t0 < 2.0);
  const so__shep_event *d = done_of(&c, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT(d->timed_out && !d->killed);
  CU_ASSERT_EQUAL(d->signal, SIGTERM);
  pid_t pgid = (pid_t)atol(c.out[1].len ? (const char *)c.out[1].data : "0");
  CU_ASSERT_FATAL(pgid > 0);
  CU_ASSERT_EQUAL(so_test_live_in_group(pgid), 0); /* the background sleep too */
  seen_free(&c);
  stop(s);
}

/* so__shepherd_set_timeout (--timeout P%): the new limit reaches running commands (one past it
 * ends at once, one not yet there at its start plus the limit) and queued ones; 0 lifts it. */
static void test_set_timeout(void) {
  so__shepherd *s = start(2, 0.2);
  char err[256] = "";
  run(s, 1, 1, "sleep 100", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  run(s, 2, 2, "sleep 100", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  run(s, 3, 3, "sleep 100", 0, SO_SHEP_OUT_NULL, NULL, NULL); /* queued behind two slots */
  seen c = {0};
  double t0 = so_test_now();
  CU_ASSERT_EQUAL(collect(s, &c, 1, 0.6), 0); /* no limit: nothing ends */
  CU_ASSERT_EQUAL(so__shepherd_set_timeout(s, 0.4, err, sizeof err), 0); /* 1 and 2 are past it */
  CU_ASSERT_EQUAL(collect(s, &c, 2, 5), 2);
  double both = so_test_now() - t0;
  CU_ASSERT(both < 0.6 + 0.5);
  /* 3 started when a slot freed, with the new limit: it ends 0.4 s after its start. */
  CU_ASSERT_EQUAL(collect(s, &c, 3, 5), 3);
  const so__shep_event *d3 = done_of(&c, 3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d3);
  CU_ASSERT(d3->timed_out && d3->wall >= 0.35 && d3->wall < 0.4 + 0.5);
  for (uint64_t id = 1; id <= 2; id++) {
    const so__shep_event *d = done_of(&c, id);
    CU_ASSERT(d && d->timed_out && !d->killed && d->signal == SIGTERM);
  }
  /* 0 lifts the limit; a negative or infinite one is refused. */
  CU_ASSERT_EQUAL(so__shepherd_set_timeout(s, -1, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(so__shepherd_set_timeout(s, INFINITY, err, sizeof err), SO_EINVAL);
  run(s, 4, 4, "sleep 0.6", 0.2, SO_SHEP_OUT_NULL, NULL, NULL);
  CU_ASSERT_EQUAL(so__shepherd_set_timeout(s, 0, err, sizeof err), 0);
  CU_ASSERT_EQUAL(collect(s, &c, 4, 5), 4);
  const so__shep_event *d4 = done_of(&c, 4);
  CU_ASSERT(d4 && !d4->timed_out && d4->exitval == 0);
  seen_free(&c);
  stop(s);
}

static void test_results_layout(void) {
  char dir[128], path[256], buf[256];
  path_of(dir, sizeof dir, "results");
  so__shepherd *s = start(2, 0.2);
  run(s, 1, 1234, "echo out; echo err >&2; exit 5", 0, SO_SHEP_OUT_RESULTS, dir, NULL);
  run(s, 2, 7, "kill -9 $$", 0, SO_SHEP_OUT_RESULTS, dir, NULL);
  run(s, 3, 2000, "sleep 10", 0.2, SO_SHEP_OUT_RESULTS, dir, NULL);
  seen c = {0};
  CU_ASSERT_EQUAL(collect(s, &c, 3, 10), 3);
  CU_ASSERT_EQUAL(c.out[1].len, 0); /* nothing comes back */
  const so__shep_event *d = done_of(&c, 1);
  CU_ASSERT(d && d->exitval == 5 && d->out_bytes == 4 && d->err_bytes == 4);
  snprintf(path, sizeof path, "%s/1/1234/stdout", dir);
  slurp(path, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "out\n");
  snprintf(path, sizeof path, "%s/1/1234/stderr", dir);
  slurp(path, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "err\n");
  snprintf(path, sizeof path, "%s/1/1234/status", dir);
  slurp(path, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "exit 5\n");
  snprintf(path, sizeof path, "%s/0/7/status", dir);
  slurp(path, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "signal 9\n");
  snprintf(path, sizeof path, "%s/2/2000/status", dir);
  slurp(path, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "timeout\n");
  /* A results directory that cannot be created: the command never runs, the worker hears why. */
  path_of(path, sizeof path, "results/1/1234/stdout/below");
  run(s, 4, 5, "echo never", 0, SO_SHEP_OUT_RESULTS, path, NULL);
  CU_ASSERT_EQUAL(collect(s, &c, 4, 5), 4);
  d = done_of(&c, 4);
  CU_ASSERT(d && !d->started && d->exitval == 127 && !d->recorded);
  CU_ASSERT(strstr(c.error[3], "results directory") != NULL);
  seen_free(&c);
  stop(s);
}

/* The line the shepherd must have written for a DONE event, with GNU parallel's fields: Receive
 * counts standard output only, a timeout has Exitval -1, another death by a signal Exitval 0. */
static void expect_line(so__buf *b, const so__shep_event *d, uint64_t seq, const char *host,
                        const char *cmd) {
  so__joblog_entry e = {.seq = seq, .host = host, .starttime = d->start, .runtime = d->wall,
                       .receive = (int64_t)d->out_bytes,
                       .exitval = d->timed_out ? -1 : d->signal ? 0 : d->exitval,
                       .signal = d->signal, .command = cmd, .command_len = strlen(cmd)};
  CU_ASSERT_EQUAL(so__joblog_format(b, &e), 0);
}

static void test_shard_lines(void) {
  char shard[128], buf[4096];
  path_of(shard, sizeof shard, "shard.log");
  so__shepherd_opts o = {.exe = EXE, .slots = 1, .shard = shard, .host = "node7",
                        .sync_interval = 0};
  so__shepherd *s = start_with(&o);
  const char *cmds[] = {"echo yes", "echo no >&2; exit 2", "kill -TERM $$", "echo a\necho b",
                        "sleep 5"};
  for (uint64_t i = 0; i < 5; i++)
    run(s, i, 10 + i, cmds[i], i == 4 ? 0.1 : 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  seen c = {0};
  CU_ASSERT_EQUAL(collect(s, &c, 5, 10), 5);
  so__buf want = SO_BUF_INIT;
  for (uint64_t i = 0; i < 5; i++) {
    const so__shep_event *d = done_of(&c, i);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT(d->recorded && !d->error);
    expect_line(&want, d, 10 + i, "node7", cmds[i]);
  }
  size_t n = slurp(shard, buf, sizeof buf);
  CU_ASSERT_EQUAL(n, want.len);
  CU_ASSERT(n == want.len && memcmp(buf, want.data, n) == 0);
  /* And GNU parallel's reader sees two successes' worth of status correctly. */
  so__joblog_status st = SO_JOBLOG_STATUS_INIT;
  char err[256];
  CU_ASSERT_EQUAL(so__joblog_read(shard, &st, err, sizeof err), 0);
  CU_ASSERT_EQUAL(st.records, 5);
  CU_ASSERT_EQUAL(st.succeeded, 2); /* "echo yes" and the two-line command */
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 12), SO_JOBLOG_FAILED);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 14), SO_JOBLOG_FAILED); /* the timeout */
  so__joblog_status_free(&st);
  /* A second shepherd cannot take the same shard. */
  so__shepherd *s2 = NULL;
  CU_ASSERT_EQUAL(so__shepherd_start(&o, &s2, err, sizeof err), SO_EIO);
  CU_ASSERT(strstr(err, "in use") != NULL);
  CU_ASSERT_PTR_NULL(s2);
  stop(s);
  /* A torn last line (a machine crash) is cut at the next start; the log stays readable. */
  FILE *f = fopen(shard, "a");
  fputs("99\tnode7\t17000", f);
  fclose(f);
  s = start_with(&o);
  run(s, 1, 20, "true", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  seen_free(&c);
  CU_ASSERT_EQUAL(collect(s, &c, 1, 5), 1);
  stop(s);
  expect_line(&want, &c.done[0], 20, "node7", "true");
  n = slurp(shard, buf, sizeof buf);
  CU_ASSERT(n == want.len && memcmp(buf, want.data, n) == 0);
  so__buf_free(&want);
  seen_free(&c);
}

/* Builds ": xxxx...; echo ok" of exactly len bytes. */
static char *long_cmd(size_t len) {
  char *cmd = malloc(len + 1);
  memcpy(cmd, ": ", 2);
  memset(cmd + 2, 'x', len - 2);
  memcpy(cmd + len - 9, "; echo ok", 9);
  cmd[len] = '\0';
  return cmd;
}

static void test_long_commands(void) {
  char tmp[128], shard[128];
  path_of(tmp, sizeof tmp, "tmp");
  path_of(shard, sizeof shard, "long.log");
  CU_ASSERT_EQUAL_FATAL(mkdir(tmp, 0700), 0);
  const char *old = getenv("TMPDIR");
  char *saved = old ? strdup(old) : NULL;
  setenv("TMPDIR", tmp, 1); /* the shepherd inherits it */
  so__shepherd_opts o = {.exe = EXE, .slots = 2, .shard = shard, .sync_interval = 0.05};
  so__shepherd *s = start_with(&o);
  if (saved)
    setenv("TMPDIR", saved, 1);
  else
    unsetenv("TMPDIR");
  free(saved);
  size_t lens[] = {131071, 131072, (size_t)1 << 20}; /* one argument, just too long, 1 MiB */
  char *cmds[3];
  for (int i = 0; i < 3; i++) {
    cmds[i] = long_cmd(lens[i]);
    run(s, (uint64_t)i, (uint64_t)i + 1, cmds[i], 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  }
  seen c = {0};
  CU_ASSERT_EQUAL(collect(s, &c, 3, 10), 3);
  for (int i = 0; i < 3; i++) {
    const so__shep_event *d = done_of(&c, (uint64_t)i);
    CU_ASSERT(d && d->exitval == 0 && d->started);
    CU_ASSERT(out_is(&c, (uint64_t)i, 1, "ok\n"));
  }
  stop(s);
  DIR *d = opendir(tmp); /* the temporary scripts are gone */
  int left = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    left += e->d_name[0] != '.';
  if (d)
    closedir(d);
  CU_ASSERT_EQUAL(left, 0);
  rmdir(tmp);
  so__joblog_status st = SO_JOBLOG_STATUS_INIT; /* the shard holds the commands themselves */
  char err[256];
  CU_ASSERT_EQUAL(so__joblog_read(shard, &st, err, sizeof err), 0);
  CU_ASSERT_EQUAL(st.succeeded, 3);
  so__joblog_status_free(&st);
  struct stat sb;
  CU_ASSERT(stat(shard, &sb) == 0 && sb.st_size > (off_t)(lens[0] + lens[1] + lens[2]));
  for (int i = 0; i < 3; i++)
    free(cmds[i]);
  seen_free(&c);
}

static void test_kill_and_kill_all(void) {
  so__shepherd *s = start(2, 0.2);
  run(s, 1, 1, "sleep 100", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  run(s, 2, 2, "sleep 100", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  run(s, 3, 3, "sleep 100", 0, SO_SHEP_OUT_NULL, NULL, NULL); /* queued */
  run(s, 4, 4, "sleep 100", 0, SO_SHEP_OUT_NULL, NULL, NULL); /* queued */
  seen c = {0};
  collect(s, &c, 1, 0.2);
  CU_ASSERT_EQUAL(c.ndone, 0);
  CU_ASSERT_EQUAL(so__shepherd_kill(s, 4, NULL, 0), 0); /* a queued one: never starts */
  CU_ASSERT_EQUAL(collect(s, &c, 1, 5), 1);
  const so__shep_event *d = done_of(&c, 4);
  CU_ASSERT(d && d->killed && !d->started);
  double t0 = so_test_now();
  CU_ASSERT_EQUAL(so__shepherd_kill_all(s, NULL, 0), 0);
  CU_ASSERT_EQUAL(collect(s, &c, 4, 5), 4);
  CU_ASSERT(so_test_now() - t0 < 1.0);
  for (uint64_t i = 1; i <= 2; i++) {
    d = done_of(&c, i);
    CU_ASSERT(d && d->killed && d->started && d->signal == SIGTERM);
  }
  d = done_of(&c, 3);
  CU_ASSERT(d && d->killed && !d->started);
  CU_ASSERT_EQUAL(so__shepherd_running(s), 0);
  run(s, 5, 5, "echo still here", 0, SO_SHEP_OUT_PIPE, NULL, NULL); /* still usable */
  CU_ASSERT_EQUAL(collect(s, &c, 5, 5), 5);
  CU_ASSERT(out_is(&c, 5, 1, "still here\n"));
  seen_free(&c);
  stop(s);
}

/* QUIT kills what runs (TERM, grace, KILL); only a command that still exits 0 is recorded. */
static void test_stop_with_running(void) {
  char shard[128], buf[4096];
  path_of(shard, sizeof shard, "stop.log");
  so__shepherd_opts o = {.exe = EXE, .slots = 3, .grace = 0.3, .shard = shard,
                        .sync_interval = 0};
  so__shepherd *s = start_with(&o);
  run(s, 1, 1, "echo $$; exec sleep 100", 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  run(s, 2, 2, "trap 'exit 0' TERM; echo $$; sleep 100 & wait", 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  run(s, 3, 3, "trap '' TERM; echo $$; sleep 100", 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  run(s, 4, 4, "echo queued >> /dev/null", 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  seen c = {0};
  double until = so_test_now() + 5;
  while ((!c.out[1].len || !c.out[2].len || !c.out[3].len) && so_test_now() < until)
    collect(s, &c, 1, 0.05);
  pid_t pg[3];
  for (int i = 0; i < 3; i++)
    pg[i] = (pid_t)atol(c.out[i + 1].len ? (const char *)c.out[i + 1].data : "0");
  CU_ASSERT_FATAL(pg[0] > 0 && pg[1] > 0 && pg[2] > 0);
  usleep(50000); /* let the traps settle */
  pid_t pid = so__shepherd_pid(s);
  double t0 = so_test_now();
  stop(s);
  double took = so_test_now() - t0;
  CU_ASSERT(took >= 0.25 && took < 2.0); /* the TERM-ignoring one waited out the grace */
  CU_ASSERT(kill(pid, 0) < 0 && errno == ESRCH);
  for (int i = 0; i < 3; i++)
    CU_ASSERT(so_test_group_gone_within(pg[i], 2.0));
  slurp(shard, buf, sizeof buf);
  CU_ASSERT(strncmp(buf, "2\t:\t", 4) == 0); /* only the one that exited 0 */
  CU_ASSERT(strchr(buf, '\n') == buf + strlen(buf) - 1);
  seen_free(&c);
}

static void test_start_errors(void) {
  so__shepherd *s = NULL;
  char err[512] = "";
  so__shepherd_opts o = {.exe = "/no/such/program"};
  CU_ASSERT_EQUAL(so__shepherd_start(&o, &s, err, sizeof err), SO_EIO);
  CU_ASSERT(strstr(err, "/no/such/program") != NULL);
  o = (so__shepherd_opts){.exe = "/bin/true"}; /* exits without a HELLO */
  CU_ASSERT_EQUAL(so__shepherd_start(&o, &s, err, sizeof err), SO_EIO);
  CU_ASSERT(strstr(err, "exited with status 0") != NULL);
  o = (so__shepherd_opts){.exe = EXE, .host = "a\tb"};
  CU_ASSERT_EQUAL(so__shepherd_start(&o, &s, err, sizeof err), SO_EINVAL);
  o = (so__shepherd_opts){.exe = EXE, .grace = -1};
  CU_ASSERT_EQUAL(so__shepherd_start(&o, &s, err, sizeof err), SO_EINVAL);
  o = (so__shepherd_opts){.exe = EXE, .shard = "/no/such/dir/shard"};
  CU_ASSERT_EQUAL(so__shepherd_start(&o, &s, err, sizeof err), SO_EIO);
  CU_ASSERT(strstr(err, "/no/such/dir/shard") != NULL);
  CU_ASSERT_PTR_NULL(s);
  s = start(1, 0);
  so__shep_task t = {.id = 1, .seq = 1, .cmd = "a\0b", .cmd_len = 3};
  CU_ASSERT_EQUAL(so__shepherd_run(s, &t, err, sizeof err), SO_EINVAL);
  t = (so__shep_task){.id = 1, .seq = 0, .cmd = "true", .cmd_len = 4};
  CU_ASSERT_EQUAL(so__shepherd_run(s, &t, err, sizeof err), SO_EINVAL);
  const char *env[] = {"NOEQUALS", NULL};
  t = (so__shep_task){.id = 1, .seq = 1, .cmd = "true", .cmd_len = 4, .env = env};
  CU_ASSERT_EQUAL(so__shepherd_run(s, &t, err, sizeof err), SO_EINVAL);
  t = (so__shep_task){.id = 1, .seq = 1, .cmd = "true", .cmd_len = 4,
                     .output = SO_SHEP_OUT_RESULTS};
  CU_ASSERT_EQUAL(so__shepherd_run(s, &t, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(so__shepherd_running(s), 0);
  /* The shepherd killed under us: the worker is told how. */
  run(s, 1, 1, "sleep 100", 0, SO_SHEP_OUT_NULL, NULL, NULL);
  kill(so__shepherd_pid(s), SIGKILL);
  so__shep_event ev;
  int rc;
  double until = so_test_now() + 5;
  while ((rc = so__shepherd_poll(s, 100, &ev, err, sizeof err)) == 0 && so_test_now() < until)
    ;
  CU_ASSERT_EQUAL(rc, SO_EIO);
  CU_ASSERT(strstr(err, "killed by signal 9") != NULL);
  CU_ASSERT_EQUAL(so__shepherd_run(s, &t, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(so__shepherd_kill_all(s, err, sizeof err), SO_EIO);
  CU_ASSERT_EQUAL(so__shepherd_stop(s, err, sizeof err), SO_EIO);
  CU_ASSERT_EQUAL(so__shepherd_stop(NULL, err, sizeof err), 0);
}

/* The shepherd is its own process group, holds none of the worker's descriptors, has /dev/null as
 * stdin and stdout, and ignores the signals meant for the master. */
static void test_process_state(void) {
  char leak[128], buf[4096], path[128], link[512];
  path_of(leak, sizeof leak, "leaked-descriptor");
  int fd = open(leak, O_WRONLY | O_CREAT, 0600); /* inheritable on purpose */
  CU_ASSERT_FATAL(fd >= 0);
  so__shepherd *s = start(1, 0);
  pid_t pid = so__shepherd_pid(s);
  CU_ASSERT_EQUAL(getpgid(pid), pid);
  int leaked = 0, devnull = 0;
  for (int i = 0; i < 64; i++) {
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, i);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0)
      continue;
    link[n] = '\0';
    leaked += strstr(link, "leaked-descriptor") != NULL;
    devnull += i < 2 && strcmp(link, "/dev/null") == 0;
  }
  CU_ASSERT_EQUAL(leaked, 0);
  CU_ASSERT_EQUAL(devnull, 2);
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  slurp(path, buf, sizeof buf);
  const char *ign = strstr(buf, "SigIgn:");
  CU_ASSERT_PTR_NOT_NULL_FATAL(ign);
  unsigned long long mask = strtoull(ign + 7, NULL, 16);
  int sigs[] = {SIGINT, SIGHUP, SIGUSR1, SIGPIPE};
  for (int i = 0; i < 4; i++)
    CU_ASSERT(mask & (1ull << (sigs[i] - 1)));
  CU_ASSERT(!(mask & (1ull << (SIGTERM - 1))));
  kill(pid, SIGINT); /* a terminal's Ctrl-C goes to the master only */
  kill(pid, SIGHUP);
  kill(pid, SIGUSR1);
  run(s, 1, 1, "echo alive", 0, SO_SHEP_OUT_PIPE, NULL, NULL);
  seen c = {0};
  CU_ASSERT_EQUAL(collect(s, &c, 1, 5), 1);
  CU_ASSERT(out_is(&c, 1, 1, "alive\n"));
  seen_free(&c);
  stop(s);
  close(fd);
}

/* ---- the worker's death ------------------------------------------------------------------ */

/* Reaps pid (an orphan reparented to us: we are a subreaper) within max_s; returns its status or
 * -1. */
static int reap_within(pid_t pid, double max_s) {
  double until = so_test_now() + max_s;
  int status;
  do {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    if (r < 0)
      return -1;
    usleep(5000);
  } while (so_test_now() < until);
  return -1;
}

/* Forks a worker that starts a shepherd on shard with slots 4, runs cmds (seq 1..n) and then
 * either _exit()s after linger_s or waits to be SIGKILLed. Returns the worker's pid and the
 * shepherd's. */
static pid_t fork_worker(const char *shard, double drain, const char *const *cmds, int n,
                         double linger_s, pid_t *shep) {
  int p[2];
  CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
  fflush(NULL);
  pid_t w = fork();
  CU_ASSERT_FATAL(w >= 0);
  if (w == 0) {
    close(p[0]);
    so__shepherd_opts o = {.exe = EXE, .slots = 4, .grace = 0.2, .shard = shard,
                          .sync_interval = -1, .drain = drain};
    so__shepherd *s;
    if (so__shepherd_start(&o, &s, NULL, 0))
      _exit(1);
    pid_t pid = so__shepherd_pid(s);
    if (write(p[1], &pid, sizeof pid) != sizeof pid)
      _exit(1);
    for (int i = 0; i < n; i++) {
      so__shep_task t = {.id = (uint64_t)i + 1, .seq = (uint64_t)i + 1, .cmd = cmds[i],
                        .cmd_len = strlen(cmds[i]), .output = SO_SHEP_OUT_NULL};
      if (so__shepherd_run(s, &t, NULL, 0))
        _exit(1);
    }
    so__shep_event ev;
    double until = so_test_now() + linger_s;
    while (so_test_now() < until) /* a worker that reads its events, and is cut off mid-way */
      so__shepherd_poll(s, 10, &ev, NULL, 0);
    _exit(0);
  }
  close(p[1]);
  *shep = 0;
  CU_ASSERT_EQUAL(read(p[0], shep, sizeof *shep), (ssize_t)sizeof *shep);
  close(p[0]);
  return w;
}

static void worker_death(int how_sigkill, double drain) {
  char shard[128], side[128], pgfile[128], cmds[4][256];
  path_of(shard, sizeof shard, how_sigkill ? "death_kill.log" : "death_exit.log");
  path_of(side, sizeof side, how_sigkill ? "death_kill.side" : "death_exit.side");
  path_of(pgfile, sizeof pgfile, how_sigkill ? "death_kill.pg" : "death_exit.pg");
  snprintf(cmds[0], sizeof cmds[0], "sleep 0.2; echo early >> %s", side);
  snprintf(cmds[1], sizeof cmds[1], "echo $$ > %s; exec sleep 100", pgfile);
  snprintf(cmds[2], sizeof cmds[2], "exit 4");
  snprintf(cmds[3], sizeof cmds[3], "sleep 0.8; echo late >> %s", side);
  const char *const list[] = {cmds[0], cmds[1], cmds[2], cmds[3]};
  pid_t shep;
  pid_t w = fork_worker(shard, drain, list, 4, how_sigkill ? 100 : 0.5, &shep);
  CU_ASSERT_FATAL(shep > 0);
  if (how_sigkill) {
    usleep(500000);
    kill(w, SIGKILL);
  }
  int status;
  CU_ASSERT_EQUAL(waitpid(w, &status, 0), w);
  CU_ASSERT(how_sigkill ? WIFSIGNALED(status) : WIFEXITED(status) && !WEXITSTATUS(status));
  double drained = drain == 0 ? SO_SHEP_DRAIN_DEFAULT : fmax(drain, 0);
  double t0 = so_test_now();
  status = reap_within(shep, 5.0);
  double took = so_test_now() - t0;
  CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 3);
  CU_ASSERT(took < drained + 1.0);
  char buf[4096];
  slurp(pgfile, buf, sizeof buf);
  pid_t pg = (pid_t)atol(buf);
  CU_ASSERT(pg > 0 && so_test_group_gone_within(pg, 1.0));
  so__joblog_status st = SO_JOBLOG_STATUS_INIT;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(so__joblog_read(shard, &st, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 1), SO_JOBLOG_SUCCEEDED);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 2), SO_JOBLOG_NOT_RUN); /* cut short by us */
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 3), SO_JOBLOG_FAILED);
  slurp(side, buf, sizeof buf);
  if (drained > 0) { /* the late one finished during the drain, and says so in both places */
    CU_ASSERT_EQUAL(so__joblog_status_of(&st, 4), SO_JOBLOG_SUCCEEDED);
    CU_ASSERT_STRING_EQUAL(buf, "early\nlate\n");
  } else {
    CU_ASSERT_EQUAL(so__joblog_status_of(&st, 4), SO_JOBLOG_NOT_RUN);
    CU_ASSERT_STRING_EQUAL(buf, "early\n");
  }
  so__joblog_status_free(&st);
}

static void test_worker_exits(void) { worker_death(0, 0); /* the default drain, 1 s */ }
static void test_worker_killed(void) { worker_death(1, -1); /* no drain */ }

/* Kills the worker at random moments while short commands append their seq to a side file: every
 * command that appended is in the shard as a success and no other is, so --resume would neither
 * lose one nor run one twice. */
static void test_random_worker_kills(void) {
  enum { ROUNDS = 8, TASKS = 40 };
  srand((unsigned)getpid());
  for (int round = 0; round < ROUNDS; round++) {
    char shard[128], side[128], cmds[TASKS][256];
    snprintf(shard, sizeof shard, "%s/random%d.log", g_dir, round);
    snprintf(side, sizeof side, "%s/random%d.side", g_dir, round);
    const char *list[TASKS];
    for (int i = 0; i < TASKS; i++) {
      snprintf(cmds[i], sizeof cmds[i], "sleep 0.0%d; echo %d >> %s", i % 5, i + 1, side);
      list[i] = cmds[i];
    }
    pid_t shep;
    pid_t w = fork_worker(shard, 0, list, TASKS, 100, &shep);
    usleep((useconds_t)(20000 + rand() % 200000));
    kill(w, SIGKILL);
    waitpid(w, NULL, 0);
    int status = reap_within(shep, 5.0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    so__joblog_status st = SO_JOBLOG_STATUS_INIT;
    char err[256], buf[4096];
    FILE *f = fopen(shard, "a"); /* nothing may have run at all */
    if (f)
      fclose(f);
    CU_ASSERT_EQUAL_FATAL(so__joblog_read(shard, &st, err, sizeof err), 0);
    int appended[TASKS + 1] = {0};
    slurp(side, buf, sizeof buf);
    for (char *p = buf; *p;) {
      long v = strtol(p, &p, 10);
      if (v >= 1 && v <= TASKS)
        appended[v]++;
      while (*p == '\n')
        p++;
    }
    int mismatches = 0;
    for (int i = 1; i <= TASKS; i++)
      mismatches += appended[i] > 1 ||
                    (appended[i] == 1) != (so__joblog_status_of(&st, (uint64_t)i) ==
                                           SO_JOBLOG_SUCCEEDED);
    CU_ASSERT_EQUAL(mismatches, 0);
    CU_ASSERT_EQUAL(st.failed, 0);
    so__joblog_status_free(&st);
  }
}

static void cleanup_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", g_dir);
}

static const so_test_case cases[] = {
    {"piped output comes back as lines; DONE fields", test_pipe_output},
    {"environment entries reach the command", test_environment},
    {"slots run commands concurrently and queue the rest", test_slots_concurrent},
    {"a command beside a long one is not delayed", test_latency_beside_long_command},
    {"a timeout kills the whole group", test_timeout_kills_group},
    {"a new timeout reaches running and queued commands", test_set_timeout},
    {"output waits for a worker that does not read", test_output_backpressure},
    {"results layout and status files", test_results_layout},
    {"exact shard lines, lock, torn line repair", test_shard_lines},
    {"commands over 128 KiB and of 1 MiB", test_long_commands},
    {"kill one, kill a queued one, kill all", test_kill_and_kill_all},
    {"stop with running commands", test_stop_with_running},
    {"start and argument errors; the shepherd killed", test_start_errors},
    {"process group, descriptors, signals", test_process_state},
    {"the worker exits: drain, kill, record", test_worker_exits},
    {"the worker is SIGKILLed: kill, record", test_worker_killed},
    {"random worker kills lose and repeat nothing", test_random_worker_kills},
    {NULL, NULL}};

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], SO_SHEPHERD_ARG) == 0)
    return so__shepherd_main(argc, argv);
  /* Orphaned shepherds (their worker died) become our children, so the tests can reap them. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  snprintf(g_dir, sizeof g_dir, "/tmp/test_shepherd.XXXXXX");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 2;
  }
  int rc = so_test_run("shepherd", cases);
  cleanup_dir();
  return rc;
}

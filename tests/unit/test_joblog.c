/* The joblog: exact GNU parallel format, round trips, partial lines, resume, and fingerprints. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "farm/joblog.h"
#include "scaleout/scaleout.h"
#include "so_test.h"

static char dir[] = "/tmp/so_test_joblog_XXXXXX";

static char *in_dir(const char *name) {
  static char p[8][512];
  static int next;
  char *s = p[next++ % 8];
  snprintf(s, 512, "%s/%s", dir, name);
  return s;
}

/* Reads a whole (small) file into b. Returns 0 or -1. */
static int slurp(const char *path, so__buf *b) {
  so__buf_clear(b);
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return -1;
  char chunk[4096];
  ssize_t r;
  while ((r = read(fd, chunk, sizeof chunk)) > 0)
    so__buf_append(b, chunk, (size_t)r);
  close(fd);
  return 0;
}

static void put_file(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_FATAL(write(fd, data, len) == (ssize_t)len);
  close(fd);
}

static int buf_is(const so__buf *b, const char *s, size_t len) {
  return b->len == len && memcmp(b->data, s, len) == 0;
}
#define BUF_IS(b, lit) buf_is(b, lit, sizeof lit - 1)

static so__joblog_entry entry(uint64_t seq, int exitval, int sig, const char *cmd) {
  so__joblog_entry e = {seq, ":", 1700000000.123, 0.25, 0, 0, exitval, sig, cmd, strlen(cmd)};
  return e;
}

static void test_header_and_format(void) {
  CU_ASSERT_STRING_EQUAL(SO_JOBLOG_HEADER, "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\t"
                                           "Exitval\tSignal\tCommand\n");
  so__buf b = SO_BUF_INIT;
  so__joblog_entry e = entry(1, 0, 0, "echo hi");
  CU_ASSERT_EQUAL(so__joblog_format(&b, &e), 0);
  CU_ASSERT(BUF_IS(&b, "1\t:\t1700000000.123\t     0.250\t0\t0\t0\t0\techo hi\n"));

  /* Width 10 is a minimum, as with printf; counts and negative values are plain integers. */
  so__buf_clear(&b);
  so__joblog_entry big = {123456, "node17", 1700000123.4567, 1234567.0, 10, 4096, -1, 15,
                         "sleep 9", 7};
  CU_ASSERT_EQUAL(so__joblog_format(&b, &big), 0);
  CU_ASSERT(BUF_IS(&b, "123456\tnode17\t1700000123.457\t1234567.000\t10\t4096\t-1\t15\tsleep 9\n"));

  /* A NULL host is GNU parallel's ":" for the local machine. */
  so__buf_clear(&b);
  so__joblog_entry local = entry(2, 1, 0, "false");
  local.host = NULL;
  local.runtime = 12.0;
  CU_ASSERT_EQUAL(so__joblog_format(&b, &local), 0);
  CU_ASSERT(BUF_IS(&b, "2\t:\t1700000000.123\t    12.000\t0\t0\t1\t0\tfalse\n"));

  /* Entries that cannot be a line leave the buffer alone. */
  so__buf_clear(&b);
  so__joblog_entry bad = entry(0, 0, 0, "x");
  CU_ASSERT_EQUAL(so__joblog_format(&b, &bad), SO_EINVAL);
  bad = entry(1, 0, 0, "x");
  bad.host = "a\tb";
  CU_ASSERT_EQUAL(so__joblog_format(&b, &bad), SO_EINVAL);
  bad.host = "";
  CU_ASSERT_EQUAL(so__joblog_format(&b, &bad), SO_EINVAL);
  bad = entry(1, 0, 0, "x");
  bad.command = "a\0b";
  bad.command_len = 3;
  CU_ASSERT_EQUAL(so__joblog_format(&b, &bad), SO_EINVAL);
  bad = entry(1, 0, 0, "x");
  bad.runtime = 1.0 / 0.0;
  CU_ASSERT_EQUAL(so__joblog_format(&b, &bad), SO_EINVAL);
  CU_ASSERT_EQUAL(b.len, 0);
  so__buf_free(&b);
}

/* Tabs stay, newlines become NUL (GNU parallel's escaping), and parsing restores both. */
static void test_roundtrip(void) {
  static const char *const cmds[] = {"echo a\tb", "printf 'x\ny'\n", "", "\n", "a\r\nb",
                                     "trailing tab\t", "\t\t\t\t\t\t\t\t\t"};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    so__buf b = SO_BUF_INIT;
    so__joblog_entry e = {i + 1, "host-1", 1700000000.5, 3.125, 7, 99, 3, 0, cmds[i],
                         strlen(cmds[i])};
    CU_ASSERT_EQUAL_FATAL(so__joblog_format(&b, &e), 0);
    /* Exactly one '\n' ends the line, whatever the command held. */
    CU_ASSERT(memchr(b.data, '\n', b.len) == b.data + b.len - 1);
    so__joblog_entry p;
    CU_ASSERT_EQUAL_FATAL(so__joblog_parse_line((char *)b.data, b.len - 1, &p), 0);
    CU_ASSERT_EQUAL(p.seq, i + 1);
    CU_ASSERT_STRING_EQUAL(p.host, "host-1");
    CU_ASSERT_DOUBLE_EQUAL(p.starttime, 1700000000.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(p.runtime, 3.125, 1e-9);
    CU_ASSERT(p.send == 7 && p.receive == 99 && p.exitval == 3 && p.signal == 0);
    CU_ASSERT_EQUAL(p.command_len, strlen(cmds[i]));
    CU_ASSERT(p.command_len == strlen(cmds[i]) && memcmp(p.command, cmds[i], p.command_len) == 0);
    so__buf_free(&b);
  }
}

static void test_parse_rejects(void) {
  static const char *const lines[] = {
      "hello world", "1\t:\t1.0\t1.0\t0\t0\t0\t0", "x\t:\t1.0\t1.0\t0\t0\t0\t0\tc",
      "0\t:\t1.0\t1.0\t0\t0\t0\t0\tc", "1\t\t1.0\t1.0\t0\t0\t0\t0\tc",
      "1\t:\tnan\t1.0\t0\t0\t0\t0\tc", "1\t:\t1.0\t1e3\t0\t0\t0\t0\tc",
      "1\t:\t1.0\t1.0\t0x1\t0\t0\t0\tc", "1\t:\t1.0\t1.0\t0\t0\t99999999999\t0\tc",
      "1\t:\t1.0\t1.0\t0\t0\t0\t+1\tc", "-1\t:\t1.0\t1.0\t0\t0\t0\t0\tc"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    char copy[128];
    snprintf(copy, sizeof copy, "%s", lines[i]);
    so__joblog_entry e;
    CU_ASSERT_EQUAL(so__joblog_parse_line(copy, strlen(copy), &e), SO_EINVAL);
  }
}

static void test_write_read_resume(void) {
  const char *log = in_dir("run.log");
  char err[512] = "";
  so__joblog *jl = NULL;
  so__joblog_options opts = {0, -1.0, NULL};
  CU_ASSERT_EQUAL_FATAL(so__joblog_open(&jl, log, &opts, NULL, err, sizeof err), 0);
  so__joblog_entry e1 = entry(1, 0, 0, "true"), e2 = entry(2, 1, 0, "false"),
                  e3 = entry(3, 0, 9, "kill -9 $$");
  CU_ASSERT_EQUAL(so__joblog_append(jl, &e1, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_append(jl, &e2, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_append(jl, &e3, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_unsynced(jl), 3);
  CU_ASSERT_EQUAL(so__joblog_close(jl, err, sizeof err), 0);

  so__buf b = SO_BUF_INIT;
  CU_ASSERT_EQUAL(slurp(log, &b), 0);
  CU_ASSERT(BUF_IS(&b, "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n"
                       "1\t:\t1700000000.123\t     0.250\t0\t0\t0\t0\ttrue\n"
                       "2\t:\t1700000000.123\t     0.250\t0\t0\t1\t0\tfalse\n"
                       "3\t:\t1700000000.123\t     0.250\t0\t0\t0\t9\tkill -9 $$\n"));

  /* A crash mid-write leaves half a line: the reader ignores it. */
  size_t whole = b.len;
  int fd = open(log, O_WRONLY | O_APPEND);
  CU_ASSERT_FATAL(write(fd, "4\t:\t17000", 9) == 9);
  close(fd);
  so__joblog_status st = SO_JOBLOG_STATUS_INIT;
  uint64_t valid = 0;
  CU_ASSERT_EQUAL(so__joblog_scan(log, NULL, NULL, &valid, err, sizeof err), 0);
  CU_ASSERT_EQUAL(valid, whole);
  CU_ASSERT_EQUAL_FATAL(so__joblog_read(log, &st, err, sizeof err), 0);
  CU_ASSERT_EQUAL(st.records, 3);
  CU_ASSERT_EQUAL(st.max_seq, 3);
  CU_ASSERT_EQUAL(st.succeeded, 1);
  CU_ASSERT_EQUAL(st.failed, 2);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 1), SO_JOBLOG_SUCCEEDED);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 2), SO_JOBLOG_FAILED);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 3), SO_JOBLOG_FAILED); /* a signal is a failure */
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 4), SO_JOBLOG_NOT_RUN);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 0), SO_JOBLOG_NOT_RUN);
  so__joblog_status_free(&st);

  /* Resuming cuts the half line away, reports the status, and appends whole lines after it. */
  opts.resume = 1;
  opts.sync_interval = 0;
  CU_ASSERT_EQUAL_FATAL(so__joblog_open(&jl, log, &opts, &st, err, sizeof err), 0);
  CU_ASSERT_EQUAL(st.records, 3);
  struct stat sb;
  CU_ASSERT(stat(log, &sb) == 0 && (size_t)sb.st_size == whole);
  so__joblog_entry retry = entry(2, 0, 0, "false"), e5 = entry(5000, 0, 0, "echo 5000");
  CU_ASSERT_EQUAL(so__joblog_append(jl, &retry, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_unsynced(jl), 0); /* interval 0 syncs every line */
  CU_ASSERT_EQUAL(so__joblog_append(jl, &e5, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_close(jl, err, sizeof err), 0);
  so__joblog_status_free(&st);

  CU_ASSERT_EQUAL_FATAL(so__joblog_read(log, &st, err, sizeof err), 0);
  CU_ASSERT_EQUAL(st.records, 5);
  CU_ASSERT_EQUAL(st.max_seq, 5000);
  CU_ASSERT_EQUAL(st.succeeded, 3); /* seq 2 failed once, then succeeded */
  CU_ASSERT_EQUAL(st.failed, 1);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 2), SO_JOBLOG_SUCCEEDED);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 4999), SO_JOBLOG_NOT_RUN);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 5000), SO_JOBLOG_SUCCEEDED);
  so__joblog_status_free(&st);
  CU_ASSERT_PTR_NULL(st.state);
  so__buf_free(&b);
}

/* A last line without its '\n', cut at every byte: it counts once the tab after Signal is there
 * (Exitval and Signal are then whole), and is ignored before that; resuming keeps a complete one
 * (ending it with '\n' before the next line) and cuts an incomplete one away. The success line
 * of task 4 is therefore either kept or, if cut before its status, rerun: never misread. */
static void test_last_line_without_newline(void) {
  static const char head[] = SO_JOBLOG_HEADER "1\t:\t1700000000.123\t     0.250\t0\t0\t0\t0\ttrue\n";
  static const char *const tails[] = {
      "4\t:\t1700000000.123\t     0.250\t0\t0\t0\t0\techo four",  /* success */
      "4\t:\t1700000000.123\t    10.250\t12\t345\t2\t0\tfalse", /* failure */
      "4\t:\t1700000000.123\t     0.250\t0\t0\t-1\t15\t"};      /* killed, empty command */
  const char *log = in_dir("torn.log");
  char err[512] = "";
  so__buf buf = SO_BUF_INIT, b = SO_BUF_INIT;
  for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
    const char *tail = tails[t];
    size_t n = strlen(tail), status_end = 0;
    for (int tabs = 0; status_end < n && tabs < 8; status_end++)
      tabs += tail[status_end] == '\t';
    for (size_t cut = 1; cut <= n; cut++) {
      so__buf_clear(&buf);
      so__buf_append(&buf, head, sizeof head - 1);
      so__buf_append(&buf, tail, cut);
      put_file(log, (const char *)buf.data, buf.len);
      int counts = cut >= status_end;
      so__joblog_status st = SO_JOBLOG_STATUS_INIT;
      uint64_t valid = 0;
      CU_ASSERT_EQUAL(so__joblog_scan(log, NULL, NULL, &valid, err, sizeof err), 0);
      CU_ASSERT_EQUAL(valid, counts ? buf.len : sizeof head - 1);
      CU_ASSERT_EQUAL_FATAL(so__joblog_read(log, &st, err, sizeof err), 0);
      int want = !counts ? SO_JOBLOG_NOT_RUN : t == 0 ? SO_JOBLOG_SUCCEEDED : SO_JOBLOG_FAILED;
      CU_ASSERT_EQUAL(st.records, 1u + counts);
      CU_ASSERT_EQUAL(so__joblog_status_of(&st, 4), want);
      if (so__joblog_status_of(&st, 4) != want)
        fprintf(stderr, "\n  tail %zu cut at %zu of %zu: status %d, want %d\n", t, cut, n,
                so__joblog_status_of(&st, 4), want);
      so__joblog_status_free(&st);

      /* Resume: the next line starts on a line of its own after what was kept. */
      so__joblog *jl = NULL;
      so__joblog_options opts = {1, -1.0, NULL};
      CU_ASSERT_EQUAL_FATAL(so__joblog_open(&jl, log, &opts, &st, err, sizeof err), 0);
      CU_ASSERT_EQUAL(so__joblog_status_of(&st, 4), want);
      so__joblog_status_free(&st);
      so__joblog_entry e5 = entry(5, 0, 0, "echo five");
      CU_ASSERT_EQUAL(so__joblog_append(jl, &e5, err, sizeof err), 0);
      CU_ASSERT_EQUAL(so__joblog_close(jl, err, sizeof err), 0);
      so__buf_clear(&buf);
      so__buf_append(&buf, head, sizeof head - 1);
      if (counts) {
        so__buf_append(&buf, tail, cut);
        so__buf_append(&buf, "\n", 1);
      }
      so__buf_append(&buf, "5\t:\t1700000000.123\t     0.250\t0\t0\t0\t0\techo five\n", 48);
      CU_ASSERT_EQUAL(slurp(log, &b), 0);
      CU_ASSERT(buf_is(&b, (const char *)buf.data, buf.len));
      CU_ASSERT_EQUAL_FATAL(so__joblog_read(log, &st, err, sizeof err), 0);
      CU_ASSERT_EQUAL(st.records, 2u + counts);
      CU_ASSERT_EQUAL(so__joblog_status_of(&st, 4), want);
      CU_ASSERT_EQUAL(so__joblog_status_of(&st, 5), SO_JOBLOG_SUCCEEDED);
      so__joblog_status_free(&st);
    }
  }
  /* What a machine crash can leave instead: the file grown with zeros, after a whole line. */
  so__buf_clear(&buf);
  so__buf_append(&buf, head, sizeof head - 1);
  so__buf_append(&buf, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
  put_file(log, (const char *)buf.data, buf.len);
  uint64_t valid = 0;
  CU_ASSERT_EQUAL(so__joblog_scan(log, NULL, NULL, &valid, err, sizeof err), 0);
  CU_ASSERT_EQUAL(valid, sizeof head - 1);
  /* A lone header without its newline is no line either. */
  put_file(log, SO_JOBLOG_HEADER, sizeof SO_JOBLOG_HEADER - 2);
  CU_ASSERT_EQUAL(so__joblog_scan(log, NULL, NULL, &valid, err, sizeof err), 0);
  CU_ASSERT_EQUAL(valid, 0);
  so__buf_free(&buf);
  so__buf_free(&b);
}

static void test_resume_edge_files(void) {
  char err[512] = "";
  so__joblog *jl = NULL;
  so__joblog_options opts = {1, -1.0, NULL};
  so__buf b = SO_BUF_INIT;

  /* Resuming a missing or empty log starts one, with its header. */
  const char *fresh = in_dir("fresh.log");
  CU_ASSERT_EQUAL_FATAL(so__joblog_open(&jl, fresh, &opts, NULL, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_close(jl, err, sizeof err), 0);
  CU_ASSERT(slurp(fresh, &b) == 0 && BUF_IS(&b, SO_JOBLOG_HEADER));
  const char *half = in_dir("half.log");
  put_file(half, "Seq\tHost\tStart", 14);
  CU_ASSERT_EQUAL_FATAL(so__joblog_open(&jl, half, &opts, NULL, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_close(jl, err, sizeof err), 0);
  CU_ASSERT(slurp(half, &b) == 0 && BUF_IS(&b, SO_JOBLOG_HEADER));

  /* A log without its header (or with a second one, after concatenation) is still a log. */
  const char *cat = in_dir("cat.log");
  const char text[] = "1\t:\t1.000\t     1.000\t0\t0\t0\t0\ta\n" SO_JOBLOG_HEADER
                      "2\t:\t1.000\t     1.000\t0\t0\t0\t0\tb\n";
  put_file(cat, text, sizeof text - 1);
  so__joblog_status st = SO_JOBLOG_STATUS_INIT;
  CU_ASSERT_EQUAL(so__joblog_read(cat, &st, err, sizeof err), 0);
  CU_ASSERT_EQUAL(st.succeeded, 2);
  so__joblog_status_free(&st);

  /* Not a joblog: a clear error naming the file and line, and the file left as it was. */
  const char *notlog = in_dir("notes.txt");
  const char notes[] = SO_JOBLOG_HEADER "1\t:\t1.000\t     1.000\t0\t0\t0\t0\tok\nhello world\n";
  put_file(notlog, notes, sizeof notes - 1);
  jl = (so__joblog *)1;
  CU_ASSERT_EQUAL(so__joblog_open(&jl, notlog, &opts, NULL, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NULL(jl);
  CU_ASSERT(strstr(err, notlog) && strstr(err, "not a joblog") && strstr(err, "line 3"));
  CU_ASSERT(slurp(notlog, &b) == 0 && buf_is(&b, notes, sizeof notes - 1));
  const char badfield[] = "1\t:\tyesterday\t     1.000\t0\t0\t0\t0\tok\n";
  put_file(notlog, badfield, sizeof badfield - 1);
  CU_ASSERT_EQUAL(so__joblog_read(notlog, &st, err, sizeof err), SO_EINVAL);
  CU_ASSERT(strstr(err, "Starttime") && strstr(err, "line 1"));
  so__joblog_status_free(&st);

  CU_ASSERT_EQUAL(so__joblog_read(in_dir("nope.log"), &st, err, sizeof err), SO_EIO);
  CU_ASSERT(strstr(err, "nope.log") && strstr(err, strerror(ENOENT)));
  CU_ASSERT_EQUAL(so__joblog_read(dir, &st, err, sizeof err), SO_EIO);
  CU_ASSERT_EQUAL(so__joblog_open(&jl, dir, &opts, NULL, err, sizeof err), SO_EIO);
  opts.resume = 0;
  CU_ASSERT_EQUAL(so__joblog_open(&jl, dir, &opts, NULL, err, sizeof err), SO_EIO);
  CU_ASSERT(strstr(err, dir) != NULL);

  /* A Seq beyond the table's limit is refused with its line. */
  const char huge[] = "99999999999\t:\t1.000\t     1.000\t0\t0\t0\t0\tx\n";
  put_file(notlog, huge, sizeof huge - 1);
  CU_ASSERT_EQUAL(so__joblog_read(notlog, &st, err, sizeof err), SO_EINVAL);
  CU_ASSERT(strstr(err, "line 1") && strstr(err, "99999999999"));
  so__joblog_status_free(&st);
  so__buf_free(&b);
}

static void test_sync_interval(void) {
  char err[512] = "";
  so__joblog *jl = NULL;
  so__joblog_options opts = {0, 0.05, NULL};
  CU_ASSERT_EQUAL_FATAL(so__joblog_open(&jl, in_dir("sync.log"), &opts, NULL, err, sizeof err), 0);
  so__joblog_entry e = entry(1, 0, 0, "x");
  CU_ASSERT_EQUAL(so__joblog_append(jl, &e, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_unsynced(jl), 1);
  CU_ASSERT_EQUAL(so__joblog_tick(jl, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_unsynced(jl), 1); /* not due yet */
  struct timespec nap = {0, 80 * 1000 * 1000};
  nanosleep(&nap, NULL);
  CU_ASSERT_EQUAL(so__joblog_tick(jl, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_unsynced(jl), 0);
  e.seq = 2;
  CU_ASSERT_EQUAL(so__joblog_append(jl, &e, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_sync(jl, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_unsynced(jl), 0);
  CU_ASSERT_EQUAL(so__joblog_close(jl, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_close(NULL, err, sizeof err), 0);
}

/* If GNU parallel is installed, the real thing's log must read back, and it must take ours. */
static void test_gnu_parallel_interop(void) {
  if (access("/usr/bin/parallel", X_OK) != 0) {
    fprintf(stderr, "\n  skipped: GNU parallel is not installed\n");
    return;
  }
  /* GNU parallel keeps state under $HOME/.parallel and fails without a HOME: give it the test's
   * directory, so neither the caller's environment nor their ~/.parallel matters. */
  char cmd[2048];
  const char *theirs = in_dir("gnu.log");
  snprintf(cmd, sizeof cmd,
           "cd '%s' && HOME=\"$PWD\" /usr/bin/parallel --will-cite -j1 --joblog '%s' ::: true false "
           "'printf \"a\\tb\\n\"' >/dev/null 2>&1",
           dir, theirs);
  (void)system(cmd);
  so__joblog_status st = SO_JOBLOG_STATUS_INIT;
  char err[512] = "";
  CU_ASSERT_EQUAL(so__joblog_read(theirs, &st, err, sizeof err), 0);
  CU_ASSERT_EQUAL(st.records, 3);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 1), SO_JOBLOG_SUCCEEDED);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 2), SO_JOBLOG_FAILED);
  CU_ASSERT_EQUAL(so__joblog_status_of(&st, 3), SO_JOBLOG_SUCCEEDED);
  so__joblog_status_free(&st);

  /* Ours, with a multi-line command: --resume-failed reruns exactly the failed Seq 2. */
  const char *ours = in_dir("ours.log");
  so__joblog *jl = NULL;
  CU_ASSERT_EQUAL_FATAL(so__joblog_open(&jl, ours, NULL, NULL, err, sizeof err), 0);
  so__joblog_entry e1 = entry(1, 0, 0, "echo a\necho b"), e2 = entry(2, 1, 0, "echo b");
  CU_ASSERT_EQUAL(so__joblog_append(jl, &e1, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_append(jl, &e2, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_close(jl, err, sizeof err), 0);
  const char *out = in_dir("rerun.out");
  snprintf(cmd, sizeof cmd,
           "cd '%s' && HOME=\"$PWD\" /usr/bin/parallel --will-cite -j1 --resume-failed "
           "--joblog '%s' echo ::: one two three > '%s' 2>&1",
           dir, ours, out);
  CU_ASSERT_EQUAL(system(cmd), 0);
  so__buf b = SO_BUF_INIT;
  CU_ASSERT(slurp(out, &b) == 0 && BUF_IS(&b, "two\nthree\n"));
  so__buf_free(&b);
}

static void test_fnv1a64(void) {
  /* Published FNV-1a 64 test vectors. */
  CU_ASSERT_EQUAL(so__fnv1a64(SO_FNV1A64_INIT, "", 0), UINT64_C(0xcbf29ce484222325));
  CU_ASSERT_EQUAL(so__fnv1a64(SO_FNV1A64_INIT, "a", 1), UINT64_C(0xaf63dc4c8601ec8c));
  CU_ASSERT_EQUAL(so__fnv1a64(SO_FNV1A64_INIT, "foobar", 6), UINT64_C(0x85944171f73967e8));
  /* Streaming in pieces gives the same hash as one call. */
  CU_ASSERT_EQUAL(so__fnv1a64(so__fnv1a64(SO_FNV1A64_INIT, "foo", 3), "bar", 3),
                  UINT64_C(0x85944171f73967e8));
}

/* Feeds tasks[0..n) (task i on source line 2*i+1) into sp, then finishes. Returns the first
 * non-zero result and leaves its message in err; *at receives the seq it happened at (n + 1 for
 * finish). */
static int feed(so__srcprint *sp, const char *const *tasks, size_t n, uint64_t *at, char *err,
                size_t errlen) {
  for (size_t i = 0; i < n; i++) {
    int rc = so__srcprint_add(sp, i + 1, 2 * i + 1, tasks[i], strlen(tasks[i]), err, errlen);
    if (rc) {
      *at = i + 1;
      return rc;
    }
  }
  *at = n + 1;
  return so__srcprint_finish(sp, err, errlen);
}

/* Opens path with flags and feeds the tasks; returns feed's result (or the open error). */
static int run_print(const char *path, unsigned flags, const char *const *tasks, size_t n,
                     uint64_t *at, char *err, size_t errlen) {
  so__srcprint *sp = NULL;
  int rc = so__srcprint_open(&sp, path, flags, "tasks.txt", err, errlen);
  if (rc)
    return rc;
  rc = feed(sp, tasks, n, at, err, errlen);
  so__srcprint_close(sp);
  return rc;
}

static const char *const five[] = {"echo 1", "echo 2", "echo 3", "echo 4", "echo 5"};

static void test_srcprint_same_and_changed(void) {
  const char *fp = in_dir("run.log" SO_SRCPRINT_SUFFIX);
  char err[512] = "";
  uint64_t at = 0;
  so__buf before = SO_BUF_INIT, after = SO_BUF_INIT;
  CU_ASSERT_EQUAL_FATAL(run_print(fp, 0, five, 5, &at, err, sizeof err), 0);
  CU_ASSERT_EQUAL(slurp(fp, &before), 0);
  CU_ASSERT(before.len > 0 && memcmp(before.data, "scaleout-source-fingerprints\t1\n", 31) == 0);

  /* The same source resumes cleanly and leaves the file as it was. */
  CU_ASSERT_EQUAL(run_print(fp, SO_SRCPRINT_RESUME, five, 5, &at, err, sizeof err), 0);
  CU_ASSERT(slurp(fp, &after) == 0 && buf_is(&after, (char *)before.data, before.len));

  /* Task 3 changed: refused, naming the task and its line, in check-only mode too. */
  const char *changed[] = {"echo 1", "echo 2", "echo THREE", "echo 4", "echo 5"};
  static const unsigned modes[] = {SO_SRCPRINT_RESUME, SO_SRCPRINT_RESUME | SO_SRCPRINT_CHECK_ONLY};
  for (size_t m = 0; m < 2; m++) {
    CU_ASSERT_EQUAL(run_print(fp, modes[m], changed, 5, &at, err, sizeof err), SO_EINVAL);
    CU_ASSERT_EQUAL(at, 3);
    CU_ASSERT(strstr(err, "tasks.txt") && strstr(err, "task 3") && strstr(err, "line 5"));
    CU_ASSERT(slurp(fp, &after) == 0 && buf_is(&after, (char *)before.data, before.len));
  }

  /* Fewer tasks, or more than a finished source had, are changes too. */
  CU_ASSERT_EQUAL(run_print(fp, SO_SRCPRINT_RESUME, five, 4, &at, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(at, 5);
  CU_ASSERT(strstr(err, "ends after 4 tasks") && strstr(err, "task 5"));
  const char *six[] = {"echo 1", "echo 2", "echo 3", "echo 4", "echo 5", "echo 6"};
  CU_ASSERT_EQUAL(run_print(fp, SO_SRCPRINT_RESUME, six, 6, &at, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(at, 6);
  CU_ASSERT(strstr(err, "had 5 tasks") && strstr(err, "task 6"));
  /* Moving a task to another line without changing it is not a change. */
  so__srcprint *sp = NULL;
  CU_ASSERT_EQUAL_FATAL(so__srcprint_open(&sp, fp, SO_SRCPRINT_RESUME, "t", err, sizeof err), 0);
  for (uint64_t i = 0; i < 5; i++)
    CU_ASSERT_EQUAL(so__srcprint_add(sp, i + 1, 100 + i, five[i], 6, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__srcprint_finish(sp, err, sizeof err), 0);
  so__srcprint_close(sp);

  /* --force accepts the change with a message, and rewrites the file from task 3 on. */
  CU_ASSERT_EQUAL(
      run_print(fp, SO_SRCPRINT_RESUME | SO_SRCPRINT_FORCE, changed, 5, &at, err, sizeof err), 1);
  CU_ASSERT_EQUAL(at, 3);
  CU_ASSERT(strstr(err, "task 3") != NULL);
  CU_ASSERT_EQUAL(run_print(fp, SO_SRCPRINT_RESUME, changed, 5, &at, err, sizeof err), 0);
  CU_ASSERT_EQUAL(run_print(fp, SO_SRCPRINT_RESUME, five, 5, &at, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(at, 3);
  so__buf_free(&before);
  so__buf_free(&after);
}

/* A run that stopped early fingerprinted only a prefix; resuming checks it and goes on. */
static void test_srcprint_interrupted(void) {
  const char *fp = in_dir("cut.log" SO_SRCPRINT_SUFFIX);
  char err[512] = "";
  uint64_t at = 0;
  so__srcprint *sp = NULL;
  CU_ASSERT_EQUAL_FATAL(so__srcprint_open(&sp, fp, 0, "tasks.txt", err, sizeof err), 0);
  for (uint64_t i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(so__srcprint_add(sp, i + 1, 2 * i + 1, five[i], 6, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__srcprint_sync(sp, err, sizeof err), 0);
  so__srcprint_close(sp);
  /* ...and the machine died while writing task 4's line. */
  int fd = open(fp, O_WRONLY | O_APPEND);
  CU_ASSERT_FATAL(write(fd, "4\t7\t12ab", 8) == 8);
  close(fd);

  CU_ASSERT_EQUAL(run_print(fp, SO_SRCPRINT_RESUME, five, 5, &at, err, sizeof err), 0);
  so__buf b = SO_BUF_INIT;
  CU_ASSERT_EQUAL(slurp(fp, &b), 0);
  CU_ASSERT(b.len > 0 && b.data[b.len - 1] == '\n');
  so__buf_append(&b, "", 1); /* a C string from here on */
  CU_ASSERT(strstr((char *)b.data, "12ab") == NULL);
  CU_ASSERT(strstr((char *)b.data, "\n4\t7\t") && strstr((char *)b.data, "\nend\t5\t"));
  CU_ASSERT_EQUAL(run_print(fp, SO_SRCPRINT_RESUME, five, 5, &at, err, sizeof err), 0);
  const char *other[] = {"echo 1", "echo 2", "echo 3", "echo 4", "rm -rf /"};
  CU_ASSERT_EQUAL(run_print(fp, SO_SRCPRINT_RESUME, other, 5, &at, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(at, 5);
  so__buf_free(&b);
}

static void test_srcprint_errors(void) {
  char err[512] = "";
  uint64_t at = 0;
  so__srcprint *sp = (so__srcprint *)1;
  const char *missing = in_dir("missing" SO_SRCPRINT_SUFFIX);
  CU_ASSERT_EQUAL(so__srcprint_open(&sp, missing, SO_SRCPRINT_RESUME, "t", err, sizeof err),
                  SO_EIO);
  CU_ASSERT_PTR_NULL(sp);
  CU_ASSERT(strstr(err, missing) && strstr(err, "--force"));
  /* With --force a missing sidecar is simply started. */
  CU_ASSERT_EQUAL(
      run_print(missing, SO_SRCPRINT_RESUME | SO_SRCPRINT_FORCE, five, 5, &at, err, sizeof err),
      0);
  CU_ASSERT_EQUAL(run_print(missing, SO_SRCPRINT_RESUME, five, 5, &at, err, sizeof err), 0);

  const char *foreign = in_dir("foreign" SO_SRCPRINT_SUFFIX);
  put_file(foreign, "#!/bin/sh\necho hi\n", 18);
  CU_ASSERT_EQUAL(so__srcprint_open(&sp, foreign, SO_SRCPRINT_RESUME, "t", err, sizeof err),
                  SO_EINVAL);
  CU_ASSERT(strstr(err, foreign) && strstr(err, "not a scaleout task source fingerprint file"));
  const char damaged[] = "scaleout-source-fingerprints\t1\n1\t1\tnot-a-hash\n";
  put_file(foreign, damaged, sizeof damaged - 1);
  CU_ASSERT_EQUAL(run_print(foreign, SO_SRCPRINT_RESUME, five, 5, &at, err, sizeof err),
                  SO_EINVAL);
  CU_ASSERT(strstr(err, "line 2") && strstr(err, "damaged"));

  static const unsigned bad_flags[] = {SO_SRCPRINT_FORCE, SO_SRCPRINT_CHECK_ONLY,
                                       SO_SRCPRINT_RESUME | SO_SRCPRINT_FORCE |
                                           SO_SRCPRINT_CHECK_ONLY,
                                       SO_SRCPRINT_RESUME | 0x100};
  for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++)
    CU_ASSERT_EQUAL(so__srcprint_open(&sp, missing, bad_flags[i], "t", err, sizeof err),
                    SO_EINVAL);

  CU_ASSERT_EQUAL_FATAL(so__srcprint_open(&sp, in_dir("order.source"), 0, "t", err, sizeof err),
                        0);
  CU_ASSERT_EQUAL(so__srcprint_add(sp, 2, 1, "x", 1, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(so__srcprint_add(sp, 1, 1, "x", 1, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__srcprint_finish(sp, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__srcprint_add(sp, 2, 2, "y", 1, err, sizeof err), SO_EINVAL);
  so__srcprint_close(sp);
  so__srcprint_close(NULL);
}

/* An attached sidecar is synced with the log; the log still works on its own. */
static void test_joblog_with_sidecar(void) {
  char err[512] = "";
  so__srcprint *sp = NULL;
  CU_ASSERT_EQUAL_FATAL(
      so__srcprint_open(&sp, in_dir("both.log" SO_SRCPRINT_SUFFIX), 0, "t", err, sizeof err), 0);
  so__joblog *jl = NULL;
  so__joblog_options opts = {0, 0, sp};
  CU_ASSERT_EQUAL_FATAL(so__joblog_open(&jl, in_dir("both.log"), &opts, NULL, err, sizeof err),
                        0);
  CU_ASSERT_EQUAL(so__srcprint_add(sp, 1, 1, "true", 4, err, sizeof err), 0);
  so__joblog_entry e = entry(1, 0, 0, "true");
  CU_ASSERT_EQUAL(so__joblog_append(jl, &e, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__srcprint_finish(sp, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__joblog_close(jl, err, sizeof err), 0);
  so__srcprint_close(sp);
}

int main(void) {
  if (!mkdtemp(dir))
    return 2;
  static const so_test_case cases[] = {
      {"header and line format", test_header_and_format},
      {"tabs and newlines round trip", test_roundtrip},
      {"malformed lines are rejected", test_parse_rejects},
      {"write, partial line, read, resume", test_write_read_resume},
      {"a last line without its newline, cut at every byte", test_last_line_without_newline},
      {"resume of missing, empty, foreign files", test_resume_edge_files},
      {"sync interval", test_sync_interval},
      {"GNU parallel reads ours, we read theirs", test_gnu_parallel_interop},
      {"FNV-1a 64", test_fnv1a64},
      {"fingerprints: same, changed, fewer, more, forced", test_srcprint_same_and_changed},
      {"fingerprints: resuming an interrupted run", test_srcprint_interrupted},
      {"fingerprints: missing, foreign, damaged, misuse", test_srcprint_errors},
      {"a joblog with its sidecar", test_joblog_with_sidecar},
      {NULL, NULL}};
  int rc = so_test_run("joblog", cases);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}

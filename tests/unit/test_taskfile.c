/* Task sources: normal files, every bad source from the issue, args files, and stdin. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "farm/taskfile.h"
#include "scaleout/scaleout.h"
#include "so_test.h"

static char dir[] = "/tmp/so_test_taskfile_XXXXXX";
static char path[512];

/* Writes len bytes to dir/name and leaves its path in the global path. */
static void make_file(const char *name, const void *data, size_t len) {
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CU_ASSERT_FATAL(fd >= 0);
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    CU_ASSERT_FATAL(w > 0);
    p += w;
    len -= (size_t)w;
  }
  close(fd);
}

/* A file from a string literal, which may hold NUL bytes. */
#define MAKE_LITERAL(name, lit) make_file(name, lit, sizeof lit - 1)

/* Expects the next item to be want (a C string) on line lineno. */
static void expect(so__taskfile *tf, const char *want, uint64_t lineno) {
  const char *text = NULL;
  size_t len = 0;
  uint64_t at = 0;
  char err[512] = "";
  int rc = so__taskfile_next(tf, &text, &len, &at, err, sizeof err);
  CU_ASSERT_EQUAL(rc, 1);
  if (rc != 1) {
    fprintf(stderr, "\n  wanted [%s], got %d: %s\n", want, rc, err);
    return;
  }
  CU_ASSERT_EQUAL(len, strlen(want));
  CU_ASSERT(len == strlen(want) && memcmp(text, want, len) == 0);
  CU_ASSERT_EQUAL(text[len], '\0');
  CU_ASSERT_EQUAL(at, lineno);
}

static void expect_end(so__taskfile *tf) {
  const char *text;
  size_t len;
  uint64_t at;
  char err[512] = "";
  CU_ASSERT_EQUAL(so__taskfile_next(tf, &text, &len, &at, err, sizeof err), 0);
}

/* Expects an error code whose message holds both needles (NULL to skip one). */
static void expect_error(so__taskfile *tf, int code, const char *n1, const char *n2) {
  const char *text;
  size_t len;
  uint64_t at;
  char err[512] = "";
  int rc = so__taskfile_next(tf, &text, &len, &at, err, sizeof err);
  CU_ASSERT_EQUAL(rc, code);
  CU_ASSERT(!n1 || strstr(err, n1));
  CU_ASSERT(!n2 || strstr(err, n2));
  if (rc != code || (n1 && !strstr(err, n1)) || (n2 && !strstr(err, n2)))
    fprintf(stderr, "\n  got %d: %s\n", rc, err);
}

static so__taskfile *open_ok(const char *p, so__taskfile_mode mode) {
  so__taskfile *tf = NULL;
  char err[512] = "";
  int rc = so__taskfile_open(&tf, p, mode, err, sizeof err);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc)
    fprintf(stderr, "\n  open %s: %s\n", p, err);
  return tf;
}

static void test_commands(void) {
  const char text[] = "echo one\n\n   \n# a comment\n  \t# indented comment\n  echo two\n"
                      "echo three # not a comment\n\t\necho last";
  make_file("ok.txt", text, sizeof text - 1);
  so__taskfile *tf = open_ok(path, SO_TASKFILE_COMMANDS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  CU_ASSERT_STRING_EQUAL(so__taskfile_name(tf), path);
  expect(tf, "echo one", 1);
  expect(tf, "  echo two", 6); /* leading blanks belong to the command */
  expect(tf, "echo three # not a comment", 7);
  expect(tf, "echo last", 9); /* no final newline */
  expect_end(tf);
  expect_end(tf);
  so__taskfile_close(tf);
}

/* A CR is data, as in GNU parallel: only lines of blanks and CRs are skipped as blank. */
static void test_crlf(void) {
  const char text[] = "echo a\r\n#c\r\n\r\n \r\t\necho b\rx\r\necho c\r";
  make_file("crlf.txt", text, sizeof text - 1);
  so__taskfile *tf = open_ok(path, SO_TASKFILE_COMMANDS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  expect(tf, "echo a\r", 1);
  expect(tf, "echo b\rx\r", 5);
  expect(tf, "echo c\r", 6);
  expect_end(tf);
  so__taskfile_close(tf);
}

/* A source with no task is no error (GNU parallel and xargs -r run nothing and exit 0). */
static void test_empty_and_only_comments(void) {
  make_file("empty.txt", "", 0);
  so__taskfile *tf = open_ok(path, SO_TASKFILE_COMMANDS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  expect_end(tf);
  expect_end(tf);
  so__taskfile_close(tf);

  MAKE_LITERAL("comments.txt", "# one\n\n  # two\n");
  tf = open_ok(path, SO_TASKFILE_COMMANDS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  expect_end(tf);
  so__taskfile_close(tf);
}

static void test_nul_byte(void) {
  MAKE_LITERAL("nul.txt", "echo 1\necho 2\necho \0x\necho 4\n");
  so__taskfile *tf = open_ok(path, SO_TASKFILE_COMMANDS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  expect(tf, "echo 1", 1);
  expect(tf, "echo 2", 2);
  expect_error(tf, SO_EINVAL, path, "line 3");
  expect_error(tf, SO_EINVAL, "NUL", NULL);
  so__taskfile_close(tf);
}

/* Builds "echo " + filler up to n bytes, a newline, and a short line after it. */
static char *long_line(size_t n, size_t *total) {
  char *buf = malloc(n + 16);
  CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
  memcpy(buf, "echo ", 5);
  for (size_t i = 5; i < n; i++)
    buf[i] = (char)('a' + i % 26);
  memcpy(buf + n, "\necho after\n", 12);
  *total = n + 12;
  return buf;
}

static void test_long_lines(void) {
  /* 1 MiB works, and so does exactly the limit. */
  static const size_t sizes[] = {(size_t)1 << 20, SO_TASKFILE_MAX_LINE};
  for (size_t k = 0; k < 2; k++) {
    size_t total;
    char *buf = long_line(sizes[k], &total);
    make_file("long.txt", buf, total);
    so__taskfile *tf = open_ok(path, SO_TASKFILE_COMMANDS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
    const char *text;
    size_t len;
    uint64_t at;
    char err[512];
    CU_ASSERT_EQUAL(so__taskfile_next(tf, &text, &len, &at, err, sizeof err), 1);
    CU_ASSERT_EQUAL(len, sizes[k]);
    CU_ASSERT(len == sizes[k] && memcmp(text, buf, len) == 0 && text[len] == '\0');
    expect(tf, "echo after", 2);
    so__taskfile_close(tf);
    free(buf);
  }
  /* One byte over is an error naming the line, not a truncation. */
  size_t total;
  char *buf = long_line(SO_TASKFILE_MAX_LINE + 1, &total);
  char *two = malloc(total + 8);
  memcpy(two, "echo 1\n", 7);
  memcpy(two + 7, buf, total);
  make_file("toolong.txt", two, total + 7);
  so__taskfile *tf = open_ok(path, SO_TASKFILE_COMMANDS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  expect(tf, "echo 1", 1);
  expect_error(tf, SO_EINVAL, path, "line 2 ");
  expect_error(tf, SO_EINVAL, "4 MiB", NULL);
  so__taskfile_close(tf);
  free(two);
  free(buf);
}

/* Lines of many lengths cross the reader's 64 KiB chunk boundaries at every offset. */
static void test_chunk_boundaries(void) {
  size_t cap = 4 << 20, n = 0, lines = 0;
  char *buf = malloc(cap);
  CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
  while (n + 6000 < cap) {
    size_t len = 1 + (lines * 7919) % 5000;
    for (size_t i = 0; i < len; i++)
      buf[n + i] = (char)('A' + (lines + i) % 26);
    n += len;
    buf[n++] = '\n';
    lines++;
  }
  make_file("many.txt", buf, n);
  so__taskfile *tf = open_ok(path, SO_TASKFILE_COMMANDS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  size_t off = 0, bad = 0;
  for (size_t l = 0; l < lines; l++) {
    const char *text;
    size_t len;
    uint64_t at;
    char err[512];
    size_t want = 1 + (l * 7919) % 5000;
    if (so__taskfile_next(tf, &text, &len, &at, err, sizeof err) != 1 || len != want ||
        at != l + 1 || memcmp(text, buf + off, len) != 0)
      bad++;
    off += want + 1;
  }
  CU_ASSERT_EQUAL(bad, 0);
  expect_end(tf);
  so__taskfile_close(tf);
  free(buf);
}

static void expect_open_error(const char *p, int code, const char *n1, const char *n2) {
  so__taskfile *tf = (so__taskfile *)1;
  char err[512] = "";
  int rc = so__taskfile_open(&tf, p, SO_TASKFILE_COMMANDS, err, sizeof err);
  CU_ASSERT_EQUAL(rc, code);
  CU_ASSERT_PTR_NULL(tf);
  CU_ASSERT(!n1 || strstr(err, n1));
  CU_ASSERT(!n2 || strstr(err, n2));
  if (rc != code || (n1 && !strstr(err, n1)) || (n2 && !strstr(err, n2)))
    fprintf(stderr, "\n  open %s gave %d: %s\n", p, rc, err);
}

static void test_cannot_open(void) {
  snprintf(path, sizeof path, "%s/missing.txt", dir);
  expect_open_error(path, SO_EIO, path, strerror(ENOENT));
  expect_open_error(dir, SO_EIO, dir, "is a directory");
  /* A path through a regular file cannot be opened by anyone, root included. */
  MAKE_LITERAL("plain", "x\n");
  char through[600];
  snprintf(through, sizeof through, "%s/tasks.txt", path);
  expect_open_error(through, SO_EIO, through, strerror(ENOTDIR));
  /* Permission bits do not stop root, so the chmod check only means something for others. */
  if (geteuid() != 0) {
    MAKE_LITERAL("secret.txt", "echo x\n");
    CU_ASSERT_EQUAL(chmod(path, 0), 0);
    expect_open_error(path, SO_EIO, path, strerror(EACCES));
  }
  so__taskfile *tf = (so__taskfile *)1;
  char err[512];
  CU_ASSERT_EQUAL(so__taskfile_open(&tf, path, (so__taskfile_mode)7, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NULL(tf);
}

/* /proc/self/mem opens but read() at offset 0 fails with EIO: the read error path, as root. */
static void test_read_error(void) {
  so__taskfile *tf = NULL;
  char err[512] = "";
  if (so__taskfile_open(&tf, "/proc/self/mem", SO_TASKFILE_COMMANDS, err, sizeof err) != 0) {
    fprintf(stderr, "\n  skipped: /proc/self/mem cannot be opened here (%s)\n", err);
    return;
  }
  expect_error(tf, SO_EIO, "cannot read '/proc/self/mem'", strerror(EIO));
  so__taskfile_close(tf);
}

static void test_args_mode(void) {
  MAKE_LITERAL("args.txt", "a b\n\n# kept\n  \nlast\n");
  so__taskfile *tf = open_ok(path, SO_TASKFILE_ARGS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  expect(tf, "a b", 1);
  expect(tf, "", 2);
  expect(tf, "# kept", 3);
  expect(tf, "  ", 4);
  expect(tf, "last", 5);
  expect_end(tf);
  so__taskfile_close(tf);

  /* One empty line is one empty argument; a trailing empty line is an argument too. */
  MAKE_LITERAL("one_empty.txt", "\n");
  tf = open_ok(path, SO_TASKFILE_ARGS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  expect(tf, "", 1);
  expect_end(tf);
  so__taskfile_close(tf);
  MAKE_LITERAL("two.txt", "x\r\n\r\n");
  tf = open_ok(path, SO_TASKFILE_ARGS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  expect(tf, "x\r", 1); /* a CR is part of the argument, as with GNU parallel -a */
  expect(tf, "\r", 2);
  expect_end(tf);
  so__taskfile_close(tf);

  make_file("noargs.txt", "", 0);
  tf = open_ok(path, SO_TASKFILE_ARGS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  expect_end(tf);
  so__taskfile_close(tf);
}

static void test_stdin(void) {
  MAKE_LITERAL("stdin.txt", "# c\necho from stdin\n");
  int saved = dup(0);
  int fd = open(path, O_RDONLY);
  CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
  dup2(fd, 0);
  close(fd);
  so__taskfile *tf = open_ok("-", SO_TASKFILE_COMMANDS);
  if (tf) {
    CU_ASSERT_STRING_EQUAL(so__taskfile_name(tf), "standard input");
    expect(tf, "echo from stdin", 2);
    expect_end(tf);
    so__taskfile_close(tf);
  }
  /* Closing the task source must leave standard input open. */
  CU_ASSERT_NOT_EQUAL(fcntl(0, F_GETFD), -1);
  dup2(saved, 0);
  close(saved);
}

static void expect_later(so__taskfile *tf) {
  const char *text;
  size_t len;
  uint64_t at;
  char err[512] = "";
  CU_ASSERT_EQUAL(so__taskfile_next(tf, &text, &len, &at, err, sizeof err), SO_LINES_LATER);
}

static void put(int fd, const char *s) { CU_ASSERT_EQUAL(write(fd, s, strlen(s)), (ssize_t)strlen(s)); }

/* A pipe whose writer is slow is never waited on: a line is returned once it is whole, and until
 * then SO_LINES_LATER, keeping the part read so far (across several reads). */
static void test_pipe_never_waits(void) {
  int p[2];
  CU_ASSERT_FATAL(pipe(p) == 0);
  int saved = dup(0);
  CU_ASSERT_FATAL(saved >= 0);
  dup2(p[0], 0);
  close(p[0]);
  so__taskfile *tf = open_ok("-", SO_TASKFILE_COMMANDS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tf);
  CU_ASSERT_EQUAL(so__taskfile_rereadable(tf), 0);
  alarm(10); /* a reader that waits in read() ends the program here instead of hanging */
  expect_later(tf); /* nothing written yet: a blocking read would hang here */
  put(p[1], "echo one\necho t");
  expect(tf, "echo one", 1);
  expect_later(tf);
  put(p[1], "w");
  expect_later(tf);
  put(p[1], "o\n# a comment\n\n");
  expect(tf, "echo two", 2);
  expect_later(tf);
  put(p[1], "echo three");
  expect_later(tf);
  close(p[1]); /* end of input: the last line needs no newline */
  expect(tf, "echo three", 5);
  expect_end(tf);
  alarm(0);
  so__taskfile_close(tf);
  dup2(saved, 0);
  close(saved);
  MAKE_LITERAL("regular.txt", "echo x\n");
  tf = open_ok(path, SO_TASKFILE_COMMANDS);
  CU_ASSERT_EQUAL(so__taskfile_rereadable(tf), 1);
  so__taskfile_close(tf);
}

int main(void) {
  if (!mkdtemp(dir))
    return 2;
  static const so_test_case cases[] = {
      {"commands, blanks and comments", test_commands},
      {"a CR is part of the line", test_crlf},
      {"empty and comment-only files", test_empty_and_only_comments},
      {"a NUL byte", test_nul_byte},
      {"1 MiB, limit and over-limit lines", test_long_lines},
      {"lines across chunk boundaries", test_chunk_boundaries},
      {"missing, directory, unreadable", test_cannot_open},
      {"read errors", test_read_error},
      {"args files", test_args_mode},
      {"standard input", test_stdin},
      {"a pipe is never waited on", test_pipe_never_waits},
      {NULL, NULL}};
  int rc = so_test_run("taskfile", cases);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}

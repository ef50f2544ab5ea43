/* Shell quoting: hostile arguments go through a real /bin/sh -c and must arrive unchanged. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "farm/quote.h"
#include "scaleout/scaleout.h"
#include "so_test.h"

/* A directory with files in it, so an unquoted '*' or '?' would really glob to something. */
static char globdir[] = "/tmp/so_test_quote_XXXXXX";

/* Runs cmd with /bin/sh -c in globdir and collects its standard output into out. Returns the
 * shell's wait status. */
static int run_sh(const char *cmd, so__buf *out) {
  int p[2];
  if (pipe(p) != 0)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    if (chdir(globdir) != 0)
      _exit(126);
    setenv("HOME", "/home/expanded", 1);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  char chunk[4096];
  ssize_t r;
  while ((r = read(p[0], chunk, sizeof chunk)) > 0)
    so__buf_append(out, chunk, (size_t)r);
  close(p[0]);
  int status = -1;
  waitpid(pid, &status, 0);
  return status;
}

/* Checks that "printf '%s\0' QUOTED" hands printf exactly one argument equal to arg, through
 * both the shell's builtin printf and the external /usr/bin/printf (a real execve). */
static void check_roundtrip(const char *arg, size_t len) {
  static const char *const printers[] = {"printf", "/usr/bin/printf"};
  for (size_t k = 0; k < 2; k++) {
    so__buf cmd = SO_BUF_INIT, out = SO_BUF_INIT;
    so__buf_append(&cmd, printers[k], strlen(printers[k]));
    so__buf_append(&cmd, " '%s\\0' ", 8);
    CU_ASSERT_EQUAL_FATAL(so__shell_quote(&cmd, arg, len), 0);
    so__buf_append(&cmd, "", 1);
    int status = run_sh((const char *)cmd.data, &out);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* One argument means exactly one NUL-terminated string in the output. */
    CU_ASSERT_EQUAL(out.len, len + 1);
    if (out.len == len + 1) {
      CU_ASSERT(memcmp(out.data, arg, len) == 0);
      CU_ASSERT_EQUAL(out.data[len], '\0');
    } else {
      fprintf(stderr, "\n  argument [%.*s] came back as %zu bytes via: %s\n", (int)len, arg,
              out.len, (const char *)cmd.data);
    }
    so__buf_free(&cmd);
    so__buf_free(&out);
  }
}

static void test_hostile_arguments(void) {
  static const char *const args[] = {
      "plain", "with space", "  leading and trailing  ", "it's", "\"double\"",
      "both ' and \"", "'", "''", "\\'", "$HOME", "${HOME}", "$(echo pwned)",
      "`echo pwned`", "a;echo pwned", "a|cat", "a&&b", "a&", "*", "?", "[ab]*",
      "line one\nline two", "\n", "-n", "-e", "--", "-", "é日本語", "tab\there",
      "back\\slash", "\\n", "!", "!!", "#comment", "~", "~root", "a=b", "{a,b}", "a>b",
      "<in", "(sub)", ")", "$", "$'x'", "\"$HOME\"", "'$HOME'", "a\\", "%s %d",
      "\r\n", "if", "then", "FOO=bar", "\x01\x1b[31m", "\xff\xfe invalid utf-8"};
  for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
    check_roundtrip(args[i], strlen(args[i]));
  check_roundtrip("", 0);

  /* Every byte value but NUL in one argument, and many quotes in a row. */
  char all[255];
  for (int b = 1; b < 256; b++)
    all[b - 1] = (char)b;
  check_roundtrip(all, sizeof all);
  char quotes[200];
  memset(quotes, '\'', sizeof quotes);
  check_roundtrip(quotes, sizeof quotes);
}

/* The exact text matters for readable logs and for GNU parallel users reading them. */
static void test_exact_forms(void) {
  static const struct {
    const char *in, *out;
  } cases[] = {{"file.txt", "file.txt"},
               {"-n", "-n"},
               {"a/b_c:d@e%f+g,h", "a/b_c:d@e%f+g,h"},
               {"", "''"},
               {"a b", "'a b'"},
               {"it's", "'it'\\''s'"},
               {"'", "''\\'''"},
               {"if", "'if'"},
               {"done", "'done'"},
               {"a=b", "'a=b'"},
               {"~x", "'~x'"},
               {"é", "'é'"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    so__buf b = SO_BUF_INIT;
    CU_ASSERT_EQUAL(so__shell_quote(&b, cases[i].in, strlen(cases[i].in)), 0);
    CU_ASSERT_EQUAL(b.len, strlen(cases[i].out));
    CU_ASSERT(b.len == strlen(cases[i].out) && memcmp(b.data, cases[i].out, b.len) == 0);
    so__buf_free(&b);
  }
  CU_ASSERT_TRUE(so__shell_is_bare("x.y", 3));
  CU_ASSERT_FALSE(so__shell_is_bare("", 0));
  CU_ASSERT_FALSE(so__shell_is_bare("case", 4));
  CU_ASSERT_TRUE(so__shell_is_bare("cases", 5));
}

/* A quoted word in command position must be a command name, never syntax or an assignment:
 * "sh: if: not found" exits 127, where bare "if" is a syntax error (2) and bare "FOO=bar" an
 * assignment that succeeds (0). */
static void test_command_position(void) {
  static const char *const words[] = {"if", "FOO=bar", "while", "{", "!", "#x"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    so__buf cmd = SO_BUF_INIT, out = SO_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(so__shell_quote(&cmd, words[i], strlen(words[i])), 0);
    const char *tail = " 2>/dev/null; echo $?";
    so__buf_append(&cmd, tail, strlen(tail) + 1);
    run_sh((const char *)cmd.data, &out);
    CU_ASSERT(out.len == 4 && memcmp(out.data, "127\n", 4) == 0);
    so__buf_free(&cmd);
    so__buf_free(&out);
  }
}

static void test_nul_refused(void) {
  so__buf b = SO_BUF_INIT;
  so__buf_append(&b, "keep", 4);
  CU_ASSERT_EQUAL(so__shell_quote(&b, "a\0b", 3), SO_EINVAL);
  CU_ASSERT_EQUAL(b.len, 4);
  /* Appending keeps what was there. */
  CU_ASSERT_EQUAL(so__shell_quote(&b, " x", 2), 0);
  CU_ASSERT(b.len == 8 && memcmp(b.data, "keep' x'", 8) == 0);
  so__buf_free(&b);
}

int main(void) {
  if (!mkdtemp(globdir))
    return 2;
  static const char *const files[] = {"a", "b", "pwned"};
  char path[256];
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", globdir, files[i]);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
      close(fd);
  }
  static const so_test_case cases[] = {
      {"hostile arguments through /bin/sh", test_hostile_arguments},
      {"exact quoted forms", test_exact_forms},
      {"quoted words in command position", test_command_position},
      {"NUL bytes are refused", test_nul_refused},
      {NULL, NULL}};
  int rc = so_test_run("quote", cases);
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", globdir, files[i]);
    unlink(path);
  }
  rmdir(globdir);
  return rc;
}

/* Command templates: each replacement string, path edge cases, and expansion run through sh. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "farm/quote.h"
#include "farm/template.h"
#include "scaleout/scaleout.h"
#include "so_test.h"

/* Expands text for arg and compares with want. */
static void check(const char *text, const char *arg, uint64_t seq, uint64_t slot,
                  const char *want) {
  so__template *t = NULL;
  char err[256] = "";
  CU_ASSERT_EQUAL_FATAL(so__template_parse(&t, text, err, sizeof err), 0);
  so__buf b = SO_BUF_INIT;
  CU_ASSERT_EQUAL(so__template_expand(t, arg, strlen(arg), seq, slot, &b), 0);
  int ok = b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
  CU_ASSERT(ok);
  if (!ok)
    fprintf(stderr, "\n  %s with [%s]: got [%.*s], want [%s]\n", text, arg, (int)b.len,
            (const char *)b.data, want);
  /* The result is usable as a C string. */
  CU_ASSERT(b.data && b.data[b.len] == '\0');
  so__buf_free(&b);
  so__template_free(t);
}

static void test_replacement_strings(void) {
  check("prog {} --out {.}.out", "data/in.txt", 1, 1, "prog data/in.txt --out data/in.out");
  check("echo {/} {//} {/.}", "/a/b/c.tar.gz", 1, 1, "echo c.tar.gz /a/b c.tar");
  check("echo {#} {%}", "x", 42, 3, "echo 42 3");
  check("echo {#}", "x", 18446744073709551615ull, 1, "echo 18446744073709551615");
  check("{}{}", "a", 1, 1, "aa");
  check("cp {} {}.bak", "my file", 1, 1, "cp 'my file' 'my file'.bak");
  check("x{.}y", "it's.txt", 1, 1, "x'it'\\''s'y");
}

/* Brace text that is not a replacement string stays as written. */
static void test_literal_braces(void) {
  check("awk '{print $1}' {}", "f", 1, 1, "awk '{print $1}' f");
  check("echo ${HOME} {1} {x} { } {", "a", 1, 1, "echo ${HOME} {1} {x} { } { a");
  check("echo {{}}", "a", 1, 1, "echo {a}");
}

static void test_append_when_no_replacement(void) {
  so__template *t = NULL;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(so__template_parse(&t, "gzip -9", err, sizeof err), 0);
  CU_ASSERT_TRUE(so__template_appended(t));
  so__template_free(t);
  check("gzip -9", "a b", 1, 1, "gzip -9 'a b'");
  /* {#} alone is a replacement string, so nothing is appended (as in GNU parallel). */
  CU_ASSERT_EQUAL_FATAL(so__template_parse(&t, "echo {#}", err, sizeof err), 0);
  CU_ASSERT_FALSE(so__template_appended(t));
  so__template_free(t);
}

/* Expands text for arg and compares with want quoted for the shell, as every derived value is. */
static void check_raw(const char *text, const char *arg, const char *want) {
  so__buf q = SO_BUF_INIT;
  CU_ASSERT_EQUAL_FATAL(so__shell_quote(&q, want, strlen(want)), 0);
  CU_ASSERT_EQUAL_FATAL(so__buf_reserve(&q, 1), 0);
  q.data[q.len] = '\0';
  check(text, arg, 1, 1, (const char *)q.data);
  so__buf_free(&q);
}

/* {.} {/} {//} {/.} give what GNU parallel 20221122 gives: each row was printed by
 * parallel -a paths "printf '%s\t%s\t%s\t%s\t%s\n' {} {.} {/} {//} {/.}". */
static void test_path_edges(void) {
  static const struct {
    const char *arg, *noext, *base, *dir, *basenoext;
  } cases[] = {
      {"foo.tar.gz", "foo.tar", "foo.tar.gz", ".", "foo.tar"},
      {"a.b/c", "a.b/c", "c", "a.b", "c"},
      {"dir/", "dir/", "", ".", ""},
      {"/", "/", "", "/", ""},
      {"file", "file", "file", ".", "file"},
      {"./x", "./x", "x", ".", "x"},
      {"x.", "x", "x.", ".", "x"},
      {"/a/b.c", "/a/b", "b.c", "/a", "b"},
      {"a//b", "a//b", "b", "a", "b"},
      {"a/b/", "a/b/", "", "a", ""},
      {"", "", "", ".", ""},
      {".bashrc", "", ".bashrc", ".", ""},
      {"dir/.hidden", "dir/", ".hidden", "dir", ""},
      {"..", ".", "..", ".", "."},
      {".", "", ".", ".", ""},
      {"trail/.", "trail/", ".", "trail", ""},
      {"d/.x.gz", "d/.x", ".x.gz", "d", ".x"},
      {"//", "//", "", "/", ""},
      {"/top", "/top", "top", "/", "top"},
      {".x.", ".x", ".x.", ".", ".x"},
      {"a/..b", "a/.", "..b", "a", "."},
      {"...", "..", "...", ".", ".."},
      {"a/.", "a/", ".", "a", ""},
      {"./", "./", "", ".", ""},
      {"../", "../", "", ".", ""},
      {"a.b.c/", "a.b.c/", "", ".", ""},
      {"sp ace.t xt", "sp ace", "sp ace.t xt", ".", "sp ace"},
      {"x/y.", "x/y", "y.", "x", "y"},
      {".a.b", ".a", ".a.b", ".", ".a"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    check_raw("{.}", cases[i].arg, cases[i].noext);
    check_raw("{/}", cases[i].arg, cases[i].base);
    check_raw("{//}", cases[i].arg, cases[i].dir);
    check_raw("{/.}", cases[i].arg, cases[i].basenoext);
  }
}

static void test_errors(void) {
  so__template *t = (so__template *)1;
  char err[256] = "";
  CU_ASSERT_EQUAL(so__template_parse(&t, "", err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NULL(t);
  CU_ASSERT(strstr(err, "empty") != NULL);
  CU_ASSERT_EQUAL(so__template_parse(&t, "  \t", err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(so__template_parse(&t, NULL, err, sizeof err), SO_EINVAL);

  CU_ASSERT_EQUAL_FATAL(so__template_parse(&t, "echo {//}", err, sizeof err), 0);
  so__buf b = SO_BUF_INIT;
  so__buf_append(&b, "kept", 4);
  /* The NUL sits in the basename, which {//} never quotes: it must still be refused. */
  CU_ASSERT_EQUAL(so__template_expand(t, "d/a\0b", 5, 1, 1, &b), SO_EINVAL);
  CU_ASSERT_EQUAL(b.len, 4);
  so__buf_free(&b);
  so__template_free(t);
  so__template_free(NULL);
}

/* Expansion appends, and once the buffer is large enough it does not reallocate. */
static void test_append_and_no_realloc(void) {
  so__template *t = NULL;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(so__template_parse(&t, "run {} {#}", err, sizeof err), 0);
  so__buf b = SO_BUF_INIT;
  so__buf_append(&b, "X:", 2);
  CU_ASSERT_EQUAL(so__template_expand(t, "a", 1, 7, 1, &b), 0);
  CU_ASSERT(b.len == 9 && memcmp(b.data, "X:run a 7", 9) == 0);
  CU_ASSERT_EQUAL_FATAL(so__buf_reserve(&b, 4096), 0);
  unsigned char *data = b.data;
  for (uint64_t seq = 1; seq <= 1000; seq++) {
    so__buf_clear(&b);
    CU_ASSERT_EQUAL(so__template_expand(t, "some file.txt", 13, seq, 2, &b), 0);
  }
  CU_ASSERT_PTR_EQUAL(b.data, data);
  so__buf_free(&b);
  so__template_free(t);
}

/* The expanded command really runs with each value as one unchanged argument. */
static void test_runs_through_sh(void) {
  const char *arg = "dir with space/it's $(echo x) `y`;*|\n.tar.gz";
  so__template *t = NULL;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(
      so__template_parse(&t, "printf '%s\\0' {} {.} {/} {//} {/.} {#} {%}", err, sizeof err), 0);
  so__buf cmd = SO_BUF_INIT;
  CU_ASSERT_EQUAL_FATAL(so__template_expand(t, arg, strlen(arg), 5, 2, &cmd), 0);
  int p[2];
  CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    execl("/bin/sh", "sh", "-c", (const char *)cmd.data, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  char got[1024];
  size_t n = 0;
  ssize_t r;
  while ((r = read(p[0], got + n, sizeof got - n)) > 0)
    n += (size_t)r;
  close(p[0]);
  waitpid(pid, NULL, 0);
  static const char want[] = "dir with space/it's $(echo x) `y`;*|\n.tar.gz\0"
                             "dir with space/it's $(echo x) `y`;*|\n.tar\0"
                             "it's $(echo x) `y`;*|\n.tar.gz\0"
                             "dir with space\0"
                             "it's $(echo x) `y`;*|\n.tar\0"
                             "5\0"
                             "2\0";
  CU_ASSERT_EQUAL(n, sizeof want - 1);
  CU_ASSERT(n == sizeof want - 1 && memcmp(got, want, n) == 0);
  so__buf_free(&cmd);
  so__template_free(t);
}

int main(void) {
  static const so_test_case cases[] = {
      {"replacement strings", test_replacement_strings},
      {"other brace text is literal", test_literal_braces},
      {"' {}' is appended without replacement strings", test_append_when_no_replacement},
      {"path edge cases of {.} {/} {//} {/.}", test_path_edges},
      {"errors", test_errors},
      {"expansion appends without reallocating", test_append_and_no_realloc},
      {"expanded commands run through /bin/sh", test_runs_through_sh},
      {NULL, NULL}};
  return so_test_run("template", cases);
}

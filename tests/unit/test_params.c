/* Unit tests of strict number parsing and of the typed store of a job's parameters. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "params.h"
#include "so_test.h"

/* --- A small job of our own: every type, ranges, unbounded, required and empty defaults. --- */

static const so_param_def test_params[] = {
    {"count", SO_PARAM_INT, "10", "an integer from 1 to 100", 1, 100},
    {"offset", SO_PARAM_INT, "-5", "an unbounded integer", 1, 0},
    {"ratio", SO_PARAM_DOUBLE, "0.5", "a number from 0 to 1", 0, 1},
    {"scale", SO_PARAM_DOUBLE, "1e3", "an unbounded number", 1, 0},
    {"label", SO_PARAM_STRING, "", "a label", 1, 0},
    {"input", SO_PARAM_STRING, NULL, "a required file", 1, 0},
    {"level", SO_PARAM_INT, NULL, "a required integer from 0 to 9", 0, 9},
    {NULL, 0, NULL, NULL, 0, 0},
};

static const so_job test_job = {SO_JOB_VERSION, .name = "tjob", .summary = "a job for the tests", .params = test_params};

static const so_param_def bad_default_params[] = {
    {"n", SO_PARAM_INT, "ten", "a default that does not parse", 1, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};
static const so_job bad_default_job = {SO_JOB_VERSION, .name = "bad", .summary = "s", .params = bad_default_params};

static const so_job no_params_job = {SO_JOB_VERSION, .name = "bare", .summary = "s", .params = NULL};

/* --- Number parsing --- */

static void int_ok(const char *text, int64_t want) {
  int64_t v = 12345;
  int rc = so__parse_int(text, &v);
  if (rc != 0 || v != want)
    fprintf(stderr, "\n    so__parse_int(\"%s\"): rc %d, value %lld\n", text, rc, (long long)v);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(v, want);
}

static void int_bad(const char *text) {
  int64_t v = 12345;
  int rc = so__parse_int(text, &v);
  if (rc != SO_EINVAL)
    fprintf(stderr, "\n    so__parse_int(\"%s\") accepted: %lld\n", text, (long long)v);
  CU_ASSERT_EQUAL(rc, SO_EINVAL);
  CU_ASSERT_EQUAL(v, 12345); /* untouched on error */
}

static void double_ok(const char *text, double want) {
  double v = -1.25;
  int rc = so__parse_double(text, &v);
  if (rc != 0 || v != want)
    fprintf(stderr, "\n    so__parse_double(\"%s\"): rc %d, value %.17g\n", text, rc, v);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_DOUBLE_EQUAL(v, want, fabs(want) * 1e-15);
}

static void double_bad(const char *text) {
  double v = -1.25;
  int rc = so__parse_double(text, &v);
  if (rc != SO_EINVAL)
    fprintf(stderr, "\n    so__parse_double(\"%s\") accepted: %.17g\n", text, v);
  CU_ASSERT_EQUAL(rc, SO_EINVAL);
  CU_ASSERT_EQUAL(v, -1.25);
}

static void test_parse_int_good(void) {
  int_ok("0", 0);
  int_ok("42", 42);
  int_ok("-7", -7);
  int_ok("1_000_000", 1000000);
  int_ok("1e9", 1000000000);
  int_ok("2.5e3", 2500);
  int_ok("1E6", 1000000);
  int_ok("9223372036854775807", INT64_MAX);
  int_ok("-9223372036854775808", INT64_MIN);
  int_ok("007", 7); /* decimal, never octal */
  int_ok("1e18", 1000000000000000000);
}

static void test_parse_int_bad(void) {
  const char *bad[] = {"",      " 1",   "1 ",   "abc",  "1.5",  "1e-3", "_1",
                       "1_",    "1__0", "9223372036854775808", "-9223372036854775809",
                       "1e30",  "0x10", "0X1A", "1e",   "e9",   "-",    "+",
                       "nan",   "inf",  "1,000", "\t7",  "7\n",  "1e9_", "1_e9",
                       "0x1p4", "2.5e0", "12abc", "1.0e-1", "--1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    int_bad(bad[i]);
  int_bad(NULL);
  /* A very long digit string overflows rather than being cut. */
  char longnum[200];
  memset(longnum, '9', sizeof longnum - 1);
  longnum[sizeof longnum - 1] = 0;
  int_bad(longnum);
}

static void test_parse_double_good(void) {
  double_ok("0", 0.0);
  double_ok("1.5", 1.5);
  double_ok("-2.25", -2.25);
  double_ok("1e-3", 1e-3);
  double_ok("6.02e23", 6.02e23);
  double_ok("1_000.5", 1000.5);
  double_ok(".5", 0.5);
  double_ok("1e308", 1e308);
}

static void test_parse_double_bad(void) {
  const char *bad[] = {"",    " 1",  "1 ",   "abc", "nan", "NaN",  "inf", "-inf", "infinity",
                       "1e999", "-1e999", "_1", "1_", "1__0", "1.5x", "0x10", "0x1p4", "e3",
                       "1,5", "--1", "."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    double_bad(bad[i]);
  double_bad(NULL);
}

/* --- The store --- */

static void test_defaults(void) {
  so_params *p = so__params_new(&test_job);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_PTR_EQUAL(so__params_job(p), &test_job);
  CU_ASSERT_EQUAL(so__params_count(p), 7);
  CU_ASSERT_STRING_EQUAL(so__params_def(p, 0)->name, "count");
  CU_ASSERT_STRING_EQUAL(so__params_def(p, 6)->name, "level");
  CU_ASSERT_PTR_NULL(so__params_def(p, 7));
  CU_ASSERT_EQUAL(so__params_int(p, "count"), 10);
  CU_ASSERT_EQUAL(so__params_int(p, "offset"), -5);
  CU_ASSERT_DOUBLE_EQUAL(so__params_double(p, "ratio"), 0.5, 0);
  CU_ASSERT_DOUBLE_EQUAL(so__params_double(p, "scale"), 1000.0, 0);
  CU_ASSERT_STRING_EQUAL(so__params_string(p, "label"), "");
  CU_ASSERT_STRING_EQUAL(so__params_text(p, "count"), "10");
  CU_ASSERT_STRING_EQUAL(so__params_text(p, "scale"), "1e3");
  CU_ASSERT_PTR_NULL(so__params_text(p, "input")); /* required and not given */
  CU_ASSERT_PTR_NULL(so__params_text(p, "nosuch"));
  CU_ASSERT_PTR_NOT_NULL(so__params_find(p, "ratio"));
  CU_ASSERT_PTR_NULL(so__params_find(p, "rati"));
  CU_ASSERT_PTR_NULL(so__params_find(p, "ratios"));
  so__params_free(p);
  so__params_free(NULL);

  p = so__params_new(&no_params_job);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_EQUAL(so__params_count(p), 0);
  char err[128] = "";
  CU_ASSERT_EQUAL(so__params_check(p, err, sizeof err), 0);
  so__params_free(p);

  /* A default that does not parse is the job author's bug: the store is refused. */
  CU_ASSERT_PTR_NULL(so__params_new(&bad_default_job));
}

static void test_set_values(void) {
  so_params *p = so__params_new(&test_job);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  char err[256] = "";
  CU_ASSERT_EQUAL(so__params_set(p, "count", "1e2", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__params_int(p, "count"), 100);
  CU_ASSERT_STRING_EQUAL(so__params_text(p, "count"), "1e2");
  CU_ASSERT_EQUAL(so__params_set(p, "count", "1", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__params_int(p, "count"), 1);
  CU_ASSERT_EQUAL(so__params_set(p, "offset", "-9_000_000_000", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__params_int(p, "offset"), -9000000000);
  CU_ASSERT_EQUAL(so__params_set(p, "ratio", "1", err, sizeof err), 0);
  CU_ASSERT_DOUBLE_EQUAL(so__params_double(p, "ratio"), 1.0, 0);
  CU_ASSERT_EQUAL(so__params_set(p, "ratio", "0", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__params_set(p, "scale", "-1e300", err, sizeof err), 0);
  CU_ASSERT_DOUBLE_EQUAL(so__params_double(p, "scale"), -1e300, 1e285);
  CU_ASSERT_EQUAL(so__params_set(p, "label", "a b=c --d", err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(so__params_string(p, "label"), "a b=c --d");
  CU_ASSERT_EQUAL(so__params_set(p, "label", "", err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(so__params_string(p, "label"), "");
  so__params_free(p);
}

/* Each error names the parameter and quotes the text, and the old value stays. */
static void set_bad(so_params *p, const char *name, const char *text, const char *also) {
  char err[256] = "";
  const char *before = so__params_text(p, name);
  char saved[64] = "(null)";
  if (before)
    snprintf(saved, sizeof saved, "%s", before);
  CU_ASSERT_EQUAL(so__params_set(p, name, text, err, sizeof err), SO_EINVAL);
  char opt[64], quoted[128];
  snprintf(opt, sizeof opt, "--%s", name);
  snprintf(quoted, sizeof quoted, "'%s'", text);
  if (!strstr(err, opt) || !strstr(err, quoted) || (also && !strstr(err, also)))
    fprintf(stderr, "\n    set %s=%s: message \"%s\"\n", name, text, err);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, opt));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, quoted));
  if (also)
    CU_ASSERT_PTR_NOT_NULL(strstr(err, also));
  const char *after = so__params_text(p, name);
  CU_ASSERT_STRING_EQUAL(after ? after : "(null)", saved);
}

static void test_set_errors(void) {
  so_params *p = so__params_new(&test_job);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  set_bad(p, "count", "abc", NULL);
  set_bad(p, "count", "2.5", NULL);
  set_bad(p, "count", "0", "1");   /* below the range, which the message gives */
  set_bad(p, "count", "101", "100");
  set_bad(p, "count", "-1e2", NULL);
  set_bad(p, "count", "", NULL);
  CU_ASSERT_EQUAL(so__params_int(p, "count"), 10);
  set_bad(p, "offset", "1.5", NULL);
  set_bad(p, "offset", "0x10", NULL);
  set_bad(p, "ratio", "1.0001", NULL);
  set_bad(p, "ratio", "-0.1", NULL);
  set_bad(p, "ratio", "nan", NULL);
  set_bad(p, "ratio", "half", NULL);
  set_bad(p, "scale", "inf", NULL);
  set_bad(p, "level", "10", NULL);
  set_bad(p, "level", "x", NULL);
  CU_ASSERT_DOUBLE_EQUAL(so__params_double(p, "ratio"), 0.5, 0);

  /* An unknown name is refused and named, with the job. */
  char err[256] = "";
  CU_ASSERT_EQUAL(so__params_set(p, "nosuch", "1", err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "nosuch"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "tjob"));

  /* Reading with the wrong type or name is reported and gives zero, not garbage. */
  CU_ASSERT_EQUAL(so__params_int(p, "ratio"), 0);
  CU_ASSERT_DOUBLE_EQUAL(so__params_double(p, "count"), 0.0, 0);
  CU_ASSERT_PTR_NULL(so__params_string(p, "count"));
  CU_ASSERT_EQUAL(so__params_int(p, "nosuch"), 0);
  so__params_free(p);
}

static void test_required(void) {
  so_params *p = so__params_new(&test_job);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  char err[256] = "";
  CU_ASSERT_EQUAL(so__params_check(p, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "--input"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "tjob"));

  /* A failed set does not count as given. */
  set_bad(p, "level", "99", NULL);
  CU_ASSERT_EQUAL(so__params_set(p, "input", "data.txt", err, sizeof err), 0);
  err[0] = 0;
  CU_ASSERT_EQUAL(so__params_check(p, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "--level"));
  CU_ASSERT_PTR_NULL(strstr(err, "--input"));

  CU_ASSERT_EQUAL(so__params_set(p, "level", "0", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__params_check(p, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__params_int(p, "level"), 0);
  CU_ASSERT_STRING_EQUAL(so__params_string(p, "input"), "data.txt");
  so__params_free(p);

  /* An empty string is a value: a required string given as "" is satisfied. */
  p = so__params_new(&test_job);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_EQUAL(so__params_set(p, "input", "", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__params_set(p, "level", "9", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__params_check(p, err, sizeof err), 0);
  so__params_free(p);
}

/* Integer ranges are checked in integers, and a number out of range is called that, with the
 * range, not "not a whole number". */
static const so_param_def range_params[] = {
    {"seed", SO_PARAM_INT, "1", "up to 9e18", 0, 9e18},
    {"free", SO_PARAM_INT, "0", "unbounded", 1, 0},
    {"x", SO_PARAM_DOUBLE, "0", "unbounded", 1, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};
static const so_job range_job = {SO_JOB_VERSION, .name = "rjob", .summary = "s", .params = range_params};

static void test_int_ranges(void) {
  so_params *p = so__params_new(&range_job);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  char err[256] = "";
  CU_ASSERT_EQUAL(so__params_set(p, "seed", "9000000000000000000", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__params_int(p, "seed"), INT64_C(9000000000000000000));
  /* One above the maximum: equal to it as a double, so a check in double let it through. */
  set_bad(p, "seed", "9000000000000000001", "out of range: it must be from 0 to 9000000000000000000");
  set_bad(p, "seed", "9_000_000_000_000_000_001", "out of range");
  set_bad(p, "seed", "1e30", "out of range: it must be from 0 to 9000000000000000000");
  set_bad(p, "seed", "-1", "out of range: it must be from 0 to 9000000000000000000");
  set_bad(p, "seed", "99999999999999999999999", "out of range");
  set_bad(p, "seed", "1e400", "out of range");
  set_bad(p, "seed", "1.5", "expects a whole number");
  CU_ASSERT_EQUAL(so__params_int(p, "seed"), INT64_C(9000000000000000000));
  CU_ASSERT_EQUAL(so__params_set(p, "free", "-9223372036854775808", err, sizeof err), 0);
  set_bad(p, "free", "9223372036854775808",
          "out of range: it must be from -9223372036854775808 to 9223372036854775807");
  set_bad(p, "x", "1e400", "out of range");
  set_bad(p, "x", "1e4x", "expects a number");
  so__params_free(p);
}

int main(void) {
  static const so_test_case cases[] = {
    {"integer ranges are exact and out-of-range values say so", test_int_ranges},
    {"so__parse_int accepts decimal, separators, exact exponents", test_parse_int_good},
    {"so__parse_int rejects everything else", test_parse_int_bad},
    {"so__parse_double accepts finite numbers", test_parse_double_good},
    {"so__parse_double rejects nan, inf, junk and hex", test_parse_double_bad},
    {"a new store holds the defaults", test_defaults},
    {"setting values of every type", test_set_values},
    {"type and range errors name the parameter and keep the value", test_set_errors},
    {"required parameters are reported by so__params_check", test_required},
    {NULL, NULL},
  };
  return so_test_run("params", cases);
}

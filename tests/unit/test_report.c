/* Unit tests of the run report: the JSON text (escaping, UTF-8, NaN, the stop fields) and the
 * summary's notice lines and plurals. */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "jobs_list.h"
#include "params.h"
#include "report.h"
#include "so_test.h"

/* A report of one worker whose answer holds the given extra items; free with so_report_free. */
static void make_report(so_report *rep, uint64_t tasks, uint64_t failed) {
  memset(rep, 0, sizeof *rep);
  rep->tasks = tasks;
  rep->failed = failed;
  rep->messages = 1;
  rep->wall = 0.5;
  rep->nworkers = 1;
  rep->workers = calloc(1, sizeof *rep->workers);
  rep->workers[0].rank = 1;
  rep->workers[0].tasks = tasks;
  snprintf(rep->workers[0].host, sizeof rep->workers[0].host, "node\xe9\x01");
  snprintf(rep->workers[0].bound_by, sizeof rep->workers[0].bound_by, "none");
  rep->workers[0].last_pu = rep->workers[0].last_core = -1;
  rep->answer = so__answer_new();
}

/* A context whose answer is rep's, for the public so_answer_* calls. */
static so_ctx answer_ctx(so_report *rep) {
  so_ctx c;
  so__ctx_init(&c, &so_job_noop, NULL, SO_ROLE_MASTER, 0, 1);
  c.answer = rep->answer;
  return c;
}

/* The JSON text of rep for noop with --trace TRACE, parsed by jansson (which rejects invalid
 * UTF-8 and bare NaN); NULL when it does not parse, with the text printed. */
static json_t *report_json(const so_report *rep, const char *trace) {
  so_params *p = so__params_new(&so_job_noop);
  char err[256];
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_EQUAL_FATAL(so__params_set(p, "trace", trace, err, sizeof err), 0);
  so_config cfg;
  so_config_default(&cfg);
  char *text = so__report_json_text(rep, &so_job_noop, p, &cfg);
  so__params_free(p);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  json_error_t jerr;
  json_t *j = json_loads(text, 0, &jerr);
  if (!j)
    fprintf(stderr, "\n    does not parse (%s): %s\n", jerr.text, text);
  free(text);
  return j;
}

/* The summary of rep as printed, malloc'd. */
static char *summary(const so_report *rep) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  so_config cfg;
  so_config_default(&cfg);
  so__report_print(f, rep, &so_job_noop, &cfg);
  fclose(f);
  return buf;
}

static void test_invalid_utf8_replaced(void) {
  so_report rep;
  make_report(&rep, 4, 0);
  so_ctx c = answer_ctx(&rep);
  so_answer_string(&c, "label", "a\xff" "b\xc3(\xed\xa0\x80" "c\xe2\x82\xac");
  /* A stray byte, a truncated sequence, a surrogate; the euro sign is valid and kept. */
  json_t *j = report_json(&rep, "x\xfe\xff\"\\\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  const char *trace = json_string_value(json_object_get(json_object_get(j, "params"), "trace"));
  CU_ASSERT_STRING_EQUAL(trace, "x\xef\xbf\xbd\xef\xbf\xbd\"\\\n");
  const char *label = json_string_value(json_object_get(json_object_get(j, "answer"), "label"));
  CU_ASSERT_STRING_EQUAL(label, "a\xef\xbf\xbd" "b\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                "c\xe2\x82\xac");
  json_t *w = json_array_get(json_object_get(j, "workers"), 0);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "host")), "node\xef\xbf\xbd\x01");
  json_decref(j);
  so_report_free(&rep);
}

static void test_utf8_clean(void) {
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"plain", "plain"},
      {"", ""},
      {"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"},             /* valid two-byte forms */
      {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},               /* valid four-byte form */
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},               /* overlong '/' */
      {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong, three bytes */
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
      {"ab\xe2\x82", "ab\xef\xbf\xbd\xef\xbf\xbd"},           /* cut off at the end */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *got = so__utf8_clean(cases[i].in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    if (strcmp(got, cases[i].out))
      fprintf(stderr, "\n    case %zu: got '%s'\n", i, got);
    CU_ASSERT_STRING_EQUAL(got, cases[i].out);
    free(got);
  }
  char *null_text = so__utf8_clean(NULL);
  CU_ASSERT_STRING_EQUAL(null_text, "");
  free(null_text);
}

static void test_nan_is_null(void) {
  so_report rep;
  make_report(&rep, 4, 0);
  so_ctx c = answer_ctx(&rep);
  so_answer_double(&c, "nan", NAN);
  so_answer_double(&c, "inf", INFINITY);
  so_answer_double(&c, "minus_inf", -INFINITY);
  so_answer_double(&c, "pi", 3.141592653589793);
  rep.wall = NAN;
  rep.workers[0].busy = INFINITY;
  json_t *j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  json_t *a = json_object_get(j, "answer");
  CU_ASSERT_TRUE(json_is_null(json_object_get(a, "nan")));
  CU_ASSERT_TRUE(json_is_null(json_object_get(a, "inf")));
  CU_ASSERT_TRUE(json_is_null(json_object_get(a, "minus_inf")));
  /* A finite double comes back bit for bit. */
  CU_ASSERT_EQUAL(json_real_value(json_object_get(a, "pi")), 3.141592653589793);
  CU_ASSERT_TRUE(json_is_null(json_object_get(j, "wall_seconds")));
  json_t *w = json_array_get(json_object_get(j, "workers"), 0);
  CU_ASSERT_TRUE(json_is_null(json_object_get(w, "busy_seconds")));
  json_decref(j);
  so_report_free(&rep);
}

static void test_stopped_fields(void) {
  so_report rep;
  make_report(&rep, 30, 0);
  json_t *j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_TRUE(json_is_false(json_object_get(j, "stopped")));
  CU_ASSERT_TRUE(json_is_true(json_object_get(j, "complete")));
  CU_ASSERT_TRUE(json_is_null(json_object_get(j, "stop_reason")));
  CU_ASSERT_TRUE(json_is_null(json_object_get(j, "signal")));
  json_decref(j);

  rep.stopped = SO_STOPPED_SIGNAL;
  rep.signal = SIGTERM;
  j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_TRUE(json_is_true(json_object_get(j, "stopped")));
  CU_ASSERT_TRUE(json_is_false(json_object_get(j, "complete")));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "stop_reason")), "signal");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "signal")), "SIGTERM");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "tasks")), 30);
  json_decref(j);

  rep.stopped = SO_HALT_SOON;
  rep.signal = 0;
  j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_TRUE(json_is_true(json_object_get(j, "stopped")));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "stop_reason")), "halt");
  CU_ASSERT_TRUE(json_is_null(json_object_get(j, "signal")));
  json_decref(j);
  so_report_free(&rep);
}

static void test_failed_not_complete(void) {
  so_report rep;
  make_report(&rep, 100, 7);
  json_t *j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_TRUE(json_is_false(json_object_get(j, "complete")));
  CU_ASSERT_TRUE(json_is_false(json_object_get(j, "stopped")));
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "failed")), 7);
  json_decref(j);
  so_report_free(&rep);
}

static void test_summary_notices(void) {
  so_report rep;
  make_report(&rep, 30, 0);
  char *s = summary(&rep);
  CU_ASSERT_PTR_NULL(strstr(s, "partial"));
  CU_ASSERT_PTR_NULL(strstr(s, "incomplete"));
  free(s);

  rep.stopped = SO_STOPPED_SIGNAL;
  rep.signal = SIGINT;
  s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(
      strstr(s, "stopped by SIGINT before every task ran: the answer is partial (30 tasks ran)\n"));
  free(s);

  rep.stopped = 0;
  rep.failed = 3;
  s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "3 of 30 tasks failed: the answer is incomplete\n"));
  free(s);

  /* A figure merely named exit_status is one figure among others: still incomplete. */
  so_ctx c = answer_ctx(&rep);
  so_answer_int(&c, "exit_status", 3);
  s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "incomplete"));
  free(s);
  /* A job that chose its own exit status accounts for its failures itself. */
  so_ctx_set_exit(&c, 3);
  s = summary(&rep);
  CU_ASSERT_PTR_NULL(strstr(s, "incomplete"));
  free(s);
  so_report_free(&rep);
}

static void test_summary_plurals(void) {
  so_report rep;
  make_report(&rep, 1, 0);
  char *s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "noop: 1 task (0 failed) on 1 worker in "));
  CU_ASSERT_PTR_NOT_NULL(strstr(s, ", 1 batch\n"));
  free(s);
  so_report_free(&rep);
  make_report(&rep, 2, 0);
  rep.messages = 2;
  s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "noop: 2 tasks (0 failed) on 1 worker in "));
  CU_ASSERT_PTR_NOT_NULL(strstr(s, ", 2 batches\n"));
  free(s);
  so_report_free(&rep);
}

static void test_json_file_errors(void) {
  so_report rep;
  make_report(&rep, 1, 0);
  so_params *p = so__params_new(&so_job_noop);
  so_config cfg;
  so_config_default(&cfg);
  /* A full disk is an error, not a report that passes for written. */
  CU_ASSERT_EQUAL(so__report_json("/dev/full", &rep, &so_job_noop, p, &cfg), SO_EIO);
  CU_ASSERT_EQUAL(so__report_json("/nonexistent/r.json", &rep, &so_job_noop, p, &cfg), SO_EIO);
  so__params_free(p);
  so_report_free(&rep);
}

int main(void) {
  static const so_test_case cases[] = {
      {"invalid_utf8_replaced", test_invalid_utf8_replaced},
      {"utf8_clean", test_utf8_clean},
      {"nan_is_null", test_nan_is_null},
      {"stopped_fields", test_stopped_fields},
      {"failed_not_complete", test_failed_not_complete},
      {"summary_notices", test_summary_notices},
      {"summary_plurals", test_summary_plurals},
      {"json_file_errors", test_json_file_errors},
      {NULL, NULL},
  };
  return so_test_run("report", cases);
}

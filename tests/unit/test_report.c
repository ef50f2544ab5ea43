/* Unit tests of the run report: the JSON text (escaping, UTF-8, NaN, the stop fields), the
 * summary's notice lines and plurals, the workers grouped by node and the batch job's id. */
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
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "noop: 1 task (0 failed) on 1 worker (1 node) in "));
  CU_ASSERT_PTR_NOT_NULL(strstr(s, ", 1 batch\n"));
  free(s);
  so_report_free(&rep);
  make_report(&rep, 2, 0);
  rep.messages = 2;
  s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "noop: 2 tasks (0 failed) on 1 worker (1 node) in "));
  CU_ASSERT_PTR_NOT_NULL(strstr(s, ", 2 batches\n"));
  free(s);
  so_report_free(&rep);
}

/* Seven workers on three hosts, interleaved in rank order as a launcher's round-robin mapping
 * would leave them: n2 n1 n2 n3 n1 n2 n3. Worker i (rank i + 1) ran 10 * (i + 1) tasks, i failed
 * and was busy (i + 1) / 10 s of a 2 s run. */
static void make_nodes_report(so_report *rep) {
  static const char *const hosts[] = {"n2", "n1", "n2", "n3", "n1", "n2", "n3"};
  make_report(rep, 0, 0);
  free(rep->workers);
  rep->nworkers = 7;
  rep->wall = 2.0;
  rep->workers = calloc(7, sizeof *rep->workers);
  for (int i = 0; i < 7; i++) {
    so_worker_report *w = &rep->workers[i];
    w->rank = i + 1;
    w->tasks = 10u * (unsigned)(i + 1);
    w->failed = (uint64_t)i;
    w->busy = (i + 1) / 10.0;
    snprintf(w->host, sizeof w->host, "%s", hosts[i]);
    snprintf(w->bound_by, sizeof w->bound_by, "scaleout");
    w->last_pu = w->last_core = -1;
    rep->tasks += w->tasks;
    rep->failed += w->failed;
  }
}

static void test_nodes_grouped(void) {
  so_report rep;
  make_nodes_report(&rep);
  so__node_report *nodes = NULL;
  int n = so__report_nodes(&rep, &nodes);
  CU_ASSERT_EQUAL_FATAL(n, 3);
  /* In the order their first worker comes: n2 (rank 1), n1 (rank 2), n3 (rank 4). */
  static const struct {
    const char *host;
    int workers, first;
    uint64_t tasks, failed;
    double busy;
  } want[] = {{"n2", 3, 0, 10 + 30 + 60, 0 + 2 + 5, 0.1 + 0.3 + 0.6},
              {"n1", 2, 1, 20 + 50, 1 + 4, 0.2 + 0.5},
              {"n3", 2, 3, 40 + 70, 3 + 6, 0.4 + 0.7}};
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_STRING_EQUAL(nodes[i].host, want[i].host);
    CU_ASSERT_EQUAL(nodes[i].workers, want[i].workers);
    CU_ASSERT_EQUAL(nodes[i].first, want[i].first);
    CU_ASSERT_EQUAL(nodes[i].tasks, want[i].tasks);
    CU_ASSERT_EQUAL(nodes[i].failed, want[i].failed);
    CU_ASSERT_DOUBLE_EQUAL(nodes[i].busy, want[i].busy, 1e-12);
    /* The share of the time the node's workers had: busy over wall times workers. */
    CU_ASSERT_DOUBLE_EQUAL(so__node_busy_share(&rep, &nodes[i]),
                           want[i].busy / (2.0 * want[i].workers), 1e-12);
  }
  free(nodes);
  /* The master's node comes first (rank 0), whether workers ran there too ... */
  snprintf(rep.answer->master_host, sizeof rep.answer->master_host, "n1");
  CU_ASSERT_EQUAL_FATAL(so__report_nodes(&rep, &nodes), 3);
  CU_ASSERT_STRING_EQUAL(nodes[0].host, "n1");
  CU_ASSERT_EQUAL(nodes[0].master, 1);
  CU_ASSERT_EQUAL(nodes[0].workers, 2);
  CU_ASSERT_EQUAL(nodes[0].first, 1);
  CU_ASSERT_STRING_EQUAL(nodes[1].host, "n2");
  CU_ASSERT_EQUAL(nodes[1].master, 0);
  CU_ASSERT_STRING_EQUAL(nodes[2].host, "n3");
  free(nodes);
  /* ... or it ran alone there: a node that took part, with no worker. */
  snprintf(rep.answer->master_host, sizeof rep.answer->master_host, "head");
  CU_ASSERT_EQUAL_FATAL(so__report_nodes(&rep, &nodes), 4);
  CU_ASSERT_STRING_EQUAL(nodes[0].host, "head");
  CU_ASSERT_EQUAL(nodes[0].master, 1);
  CU_ASSERT_EQUAL(nodes[0].workers, 0);
  CU_ASSERT_EQUAL(nodes[0].first, -1);
  CU_ASSERT_EQUAL(nodes[0].tasks, 0);
  CU_ASSERT_EQUAL(so__node_busy_share(&rep, &nodes[0]), 0.0);
  CU_ASSERT_STRING_EQUAL(nodes[1].host, "n2");
  CU_ASSERT_STRING_EQUAL(nodes[3].host, "n3");
  free(nodes);
  rep.answer->master_host[0] = '\0';
  /* One host: one node holding every worker (and the master). */
  for (int i = 0; i < rep.nworkers; i++)
    snprintf(rep.workers[i].host, sizeof rep.workers[i].host, "solo");
  snprintf(rep.answer->master_host, sizeof rep.answer->master_host, "solo");
  CU_ASSERT_EQUAL(so__report_nodes(&rep, &nodes), 1);
  CU_ASSERT_EQUAL(nodes[0].workers, 7);
  CU_ASSERT_EQUAL(nodes[0].master, 1);
  CU_ASSERT_EQUAL(nodes[0].tasks, rep.tasks);
  free(nodes);
  /* No worker and no master's host, no node, and no array to free. */
  rep.nworkers = 0;
  rep.answer->master_host[0] = '\0';
  CU_ASSERT_EQUAL(so__report_nodes(&rep, &nodes), 0);
  CU_ASSERT_PTR_NULL(nodes);
  rep.nworkers = 7;
  so_report_free(&rep);
}

/* Whether obj has exactly the given keys (NULL-terminated), each present; prints the others. */
static int has_exactly(json_t *obj, const char *const *keys) {
  size_t n = 0;
  for (; keys[n]; n++)
    if (!json_object_get(obj, keys[n])) {
      fprintf(stderr, "\n    key '%s' missing\n", keys[n]);
      return 0;
    }
  if (json_object_size(obj) != n) {
    char *text = json_dumps(obj, JSON_COMPACT);
    fprintf(stderr, "\n    expected %zu keys: %s\n", n, text);
    free(text);
    return 0;
  }
  return 1;
}

static void test_nodes_json(void) {
  so_report rep;
  make_nodes_report(&rep);
  json_t *j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "node_count")), 3);
  json_t *nodes = json_object_get(j, "nodes");
  CU_ASSERT_TRUE_FATAL(json_is_array(nodes));
  CU_ASSERT_EQUAL_FATAL(json_array_size(nodes), 3);
  static const char *const keys[] = {"host", "workers", "master", "ranks", "tasks", "failed",
                                     "busy_seconds", "busy_share", NULL};
  static const char *const hosts[] = {"n2", "n1", "n3"};
  static const int ranks[3][3] = {{1, 3, 6}, {2, 5, 0}, {4, 7, 0}};
  static const int nranks[] = {3, 2, 2};
  for (size_t i = 0; i < 3; i++) {
    json_t *o = json_array_get(nodes, i);
    CU_ASSERT_TRUE(has_exactly(o, keys));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "host")), hosts[i]);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "workers")), nranks[i]);
    json_t *r = json_object_get(o, "ranks");
    CU_ASSERT_EQUAL_FATAL(json_array_size(r), (size_t)nranks[i]);
    for (int k = 0; k < nranks[i]; k++)
      CU_ASSERT_EQUAL(json_integer_value(json_array_get(r, (size_t)k)), ranks[i][k]);
    CU_ASSERT_TRUE(json_is_real(json_object_get(o, "busy_share")));
    CU_ASSERT_TRUE(json_is_false(json_object_get(o, "master")));
  }
  json_t *n1 = json_array_get(nodes, 1);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(n1, "tasks")), 70);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(n1, "failed")), 5);
  CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(n1, "busy_seconds")), 0.7, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(n1, "busy_share")), 0.175, 1e-12);
  json_decref(j);
  /* A node's figures follow the worker's rules: an unknown wall time gives null, not NaN. */
  rep.wall = NAN;
  rep.workers[0].busy = INFINITY;
  j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  json_t *n2 = json_array_get(json_object_get(j, "nodes"), 0);
  CU_ASSERT_TRUE(json_is_null(json_object_get(n2, "busy_seconds")));
  json_decref(j);
  /* The master alone on a node of its own: listed first, no worker, no rank among the workers'. */
  rep.wall = 2.0;
  snprintf(rep.answer->master_host, sizeof rep.answer->master_host, "head");
  j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "node_count")), 4);
  json_t *head = json_array_get(json_object_get(j, "nodes"), 0);
  CU_ASSERT_TRUE(has_exactly(head, keys));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(head, "host")), "head");
  CU_ASSERT_TRUE(json_is_true(json_object_get(head, "master")));
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(head, "workers")), 0);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(head, "ranks")), 0);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(head, "tasks")), 0);
  json_decref(j);
  so_report_free(&rep);
}

/* The line of the summary that starts with prefix, copied into line; 0 when there is none. */
static int summary_line(const char *s, const char *prefix, int nth, char *line, size_t len) {
  for (const char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, prefix, strlen(prefix)) != 0 || nth-- > 0)
      continue;
    size_t n = strcspn(p, "\n");
    snprintf(line, len, "%.*s", (int)n, p);
    return 1;
  }
  return 0;
}

static void test_nodes_summary(void) {
  so_report rep;
  make_nodes_report(&rep);
  char *s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "noop: 280 tasks (21 failed) on 7 workers (3 nodes) in 2.000 s"));
  /* One line per node, in the order of their first worker, before the worker table. */
  char line[256];
  static const char *const want[] = {
      "node n2                  3 workers        100 tasks   16.7% busy        7 failed",
      "node n1                  2 workers         70 tasks   17.5% busy        5 failed",
      "node n3                  2 workers        110 tasks   27.5% busy        9 failed"};
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_TRUE_FATAL(summary_line(s, "node ", i, line, sizeof line));
    if (strcmp(line, want[i]) != 0)
      fprintf(stderr, "\n    got  '%s'\n    want '%s'\n", line, want[i]);
    CU_ASSERT_STRING_EQUAL(line, want[i]);
  }
  CU_ASSERT_FALSE(summary_line(s, "node ", 3, line, sizeof line));
  CU_ASSERT_TRUE(strstr(s, "node n3") < strstr(s, "worker  host"));
  /* The worker table is as it was: one line per worker. */
  CU_ASSERT_TRUE(summary_line(s, "     7  n3 ", 0, line, sizeof line));
  free(s);
  /* The master alone on its node: a node line of its own, marked, with nothing to show. */
  snprintf(rep.answer->master_host, sizeof rep.answer->master_host, "head");
  s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, " on 7 workers (4 nodes) in "));
  CU_ASSERT_TRUE(summary_line(s, "node ", 0, line, sizeof line));
  CU_ASSERT_STRING_EQUAL(line, "node head                0 workers          0 tasks    0.0% busy"
                               "        0 failed  (master)");
  CU_ASSERT_TRUE(summary_line(s, "node ", 1, line, sizeof line));
  CU_ASSERT_STRING_EQUAL(line, want[0]);
  free(s);
  /* On the node of some workers, it marks theirs. */
  snprintf(rep.answer->master_host, sizeof rep.answer->master_host, "n3");
  s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, " on 7 workers (3 nodes) in "));
  CU_ASSERT_TRUE(summary_line(s, "node ", 0, line, sizeof line));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "node n3 "));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "9 failed  (master)"));
  free(s);
  rep.answer->master_host[0] = '\0';
  /* On one node the totals say so and no node line repeats the table. */
  for (int i = 0; i < rep.nworkers; i++)
    snprintf(rep.workers[i].host, sizeof rep.workers[i].host, "solo");
  s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "on 7 workers (1 node) in "));
  CU_ASSERT_FALSE(summary_line(s, "node ", 0, line, sizeof line));
  free(s);
  so_report_free(&rep);
}

/* The batch job's id in the summary and the JSON, from SLURM_JOB_ID or else PBS_JOBID. */
static void test_batch_job(void) {
  so_report rep;
  make_report(&rep, 2, 0);
  rep.messages = 2;
  char *s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, ", 2 batches\n"));
  CU_ASSERT_PTR_NULL(strstr(s, " job "));
  free(s);
  json_t *j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_TRUE(json_is_null(json_object_get(j, "batch_job")));
  json_decref(j);

  setenv("PBS_JOBID", "77.server.example", 1);
  s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, ", 2 batches; PBS job 77.server.example\n"));
  free(s);
  j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  json_t *b = json_object_get(j, "batch_job");
  static const char *const keys[] = {"scheduler", "id", NULL};
  CU_ASSERT_TRUE(has_exactly(b, keys));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "scheduler")), "pbs");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "id")), "77.server.example");
  json_decref(j);

  /* Slurm first: a Slurm job started from a PBS one (or the reverse) is the inner Slurm job. */
  setenv("SLURM_JOB_ID", "4242", 1);
  s = summary(&rep);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "noop: 2 tasks (0 failed) on 1 worker (1 node) in "));
  CU_ASSERT_PTR_NOT_NULL(strstr(s, ", 2 batches; Slurm job 4242\n"));
  free(s);
  j = report_json(&rep, "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  b = json_object_get(j, "batch_job");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "scheduler")), "slurm");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "id")), "4242");
  json_decref(j);
  unsetenv("SLURM_JOB_ID");
  unsetenv("PBS_JOBID");
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
  /* The summary's lines end differently inside a batch job: these tests set its id themselves. */
  unsetenv("SLURM_JOB_ID");
  unsetenv("PBS_JOBID");
  static const so_test_case cases[] = {
      {"invalid_utf8_replaced", test_invalid_utf8_replaced},
      {"utf8_clean", test_utf8_clean},
      {"nan_is_null", test_nan_is_null},
      {"stopped_fields", test_stopped_fields},
      {"failed_not_complete", test_failed_not_complete},
      {"summary_notices", test_summary_notices},
      {"summary_plurals", test_summary_plurals},
      {"nodes_grouped", test_nodes_grouped},
      {"nodes_json", test_nodes_json},
      {"nodes_summary", test_nodes_summary},
      {"batch_job", test_batch_job},
      {"json_file_errors", test_json_file_errors},
      {NULL, NULL},
  };
  return so_test_run("report", cases);
}

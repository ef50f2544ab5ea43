/* Data-parallel maps (scaleout/map.h) on master and worker threads over the in-process transport:
 * every schedule at 1 to 5 workers, over a range, text lines and binary records, with sum, min,
 * max and custom reductions and with gather, each equal to the serial reference and to a direct
 * computation; gathered output byte-identical and in input order; and the bad-input cases. */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "engine_harness.h"
#include "jobs_list.h"
#include "map.h"

/* --- The test job: one item function for every input, steered by these globals --- */

enum { HIST = 16 };
static char g_path[256];           /* the input file, as the job parameter's default */
static char g_n[32] = "1000";      /* range size, as the parameter's default */
static so_reduce_op g_op;          /* what the item function applies to acc */
static so_value_type g_type;
static so__buf g_out = SO_BUF_INIT; /* gathered output, master side */
static uint64_t g_next_first;       /* where the next gathered run must start */
static int g_order_broken;          /* a gathered run arrived out of input order */
static unsigned char g_total[8 * 2]; /* the reduction's total, as reduced() saw it */
static uint64_t g_hist[HIST];

static so_param_def g_params[] = {
    {"input", SO_PARAM_STRING, g_path, "input file", 0, -1},
    {"n", SO_PARAM_INT, g_n, "range size", 0, 1e12},
    {"rec", SO_PARAM_INT, "16", "record size", 0, 1e6},
    {NULL, 0, NULL, NULL, 0, 0},
};

/* Item i's value: scattered, signed, the same whichever input carries it. */
static int64_t value_of(uint64_t i) { return (int64_t)((i * 2654435761u) % 1000003u) - 500000; }

/* Long line: item 100 of the lines input carries 1.2 MB of padding, longer than a read block. */
#define LONG_LINE 100
#define LONG_PAD (1200 * 1024)

static void apply(void *acc, uint64_t i, int64_t v) {
  if (g_op == SO_REDUCE_CUSTOM) {
    ((uint64_t *)acc)[(uint64_t)(v + 500000) % HIST]++;
    return;
  }
  for (int k = 0; k < 2; k++) {
    int64_t x = k == 0 ? v : (int64_t)i;
    if (g_type == SO_VALUE_F64) {
      double d = (double)x * 0.001, *a = acc;
      a[k] = g_op == SO_REDUCE_SUM ? a[k] + d : g_op == SO_REDUCE_MIN ? fmin(a[k], d) : fmax(a[k], d);
    } else if (g_type == SO_VALUE_U64) {
      uint64_t u = (uint64_t)(x + 500000), *a = acc;
      a[k] = g_op == SO_REDUCE_SUM ? a[k] + u : g_op == SO_REDUCE_MIN ? (u < a[k] ? u : a[k])
                                                                      : (u > a[k] ? u : a[k]);
    } else {
      int64_t *a = acc;
      a[k] = g_op == SO_REDUCE_SUM ? a[k] + x : g_op == SO_REDUCE_MIN ? (x < a[k] ? x : a[k])
                                                                      : (x > a[k] ? x : a[k]);
    }
  }
}

/* Checks the item's bytes are the ones item `index` was written with, then reduces or writes. */
static int t_item(so_ctx *ctx, uint64_t i, const void *rec, size_t len, void *acc, so_result *res) {
  const so__map_job *mj = so__map_job_of(ctx->job);
  int64_t v = value_of(i);
  if (mj->map->input == SO_MAP_LINES) {
    char num[32];
    size_t k = len < sizeof num - 1 ? len : sizeof num - 1;
    memcpy(num, rec, k);
    num[k] = 0;
    char *end;
    long long got = strtoll(num, &end, 10);
    size_t want_len = (size_t)(end - num) + (i == LONG_LINE ? LONG_PAD : i % 13);
    if (got != v || len != want_len) {
      so_ctx_errorf(ctx, "line %llu is not the one written", (unsigned long long)i);
      return 1;
    }
  } else if (mj->map->input == SO_MAP_RECORDS) {
    uint64_t r[2];
    memcpy(r, rec, sizeof r);
    if (len != 16 || r[0] != i || (int64_t)r[1] != v) {
      so_ctx_errorf(ctx, "record %llu is not the one written", (unsigned long long)i);
      return 1;
    }
  }
  if (acc) {
    apply(acc, i, v);
    return 0;
  }
  char line[64];
  int n = snprintf(line, sizeof line, "%llu:%lld\n", (unsigned long long)i, (long long)v);
  return so_result_write(res, line, (size_t)n);
}

static uint64_t t_count(so_ctx *ctx) { return (uint64_t)so_ctx_int(ctx, "n"); }

static int t_reduced(so_ctx *ctx, const void *total) {
  (void)ctx;
  if (g_op == SO_REDUCE_CUSTOM)
    memcpy(g_hist, total, sizeof g_hist);
  else
    memcpy(g_total, total, sizeof g_total);
  return 0;
}

static int t_gathered(so_ctx *ctx, uint64_t first, const void *data, size_t len) {
  (void)ctx;
  if (first != g_next_first)
    g_order_broken = 1;
  /* The run's items are counted from the text: each line is one item. */
  for (size_t k = 0; k < len; k++)
    g_next_first += ((const char *)data)[k] == '\n';
  return so__buf_append(&g_out, data, len);
}

static void *t_acc_new(so_ctx *ctx) {
  (void)ctx;
  return calloc(HIST, sizeof(uint64_t));
}
static int t_acc_write(so_ctx *ctx, void *acc, so_result *res) {
  (void)ctx;
  return so_result_write(res, acc, HIST * sizeof(uint64_t));
}
static int t_combine(so_ctx *ctx, void *total, const void *data, size_t len) {
  if (len != HIST * sizeof(uint64_t)) {
    so_ctx_errorf(ctx, "a %zu-byte histogram", len);
    return 1;
  }
  for (int k = 0; k < HIST; k++) {
    uint64_t x;
    memcpy(&x, (const char *)data + k * 8, 8);
    ((uint64_t *)total)[k] += x;
  }
  return 0;
}
static void t_acc_free(so_ctx *ctx, void *acc) {
  (void)ctx;
  free(acc);
}

static so_map g_map;
static so_job g_job = {SO_JOB_VERSION, .name = "maptest", .params = g_params, .map = &g_map};

static void set_map(so_map_input input, so_reduce_op op, so_value_type type) {
  g_map = (so_map){.input = input, .count = t_count, .path_param = "input", .record_param = "rec",
                   .reduce = op, .value = type, .nvalues = 2, .item = t_item,
                   .reduced = t_reduced, .gathered = t_gathered, .acc_new = t_acc_new,
                   .acc_write = t_acc_write, .combine = t_combine, .acc_free = t_acc_free};
  g_op = op;
  g_type = type;
}

static void reset_outputs(void) {
  so__buf_clear(&g_out);
  g_next_first = 0;
  g_order_broken = 0;
  memset(g_total, 0xAA, sizeof g_total);
  memset(g_hist, 0xAA, sizeof g_hist);
}

/* --- Inputs --- */

static void write_lines(const char *path, uint64_t n) {
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  for (uint64_t i = 0; i < n; i++) {
    fprintf(f, "%lld", (long long)value_of(i));
    size_t pad = i == LONG_LINE ? LONG_PAD : i % 13;
    for (size_t k = 0; k < pad; k++)
      fputc(' ', f);
    if (i + 1 < n) /* the last line has no newline: it is a line all the same */
      fputc('\n', f);
  }
  fclose(f);
}

static void write_records(const char *path, uint64_t n) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t r[2] = {i, (uint64_t)value_of(i)};
    fwrite(r, sizeof r, 1, f);
  }
  fclose(f);
}

/* --- The expected answers, computed directly --- */

static void expected_total(uint64_t n, void *want) {
  unsigned char acc[16];
  so__map_acc_reset(&g_map, acc);
  for (uint64_t i = 0; i < n; i++)
    apply(acc, i, value_of(i));
  memcpy(want, acc, sizeof acc);
}

static void expected_gather(uint64_t n, so__buf *want) {
  so__buf_clear(want);
  for (uint64_t i = 0; i < n; i++) {
    char line[64];
    int k = snprintf(line, sizeof line, "%llu:%lld\n", (unsigned long long)i, (long long)value_of(i));
    so__buf_append(want, line, (size_t)k);
  }
}

/* Whether the run's result equals the direct computation; F64 sums only within a tolerance, as
 * the order partials are added in differs between schedules (the one place it may). */
static int result_ok(uint64_t n) {
  if (g_op == SO_REDUCE_GATHER) {
    so__buf want = SO_BUF_INIT;
    expected_gather(n, &want);
    int ok = !g_order_broken && want.len == g_out.len &&
             (want.len == 0 || memcmp(want.data, g_out.data, want.len) == 0);
    so__buf_free(&want);
    return ok;
  }
  if (g_op == SO_REDUCE_CUSTOM) {
    uint64_t want[HIST] = {0};
    for (uint64_t i = 0; i < n; i++)
      want[(uint64_t)(value_of(i) + 500000) % HIST]++;
    return memcmp(want, g_hist, sizeof want) == 0;
  }
  unsigned char want[16];
  expected_total(n, want);
  if (g_type == SO_VALUE_F64 && g_op == SO_REDUCE_SUM) {
    double a[2], b[2];
    memcpy(a, want, 16);
    memcpy(b, g_total, 16);
    return fabs(a[0] - b[0]) <= 1e-9 * (fabs(a[0]) + 1) && fabs(a[1] - b[1]) <= 1e-9 * (fabs(a[1]) + 1);
  }
  return memcmp(want, g_total, 16) == 0;
}

/* --- Running --- */

static int run_serial(void) {
  so_params *p = so__params_new(&g_job);
  uint64_t tasks;
  so_answer *a = NULL;
  int rc = so__run_serial(&g_job, p, &tasks, &a);
  so__answer_free(a);
  so__params_free(p);
  return rc;
}

static int run_engine(const char *schedule, int workers) {
  so_config cfg;
  so_config_default(&cfg);
  cfg.quiet = 1;
  char err[256];
  if (schedule && so_schedule_parse(schedule, &cfg.schedule, err, sizeof err))
    return -1000;
  const so_job *w;
  int rc = so__map_wrap(&g_job, &cfg, &w, err, sizeof err);
  if (rc)
    return rc;
  so_report rep;
  rc = harness_run(w, workers, &cfg, &rep);
  if (rc == 0 && rep.failed)
    rc = -2000; /* a failed chunk: the engine reports it apart from the run's code */
  so_report_free(&rep);
  so__map_unwrap(w);
  return rc;
}

static const char *const schedules[] = {"static", "static,3", "dynamic", "dynamic,7",
                                        "guided", "guided,4", "auto", NULL};

/* Every schedule at 1 to 5 workers and every reduction on one input equals the serial run and
 * the direct computation. */
static void all_schedules(so_map_input input, uint64_t n) {
  static const struct {
    so_reduce_op op;
    so_value_type type;
  } kinds[] = {{SO_REDUCE_SUM, SO_VALUE_I64}, {SO_REDUCE_SUM, SO_VALUE_U64},
               {SO_REDUCE_SUM, SO_VALUE_F64}, {SO_REDUCE_MIN, SO_VALUE_I64},
               {SO_REDUCE_MIN, SO_VALUE_F64}, {SO_REDUCE_MAX, SO_VALUE_U64},
               {SO_REDUCE_MAX, SO_VALUE_I64}, {SO_REDUCE_CUSTOM, SO_VALUE_I64},
               {SO_REDUCE_GATHER, SO_VALUE_I64}};
  int bad = 0;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    set_map(input, kinds[k].op, kinds[k].type);
    reset_outputs();
    CU_ASSERT_EQUAL(run_serial(), 0);
    CU_ASSERT(result_ok(n));
    for (const char *const *s = schedules; *s; s++)
      for (int w = 1; w <= 5; w++) {
        reset_outputs();
        int rc = run_engine(*s, w);
        if (rc != 0 || !result_ok(n)) {
          fprintf(stderr, "input %d op %d type %d schedule %s workers %d: rc %d, %s\n", (int)input,
                  (int)kinds[k].op, (int)kinds[k].type, *s, w, rc,
                  rc ? "failed" : "a different answer");
          bad++;
        }
      }
  }
  CU_ASSERT_EQUAL(bad, 0);
}

static void test_range(void) {
  snprintf(g_n, sizeof g_n, "1000");
  all_schedules(SO_MAP_RANGE, 1000);
}

static void test_lines(void) {
  write_lines(g_path, 300);
  all_schedules(SO_MAP_LINES, 300);
}

static void test_records(void) {
  write_records(g_path, 600);
  all_schedules(SO_MAP_RECORDS, 600);
}

/* An empty input is zero items: a valid, empty answer under every schedule. */
static void test_empty(void) {
  FILE *f = fopen(g_path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fclose(f);
  so_map_input inputs[] = {SO_MAP_LINES, SO_MAP_RECORDS};
  for (int k = 0; k < 2; k++) {
    set_map(inputs[k], SO_REDUCE_GATHER, SO_VALUE_I64);
    reset_outputs();
    CU_ASSERT_EQUAL(run_serial(), 0);
    CU_ASSERT_EQUAL(g_out.len, 0);
    for (const char *const *s = schedules; *s; s++) {
      CU_ASSERT_EQUAL(run_engine(*s, 3), 0);
      CU_ASSERT_EQUAL(g_out.len, 0);
    }
    set_map(inputs[k], SO_REDUCE_SUM, SO_VALUE_I64);
    reset_outputs();
    CU_ASSERT_EQUAL(run_engine("dynamic", 2), 0);
    CU_ASSERT(result_ok(0));
  }
  snprintf(g_n, sizeof g_n, "0");
  set_map(SO_MAP_RANGE, SO_REDUCE_SUM, SO_VALUE_I64);
  reset_outputs();
  CU_ASSERT_EQUAL(run_engine("guided", 4), 0);
  CU_ASSERT(result_ok(0));
  snprintf(g_n, sizeof g_n, "1000");
}

/* --- Bad input --- */

static void expect_parse_error(const char *text, const char *part) {
  so_schedule s;
  char err[256] = "";
  CU_ASSERT_EQUAL(so_schedule_parse(text, &s, err, sizeof err), SO_EINVAL);
  if (!strstr(err, part))
    fprintf(stderr, "schedule '%s': message '%s' lacks '%s'\n", text, err, part);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, part));
}

static void test_schedule_parse(void) {
  so_schedule s;
  char err[256];
  CU_ASSERT_EQUAL(so_schedule_parse("static", &s, err, sizeof err), 0);
  CU_ASSERT(s.kind == SO_SCHED_STATIC && s.chunk == 0);
  CU_ASSERT_EQUAL(so_schedule_parse("dynamic,8", &s, err, sizeof err), 0);
  CU_ASSERT(s.kind == SO_SCHED_DYNAMIC && s.chunk == 8);
  CU_ASSERT_EQUAL(so_schedule_parse("guided,4", &s, err, sizeof err), 0);
  CU_ASSERT(s.kind == SO_SCHED_GUIDED && s.chunk == 4);
  CU_ASSERT_EQUAL(so_schedule_parse("auto", &s, err, sizeof err), 0);
  CU_ASSERT(s.kind == SO_SCHED_AUTO && s.chunk == 0);
  expect_parse_error("bogus", "unknown schedule 'bogus'");
  expect_parse_error("", "unknown schedule ''");
  expect_parse_error("dynamic,0", "chunk size must be");
  expect_parse_error("static,0", "chunk size must be");
  expect_parse_error("guided,x", "chunk size must be");
  expect_parse_error("dynamic,", "chunk size must be");
  expect_parse_error("dynamic,-3", "chunk size must be");
  expect_parse_error("dynamic,4x", "chunk size must be");
  expect_parse_error("dynamic,99999999999", "chunk size must be");
  expect_parse_error("auto,4", "auto takes no chunk size");
  expect_parse_error("Static", "unknown schedule");
}

/* Runs the wrapped job's init() on a master context and returns its code and message. */
static int master_init(char *msg, size_t len) {
  const so_job *w;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(so__map_wrap(&g_job, NULL, &w, err, sizeof err), 0);
  so_params *p = so__params_new(&g_job);
  so_ctx m;
  so__ctx_init(&m, w, p, SO_ROLE_MASTER, 0, 2);
  int rc = w->init(&m);
  snprintf(msg, len, "%s", m.error);
  if (rc == 0)
    w->fini(&m);
  so__params_free(p);
  so__map_unwrap(w);
  return rc;
}

static void test_bad_input(void) {
  char msg[600], want[600];
  /* An input that cannot be read: bad input, naming the file, in init and in a whole run. */
  char saved[256];
  snprintf(saved, sizeof saved, "%s", g_path);
  snprintf(g_path, sizeof g_path, "/nonexistent/dir/input.txt");
  set_map(SO_MAP_LINES, SO_REDUCE_SUM, SO_VALUE_I64);
  CU_ASSERT_EQUAL(master_init(msg, sizeof msg), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "cannot read input '/nonexistent/dir/input.txt'"));
  CU_ASSERT_EQUAL(run_engine("dynamic", 2), SO_EINVAL);
  CU_ASSERT_EQUAL(run_serial(), SO_EINVAL);
  snprintf(g_path, sizeof g_path, "/tmp");
  CU_ASSERT_EQUAL(master_init(msg, sizeof msg), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "not a regular file"));
  snprintf(g_path, sizeof g_path, "%s", saved);

  /* A record size that does not divide the file size: the message names file, size and record. */
  FILE *f = fopen(g_path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fwrite("0123456789abcdef0", 1, 17, f);
  fclose(f);
  set_map(SO_MAP_RECORDS, SO_REDUCE_SUM, SO_VALUE_I64);
  CU_ASSERT_EQUAL(master_init(msg, sizeof msg), SO_EINVAL);
  snprintf(want, sizeof want, "input '%s' is 17 bytes, not a whole number of 16-byte records",
           g_path);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, want));
  CU_ASSERT_EQUAL(run_engine("static", 3), SO_EINVAL);
  g_map.record_size = 17; /* a fixed record size is used as it is */
  CU_ASSERT_EQUAL(master_init(msg, sizeof msg), 0);

  /* Unknown reduction, value type, schedule kind; a declaration missing what it needs. */
  const so_job *w;
  char err[256];
  so_config cfg;
  so_config_default(&cfg);
  set_map(SO_MAP_RANGE, (so_reduce_op)99, SO_VALUE_I64);
  CU_ASSERT_EQUAL(so__map_wrap(&g_job, &cfg, &w, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown reduction 99"));
  CU_ASSERT_EQUAL(run_engine("dynamic", 2), SO_EINVAL);
  set_map(SO_MAP_RANGE, SO_REDUCE_SUM, (so_value_type)7);
  CU_ASSERT_EQUAL(so__map_wrap(&g_job, &cfg, &w, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown reduction value type 7"));
  set_map(SO_MAP_RANGE, SO_REDUCE_SUM, SO_VALUE_I64);
  g_map.nvalues = 0;
  CU_ASSERT_EQUAL(so__map_wrap(&g_job, &cfg, &w, err, sizeof err), SO_EINVAL);
  set_map(SO_MAP_RANGE, SO_REDUCE_CUSTOM, SO_VALUE_I64);
  g_map.combine = NULL;
  CU_ASSERT_EQUAL(so__map_wrap(&g_job, &cfg, &w, err, sizeof err), SO_EINVAL);
  set_map(SO_MAP_LINES, SO_REDUCE_SUM, SO_VALUE_I64);
  g_map.path_param = "n"; /* an integer, not a path */
  CU_ASSERT_EQUAL(so__map_wrap(&g_job, &cfg, &w, err, sizeof err), SO_EINVAL);
  set_map(SO_MAP_RANGE, SO_REDUCE_SUM, SO_VALUE_I64);
  cfg.schedule.kind = (so_sched_kind)42;
  CU_ASSERT_EQUAL(so__map_wrap(&g_job, &cfg, &w, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown schedule kind 42"));
  cfg.schedule = (so_schedule){SO_SCHED_AUTO, 5};
  CU_ASSERT_EQUAL(so__map_wrap(&g_job, &cfg, &w, err, sizeof err), SO_EINVAL);
  /* And a job without a map is left as it is. */
  so_job plain = {SO_JOB_VERSION, .name = "plain"};
  CU_ASSERT_EQUAL(so__map_wrap(&plain, &cfg, &w, err, sizeof err), 0);
  CU_ASSERT_PTR_EQUAL(w, &plain);
}

/* --- A map's items in threads --- */

/* primes with --threads 4 on 2 workers: items of one worker run at once, each with a sieve of
 * its own, and the count stays exact (it was not while the worker's one sieve was shared). */
static void test_primes_threads(void) {
  static const so_param_def params[] = {
      {"from", SO_PARAM_INT, "0", "", 0, 1e12},
      {"to", SO_PARAM_INT, "2e7", "", 1, 1e12},
      {"tasks", SO_PARAM_INT, "3000", "", 1, 1e12},
      {NULL, 0, NULL, NULL, 0, 0},
  };
  so_job job = so_job_primes;
  job.params = params;
  so_config cfg;
  so_config_default(&cfg);
  cfg.quiet = 1;
  cfg.slots = 4;
  for (int k = 0; k < 2; k++) {
    so_schedule_parse(k ? "static,7" : "dynamic", &cfg.schedule, NULL, 0);
    const so_job *w;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(so__map_wrap(&job, &cfg, &w, err, sizeof err), 0);
    so_report rep;
    CU_ASSERT_EQUAL(harness_run(w, 2, &cfg, &rep), 0);
    int64_t primes = -1;
    for (size_t i = 0; rep.answer && i < rep.answer->n; i++)
      if (strcmp(rep.answer->items[i].name, "primes") == 0)
        primes = rep.answer->items[i].i;
    CU_ASSERT_EQUAL(primes, 1270607);
    so_report_free(&rep);
    so__map_unwrap(w);
  }
}

/* --- How each schedule cuts the input --- */

/* The chunk sizes (counts) the wrapped job's next() hands out for 97 items on 2 workers. */
static int cut_sizes(const char *schedule, uint64_t *sizes, int max, so__map_span *spans) {
  snprintf(g_n, sizeof g_n, "97");
  set_map(SO_MAP_RANGE, SO_REDUCE_SUM, SO_VALUE_I64);
  so_config cfg;
  so_config_default(&cfg);
  so_schedule_parse(schedule, &cfg.schedule, NULL, 0);
  const so_job *w;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(so__map_wrap(&g_job, &cfg, &w, err, sizeof err), 0);
  so_params *p = so__params_new(&g_job);
  so__buf data = SO_BUF_INIT;
  so_ctx m;
  so__ctx_init(&m, w, p, SO_ROLE_MASTER, 0, 2);
  m.task_data = &data;
  CU_ASSERT_EQUAL_FATAL(w->init(&m), 0);
  int n = 0;
  for (; n < max; n++) {
    so_task_out t = {.id = (uint64_t)n};
    so__buf_clear(&data);
    if (w->next(&m, &t) != 1)
      break;
    memcpy(&spans[n], data.data, sizeof spans[n]);
    sizes[n] = spans[n].count;
  }
  w->fini(&m);
  so__buf_free(&data);
  so__params_free(p);
  so__map_unwrap(w);
  snprintf(g_n, sizeof g_n, "1000");
  return n;
}

static void test_schedule_chunks(void) {
  uint64_t sz[128];
  so__map_span sp[128];
  /* static: one block per worker, 49 and 48, contiguous. */
  CU_ASSERT_EQUAL(cut_sizes("static", sz, 128, sp), 2);
  CU_ASSERT(sz[0] == 49 && sz[1] == 48 && sp[0].first == 0 && sp[1].first == 49);
  /* static,4: one task per worker, dealing it every other chunk of 4 from its own. */
  CU_ASSERT_EQUAL(cut_sizes("static,4", sz, 128, sp), 2);
  for (int k = 0; k < 2; k++)
    CU_ASSERT(sp[k].first == 0 && sp[k].count == 97 && sp[k].chunk == 4 && sp[k].stride == 2 &&
              sp[k].phase == (uint64_t)k);
  /* dynamic,3: 32 chunks of 3 and the one item left; dynamic alone: one item each. */
  CU_ASSERT_EQUAL(cut_sizes("dynamic,3", sz, 128, sp), 33);
  CU_ASSERT(sz[0] == 3 && sz[31] == 3 && sz[32] == 1 && sp[32].first == 96);
  CU_ASSERT_EQUAL(cut_sizes("dynamic", sz, 128, sp), 97);
  /* guided,2: ceil(remaining / 2), never below 2 but for what is left at the end. */
  static const uint64_t guided[] = {49, 24, 12, 6, 3, 2, 1};
  CU_ASSERT_EQUAL(cut_sizes("guided,2", sz, 128, sp), 7);
  CU_ASSERT_EQUAL(memcmp(sz, guided, sizeof guided), 0);
  /* auto: one item until a duration is measured (nothing is merged here). */
  CU_ASSERT(cut_sizes("auto", sz, 128, sp) == 97 && sz[0] == 1);
}

/* --- The master never holds the input --- */

/* Cutting an 8 MB file of short lines into one-line chunks: every task carries only its span (56
 * bytes), and the master's heap grows by its read block, not by the input. */
static void test_master_streams(void) {
  FILE *f = fopen(g_path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  uint64_t lines = 0;
  long bytes = 0;
  for (; bytes < 8L << 20; lines++)
    bytes += fprintf(f, "line %llu of the input\n", (unsigned long long)lines);
  fclose(f);
  set_map(SO_MAP_LINES, SO_REDUCE_SUM, SO_VALUE_I64);
  so_config cfg;
  so_config_default(&cfg);
  so_schedule_parse("dynamic,1", &cfg.schedule, NULL, 0);
  const so_job *w;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(so__map_wrap(&g_job, &cfg, &w, err, sizeof err), 0);
  so_params *p = so__params_new(&g_job);
  so__buf data = SO_BUF_INIT;
  so_ctx m;
  so__ctx_init(&m, w, p, SO_ROLE_MASTER, 0, 3);
  m.task_data = &data;
  size_t heap0 = mallinfo2().uordblks, peak = 0;
  CU_ASSERT_EQUAL_FATAL(w->init(&m), 0);
  CU_ASSERT_EQUAL(m.total, lines);
  uint64_t tasks = 0, off = 0, odd = 0;
  for (;;) {
    so_task_out t = {.id = tasks};
    so__buf_clear(&data);
    int more = w->next(&m, &t);
    if (more != 1)
      break;
    so__map_span sp;
    odd += data.len != sizeof sp;
    memcpy(&sp, data.data, sizeof sp);
    odd += sp.first != tasks || sp.count != 1 || sp.offset != off;
    off += sp.len;
    tasks++;
    size_t now = mallinfo2().uordblks;
    if (now > peak)
      peak = now;
  }
  CU_ASSERT_EQUAL(odd, 0);
  CU_ASSERT_EQUAL(tasks, lines);
  CU_ASSERT_EQUAL(off, (uint64_t)bytes); /* the spans tile the file */
  fprintf(stderr, "  %llu tasks of %zu bytes; master heap grew by at most %zu bytes\n",
          (unsigned long long)tasks, sizeof(so__map_span), peak > heap0 ? peak - heap0 : 0);
  CU_ASSERT(peak - heap0 < (2u << 20));
  w->fini(&m);
  so__buf_free(&data);
  so__params_free(p);
  so__map_unwrap(w);
}

int main(void) {
  snprintf(g_path, sizeof g_path, "%s/test_map.%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
           (int)getpid());
  static const so_test_case cases[] = {
      {"schedule_parse", test_schedule_parse},
      {"schedule_chunks", test_schedule_chunks},
      {"range_every_schedule", test_range},
      {"lines_every_schedule", test_lines},
      {"records_every_schedule", test_records},
      {"empty_input", test_empty},
      {"bad_input", test_bad_input},
      {"master_streams", test_master_streams},
      {"primes_in_threads", test_primes_threads},
      {NULL, NULL},
  };
  int rc = so_test_run("map", cases);
  unlink(g_path);
  so__buf_free(&g_out);
  return rc;
}

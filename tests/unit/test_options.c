/* Unit tests of command-line parsing against the built-in jobs: what is accepted and what is not. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "options.h"
#include "params.h"
#include "scaleout/map.h"
#include "so_test.h"

/* --- Helpers --- */

#define MAXARGS 32

static so__cli cli;
static char err[512];
static char *argv_store[MAXARGS];

/* Parses "scaleout" followed by the NULL-terminated words; the result stays in cli and err until
 * the caller frees it with so__cli_free. The words must outlive cli (string literals do). */
static int parse(const char *first, ...) {
  int argc = 0;
  argv_store[argc++] = "scaleout";
  va_list ap;
  va_start(ap, first);
  for (const char *w = first; w && argc < MAXARGS - 1; w = va_arg(ap, const char *))
    argv_store[argc++] = (char *)w;
  va_end(ap);
  argv_store[argc] = NULL;
  memset(err, 'x', sizeof err - 1);
  err[sizeof err - 1] = 0;
  return so__cli_parse(argc, argv_store, so__builtin_find, so__builtin_jobs, &cli, err, sizeof err);
}

/* Checks a command line is accepted, printing the message when it is not. */
#define ACCEPT(...)                                                                                \
  do {                                                                                             \
    int rc_ = parse(__VA_ARGS__, (const char *)NULL);                                              \
    if (rc_ != 0)                                                                                  \
      fprintf(stderr, "\n    line %d: rejected: %s\n", __LINE__, err);                             \
    CU_ASSERT_EQUAL_FATAL(rc_, 0);                                                                 \
  } while (0)

/* Checks a command line is refused with SO_EINVAL and a one-line message containing each of the
 * given words (the offending word, typically quoted). */
static void reject(int line, const char *const *argv_words, const char *const *must) {
  const char *w[MAXARGS] = {0};
  int n = 0;
  while (argv_words[n] && n < MAXARGS - 2) {
    w[n] = argv_words[n];
    n++;
  }
  int rc = parse(n > 0 ? w[0] : NULL, w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10],
                 w[11], (const char *)NULL);
  CU_ASSERT_EQUAL(rc, SO_EINVAL);
  CU_ASSERT_TRUE(err[0] != 0 && err[0] != 'x');
  CU_ASSERT_PTR_NULL(strchr(err, '\n'));
  for (const char *const *m = must; *m; m++) {
    if (!strstr(err, *m))
      fprintf(stderr, "\n    line %d: message \"%s\" lacks \"%s\"\n", line, err, *m);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, *m));
  }
  so__cli_free(&cli);
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define REJECT(args, ...) reject(__LINE__, args, WORDS(__VA_ARGS__))

static int64_t param_int(const char *name) { return so__params_int(cli.params, name); }

/* --- Accepted command lines --- */

static void test_run_defaults(void) {
  ACCEPT("run", "pi");
  CU_ASSERT_EQUAL(cli.cmd, SO_CMD_RUN);
  CU_ASSERT_PTR_NOT_NULL_FATAL(cli.job);
  CU_ASSERT_STRING_EQUAL(cli.job->name, "pi");
  CU_ASSERT_PTR_NOT_NULL_FATAL(cli.params);
  CU_ASSERT_EQUAL(param_int("samples"), 1000000000);
  CU_ASSERT_EQUAL(param_int("tasks"), 1000);
  CU_ASSERT_EQUAL(cli.workers, -1);
  CU_ASSERT_PTR_NULL(cli.json);
  CU_ASSERT_FALSE(cli.help);
  so_config def;
  so_config_default(&def);
  CU_ASSERT_EQUAL(cli.cfg.discipline, def.discipline);
  CU_ASSERT_EQUAL(cli.cfg.batch, def.batch);
  CU_ASSERT_EQUAL(cli.cfg.bind, def.bind);
  CU_ASSERT_EQUAL(cli.cfg.quiet, 0);
  so__cli_free(&cli);
  CU_ASSERT_PTR_NULL(cli.params);
  so__cli_free(&cli); /* twice is harmless */
}

static void test_run_options(void) {
  ACCEPT("run", "-n", "4", "pi", "--samples", "1e6", "--tasks", "10");
  CU_ASSERT_EQUAL(cli.workers, 4);
  CU_ASSERT_STRING_EQUAL(cli.job->name, "pi");
  CU_ASSERT_EQUAL(param_int("samples"), 1000000);
  CU_ASSERT_EQUAL(param_int("tasks"), 10);
  so__cli_free(&cli);

  /* Options and parameters before the job name, after it, and mixed. */
  ACCEPT("run", "--tasks", "7", "--workers", "3", "primes", "--to", "1_000", "-q");
  CU_ASSERT_STRING_EQUAL(cli.job->name, "primes");
  CU_ASSERT_EQUAL(cli.workers, 3);
  CU_ASSERT_EQUAL(param_int("tasks"), 7);
  CU_ASSERT_EQUAL(param_int("to"), 1000);
  CU_ASSERT_EQUAL(cli.cfg.quiet, 1);
  so__cli_free(&cli);

  ACCEPT("run", "--quiet", "sleep", "--ms=0", "--tasks=3", "-n", "2");
  CU_ASSERT_STRING_EQUAL(cli.job->name, "sleep");
  CU_ASSERT_EQUAL(param_int("ms"), 0);
  CU_ASSERT_EQUAL(param_int("tasks"), 3);
  CU_ASSERT_EQUAL(cli.workers, 2);
  CU_ASSERT_EQUAL(cli.cfg.quiet, 1);
  so__cli_free(&cli);

  /* The last of a repeated option wins. */
  ACCEPT("run", "pi", "--tasks", "5", "--tasks", "6", "-n", "1", "-n", "9");
  CU_ASSERT_EQUAL(param_int("tasks"), 6);
  CU_ASSERT_EQUAL(cli.workers, 9);
  so__cli_free(&cli);
}

static void test_run_engine_options(void) {
  ACCEPT("run", "noop", "--queue", "lifo");
  CU_ASSERT_EQUAL(cli.cfg.discipline, SO_QUEUE_LIFO);
  so__cli_free(&cli);
  ACCEPT("run", "--queue=priority", "noop");
  CU_ASSERT_EQUAL(cli.cfg.discipline, SO_QUEUE_PRIORITY);
  so__cli_free(&cli);
  ACCEPT("run", "noop", "--queue", "lifo", "--queue", "fifo");
  CU_ASSERT_EQUAL(cli.cfg.discipline, SO_QUEUE_FIFO);
  so__cli_free(&cli);

  ACCEPT("run", "noop", "--batch", "1");
  CU_ASSERT_EQUAL(cli.cfg.batch, 1);
  so__cli_free(&cli);
  ACCEPT("run", "noop", "--batch", "64", "--batch", "auto");
  CU_ASSERT_EQUAL(cli.cfg.batch, 0);
  so__cli_free(&cli);
  ACCEPT("run", "noop", "--batch=1e3", "--prefetch", "0", "--window", "16");
  CU_ASSERT_EQUAL(cli.cfg.batch, 1000);
  CU_ASSERT_EQUAL(cli.cfg.prefetch, 0);
  CU_ASSERT_EQUAL(cli.cfg.window, 16);
  so__cli_free(&cli);
  ACCEPT("run", "noop", "--prefetch=3");
  CU_ASSERT_EQUAL(cli.cfg.prefetch, 3);
  so__cli_free(&cli);
  /* Automatic is the default and has its own spelling; 0 means none. */
  ACCEPT("run", "noop");
  CU_ASSERT_EQUAL(cli.cfg.prefetch, SO_PREFETCH_AUTO);
  CU_ASSERT_EQUAL(cli.oversubscribe, 0);
  so__cli_free(&cli);
  ACCEPT("run", "noop", "--prefetch", "0", "--prefetch", "auto");
  CU_ASSERT_EQUAL(cli.cfg.prefetch, SO_PREFETCH_AUTO);
  so__cli_free(&cli);
  /* --schedule: unset is the job's own; the last given wins. */
  ACCEPT("run", "pi");
  CU_ASSERT_EQUAL(cli.cfg.schedule.kind, SO_SCHED_DEFAULT);
  so__cli_free(&cli);
  ACCEPT("run", "pi", "--schedule", "static", "--schedule=guided,4");
  CU_ASSERT(cli.cfg.schedule.kind == SO_SCHED_GUIDED && cli.cfg.schedule.chunk == 4);
  so__cli_free(&cli);
  ACCEPT("run", "--schedule", "auto", "pi");
  CU_ASSERT(cli.cfg.schedule.kind == SO_SCHED_AUTO && cli.cfg.schedule.chunk == 0);
  so__cli_free(&cli);
  /* --oversubscribe is a flag, before or after the job. */
  ACCEPT("run", "--oversubscribe", "noop", "-n", "9");
  CU_ASSERT_EQUAL(cli.oversubscribe, 1);
  CU_ASSERT_STRING_EQUAL(cli.job->name, "noop");
  so__cli_free(&cli);
  ACCEPT("run", "noop", "--oversubscribe");
  CU_ASSERT_EQUAL(cli.oversubscribe, 1);
  so__cli_free(&cli);

  ACCEPT("run", "noop", "--bind", "none");
  CU_ASSERT_EQUAL(cli.cfg.bind, SO_BIND_NONE);
  so__cli_free(&cli);
  ACCEPT("run", "--bind=pu", "noop");
  CU_ASSERT_EQUAL(cli.cfg.bind, SO_BIND_PU);
  so__cli_free(&cli);

  ACCEPT("run", "noop", "--json", "f");
  CU_ASSERT_PTR_NOT_NULL_FATAL(cli.json);
  CU_ASSERT_STRING_EQUAL(cli.json, "f");
  so__cli_free(&cli);
  ACCEPT("run", "--json=out/report.json", "noop");
  CU_ASSERT_STRING_EQUAL(cli.json, "out/report.json");
  so__cli_free(&cli);

  ACCEPT("run", "noop", "-q");
  CU_ASSERT_EQUAL(cli.cfg.quiet, 1);
  so__cli_free(&cli);

  /* A string parameter, and a value that looks like an option. */
  ACCEPT("run", "noop", "--trace", "-");
  CU_ASSERT_STRING_EQUAL(so__params_string(cli.params, "trace"), "-");
  so__cli_free(&cli);
}

static void test_help_forms(void) {
  ACCEPT("run", "pi", "--help");
  CU_ASSERT_EQUAL(cli.cmd, SO_CMD_RUN);
  CU_ASSERT_TRUE(cli.help);
  CU_ASSERT_PTR_NOT_NULL(cli.job);
  so__cli_free(&cli);
  ACCEPT("run", "-h", "primes");
  CU_ASSERT_TRUE(cli.help);
  CU_ASSERT_STRING_EQUAL(cli.job->name, "primes");
  so__cli_free(&cli);
  ACCEPT("run", "--help");
  CU_ASSERT_EQUAL(cli.cmd, SO_CMD_RUN);
  CU_ASSERT_TRUE(cli.help);
  CU_ASSERT_PTR_NULL(cli.job);
  so__cli_free(&cli);

  ACCEPT("--version");
  CU_ASSERT_EQUAL(cli.cmd, SO_CMD_VERSION);
  so__cli_free(&cli);
  ACCEPT("help");
  CU_ASSERT_EQUAL(cli.cmd, SO_CMD_HELP);
  so__cli_free(&cli);
  ACCEPT("--help");
  CU_ASSERT_EQUAL(cli.cmd, SO_CMD_HELP);
  so__cli_free(&cli);
  ACCEPT("-h");
  CU_ASSERT_EQUAL(cli.cmd, SO_CMD_HELP);
  so__cli_free(&cli);
  ACCEPT("jobs");
  CU_ASSERT_EQUAL(cli.cmd, SO_CMD_JOBS);
  so__cli_free(&cli);
}

/* topo parses its own arguments: they pass through untouched, even unknown ones. */
static void test_topo_passthrough(void) {
  ACCEPT("topo", "--foo", "-n", "x");
  CU_ASSERT_EQUAL(cli.cmd, SO_CMD_TOPO);
  CU_ASSERT_EQUAL_FATAL(cli.sub_argc, 3);
  CU_ASSERT_STRING_EQUAL(cli.sub_argv[0], "--foo");
  CU_ASSERT_STRING_EQUAL(cli.sub_argv[1], "-n");
  CU_ASSERT_STRING_EQUAL(cli.sub_argv[2], "x");
  so__cli_free(&cli);
  ACCEPT("topo");
  CU_ASSERT_EQUAL(cli.cmd, SO_CMD_TOPO);
  CU_ASSERT_EQUAL(cli.sub_argc, 0);
  so__cli_free(&cli);
}

/* --- Refused command lines --- */

static void test_bad_commands(void) {
  REJECT(WORDS(NULL), "command");
  REJECT(WORDS("frobnicate"), "'frobnicate'");
  REJECT(WORDS("Run", "pi"), "'Run'");
  REJECT(WORDS("jobs", "pi"), "'pi'");
  REJECT(WORDS("run"), "job");
  REJECT(WORDS("run", "-q"), "job");
}

static void test_bad_job(void) {
  REJECT(WORDS("run", "pie"), "'pie'", "pi", "primes", "sleep", "noop", "--job-lib FILE",
         "SCALEOUT_JOB_PATH");
  REJECT(WORDS("run", "pi", "noop"), "'noop'");
  REJECT(WORDS("run", "pi", "--foo", "1"), "--foo", "'pi'");
  REJECT(WORDS("run", "--foo=1", "pi"), "--foo", "'pi'");
  REJECT(WORDS("run", "pi", "--from", "3"), "--from"); /* primes' parameter, not pi's */
  REJECT(WORDS("run", "pi", "-x"), "'-x'");
  /* Words after ::: are the farm's; pi would ignore them. */
  REJECT(WORDS("run", "pi", "--samples", "1e6", ":::", "a", "b"), "'pi'", "':::'");
  REJECT(WORDS("run", "noop", ":::"), "'noop'", "':::'");
  ACCEPT("run", "--command", "echo {}", ":::", "a", "b");
  so__cli_free(&cli);
}

static void test_missing_values(void) {
  REJECT(WORDS("run", "pi", "--samples"), "'--samples'");
  REJECT(WORDS("run", "pi", "-n"), "'-n'");
  REJECT(WORDS("run", "pi", "--queue"), "'--queue'");
  REJECT(WORDS("run", "noop", "--json="), "--json");
}

static void test_bad_values(void) {
  REJECT(WORDS("run", "pi", "--tasks", "abc"), "--tasks", "'abc'");
  REJECT(WORDS("run", "pi", "--tasks", "-5"), "--tasks", "'-5'");
  REJECT(WORDS("run", "pi", "--tasks", "0"), "--tasks", "'0'");
  REJECT(WORDS("run", "pi", "--tasks="), "--tasks", "''");
  REJECT(WORDS("run", "pi", "--samples", "1.5"), "--samples", "'1.5'");
  REJECT(WORDS("run", "pi", "--samples", "1e30"), "--samples", "'1e30'");
  REJECT(WORDS("run", "pi", "--tasks", "0x10"), "--tasks", "'0x10'");
  REJECT(WORDS("run", "-n", "0x4", "pi"), "'0x4'");
  REJECT(WORDS("run", "-n", "0", "pi"), "'0'");
  REJECT(WORDS("run", "-n", "x", "pi"), "'x'");
  REJECT(WORDS("run", "pi", "--workers=-2"), "'-2'");
  REJECT(WORDS("run", "pi", "--queue", "x"), "--queue", "'x'");
  REJECT(WORDS("run", "pi", "--schedule", "bogus"), "unknown schedule 'bogus'", "static, dynamic");
  REJECT(WORDS("run", "pi", "--schedule", "dynamic,0"), "'dynamic,0'", "chunk size");
  REJECT(WORDS("run", "pi", "--schedule=guided,x"), "'guided,x'", "chunk size");
  REJECT(WORDS("run", "pi", "--schedule", "auto,2"), "'auto,2'", "no chunk size");
  REJECT(WORDS("run", "pi", "--queue", "FIFO"), "--queue", "'FIFO'");
  REJECT(WORDS("run", "pi", "--bind", "x"), "--bind", "'x'");
  REJECT(WORDS("run", "pi", "--batch", "0"), "--batch", "'0'");
  REJECT(WORDS("run", "pi", "--batch", "x"), "--batch", "'x'");
  REJECT(WORDS("run", "pi", "--prefetch", "-1"), "--prefetch", "'-1'");
  REJECT(WORDS("run", "pi", "--window", "0"), "--window", "'0'");
  REJECT(WORDS("run", "sleep", "--ms", "3600001"), "--ms", "'3600001'");
}

/* A bad value is reported even when the option comes before the job name. */
static void test_bad_before_job(void) {
  REJECT(WORDS("run", "--tasks", "abc", "pi"), "--tasks", "'abc'");
  REJECT(WORDS("run", "--queue", "x", "pi"), "'x'");
}

/* A job with a required parameter, found through our own lookup. */
static const so_param_def req_params[] = {
    {"input", SO_PARAM_STRING, NULL, "a required file", 1, 0},
    {"k", SO_PARAM_INT, "3", "an integer", 1, 9},
    {"verbose", SO_PARAM_FLAG, NULL, "say more", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};
static const so_job req_job = {SO_JOB_VERSION, .name = "needy", .summary = "needs --input", .params = req_params};
static const so_job *const req_jobs[] = {&req_job, NULL};
static const so_job *req_find(const char *name) {
  return strcmp(name, "needy") == 0 ? &req_job : NULL;
}

static int parse_needy(int argc, char **argv) {
  err[0] = 'x';
  return so__cli_parse(argc, argv, req_find, req_jobs, &cli, err, sizeof err);
}

/* A missing required parameter is an error naming it, except when only help was asked for. */
static void test_required_param(void) {
  char *missing[] = {"scaleout", "run", "needy", "--k", "4", NULL};
  CU_ASSERT_EQUAL(parse_needy(5, missing), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "--input"));
  so__cli_free(&cli);

  char *help[] = {"scaleout", "run", "needy", "--help", NULL};
  CU_ASSERT_EQUAL(parse_needy(4, help), 0);
  CU_ASSERT_TRUE(cli.help);
  so__cli_free(&cli);

  char *given[] = {"scaleout", "run", "--input=a.txt", "needy", NULL};
  CU_ASSERT_EQUAL_FATAL(parse_needy(4, given), 0);
  CU_ASSERT_STRING_EQUAL(so__params_string(cli.params, "input"), "a.txt");
  CU_ASSERT_EQUAL(so__params_int(cli.params, "k"), 3);
  so__cli_free(&cli);

  /* The unknown-job message lists the jobs of the table it was given. */
  char *unknown[] = {"scaleout", "run", "pi", NULL};
  CU_ASSERT_EQUAL(parse_needy(3, unknown), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "'pi'"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "needy"));
  so__cli_free(&cli);
}

/* The help of a job: a value without a default is required, a flag is neither, in both lists. */
static void test_param_help(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  so__cli_job_usage(f, &req_job, NULL);
  fputs("----\n", f);
  so__cli_jobs(f, req_jobs, NULL);
  fclose(f);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "--input TEXT         a required file (required)\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "--k N                an integer (default 3)\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "--verbose            say more\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "    --input          a required file (required)\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "    --verbose        say more\n"));
  CU_ASSERT_PTR_NULL(strstr(text, "say more ("));
  free(text);
}

/* A tiny error buffer truncates the message but never overflows (ASan watches). */
static void test_small_err_buffer(void) {
  char small[8];
  char *argv[] = {"scaleout", "run", "nosuchjob", NULL};
  CU_ASSERT_EQUAL(so__cli_parse(3, argv, so__builtin_find, so__builtin_jobs, &cli, small, sizeof small),
                  SO_EINVAL);
  CU_ASSERT_EQUAL(strlen(small), sizeof small - 1);
  so__cli_free(&cli);
  char one[1];
  CU_ASSERT_EQUAL(so__cli_parse(3, argv, so__builtin_find, so__builtin_jobs, &cli, one, sizeof one),
                  SO_EINVAL);
  CU_ASSERT_EQUAL(one[0], 0);
  so__cli_free(&cli);
}

/* What the plugin loader reads before parsing: --job-lib (both forms, the last wins, none after
 * :::) and the job name, the option's value not taken for it; and jobs --job-lib. */
static void test_plugin_args(void) {
  const char *lib, *job;
  char *a[] = {"scaleout", "run", "--job-lib", "./a.so", "-n", "2", "myjob", "--n", "5", NULL};
  CU_ASSERT_EQUAL(so__cli_plugin_args(9, a, so__builtin_jobs, &lib, &job), SO_PLUGIN_ARGS_RUN);
  CU_ASSERT_STRING_EQUAL(lib, "./a.so");
  CU_ASSERT_STRING_EQUAL(job, "myjob");
  char *b[] = {"scaleout", "run", "myjob", "--job-lib=x.so", "--job-lib", "y.so", ":::",
               "--job-lib", "z.so", NULL};
  CU_ASSERT_EQUAL(so__cli_plugin_args(9, b, so__builtin_jobs, &lib, &job), SO_PLUGIN_ARGS_RUN);
  CU_ASSERT_STRING_EQUAL(lib, "y.so");
  CU_ASSERT_STRING_EQUAL(job, "myjob");
  char *c[] = {"scaleout", "run", "pi", NULL};
  CU_ASSERT_EQUAL(so__cli_plugin_args(3, c, so__builtin_jobs, &lib, &job), SO_PLUGIN_ARGS_RUN);
  CU_ASSERT_PTR_NULL(lib);
  char *d[] = {"scaleout", "jobs", "--job-lib", "j.so", NULL};
  CU_ASSERT_EQUAL(so__cli_plugin_args(4, d, so__builtin_jobs, &lib, &job), SO_PLUGIN_ARGS_JOBS);
  CU_ASSERT_STRING_EQUAL(lib, "j.so");
  char *e[] = {"scaleout", "topo", "--job-lib", "j.so", NULL};
  CU_ASSERT_EQUAL(so__cli_plugin_args(4, e, so__builtin_jobs, &lib, &job), SO_PLUGIN_ARGS_NONE);

  /* The parser takes --job-lib as a run option, and jobs takes it alone. */
  ACCEPT("run", "--job-lib", "./a.so", "pi", "--samples", "1e6");
  CU_ASSERT_STRING_EQUAL(cli.job_lib, "./a.so");
  CU_ASSERT_STRING_EQUAL(cli.job->name, "pi");
  so__cli_free(&cli);
  ACCEPT("jobs", "--job-lib=b.so");
  CU_ASSERT_STRING_EQUAL(cli.job_lib, "b.so");
  so__cli_free(&cli);
  REJECT(WORDS("run", "pi", "--job-lib="), "--job-lib needs a file name");
  REJECT(WORDS("jobs", "--verbose"), "'--verbose'");
}

static int kind_run(so_ctx *ctx, const so_task *task, so_result *res) {
  return 0;
}

/* Job help names the kind of work: a map's input, reduction and schedule, pipeline stages with
 * their bounds, task types, plain tasks;
 * where the job came from; its default options. */
static void test_job_kind_help(void) {
  static const so_task_type types[] = {{"wash", kind_run}, {"dry", kind_run}, {NULL, NULL}};
  static const so_stage stages[] = {{"wash", 0}, {"dry", 4}, {NULL, 0}};
  const so_job typed = {SO_JOB_VERSION, .name = "squarecube", .summary = "s", .types = types};
  const so_job piped = {SO_JOB_VERSION, .name = "dishes", .summary = "d", .types = types,
                        .stages = stages, .options = "--grace 5"};
  static const so_map lines = {.input = SO_MAP_LINES, .reduce = SO_REDUCE_SUM,
                               .schedule = {SO_SCHED_DYNAMIC, 8}};
  const so_job mapped = {SO_JOB_VERSION, .name = "wc", .summary = "w", .map = &lines};
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  so__cli_job_usage(f, &typed, NULL);
  so__cli_job_usage(f, &piped, "/p/dishes.so");
  so__cli_job_usage(f, &req_job, NULL);
  so__cli_job_usage(f, &mapped, NULL);
  fclose(f);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "kind: task types: wash, dry\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "kind: pipeline, stages: wash -> dry (at most 4 in flight)\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "usage: scaleout run --job-lib /p/dishes.so dishes "));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "from: /p/dishes.so\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "from: built in\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "default options: --grace 5\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "kind: tasks (one run() per task)\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "  integer, 1 to 9\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "kind: data-parallel map over the lines of a text file, "
                                      "results reduced by sum; default schedule dynamic,8 "
                                      "(--schedule)\n"));
  free(text);
}

/* A job's so_job.options are its default engine options: applied by the same parser, before the
 * user's, which win; a bad one is refused naming the job. */
static const so_job opt_job = {SO_JOB_VERSION, .name = "opted", .summary = "s",
                               .options = "--grace 7  --batch=5\t--queue lifo"};
static const so_job bad_opt_job = {SO_JOB_VERSION, .name = "badopt", .summary = "s",
                                   .options = "--grace 3 --nosuch 1"};
static const so_job noval_opt_job = {SO_JOB_VERSION, .name = "noval", .summary = "s",
                                     .options = "--grace"};
static const so_job *const opt_jobs[] = {&opt_job, &bad_opt_job, &noval_opt_job, NULL};
static const so_job *opt_find(const char *name) {
  for (const so_job *const *j = opt_jobs; *j; j++)
    if (strcmp((*j)->name, name) == 0)
      return *j;
  return NULL;
}

static void test_job_options(void) {
  char *plain[] = {"scaleout", "run", "opted", NULL};
  CU_ASSERT_EQUAL_FATAL(so__cli_parse(3, plain, opt_find, opt_jobs, &cli, err, sizeof err), 0);
  CU_ASSERT_DOUBLE_EQUAL(cli.cfg.grace, 7, 1e-12);
  CU_ASSERT_EQUAL(cli.cfg.batch, 5);
  CU_ASSERT_EQUAL(cli.cfg.discipline, SO_QUEUE_LIFO);
  so__cli_free(&cli);

  char *user[] = {"scaleout", "run", "--grace", "1", "opted", "--batch", "auto", NULL};
  CU_ASSERT_EQUAL_FATAL(so__cli_parse(7, user, opt_find, opt_jobs, &cli, err, sizeof err), 0);
  CU_ASSERT_DOUBLE_EQUAL(cli.cfg.grace, 1, 1e-12);
  CU_ASSERT_EQUAL(cli.cfg.batch, 0);
  CU_ASSERT_EQUAL(cli.cfg.discipline, SO_QUEUE_LIFO);
  so__cli_free(&cli);

  char *bad[] = {"scaleout", "run", "badopt", NULL};
  CU_ASSERT_EQUAL(so__cli_parse(3, bad, opt_find, opt_jobs, &cli, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "job 'badopt' has '--nosuch' in its so_job.options"));
  so__cli_free(&cli);
  char *noval[] = {"scaleout", "run", "noval", NULL};
  CU_ASSERT_EQUAL(so__cli_parse(3, noval, opt_find, opt_jobs, &cli, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "job 'noval' gives '--grace' without a value"));
  so__cli_free(&cli);

  /* The farm's grace comes from its so_job.options, not from a special case in main.c. */
  ACCEPT("run", "--command", "true", ":::", "a");
  CU_ASSERT_DOUBLE_EQUAL(cli.cfg.grace, 10, 1e-12);
  so__cli_free(&cli);
  ACCEPT("run", "pi");
  CU_ASSERT_TRUE(cli.cfg.grace < 0);
  so__cli_free(&cli);
}

int main(void) {
  static const so_test_case cases[] = {
    {"a job's so_job.options apply first and the user's win", test_job_options},
    {"run pi takes the defaults", test_run_defaults},
    {"options before and after the job, --name=value, last wins", test_run_options},
    {"queue, batch, prefetch, window, bind, json, quiet", test_run_engine_options},
    {"help, version and jobs", test_help_forms},
    {"topo passes its arguments through", test_topo_passthrough},
    {"no command, unknown command, run without a job", test_bad_commands},
    {"unknown job lists the jobs; unknown options; extra words", test_bad_job},
    {"an option without its value", test_missing_values},
    {"bad values name the option and the value", test_bad_values},
    {"bad values before the job name", test_bad_before_job},
    {"job help: defaults, required values, flags", test_param_help},
    {"required job parameters, and help without them", test_required_param},
    {"a short error buffer is respected", test_small_err_buffer},
    {"--job-lib and the job name, read before parsing", test_plugin_args},
    {"job help: kind, origin, default options, ranges", test_job_kind_help},
    {NULL, NULL},
  };
  return so_test_run("options", cases);
}

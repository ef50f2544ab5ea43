/* Unit tests of the public parameter and report API (scaleout.h): building a job's parameters
 * from text with its bad inputs, reading answers by name and type, the exit status a job chose,
 * and the summary and JSON writers. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "scaleout/scaleout.h"
#include "so_test.h"

static const so_param_def api_params[] = {
    {"n", SO_PARAM_INT, "10", "a count from 1 to 1000", 1, 1000},
    {"rate", SO_PARAM_DOUBLE, "0.5", "a rate", 0, 1},
    {"name", SO_PARAM_STRING, NULL, "a required name", 1, 0},
    {"loud", SO_PARAM_FLAG, NULL, "a flag", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};
static const so_job api_job = {SO_JOB_VERSION, .name = "apijob", .summary = "s",
                               .params = api_params, .flags = SO_JOB_TAKES_ARGS};
static const so_job plain_job = {SO_JOB_VERSION, .name = "plain", .summary = "s",
                                 .params = api_params};

static void test_params_good(void) {
  so_params *p = so_params_new(&api_job);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  char err[256] = "";
  CU_ASSERT_EQUAL(so_params_set(p, "n", "1_000", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so_params_set(p, "rate", "2.5e-1", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so_params_set(p, "name", "x y", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so_params_set(p, "loud", "1", err, sizeof err), 0);
  CU_ASSERT_EQUAL(so_params_ready(p, err, sizeof err), 0);
  /* The words are copied: the caller's buffer may change afterwards. */
  char word[8] = "alpha";
  const char *words[] = {word, "beta"};
  CU_ASSERT_EQUAL(so_params_set_args(p, 2, words, err, sizeof err), 0);
  strcpy(word, "zzz");
  so_ctx c;
  so__ctx_init(&c, &api_job, p, SO_ROLE_MASTER, 0, 1);
  const char *const *argv;
  CU_ASSERT_EQUAL(so_ctx_args(&c, &argv), 2);
  CU_ASSERT_STRING_EQUAL(argv[0], "alpha");
  CU_ASSERT_STRING_EQUAL(argv[1], "beta");
  CU_ASSERT_EQUAL(so_ctx_int(&c, "n"), 1000);
  CU_ASSERT_DOUBLE_EQUAL(so_ctx_double(&c, "rate"), 0.25, 1e-15);
  CU_ASSERT_STRING_EQUAL(so_ctx_string(&c, "name"), "x y");
  CU_ASSERT_EQUAL(so_ctx_int(&c, "loud"), 1);
  /* Set again: the earlier copies are freed (the sanitizer build checks). */
  CU_ASSERT_EQUAL(so_params_set_args(p, 1, words, err, sizeof err), 0);
  so_params_free(p);
  so_params_free(NULL);
}

static void test_params_bad(void) {
  so_params *p = so_params_new(&api_job);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  char err[256] = "";
  /* Missing required: named. */
  CU_ASSERT_EQUAL(so_params_ready(p, err, sizeof err), SO_EINVAL);
  CU_ASSERT_STRING_EQUAL(err, "job 'apijob' needs --name");
  CU_ASSERT_EQUAL(so_params_set(p, "nosuch", "1", err, sizeof err), SO_EINVAL);
  CU_ASSERT_STRING_EQUAL(err, "job 'apijob' has no parameter --nosuch");
  CU_ASSERT_EQUAL(so_params_set(p, "n", "ten", err, sizeof err), SO_EINVAL);
  CU_ASSERT_STRING_EQUAL(err, "--n expects a whole number, not 'ten'");
  CU_ASSERT_EQUAL(so_params_set(p, "n", "1001", err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "--n is out of range: it must be from 1 to 1000"));
  CU_ASSERT_EQUAL(so_params_set(p, "rate", "0.5x", err, sizeof err), SO_EINVAL);
  CU_ASSERT_STRING_EQUAL(err, "--rate expects a number, not '0.5x'");
  CU_ASSERT_EQUAL(so_params_set(p, "loud", "yes", err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(so_params_set(p, NULL, "1", err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(so_params_set(p, "n", NULL, err, sizeof err), SO_EINVAL);
  /* A bad value keeps the one before. */
  so_ctx c;
  so__ctx_init(&c, &api_job, p, SO_ROLE_MASTER, 0, 1);
  CU_ASSERT_EQUAL(so_ctx_int(&c, "n"), 10);
  CU_ASSERT_EQUAL(so_params_set_args(p, -1, NULL, err, sizeof err), SO_EINVAL);
  CU_ASSERT_EQUAL(so_params_ready(NULL, err, sizeof err), SO_EINVAL);
  so_params_free(p);

  /* A job that does not read the ::: words refuses them. */
  p = so_params_new(&plain_job);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  const char *words[] = {"a"};
  CU_ASSERT_EQUAL(so_params_set_args(p, 1, words, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "job 'plain' takes no arguments after ':::'"));
  so_params_free(p);

  /* A job of another API major version gets no parameters. */
  so_job old = api_job;
  old.abi = 1;
  CU_ASSERT_PTR_NULL(so_params_new(&old));
}

/* A report whose answer a job's finish() filled through the public calls. */
static void make_report(so_report *rep, so_ctx *c) {
  memset(rep, 0, sizeof *rep);
  rep->tasks = 4;
  rep->nworkers = 0;
  rep->answer = so__answer_new();
  so__ctx_init(c, &plain_job, NULL, SO_ROLE_MASTER, 0, 1);
  c->answer = rep->answer;
  so_answer_int(c, "hits", 42);
  so_answer_double(c, "pi", 3.25);
  so_answer_string(c, "label", "four");
}

static void test_report_answers(void) {
  so_report rep;
  so_ctx c;
  make_report(&rep, &c);
  CU_ASSERT_EQUAL(so_report_answer_count(&rep), 3);
  CU_ASSERT_STRING_EQUAL(so_report_answer_name(&rep, 0), "hits");
  CU_ASSERT_STRING_EQUAL(so_report_answer_name(&rep, 2), "label");
  CU_ASSERT_PTR_NULL(so_report_answer_name(&rep, 3));
  CU_ASSERT_PTR_NULL(so_report_answer_name(&rep, -1));
  int64_t i = -7;
  double d = -7;
  const char *s = NULL;
  CU_ASSERT_EQUAL(so_report_answer_int(&rep, "hits", &i), 0);
  CU_ASSERT_EQUAL(i, 42);
  CU_ASSERT_EQUAL(so_report_answer_double(&rep, "pi", &d), 0);
  CU_ASSERT_DOUBLE_EQUAL(d, 3.25, 0);
  CU_ASSERT_EQUAL(so_report_answer_double(&rep, "hits", &d), 0); /* an int reads as a double */
  CU_ASSERT_DOUBLE_EQUAL(d, 42, 0);
  CU_ASSERT_EQUAL(so_report_answer_string(&rep, "label", &s), 0);
  CU_ASSERT_STRING_EQUAL(s, "four");
  /* Wrong type or unknown name: SO_EINVAL, *out untouched. */
  i = -7;
  CU_ASSERT_EQUAL(so_report_answer_int(&rep, "pi", &i), SO_EINVAL);
  CU_ASSERT_EQUAL(so_report_answer_int(&rep, "nosuch", &i), SO_EINVAL);
  CU_ASSERT_EQUAL(i, -7);
  CU_ASSERT_EQUAL(so_report_answer_string(&rep, "hits", &s), SO_EINVAL);
  CU_ASSERT_EQUAL(so_report_answer_double(&rep, "label", &d), SO_EINVAL);
  CU_ASSERT_EQUAL(so_report_exit(&rep), -1);
  so_ctx_set_exit(&c, 5);
  CU_ASSERT_EQUAL(so_report_exit(&rep), 5);
  so_ctx_set_exit(&c, 256); /* exit() could not pass it on: ignored, as a negative one */
  so_ctx_set_exit(&c, -1);
  CU_ASSERT_EQUAL(so_report_exit(&rep), 5);
  so_report_free(&rep);
  CU_ASSERT_EQUAL(so_report_answer_count(&rep), 0);
}

static void test_report_writers(void) {
  so_report rep;
  so_ctx c;
  make_report(&rep, &c);
  so_ctx_set_exit(&c, 3);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  so_report_print(f, &rep, &plain_job, NULL);
  fclose(f);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "hits = 42\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "plain: 4 tasks"));
  free(text);

  f = open_memstream(&text, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_EQUAL(so_report_json(f, &rep, &plain_job, NULL, NULL), 0);
  fclose(f);
  CU_ASSERT_EQUAL(text[len - 1], '\n');
  json_error_t jerr;
  json_t *root = json_loads(text, 0, &jerr);
  CU_ASSERT_PTR_NOT_NULL_FATAL(root);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(root, "answer"), "hits")), 42);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(root, "exit_status")), 3);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(root, "job")), "plain");
  json_decref(root);
  free(text);
  so_report_free(&rep);
}

int main(void) {
  static const so_test_case cases[] = {
    {"parameters from text, ::: words copied", test_params_good},
    {"unknown name, bad number, out of range, missing required", test_params_bad},
    {"answers read by name and type, exit status", test_report_answers},
    {"summary and JSON writers", test_report_writers},
    {NULL, NULL},
  };
  return so_test_run("api", cases);
}

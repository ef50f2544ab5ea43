/* The public report API (so_report_*): reading the answer's named figures and the exit status a
 * job chose, and writing the summary and the JSON report that report.c builds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "report.h"

static const so__answer_item *find(const so_report *rep, const char *name) {
  for (size_t i = 0; rep && rep->answer && name && i < rep->answer->n; i++)
    if (strcmp(rep->answer->items[i].name, name) == 0)
      return &rep->answer->items[i];
  return NULL;
}

int so_report_answer_count(const so_report *rep) {
  return rep && rep->answer ? (int)rep->answer->n : 0;
}

const char *so_report_answer_name(const so_report *rep, int i) {
  if (!rep || !rep->answer || i < 0 || (size_t)i >= rep->answer->n)
    return NULL;
  return rep->answer->items[i].name;
}

int so_report_answer_int(const so_report *rep, const char *name, int64_t *out) {
  const so__answer_item *it = find(rep, name);
  if (!it || it->kind != SO_ANSWER_INT)
    return SO_EINVAL;
  *out = it->i;
  return 0;
}

int so_report_answer_double(const so_report *rep, const char *name, double *out) {
  const so__answer_item *it = find(rep, name);
  if (!it || it->kind == SO_ANSWER_STRING)
    return SO_EINVAL;
  /* An integer figure reads as a double too: a caller that wants a number needs no type test. */
  *out = it->kind == SO_ANSWER_INT ? (double)it->i : it->d;
  return 0;
}

int so_report_answer_string(const so_report *rep, const char *name, const char **out) {
  const so__answer_item *it = find(rep, name);
  if (!it || it->kind != SO_ANSWER_STRING)
    return SO_EINVAL;
  *out = it->s;
  return 0;
}

int so_report_exit(const so_report *rep) {
  return rep && rep->answer && rep->answer->has_exit ? rep->answer->exit_status : -1;
}

void so_report_print(FILE *out, const so_report *rep, const so_job *job, const so_config *cfg) {
  so_config def;
  if (!cfg) {
    so_config_default(&def);
    cfg = &def;
  }
  so__report_print(out, rep, job, cfg);
}

int so_report_json(FILE *out, const so_report *rep, const so_job *job, const so_params *params,
                   const so_config *cfg) {
  so_config def;
  if (!cfg) {
    so_config_default(&def);
    cfg = &def;
  }
  char *text = so__report_json_text(rep, job, params, cfg);
  if (!text)
    return SO_ENOMEM;
  int ok = fputs(text, out) >= 0 && fputc('\n', out) != EOF;
  free(text);
  return ok ? 0 : SO_EIO;
}

/* Helpers the job tests share: a parameter store from name/value pairs, and reading a figure
 * of a job's answer by name. */
#ifndef SO_JOBTEST_H
#define SO_JOBTEST_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctx.h"
#include "params.h"

/* Makes a parameter store for job from "name", "value" pairs ending in NULL; NULL on error. */
static inline so_params *params_of(const so_job *job, ...) {
  so_params *p = so__params_new(job);
  if (!p)
    return NULL;
  va_list ap;
  va_start(ap, job);
  const char *name;
  while ((name = va_arg(ap, const char *)) != NULL) {
    const char *value = va_arg(ap, const char *);
    char err[256];
    if (so__params_set(p, name, value, err, sizeof err)) {
      fprintf(stderr, "test: %s\n", err);
      so__params_free(p);
      p = NULL;
      break;
    }
  }
  va_end(ap);
  return p;
}

static inline const so__answer_item *answer_get(const so_answer *a, const char *name) {
  for (size_t i = 0; a && i < a->n; i++)
    if (strcmp(a->items[i].name, name) == 0)
      return &a->items[i];
  return NULL;
}

/* The integer figure `name`, or INT64_MIN when it is missing or not an integer. */
static inline int64_t answer_int(const so_answer *a, const char *name) {
  const so__answer_item *it = answer_get(a, name);
  return it && it->kind == SO_ANSWER_INT ? it->i : INT64_MIN;
}

#endif

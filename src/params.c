/* Strict number parsing and the typed store of a job's parameter values. */
#include "params.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchjob.h"
#include "error.h"

typedef struct so__param_value {
  const so_param_def *def;
  char *text; /* what the user typed (or the default); owned */
  int64_t i;
  double d;
  int given;
} so__param_value;

struct so_params {
  const so_job *job;
  size_t n;
  so__param_value *v;
  int argc;                /* words after ":::" */
  const char *const *argv; /* not owned (the program's argv), unless they are owned_args */
  char **owned_args;       /* so__params_copy_args: the copies argv points to, owned_argc */
  int owned_argc;
};

/* Copies text without '_' separators into out; fails on a separator at either end or doubled. */
static int strip_separators(const char *text, char *out, size_t outlen) {
  size_t j = 0;
  char prev = 0;
  for (const char *p = text; *p; p++) {
    if (*p == '_') {
      if (!isdigit((unsigned char)prev) || !isdigit((unsigned char)p[1]))
        return SO_EINVAL;
    } else {
      if (j + 1 >= outlen)
        return SO_EINVAL;
      out[j++] = *p;
    }
    prev = *p;
  }
  out[j] = 0;
  return j ? 0 : SO_EINVAL;
}

int so__parse_int(const char *text, int64_t *out) {
  char s[128];
  if (!text || strip_separators(text, s, sizeof s))
    return SO_EINVAL;
  if (isspace((unsigned char)s[0]))
    return SO_EINVAL;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (*end == 0) {
    if (errno == ERANGE)
      return SO_EINVAL;
    *out = v;
    return 0;
  }
  /* Not a plain integer: accept scientific forms whose value is a whole number ("1e9", "2.5e3"). */
  double d;
  if (so__parse_double(s, &d))
    return SO_EINVAL;
  if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
    return SO_EINVAL;
  *out = (int64_t)d;
  return 0;
}

int so__parse_double(const char *text, double *out) {
  char s[128];
  if (!text || strip_separators(text, s, sizeof s))
    return SO_EINVAL;
  /* strtod also takes hexadecimal ("0x10", "0x1p4"), leading blanks, "nan" and "inf": allow only
   * what a plain decimal number is written with, so those never reach it. */
  if (s[strspn(s, "0123456789+-.eE")] != 0)
    return SO_EINVAL;
  errno = 0;
  char *end = NULL;
  double d = strtod(s, &end);
  if (end == s || *end != 0 || errno == ERANGE || !isfinite(d))
    return SO_EINVAL;
  *out = d;
  return 0;
}

static so__param_value *lookup(const so_params *p, const char *name) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->v[i].def->name, name) == 0)
      return &p->v[i];
  return NULL;
}

/* True when text is written as a plain decimal number whose value is beyond a double
 * (1e400): out of range rather than not a number. */
static int overflows_double(const char *text) {
  char s[128];
  if (!text || strip_separators(text, s, sizeof s) || s[strspn(s, "0123456789+-.eE")] != 0)
    return 0;
  errno = 0;
  char *end = NULL;
  double d = strtod(s, &end);
  return end != s && *end == 0 && errno == ERANGE && isinf(d);
}

/* A double bound of an integer parameter as an int64_t, clamped to the type's range: ranges are
 * checked in integers, since a double cannot tell 9e18 from 9e18 + 1. */
static int64_t int_bound(double b, int upper) {
  if (b >= 9223372036854775807.0)
    return INT64_MAX;
  if (b <= -9223372036854775808.0)
    return INT64_MIN;
  return (int64_t)(upper ? floor(b) : ceil(b));
}

/* The range of an integer parameter, as an error message. */
static int int_range_error(const so_param_def *def, const char *text, char *err, size_t errlen) {
  int bounded = def->min <= def->max;
  snprintf(err, errlen, "--%s is out of range: it must be from %lld to %lld, not '%s'", def->name,
           (long long)(bounded ? int_bound(def->min, 0) : INT64_MIN),
           (long long)(bounded ? int_bound(def->max, 1) : INT64_MAX), text);
  return SO_EINVAL;
}

static int assign(so__param_value *v, const char *text, char *err, size_t errlen) {
  const so_param_def *def = v->def;
  int64_t i = 0;
  double d = 0;
  if (def->type == SO_PARAM_FLAG) {
    if (strcmp(text, "0") && strcmp(text, "1")) {
      snprintf(err, errlen, "--%s takes no value", def->name);
      return SO_EINVAL;
    }
    i = text[0] == '1';
    d = (double)i;
  } else if (def->type == SO_PARAM_INT) {
    if (so__parse_int(text, &i)) {
      /* A whole number all the same, only too large for 64 bits: say so, with the range. */
      if ((so__parse_double(text, &d) == 0 && d == floor(d)) || overflows_double(text))
        return int_range_error(def, text, err, errlen);
      snprintf(err, errlen, "--%s expects a whole number, not '%s'", def->name, text);
      return SO_EINVAL;
    }
    if (def->min <= def->max && (i < int_bound(def->min, 0) || i > int_bound(def->max, 1)))
      return int_range_error(def, text, err, errlen);
    d = (double)i;
  } else if (def->type == SO_PARAM_DOUBLE) {
    if (so__parse_double(text, &d) && !overflows_double(text)) {
      snprintf(err, errlen, "--%s expects a number, not '%s'", def->name, text);
      return SO_EINVAL;
    }
    if (overflows_double(text) || (def->min <= def->max && (d < def->min || d > def->max))) {
      if (def->min <= def->max)
        snprintf(err, errlen, "--%s is out of range: it must be from %.15g to %.15g, not '%s'",
                 def->name, def->min, def->max, text);
      else
        snprintf(err, errlen, "--%s is out of range: it must be a finite number, not '%s'",
                 def->name, text);
      return SO_EINVAL;
    }
  }
  char *copy = strdup(text);
  if (!copy) {
    snprintf(err, errlen, "out of memory");
    return SO_ENOMEM;
  }
  free(v->text);
  v->text = copy;
  v->i = i;
  v->d = d;
  return 0;
}

so_params *so__params_new(const so_job *job) {
  so_params *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->job = job;
  while (job->params && job->params[p->n].name)
    p->n++;
  p->v = calloc(p->n ? p->n : 1, sizeof *p->v);
  if (!p->v) {
    free(p);
    return NULL;
  }
  for (size_t i = 0; i < p->n; i++) {
    p->v[i].def = &job->params[i];
    char err[256];
    const char *defval = job->params[i].defval;
    if (!defval && job->params[i].type == SO_PARAM_FLAG)
      defval = "0";
    char named[SO_PARAM_OUTPUT_MAX];
    if (defval && job->params[i].type == SO_PARAM_OUTPUT) {
      if (so__params_output_default(&job->params[i], named, sizeof named) != 0) {
        so__errorf("job '%s': the default of --%s is too long with the batch job's id",
                   job->name, job->params[i].name);
        so__params_free(p);
        return NULL;
      }
      defval = named;
    }
    if (defval && assign(&p->v[i], defval, err, sizeof err)) {
      /* A default that does not parse is the job author's bug; say so once and fail. */
      so__errorf("job '%s': default of %s", job->name, err);
      so__params_free(p);
      return NULL;
    }
  }
  return p;
}

void so__params_free(so_params *p) {
  if (!p)
    return;
  for (size_t i = 0; i < p->n; i++)
    free(p->v[i].text);
  free(p->v);
  for (int i = 0; p->owned_args && i < p->owned_argc; i++)
    free(p->owned_args[i]);
  free(p->owned_args);
  free(p);
}

int so__params_set(so_params *p, const char *name, const char *text, char *err, size_t errlen) {
  so__param_value *v = lookup(p, name);
  if (!v) {
    snprintf(err, errlen, "job '%s' has no parameter --%s", p->job->name, name);
    return SO_EINVAL;
  }
  int rc = assign(v, text, err, errlen);
  if (rc == 0)
    v->given = 1;
  return rc;
}

int so__params_check(const so_params *p, char *err, size_t errlen) {
  for (size_t i = 0; i < p->n; i++)
    if (!p->v[i].text) {
      snprintf(err, errlen, "job '%s' needs --%s", p->job->name, p->v[i].def->name);
      return SO_EINVAL;
    }
  return 0;
}

const so_param_def *so__params_find(const so_params *p, const char *name) {
  so__param_value *v = lookup(p, name);
  return v ? v->def : NULL;
}

static so__param_value *typed(const so_params *p, const char *name, so_param_type type) {
  so__param_value *v = lookup(p, name);
  if (!v || v->def->type != type) {
    so__errorf("job '%s' read parameter '%s' with the wrong name or type", p->job->name, name);
    return NULL;
  }
  return v;
}

int64_t so__params_int(const so_params *p, const char *name) {
  so__param_value *v = lookup(p, name);
  if (v && v->def->type == SO_PARAM_FLAG)
    return v->i;
  v = typed(p, name, SO_PARAM_INT);
  return v ? v->i : 0;
}

void so__params_set_args(so_params *p, int argc, const char *const *argv) {
  p->argc = argc;
  p->argv = argv;
}

int so__params_copy_args(so_params *p, int argc, const char *const *argv) {
  char **copy = calloc((size_t)argc + 1, sizeof *copy);
  if (!copy)
    return SO_ENOMEM;
  for (int i = 0; i < argc; i++) {
    if (!(copy[i] = strdup(argv[i] ? argv[i] : ""))) {
      while (i-- > 0)
        free(copy[i]);
      free(copy);
      return SO_ENOMEM;
    }
  }
  for (int i = 0; p->owned_args && i < p->owned_argc; i++)
    free(p->owned_args[i]);
  free(p->owned_args);
  p->owned_args = copy;
  p->owned_argc = argc;
  p->argc = argc;
  p->argv = (const char *const *)copy;
  return 0;
}

int so__params_args(const so_params *p, const char *const **argv) {
  *argv = p->argv;
  return p->argc;
}

double so__params_double(const so_params *p, const char *name) {
  so__param_value *v = typed(p, name, SO_PARAM_DOUBLE);
  return v ? v->d : 0.0;
}

const char *so__params_string(const so_params *p, const char *name) {
  so__param_value *v = lookup(p, name);
  if (v && v->def->type == SO_PARAM_OUTPUT)
    return v->text;
  v = typed(p, name, SO_PARAM_STRING);
  return v ? v->text : NULL;
}

int so__params_output_default(const so_param_def *def, char *buf, size_t len) {
  so__batch_job bj;
  so__batch_job_get(&bj);
  return so__batch_output_name(def->defval, &bj, buf, len);
}

const so_job *so__params_job(const so_params *p) { return p->job; }

const char *so__params_text(const so_params *p, const char *name) {
  so__param_value *v = lookup(p, name);
  return v ? v->text : NULL;
}

size_t so__params_count(const so_params *p) { return p->n; }

const so_param_def *so__params_def(const so_params *p, size_t i) {
  return i < p->n ? p->v[i].def : NULL;
}

/* Strict number parsing and the store of a job's parameter values. */
#ifndef SO_PARAMS_H
#define SO_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "scaleout/scaleout.h"

/* Parses a whole string as an integer: decimal, with optional '_' separators ("1_000_000") or an
 * exact power-of-ten form ("1e9", "2.5e3"). Returns 0, or SO_EINVAL for anything else (empty,
 * trailing characters, overflow, a fraction). Never prints. */
int so__parse_int(const char *text, int64_t *out);

/* Parses a whole string as a finite double. Returns 0 or SO_EINVAL. Never prints. */
int so__parse_double(const char *text, double *out);

/* Creates a store holding the defaults of the job's parameters. Returns NULL when out of memory.
 * Free it with so__params_free (which accepts NULL). */
so_params *so__params_new(const so_job *job);
void so__params_free(so_params *p);

/* Sets one parameter from its text, checking type and range. On error, writes a one-line
 * message naming the parameter and the problem into err and returns SO_EINVAL; an unknown name
 * also returns SO_EINVAL. */
int so__params_set(so_params *p, const char *name, const char *text, char *err, size_t errlen);

/* Checks that every required parameter (default NULL) was given. Same error contract. */
int so__params_check(const so_params *p, char *err, size_t errlen);

/* Looks up a parameter's definition; NULL when the job has no such parameter. */
const so_param_def *so__params_find(const so_params *p, const char *name);

/* Typed reads, used by so_ctx_int() and friends. A wrong name or type aborts the job author's
 * mistake loudly: it prints and returns 0 / NULL. */
int64_t so__params_int(const so_params *p, const char *name);
double so__params_double(const so_params *p, const char *name);
const char *so__params_string(const so_params *p, const char *name);

/* The default of an output parameter (SO_PARAM_OUTPUT) as this process uses it: def->defval with
 * the batch job's id when the environment names one (batchjob.h), written into buf. Returns 0,
 * or SO_EINVAL when it does not fit in len. */
#define SO_PARAM_OUTPUT_MAX 4096
int so__params_output_default(const so_param_def *def, char *buf, size_t len);

/* The job the store belongs to, and its text value of a parameter (for reports). */
const so_job *so__params_job(const so_params *p);
const char *so__params_text(const so_params *p, const char *name);

/* The words after ":::" (not copied: they must outlive the store). */
void so__params_set_args(so_params *p, int argc, const char *const *argv);
/* The same, copied into the store (for so_params_set_args, whose caller's strings may not last).
 * Returns 0 or SO_ENOMEM (the store keeps its previous words). */
int so__params_copy_args(so_params *p, int argc, const char *const *argv);
int so__params_args(const so_params *p, const char *const **argv);

/* Iteration over the parameters in definition order, for reports and help. */
size_t so__params_count(const so_params *p);
const so_param_def *so__params_def(const so_params *p, size_t i);

#endif

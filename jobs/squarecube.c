/* The squarecube job: squares and cubes of a range, two task types side by side (task
 * parallelism): task 2k squares from + k, task 2k + 1 cubes it, each with its own run(). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs_list.h"

enum { SQ_ENOMEM = 1, SQ_ERESULT }; /* job-specific failure codes */
enum { SQ_SQUARE = 0, SQ_CUBE = 1 }; /* the task types */

/* Cubes up to 50,000^3 and their sum (about n^4 / 4) stay below 2^63. */
static const so_param_def sq_params[] = {
    {"from", SO_PARAM_INT, "1", "first number", 0, 50000},
    {"to", SO_PARAM_INT, "100", "last number (inclusive)", 0, 50000},
    {"list", SO_PARAM_FLAG, "0", "also print every square and cube, in order", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

typedef struct sq_state {
  int64_t from, n;
  int64_t *vals;       /* master: 2n results, square and cube of each number, by task id */
  int64_t sum[2];
  uint64_t merged[2];
} sq_state;

static int sq_check(so_ctx *ctx) {
  int64_t from = so_ctx_int(ctx, "from"), to = so_ctx_int(ctx, "to");
  if (to < from) {
    so_ctx_errorf(ctx, "--to %" PRId64 " is below --from %" PRId64, to, from);
    return SO_EINVAL;
  }
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    so_ctx_set_total(ctx, (uint64_t)(2 * (to - from + 1)));
  return 0;
}

static int sq_init(so_ctx *ctx) {
  sq_state *s = calloc(1, sizeof *s);
  if (!s) {
    so_ctx_errorf(ctx, "out of memory");
    return SQ_ENOMEM;
  }
  so_ctx_set_state(ctx, s);
  s->from = so_ctx_int(ctx, "from");
  s->n = so_ctx_int(ctx, "to") - s->from + 1;
  if (so_ctx_role(ctx) == SO_ROLE_MASTER && so_ctx_int(ctx, "list") &&
      !(s->vals = calloc((size_t)(s->n > 0 ? 2 * s->n : 1), sizeof *s->vals))) {
    so_ctx_errorf(ctx, "out of memory for %" PRId64 " results", 2 * s->n);
    return SQ_ENOMEM;
  }
  return sq_check(ctx);
}

static int sq_next(so_ctx *ctx, so_task_out *task) {
  const sq_state *s = so_ctx_state(ctx);
  if (task->id >= (uint64_t)(2 * s->n))
    return 0;
  task->type = task->id % 2 ? SQ_CUBE : SQ_SQUARE;
  return 1;
}

static int64_t number(const sq_state *s, const so_task *task) {
  return s->from + (int64_t)(task->id / 2);
}

static int sq_square(so_ctx *ctx, const so_task *task, so_result *res) {
  int64_t x = number(so_ctx_state(ctx), task), v = x * x;
  return so_result_write(res, &v, sizeof v) ? SQ_ENOMEM : 0;
}

static int sq_cube(so_ctx *ctx, const so_task *task, so_result *res) {
  int64_t x = number(so_ctx_state(ctx), task), v = x * x * x;
  return so_result_write(res, &v, sizeof v) ? SQ_ENOMEM : 0;
}

static int sq_merge(so_ctx *ctx, const so_task_result *res) {
  sq_state *s = so_ctx_state(ctx);
  int64_t v;
  if (res->status != 0)
    return 0; /* counted by the engine; the sums then lack it */
  if (res->len != sizeof v || res->type > SQ_CUBE || res->type != res->id % 2) {
    so_ctx_errorf(ctx, "task %" PRIu64 " (type %u) sent a %zu-byte result", res->id,
                  (unsigned)res->type, res->len);
    return SQ_ERESULT;
  }
  memcpy(&v, res->data, sizeof v);
  s->sum[res->type] += v;
  s->merged[res->type]++;
  if (s->vals)
    s->vals[res->id] = v;
  return 0;
}

/* "1 4 9 ..." of one type, in order. */
static char *sq_list(const sq_state *s, int type) {
  size_t cap = (size_t)s->n * 21 + 1, off = 0;
  char *text = malloc(cap);
  if (!text)
    return NULL;
  text[0] = 0;
  for (int64_t k = 0; k < s->n; k++)
    off += (size_t)snprintf(text + off, cap - off, "%s%" PRId64, k ? " " : "",
                            s->vals[2 * k + type]);
  return text;
}

static int sq_finish(so_ctx *ctx) {
  const sq_state *s = so_ctx_state(ctx);
  so_answer_int(ctx, "numbers", s->n);
  so_answer_int(ctx, "sum_squares", s->sum[SQ_SQUARE]);
  so_answer_int(ctx, "sum_cubes", s->sum[SQ_CUBE]);
  if (s->vals) {
    for (int type = SQ_SQUARE; type <= SQ_CUBE; type++) {
      char *text = sq_list(s, type);
      if (!text) {
        so_ctx_errorf(ctx, "out of memory");
        return SQ_ENOMEM;
      }
      so_answer_string(ctx, type == SQ_SQUARE ? "squares" : "cubes", text);
      free(text);
    }
  }
  return 0;
}

static void sq_fini(so_ctx *ctx) {
  sq_state *s = so_ctx_state(ctx);
  if (s)
    free(s->vals);
  free(s);
  so_ctx_set_state(ctx, NULL);
}

static const so_task_type sq_types[] = {
    {"square", sq_square},
    {"cube", sq_cube},
    {NULL, NULL},
};

const so_job so_job_squarecube = {
    SO_JOB_VERSION,
    .name = "squarecube",
    .summary = "squares and cubes of --from..--to as two task types side by side",
    .params = sq_params,
    .check = sq_check,
    .init = sq_init,
    .next = sq_next,
    .merge = sq_merge,
    .finish = sq_finish,
    .fini = sq_fini,
    .types = sq_types,
};

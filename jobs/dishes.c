/* The dishes job: a two-stage pipeline, washing then drying, where drying is the slower stage and
 * the rack between them holds --rack dishes: once it is full the washers are held back
 * (back-pressure), which the report's stage line shows. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs_list.h"

enum { DISH_ENOMEM = 1, DISH_ECLOCK, DISH_ERESULT }; /* job-specific failure codes */
enum { DISH_WASH = 0, DISH_DRY = 1 };                 /* the stages, and task types */

static const so_param_def dish_params[] = {
    {"dishes", SO_PARAM_INT, "40", "dishes to wash and dry", 1, 1e6},
    {"wash-ms", SO_PARAM_INT, "2", "milliseconds to wash one dish", 0, 60000},
    {"dry-ms", SO_PARAM_INT, "5", "milliseconds to dry one dish", 0, 60000},
    {"rack", SO_PARAM_INT, "3", "dishes the rack holds between washing and drying", 1, 1e6},
    {NULL, 0, NULL, NULL, 0, 0},
};

/* One dish as it travels: each stage's result is the next stage's task. */
typedef struct dish {
  uint32_t number;
  uint32_t washed, dried; /* 1 once done */
  int32_t washer;         /* rank that washed it */
} dish;

typedef struct dish_state {
  uint32_t dishes;
  int64_t wash_ms, dry_ms;
  unsigned char *seen; /* master: times each dish came out dry */
  uint64_t done, twice, checksum;
} dish_state;

/* The rack's size is a parameter; the engine reads the stage table after init(). */
static so_stage dish_stages[] = {{"wash", 0}, {"dry", 3}, {NULL, 0}};

static int dish_check(so_ctx *ctx) {
  if (so_ctx_role(ctx) == SO_ROLE_MASTER) {
    so_ctx_set_total(ctx, (uint64_t)so_ctx_int(ctx, "dishes"));
    dish_stages[DISH_DRY].capacity = (uint32_t)so_ctx_int(ctx, "rack");
  }
  return 0;
}

static int dish_init(so_ctx *ctx) {
  dish_state *s = calloc(1, sizeof *s);
  if (!s) {
    so_ctx_errorf(ctx, "out of memory");
    return DISH_ENOMEM;
  }
  so_ctx_set_state(ctx, s);
  s->dishes = (uint32_t)so_ctx_int(ctx, "dishes");
  s->wash_ms = so_ctx_int(ctx, "wash-ms");
  s->dry_ms = so_ctx_int(ctx, "dry-ms");
  if (so_ctx_role(ctx) == SO_ROLE_MASTER && !(s->seen = calloc(s->dishes, 1))) {
    so_ctx_errorf(ctx, "out of memory for %u dishes", (unsigned)s->dishes);
    return DISH_ENOMEM;
  }
  return dish_check(ctx);
}

static int dish_next(so_ctx *ctx, so_task_out *task) {
  const dish_state *s = so_ctx_state(ctx);
  if (task->id >= s->dishes)
    return 0;
  dish d = {.number = (uint32_t)task->id, .washer = -1};
  return so_task_set_data(ctx, task, &d, sizeof d) ? DISH_ENOMEM : 1;
}

static int wait_ms(so_ctx *ctx, int64_t ms) {
  struct timespec left = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&left, &left) != 0)
    if (errno != EINTR) {
      so_ctx_errorf(ctx, "nanosleep failed: %s", strerror(errno));
      return DISH_ECLOCK;
    }
  return 0;
}

/* Reads the dish a task carries, checking it has been through exactly the stages before. */
static int take_dish(so_ctx *ctx, const so_task *task, dish *d, uint32_t washed) {
  if (task->len != sizeof *d) {
    so_ctx_errorf(ctx, "task %" PRIu64 " carries %zu bytes, not a dish", task->id, task->len);
    return DISH_ERESULT;
  }
  memcpy(d, task->data, sizeof *d);
  if (d->washed != washed || d->dried) {
    so_ctx_errorf(ctx, "dish %u arrived at the wrong stage", (unsigned)d->number);
    return DISH_ERESULT;
  }
  return 0;
}

static int dish_wash(so_ctx *ctx, const so_task *task, so_result *res) {
  const dish_state *s = so_ctx_state(ctx);
  dish d;
  int rc = take_dish(ctx, task, &d, 0);
  if (rc || (rc = wait_ms(ctx, s->wash_ms)) != 0)
    return rc;
  d.washed = 1;
  d.washer = so_ctx_rank(ctx);
  return so_result_write(res, &d, sizeof d) ? DISH_ENOMEM : 0;
}

static int dish_dry(so_ctx *ctx, const so_task *task, so_result *res) {
  const dish_state *s = so_ctx_state(ctx);
  dish d;
  int rc = take_dish(ctx, task, &d, 1);
  if (rc || (rc = wait_ms(ctx, s->dry_ms)) != 0)
    return rc;
  d.dried = 1;
  return so_result_write(res, &d, sizeof d) ? DISH_ENOMEM : 0;
}

static int dish_merge(so_ctx *ctx, const so_task_result *res) {
  dish_state *s = so_ctx_state(ctx);
  dish d;
  if (res->status != 0)
    return 0; /* a broken dish: counted by the engine as a failed task */
  if (res->len != sizeof d || res->type != DISH_DRY) {
    so_ctx_errorf(ctx, "task %" PRIu64 " left the pipeline from stage %u with %zu bytes",
                  res->id, (unsigned)res->type, res->len);
    return DISH_ERESULT;
  }
  memcpy(&d, res->data, sizeof d);
  if (d.number >= s->dishes || !d.washed || !d.dried) {
    so_ctx_errorf(ctx, "dish %u came out unwashed or wet", (unsigned)d.number);
    return DISH_ERESULT;
  }
  s->twice += s->seen[d.number]++ > 0;
  s->done++;
  s->checksum += d.number;
  return 0;
}

static int dish_finish(so_ctx *ctx) {
  const dish_state *s = so_ctx_state(ctx);
  uint64_t missing = 0;
  for (uint32_t i = 0; i < s->dishes; i++)
    missing += !s->seen[i];
  so_answer_int(ctx, "dishes", (int64_t)s->done);
  so_answer_int(ctx, "checksum", (int64_t)s->checksum); /* the sum of the dish numbers */
  so_answer_int(ctx, "missing", (int64_t)missing);
  so_answer_int(ctx, "twice", (int64_t)s->twice);
  return 0;
}

static void dish_fini(so_ctx *ctx) {
  dish_state *s = so_ctx_state(ctx);
  if (s)
    free(s->seen);
  free(s);
  so_ctx_set_state(ctx, NULL);
}

static const so_task_type dish_types[] = {
    {"wash", dish_wash},
    {"dry", dish_dry},
    {NULL, NULL},
};

const so_job so_job_dishes = {
    SO_JOB_VERSION,
    .name = "dishes",
    .summary = "a two-stage pipeline: wash then dry (slower), with a bounded rack between",
    .params = dish_params,
    .check = dish_check,
    .init = dish_init,
    .next = dish_next,
    .merge = dish_merge,
    .finish = dish_finish,
    .fini = dish_fini,
    .types = dish_types,
    .stages = dish_stages,
};

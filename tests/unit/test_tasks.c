/* Task parallelism on master and worker threads over the in-process transport: task types with
 * their own batch statistics, the type reaching merge(), SO_NEXT_WAIT, tasks submitted with
 * named dependencies (order, cycles, unknown names, failed tasks' dependents) and pipelines with
 * bounded stages. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"
#include "engine_harness.h"

static void sleep_us(unsigned us) {
  struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* Runs fn with stderr going to a buffer, so the messages can be checked. */
static char captured[8192];
static int run_captured(const so_job *job, int nworkers, const so_config *cfg, so_report *rep) {
  fflush(stderr);
  char path[] = "/tmp/so_test_tasks_XXXXXX";
  const char *dir = getenv("TMPDIR");
  char tpl[512];
  snprintf(tpl, sizeof tpl, "%s/so_test_tasks_XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(dir && *dir ? tpl : path);
  int saved = dup(2);
  dup2(fd, 2);
  int rc = harness_run(job, nworkers, cfg, rep);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  lseek(fd, 0, SEEK_SET);
  ssize_t n = read(fd, captured, sizeof captured - 1);
  captured[n > 0 ? n : 0] = 0;
  close(fd);
  unlink(dir && *dir ? tpl : path);
  fprintf(stderr, "%s", captured); /* still shown, for whoever reads the test's output */
  return rc;
}

static so_config quiet_config(void) {
  so_config cfg;
  so_config_default(&cfg);
  cfg.quiet = 1;
  cfg.grace = -1;
  return cfg;
}

/* --- Dependencies: a random DAG declared in init (references forward and back), more tasks
 * submitted from merge(), the completion order recorded in merge(). --- */

#define DAG_MAX 400
typedef struct dag {
  unsigned seed;
  int n;                 /* declared tasks */
  int nafter[DAG_MAX];
  int after[DAG_MAX][3]; /* indices of the tasks each waits for */
  int fail;              /* index of a task whose run fails, -1 none */
  int fail_times;        /* how many times it fails (retries may cover it) */
  int children;          /* tasks submitted from merge, each after its parent and another */
  int bad_later;         /* merge submits one task naming an unknown task */
  int declare_cycle;     /* init adds a -> b -> c -> a */
  int declare_unknown;   /* init adds a task waiting for "ghost" */
  /* what happened */
  int done[DAG_MAX];     /* merge order position + 1, 0 not merged */
  int status[DAG_MAX];
  int ndone, nchild;
  atomic_int failures_left;
} dag;
static dag D;

static void dag_name(int i, char *buf, size_t len) { snprintf(buf, len, "t%d", i); }

static int dag_submit(so_ctx *ctx, int i, const int *after, int nafter) {
  char name[16], an[3][16];
  const char *list[4] = {NULL, NULL, NULL, NULL};
  dag_name(i, name, sizeof name);
  for (int k = 0; k < nafter; k++) {
    dag_name(after[k], an[k], sizeof an[k]);
    list[k] = an[k];
  }
  so_task_spec spec = {.data = &i, .len = sizeof i, .name = name, .after = list};
  return so_ctx_submit(ctx, &spec, NULL);
}

static int dag_init(so_ctx *ctx) {
  if (so_ctx_role(ctx) != SO_ROLE_MASTER)
    return 0;
  /* Submit in a shuffled order, so a task often names one submitted after it. */
  int order[DAG_MAX];
  for (int i = 0; i < D.n; i++)
    order[i] = i;
  unsigned s = D.seed;
  for (int i = D.n - 1; i > 0; i--) {
    int j = (int)(rand_r(&s) % (unsigned)(i + 1));
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int k = 0; k < D.n; k++) {
    int i = order[k];
    int rc = dag_submit(ctx, i, D.after[i], D.nafter[i]);
    if (rc)
      return rc;
  }
  if (D.declare_cycle) {
    const char *wa[] = {"c", NULL}, *wb[] = {"a", NULL}, *wc[] = {"b", NULL};
    so_task_spec a = {.name = "a", .after = wa}, b = {.name = "b", .after = wb},
                 c = {.name = "c", .after = wc}, d = {.name = "d"};
    if (so_ctx_submit(ctx, &d, NULL) || so_ctx_submit(ctx, &a, NULL) ||
        so_ctx_submit(ctx, &b, NULL) || so_ctx_submit(ctx, &c, NULL))
      return -1;
  }
  if (D.declare_unknown) {
    const char *w[] = {"t0", "ghost", NULL};
    so_task_spec x = {.name = "lonely", .after = w};
    if (so_ctx_submit(ctx, &x, NULL))
      return -1;
  }
  return 0;
}

static int dag_run(so_ctx *ctx, const so_task *t, so_result *res) {
  (void)ctx;
  int i;
  memcpy(&i, t->data, sizeof i);
  sleep_us((unsigned)((t->id * 2654435761u) % 700));
  if (i == D.fail && atomic_fetch_sub(&D.failures_left, 1) > 0)
    return 7;
  return so_result_write(res, &i, sizeof i) ? 1 : 0;
}

static int dag_merge(so_ctx *ctx, const so_task_result *r) {
  int i;
  if (r->status != 0) {
    /* A failed task's result is empty: find it by its payload, kept for merge. */
    memcpy(&i, r->task_data, sizeof i);
  } else {
    memcpy(&i, r->data, sizeof i);
  }
  if (i < 0 || i >= DAG_MAX || D.done[i])
    return -1; /* merged twice */
  D.done[i] = ++D.ndone;
  D.status[i] = r->status;
  if (i < D.n && D.nchild < D.children && D.n + D.nchild < DAG_MAX) {
    /* A task made from a result: it waits for this one and for an older declared one. */
    int c = D.n + D.nchild++;
    D.nafter[c] = 2;
    D.after[c][0] = i;
    D.after[c][1] = (int)((unsigned)(i * 7 + 3) % (unsigned)D.n);
    int rc = dag_submit(ctx, c, D.after[c], 2);
    if (rc)
      return rc;
  }
  if (D.bad_later && i == 0) {
    const char *w[] = {"nobody", NULL};
    so_task_spec x = {.name = "late", .after = w};
    int rc = so_ctx_submit(ctx, &x, NULL);
    if (rc)
      return rc;
  }
  return 0;
}

static const so_job dag_job = {
    SO_JOB_VERSION, .name = "dag", .init = dag_init, .run = dag_run, .merge = dag_merge,
    .flags = SO_JOB_KEEP_TASKS};

static void dag_make(unsigned seed, int n) {
  memset(&D, 0, sizeof D);
  D.seed = seed;
  D.n = n;
  D.fail = -1;
  unsigned s = seed;
  for (int i = 1; i < n; i++) {
    D.nafter[i] = (int)(rand_r(&s) % 4);
    for (int k = 0; k < D.nafter[i]; k++)
      D.after[i][k] = (int)(rand_r(&s) % (unsigned)i); /* an older index: no cycle */
  }
}

/* Every merged task was merged after every task it waits for. */
static int dag_order_ok(void) {
  int bad = 0;
  for (int i = 0; i < D.n + D.nchild; i++) {
    if (!D.done[i])
      continue;
    for (int k = 0; k < D.nafter[i]; k++)
      if (!D.done[D.after[i][k]] || D.done[D.after[i][k]] > D.done[i]) {
        if (!bad)
          fprintf(stderr, "\n    t%d merged at %d before t%d (at %d)\n", i, D.done[i],
                  D.after[i][k], D.done[D.after[i][k]]);
        bad = 1;
      }
  }
  return !bad;
}

static void test_dag_order(void) {
  for (int nw = 1; nw <= 5; nw++)
    for (unsigned seed = 1; seed <= 3; seed++) {
      dag_make(seed * 31 + (unsigned)nw, 120);
      D.children = 40;
      so_config cfg = quiet_config();
      so_report rep;
      CU_ASSERT_EQUAL(harness_run(&dag_job, nw, &cfg, &rep), 0);
      CU_ASSERT_EQUAL(D.ndone, 160);
      CU_ASSERT_EQUAL(rep.tasks, 160);
      CU_ASSERT_EQUAL(rep.not_run, 0);
      CU_ASSERT(dag_order_ok());
      so_report_free(&rep);
    }
}

/* The serial reference honours the same order. */
static void test_dag_serial(void) {
  dag_make(77, 100);
  D.children = 30;
  so_params *params = so__params_new(&dag_job);
  uint64_t tasks;
  so_answer *answer;
  CU_ASSERT_EQUAL(so__run_serial(&dag_job, params, &tasks, &answer), 0);
  CU_ASSERT_EQUAL(tasks, 130);
  CU_ASSERT_EQUAL(D.ndone, 130);
  CU_ASSERT(dag_order_ok());
  so__answer_free(answer);
  so__params_free(params);
}

static void test_cycle_rejected(void) {
  dag_make(5, 10);
  D.declare_cycle = 1;
  so_config cfg = quiet_config();
  so_report rep;
  CU_ASSERT_EQUAL(run_captured(&dag_job, 2, &cfg, &rep), SO_EINVAL);
  CU_ASSERT_EQUAL(D.ndone, 0); /* nothing ran */
  /* The cycle is named, in waiting order, from wherever it was entered. */
  CU_ASSERT(strstr(captured, "cycle") != NULL);
  CU_ASSERT(strstr(captured, "a -> c -> b -> a") || strstr(captured, "b -> a -> c -> b") ||
            strstr(captured, "c -> b -> a -> c"));
  CU_ASSERT(strstr(captured, "d ->") == NULL && strstr(captured, "t0 ->") == NULL);
  so_report_free(&rep);
}

static void test_unknown_rejected(void) {
  dag_make(6, 10);
  D.declare_unknown = 1;
  so_config cfg = quiet_config();
  so_report rep;
  CU_ASSERT_EQUAL(run_captured(&dag_job, 2, &cfg, &rep), SO_EINVAL);
  CU_ASSERT_EQUAL(D.ndone, 0);
  CU_ASSERT(strstr(captured, "task 'lonely' waits for 'ghost', which no task has") != NULL);
  so_report_free(&rep);
  /* Later, from merge(): an error naming both, and the run stops. */
  dag_make(6, 10);
  D.bad_later = 1;
  CU_ASSERT_NOT_EQUAL(run_captured(&dag_job, 2, &cfg, &rep), 0);
  CU_ASSERT(strstr(captured, "task 'late' waits for 'nobody', which no task has") != NULL);
  so_report_free(&rep);
}

/* Chain t0 <- t1 <- t2 <- t3, t4 after t1 and t5; t5 alone; t6 after t0. t1 fails. */
static void dag_chain(void) {
  dag_make(0, 7);
  for (int i = 0; i < 7; i++)
    D.nafter[i] = 0;
  D.nafter[1] = 1, D.after[1][0] = 0;
  D.nafter[2] = 1, D.after[2][0] = 1;
  D.nafter[3] = 1, D.after[3][0] = 2;
  D.nafter[4] = 2, D.after[4][0] = 1, D.after[4][1] = 5;
  D.nafter[6] = 1, D.after[6][0] = 0;
  D.fail = 1;
}

static void test_failed_dependents(void) {
  for (int nw = 1; nw <= 3; nw++) {
    dag_chain();
    D.failures_left = 1000;
    so_config cfg = quiet_config();
    so_report rep;
    harness_run(&dag_job, nw, &cfg, &rep);
    CU_ASSERT_EQUAL(rep.failed, 1);
    CU_ASSERT_EQUAL(rep.not_run, 3);
    CU_ASSERT(!D.done[2] && !D.done[3] && !D.done[4]);
    CU_ASSERT(D.done[0] && D.done[1] && D.done[5] && D.done[6]);
    CU_ASSERT(strstr(rep.not_run_names, "t2") && strstr(rep.not_run_names, "t3") &&
              strstr(rep.not_run_names, "t4"));
    so_report_free(&rep);
  }
  /* With retries, a task that fails once then succeeds lets its dependents run. */
  dag_chain();
  D.failures_left = 1;
  so_config cfg = quiet_config();
  cfg.retries = 2;
  so_report rep;
  CU_ASSERT_EQUAL(harness_run(&dag_job, 2, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(rep.not_run, 0);
  CU_ASSERT_EQUAL(D.ndone, 7);
  CU_ASSERT(dag_order_ok());
  so_report_free(&rep);
}

/* --- Types: each its own batch statistics, and the type reaches merge() --- */

typedef struct mix {
  uint64_t tasks;
  uint64_t merged, wrong_type;
  uint32_t untyped_type; /* the type next() gives in the job without types */
} mix;
static mix X;

static int mix_next(so_ctx *ctx, so_task_out *t) {
  (void)ctx;
  if (t->id >= X.tasks)
    return 0;
  /* One slow task in 16. */
  t->type = t->id % 16 == 0 ? 1 : 0;
  return 1;
}

static int fast_run(so_ctx *ctx, const so_task *t, so_result *res) {
  (void)ctx;
  (void)res;
  return t->type == 0 ? 0 : 5;
}

static int slow_run(so_ctx *ctx, const so_task *t, so_result *res) {
  (void)ctx;
  (void)res;
  sleep_us(1000);
  return t->type == 1 ? 0 : 5;
}

static int mix_merge(so_ctx *ctx, const so_task_result *r) {
  (void)ctx;
  X.merged++;
  if (r->type != (r->id % 16 == 0 ? 1u : 0u) || r->status != 0 || r->task_data != NULL)
    X.wrong_type++;
  return 0;
}

static const so_task_type mix_types[] = {{"fast", fast_run}, {"slow", slow_run}, {NULL, NULL}};
static const so_job mix_job = {SO_JOB_VERSION, .name = "mix", .next = mix_next,
                               .merge = mix_merge, .types = mix_types};

static void test_type_batches(void) {
  for (int nw = 1; nw <= 3; nw++) {
    memset(&X, 0, sizeof X);
    X.tasks = 8000;
    so_config cfg = quiet_config();
    so_report rep;
    CU_ASSERT_EQUAL(harness_run(&mix_job, nw, &cfg, &rep), 0);
    CU_ASSERT_EQUAL(X.merged, X.tasks);
    CU_ASSERT_EQUAL(X.wrong_type, 0);
    CU_ASSERT_EQUAL_FATAL(rep.ntypes, 2);
    CU_ASSERT_EQUAL(rep.types[0].tasks, X.tasks - X.tasks / 16);
    CU_ASSERT_EQUAL(rep.types[1].tasks, X.tasks / 16);
    /* 1 ms tasks travel one or two at a time; tasks of a few microseconds in large batches. */
    CU_ASSERT(rep.types[1].batch <= 2);
    CU_ASSERT(rep.types[0].batch >= 32);
    CU_ASSERT(rep.types[1].mean > 0.0008 && rep.types[1].mean < 0.01);
    CU_ASSERT(rep.types[0].mean < 0.0002);
    if (rep.types[1].batch > 2 || rep.types[0].batch < 32)
      fprintf(stderr, "\n    %d workers: largest batches fast %u, slow %u; means %.3g, %.3g s\n",
              nw, rep.types[0].batch, rep.types[1].batch, rep.types[0].mean, rep.types[1].mean);
    so_report_free(&rep);
  }
}

static int untyped_next(so_ctx *ctx, so_task_out *t) {
  (void)ctx;
  if (t->id >= X.tasks)
    return 0;
  t->type = (uint32_t)(t->id % 5) + 100; /* job defined: no types table */
  return 1;
}

static int untyped_run(so_ctx *ctx, const so_task *t, so_result *res) {
  (void)ctx;
  (void)res;
  return t->type == t->id % 5 + 100 ? 0 : 5;
}

static int untyped_merge(so_ctx *ctx, const so_task_result *r) {
  (void)ctx;
  X.merged++;
  if (r->type != r->id % 5 + 100 || r->status != 0)
    X.wrong_type++;
  return 0;
}

static const so_job untyped_job = {SO_JOB_VERSION, .name = "untyped", .next = untyped_next,
                                   .run = untyped_run, .merge = untyped_merge};

static void test_type_reaches_merge(void) {
  memset(&X, 0, sizeof X);
  X.tasks = 3000;
  so_config cfg = quiet_config(); /* keep_tasks off, no retries */
  so_report rep;
  CU_ASSERT_EQUAL(harness_run(&untyped_job, 3, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(X.merged, X.tasks);
  CU_ASSERT_EQUAL(X.wrong_type, 0);
  CU_ASSERT_EQUAL(rep.ntypes, 0);
  so_report_free(&rep);
}

/* --- SO_NEXT_WAIT: a chain where each task is made from the previous result --- */

typedef struct chain {
  uint64_t n, produced, merged, sum;
  int wait_calls;
} chain;
static chain C;

static int chain_next(so_ctx *ctx, so_task_out *t) {
  if (C.produced == C.n || C.produced > C.merged) {
    C.wait_calls++;
    return SO_NEXT_WAIT; /* never 0: the run must end on WAIT with nothing in flight */
  }
  uint64_t v = C.sum + 1;
  C.produced++;
  (void)t;
  return so_task_set_data(ctx, t, &v, sizeof v) ? -1 : 1;
}

static int chain_run(so_ctx *ctx, const so_task *t, so_result *res) {
  (void)ctx;
  uint64_t v;
  memcpy(&v, t->data, sizeof v);
  v *= 2;
  return so_result_write(res, &v, sizeof v) ? 1 : 0;
}

static int chain_merge(so_ctx *ctx, const so_task_result *r) {
  (void)ctx;
  uint64_t v;
  memcpy(&v, r->data, sizeof v);
  C.sum = v;
  C.merged++;
  return 0;
}

static const so_job chain_job = {SO_JOB_VERSION, .name = "chain", .next = chain_next,
                                 .run = chain_run, .merge = chain_merge};

static void test_next_wait(void) {
  for (int nw = 1; nw <= 4; nw++) {
    memset(&C, 0, sizeof C);
    C.n = 20;
    so_config cfg = quiet_config();
    so_report rep;
    CU_ASSERT_EQUAL(harness_run(&chain_job, nw, &cfg, &rep), 0);
    CU_ASSERT_EQUAL(C.merged, 20);
    CU_ASSERT_EQUAL(C.sum, (1ull << 21) - 2); /* v -> 2(v + 1), twenty times from 0 */
    CU_ASSERT(C.wait_calls >= 20 && C.wait_calls < 200); /* asked after merges, not polled */
    so_report_free(&rep);
  }
}

/* --- Pipelines: three stages, the middle one slow, bounded --- */

typedef struct pipe_probe {
  uint64_t items;
  atomic_int between[3];     /* items between stage j - 1 starting and stage j ending */
  atomic_int max_between[3];
  unsigned char left[5000];  /* times each item left the last stage */
  uint64_t merged, bad;
} pipe_probe;
static pipe_probe PP;

static void pp_note(int j, int delta) {
  int now = atomic_fetch_add(&PP.between[j], delta) + delta;
  int old = atomic_load(&PP.max_between[j]);
  while (now > old && !atomic_compare_exchange_weak(&PP.max_between[j], &old, now))
    ;
}

static int pp_next(so_ctx *ctx, so_task_out *t) {
  if (t->id >= PP.items)
    return 0;
  uint32_t item = (uint32_t)t->id;
  return so_task_set_data(ctx, t, &item, sizeof item) ? -1 : 1;
}

static int pp_stage(int j, const so_task *t, so_result *res, unsigned us) {
  if (t->len != sizeof(uint32_t) || t->type != (uint32_t)j)
    return 9;
  if (j + 1 < 3)
    pp_note(j + 1, 1);
  sleep_us(us);
  if (j > 0)
    pp_note(j, -1);
  return so_result_write(res, t->data, t->len) ? 1 : 0;
}

static int pp_cut(so_ctx *c, const so_task *t, so_result *r) { (void)c; return pp_stage(0, t, r, 0); }
static int pp_cook(so_ctx *c, const so_task *t, so_result *r) { (void)c; return pp_stage(1, t, r, 2000); }
static int pp_plate(so_ctx *c, const so_task *t, so_result *r) { (void)c; return pp_stage(2, t, r, 300); }

static int pp_merge(so_ctx *ctx, const so_task_result *r) {
  (void)ctx;
  uint32_t item;
  if (r->status != 0 || r->len != sizeof item || r->type != 2) {
    PP.bad++;
    return 0;
  }
  memcpy(&item, r->data, sizeof item);
  if (item >= PP.items) {
    PP.bad++;
    return 0;
  }
  PP.left[item]++;
  PP.merged++;
  return 0;
}

static const so_task_type pp_types[] = {
    {"cut", pp_cut}, {"cook", pp_cook}, {"plate", pp_plate}, {NULL, NULL}};
static const so_stage pp_stages[] = {{"cut", 0}, {"cook", 3}, {"plate", 2}, {NULL, 0}};
static const so_job pp_job = {SO_JOB_VERSION, .name = "kitchen", .next = pp_next,
                              .merge = pp_merge, .types = pp_types, .stages = pp_stages};

static void test_pipeline_bound(void) {
  for (int nw = 1; nw <= 5; nw += 2) {
    memset(&PP, 0, sizeof PP);
    PP.items = 300;
    so_config cfg = quiet_config();
    so_report rep;
    CU_ASSERT_EQUAL(harness_run(&pp_job, nw, &cfg, &rep), 0);
    CU_ASSERT_EQUAL(PP.merged, PP.items);
    CU_ASSERT_EQUAL(PP.bad, 0);
    if (PP.merged != PP.items || PP.bad)
      fprintf(stderr, "\n    %d workers: %llu of %llu items left (%llu bad), %llu tasks ran\n", nw,
              (unsigned long long)PP.merged, (unsigned long long)PP.items,
              (unsigned long long)PP.bad, (unsigned long long)rep.tasks);
    int once = 1;
    for (uint64_t i = 0; i < PP.items; i++)
      once &= PP.left[i] == 1;
    CU_ASSERT(once); /* every item left the last stage exactly once */
    CU_ASSERT_EQUAL(rep.tasks, 3 * PP.items);
    CU_ASSERT_EQUAL_FATAL(rep.nstages, 3);
    /* The job's own count (from a task starting to the next stage's task ending) and the
     * engine's never pass the bounds; the slow stage fills its bound and holds the first back. */
    CU_ASSERT(PP.max_between[1] <= 3);
    CU_ASSERT(PP.max_between[2] <= 2);
    CU_ASSERT(rep.stages[1].max_occupancy <= 3);
    CU_ASSERT(rep.stages[2].max_occupancy <= 2);
    CU_ASSERT_EQUAL(rep.stages[1].max_occupancy, 3);
    CU_ASSERT(rep.stages[1].held > 0 && rep.stages[1].held_seconds > 0);
    if (PP.max_between[1] > 3 || PP.max_between[2] > 2 || rep.stages[1].max_occupancy != 3)
      fprintf(stderr, "\n    %d workers: occupancy seen %d/%d by the job, %u/%u by the engine\n",
              nw, (int)PP.max_between[1], (int)PP.max_between[2], rep.stages[1].max_occupancy,
              rep.stages[2].max_occupancy);
    so_report_free(&rep);
  }
}

int main(void) {
  static const so_test_case cases[] = {
      {"dependencies: merge order never violates one (random DAGs, 1-5 workers)", test_dag_order},
      {"dependencies: the serial reference keeps the order", test_dag_serial},
      {"dependencies: a declared cycle is refused, naming its tasks", test_cycle_rejected},
      {"dependencies: unknown names refused, naming both tasks", test_unknown_rejected},
      {"dependencies: a failed task's dependents are reported not run", test_failed_dependents},
      {"types: each type its own batch size (1 ms and 0 ms tasks)", test_type_batches},
      {"types: the type reaches merge without keep_tasks", test_type_reaches_merge},
      {"SO_NEXT_WAIT: asked again after each merge, the run ends on it", test_next_wait},
      {"pipeline: bounds never exceeded, every item leaves once", test_pipeline_bound},
      {NULL, NULL}};
  return so_test_run("tasks", cases);
}

/* Master and worker run together in one process over the in-process transport: every task once,
 * queue disciplines, lazy generation, failures and clean termination, without mpirun. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_harness.h"

/* --- A test job whose behaviour the test steers through this shared state. --- */

typedef struct probe {
  uint64_t tasks;          /* tasks to generate */
  int declare_total;       /* call so_ctx_set_total */
  int fail_init_rank;      /* worker rank whose init fails, 0 = none */
  int fail_check;          /* check() refuses the parameters */
  int inits;               /* init() calls on the master */
  int fail_odd;            /* run() fails odd ids */
  int use_priority;        /* priority = id % 7 */
  uint32_t payload;        /* bytes of payload per task, filled with the id (<= PROBE_MAX) */
  uint32_t result_pad;     /* bytes run() adds to each result after the id (<= PROBE_MAX) */
  int small_even;          /* even ids carry 40 bytes of payload instead of payload */
  unsigned run_ms;         /* each run() sleeps this long */
  unsigned first_extra_ms; /* ... and task 0 this much longer */
  /* what happened */
  unsigned char *seen;     /* results per id */
  uint64_t generated, merged, max_ahead;
  uint64_t *order;         /* ids in the order workers ran them (one worker only) */
  uint64_t norder;
  pthread_mutex_t lock;
} probe;

static probe P;

/* Payloads and results up to this size: past SO_TRANSPORT_SMALL_MAX, so they use the large
 * channel. */
#define PROBE_MAX 32768
static unsigned char probe_buf[PROBE_MAX];

static int probe_init(so_ctx *ctx) {
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    P.inits++;
  if (so_ctx_role(ctx) == SO_ROLE_WORKER && so_ctx_rank(ctx) == P.fail_init_rank) {
    so_ctx_errorf(ctx, "init failed on purpose on rank %d", so_ctx_rank(ctx));
    return -1;
  }
  if (so_ctx_role(ctx) == SO_ROLE_MASTER && P.declare_total)
    so_ctx_set_total(ctx, P.tasks);
  return 0;
}

/* The payload bytes of task id. */
static uint32_t payload_of(uint64_t id) { return P.small_even && id % 2 == 0 ? 40 : P.payload; }

static int probe_next(so_ctx *ctx, so_task_out *t) {
  if (t->id >= P.tasks)
    return 0;
  if (P.use_priority)
    t->priority = (int64_t)(t->id % 7);
  if (payload_of(t->id)) {
    memset(probe_buf, (int)(t->id & 0xff), payload_of(t->id));
    if (so_task_set_data(ctx, t, probe_buf, payload_of(t->id)))
      return -1;
  }
  P.generated++;
  if (P.generated - P.merged > P.max_ahead)
    P.max_ahead = P.generated - P.merged;
  return 1;
}

static int probe_run(so_ctx *ctx, const so_task *t, so_result *res) {
  (void)ctx;
  if (t->len != payload_of(t->id))
    return 99;
  for (size_t i = 0; i < t->len; i++)
    if (((const unsigned char *)t->data)[i] != (t->id & 0xff))
      return 98;
  if (P.run_ms) {
    unsigned ms = t->id == 0 ? P.run_ms + P.first_extra_ms : P.run_ms;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
      ;
  }
  pthread_mutex_lock(&P.lock);
  if (P.order && P.norder < P.tasks)
    P.order[P.norder++] = t->id;
  pthread_mutex_unlock(&P.lock);
  if (so_result_write(res, &t->id, sizeof t->id))
    return 97;
  static const unsigned char pad[PROBE_MAX]; /* zeros */
  if (P.result_pad && so_result_write(res, pad, P.result_pad))
    return 97;
  return P.fail_odd && (t->id & 1) ? 1 : 0;
}

static int probe_merge(so_ctx *ctx, const so_task_result *r) {
  (void)ctx;
  uint64_t echoed;
  if (r->len != sizeof echoed + P.result_pad)
    return -1;
  memcpy(&echoed, r->data, sizeof echoed);
  if (echoed != r->id || r->id >= P.tasks)
    return -1;
  P.seen[r->id]++;
  P.merged++;
  return 0;
}

/* The parameter check: refuses when the test says so, and then init must never run. */
static int probe_check(so_ctx *ctx) {
  if (P.fail_check) {
    so_ctx_errorf(ctx, "parameters refused on purpose");
    return 1;
  }
  return 0;
}

static const so_param_def probe_params[] = {{NULL, 0, NULL, NULL, 0, 0}};
static const so_job probe_job = {SO_JOB_VERSION, .name = "probe",
                                 .summary = "test job",
                                 .params = probe_params,
                                 .check = probe_check,
                                 .init = probe_init,
                                 .next = probe_next,
                                 .run = probe_run,
                                 .merge = probe_merge};

static void probe_reset(uint64_t tasks) {
  free(P.seen);
  free(P.order);
  memset(&P, 0, sizeof P);
  pthread_mutex_init(&P.lock, NULL);
  P.tasks = tasks;
  P.declare_total = 1;
  P.seen = calloc(tasks ? tasks : 1, 1);
}

/* Runs the probe job; returns the master's code. */
static int run_engine(int nworkers, const so_config *cfg, so_report *rep) {
  return harness_run(&probe_job, nworkers, cfg, rep);
}

static void check_each_once(const so_report *rep) {
  uint64_t bad = 0, sum = 0;
  for (uint64_t i = 0; i < P.tasks; i++)
    bad += P.seen[i] != 1;
  for (int w = 0; w < rep->nworkers; w++)
    sum += rep->workers[w].tasks;
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(rep->tasks, P.tasks);
  CU_ASSERT_EQUAL(sum, P.tasks);
  CU_ASSERT_EQUAL(P.merged, P.tasks);
}

static void test_every_task_once(void) {
  so_discipline ds[] = {SO_QUEUE_FIFO, SO_QUEUE_LIFO, SO_QUEUE_PRIORITY};
  uint32_t batches[] = {0, 1, 7};
  for (int d = 0; d < 3; d++)
    for (int b = 0; b < 3; b++) {
      probe_reset(20000);
      P.use_priority = ds[d] == SO_QUEUE_PRIORITY;
      P.payload = (uint32_t)(b * 20); /* 0, 20 (inline) and 40 (heap) bytes */
      so_config cfg;
      so_config_default(&cfg);
      cfg.discipline = ds[d];
      cfg.batch = batches[b];
      so_report rep;
      CU_ASSERT_EQUAL(run_engine(4, &cfg, &rep), 0);
      check_each_once(&rep);
      CU_ASSERT_EQUAL(rep.failed, 0);
      so_report_free(&rep);
    }
}

/* Tasks and results past the small channel's size, and answers of several TASKS messages (one
 * task each, a deep prefetch) small and large by turns: with the reordering transport they
 * overtake each other as MPI's may. */
static void test_large_messages(void) {
  uint32_t batches[] = {0, 1, 7};
  for (int b = 0; b < 3; b++) {
    probe_reset(300);
    P.payload = SO_TRANSPORT_SMALL_MAX + 1 + (uint32_t)b * 1000;
    P.small_even = 1;
    P.result_pad = b == 0 ? SO_TRANSPORT_SMALL_MAX : 0;
    /* Failures send small TASKERR messages beside the REQUESTs. */
    P.fail_odd = b == 2;
    so_config cfg;
    so_config_default(&cfg);
    cfg.batch = batches[b];
    cfg.prefetch = b == 1 ? 6 : SO_PREFETCH_AUTO;
    so_report rep;
    CU_ASSERT_EQUAL(run_engine(3, &cfg, &rep), 0);
    check_each_once(&rep);
    CU_ASSERT_EQUAL(rep.failed, P.fail_odd ? P.tasks / 2 : 0);
    so_report_free(&rep);
  }
}

/* A generator of unknown length is drained lazily: the master never holds more than what the
 * workers have in hand, whatever the number of tasks. */
static void test_lazy_generation(void) {
  probe_reset(300000);
  P.declare_total = 0;
  so_config cfg;
  so_config_default(&cfg);
  so_report rep;
  CU_ASSERT_EQUAL(run_engine(2, &cfg, &rep), 0);
  check_each_once(&rep);
  /* Two workers, each at most two batches of at most SO_BATCH_MAX tasks. */
  CU_ASSERT(P.max_ahead <= 4u * 65536u);
  CU_ASSERT(P.max_ahead < P.tasks);
  so_report_free(&rep);
}

static void test_priority_order(void) {
  probe_reset(2000);
  P.use_priority = 1;
  P.order = calloc(P.tasks, sizeof *P.order);
  so_config cfg;
  so_config_default(&cfg);
  cfg.discipline = SO_QUEUE_PRIORITY;
  cfg.batch = 1;
  cfg.window = 100000; /* all tasks visible to the priority choice */
  so_report rep;
  CU_ASSERT_EQUAL(run_engine(1, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(P.norder, P.tasks);
  uint64_t inversions = 0;
  for (uint64_t i = 1; i < P.norder; i++) {
    int64_t a = (int64_t)(P.order[i - 1] % 7), b = (int64_t)(P.order[i] % 7);
    if (b > a || (a == b && P.order[i] < P.order[i - 1]))
      inversions++;
  }
  CU_ASSERT_EQUAL(inversions, 0);
  so_report_free(&rep);
}

static void test_lifo_order(void) {
  probe_reset(1000);
  P.order = calloc(P.tasks, sizeof *P.order);
  so_config cfg;
  so_config_default(&cfg);
  cfg.discipline = SO_QUEUE_LIFO;
  cfg.batch = 1;
  cfg.window = 100000;
  so_report rep;
  CU_ASSERT_EQUAL(run_engine(1, &cfg, &rep), 0);
  uint64_t wrong = 0;
  for (uint64_t i = 0; i < P.norder; i++)
    wrong += P.order[i] != P.tasks - 1 - i;
  CU_ASSERT_EQUAL(P.norder, P.tasks);
  CU_ASSERT_EQUAL(wrong, 0);
  so_report_free(&rep);
}

static void test_failed_tasks_counted(void) {
  probe_reset(1001);
  P.fail_odd = 1;
  so_config cfg;
  so_config_default(&cfg);
  so_report rep;
  CU_ASSERT_EQUAL(run_engine(3, &cfg, &rep), 0);
  check_each_once(&rep);
  CU_ASSERT_EQUAL(rep.failed, 500);
  so_report_free(&rep);
}

static void test_worker_init_failure_stops_cleanly(void) {
  probe_reset(5000);
  P.fail_init_rank = 2;
  so_config cfg;
  so_config_default(&cfg);
  so_report rep;
  CU_ASSERT_EQUAL(run_engine(3, &cfg, &rep), SO_EJOB);
  so_report_free(&rep);
}

static void test_more_workers_than_tasks(void) {
  probe_reset(2);
  so_config cfg;
  so_config_default(&cfg);
  so_report rep;
  CU_ASSERT_EQUAL(run_engine(4, &cfg, &rep), SO_EINVAL);
  CU_ASSERT_EQUAL(P.merged, 0);
  so_report_free(&rep);
}

static void test_zero_tasks(void) {
  probe_reset(0);
  so_config cfg;
  so_config_default(&cfg);
  so_report rep;
  CU_ASSERT_EQUAL(run_engine(2, &cfg, &rep), SO_EINVAL);
  so_report_free(&rep);
}

/* --prefetch 0: a worker holds only the task it runs, so at most one task per worker is ever
 * handed out and not merged; automatic prefetch holds many more of these tiny tasks. */
static void test_prefetch_zero_holds_none(void) {
  so_config cfg;
  so_config_default(&cfg);
  cfg.batch = 1;
  cfg.prefetch = 0;
  so_report rep;
  probe_reset(300);
  CU_ASSERT_EQUAL(run_engine(2, &cfg, &rep), 0);
  check_each_once(&rep);
  CU_ASSERT_TRUE(P.max_ahead >= 1 && P.max_ahead <= 2);
  so_report_free(&rep);

  cfg.prefetch = SO_PREFETCH_AUTO;
  probe_reset(300);
  CU_ASSERT_EQUAL(run_engine(2, &cfg, &rep), 0);
  check_each_once(&rep);
  CU_ASSERT_TRUE(P.max_ahead > 2);
  so_report_free(&rep);
}

/* As many tasks of unknown length as workers: each worker runs one. Before, the first request
 * was answered with two one-task messages and the run took twice as long. */
static void test_tasks_equal_workers(void) {
  for (int n = 2; n <= 4; n++) {
    so_config cfg;
    so_config_default(&cfg);
    so_report rep;
    probe_reset((uint64_t)n);
    P.run_ms = 100;
    CU_ASSERT_EQUAL(run_engine(n, &cfg, &rep), 0);
    check_each_once(&rep);
    for (int w = 0; w < rep.nworkers; w++)
      CU_ASSERT_EQUAL(rep.workers[w].tasks, 1);
    so_report_free(&rep);
  }
}

/* A job's parameter check runs on the master before init, and what it refuses is bad input
 * (SO_EINVAL, exit 2), whatever code the job returned. */
static void test_check_refuses_before_init(void) {
  probe_reset(100);
  P.fail_check = 1;
  so_config cfg;
  so_config_default(&cfg);
  so_report rep;
  CU_ASSERT_EQUAL(run_engine(2, &cfg, &rep), SO_EINVAL);
  CU_ASSERT_EQUAL(P.inits, 0);
  CU_ASSERT_EQUAL(P.generated, 0);
  so_report_free(&rep);
}

/* Four long tasks on two workers: the second worker to ask holds one task ahead (the first had
 * work), and when it asks again still holding that one, the tasks have turned out long: the last
 * task must wait for the worker that runs dry first (two each), not join the queue behind the
 * held one (one and three, a third longer). Task 0, the first worker's, takes 150 ms, the others
 * 100 ms, so the second worker asks first. */
static void test_long_tasks_not_taken_while_holding(void) {
  so_config cfg;
  so_config_default(&cfg);
  so_report rep;
  probe_reset(4);
  P.run_ms = 100;
  P.first_extra_ms = 50;
  CU_ASSERT_EQUAL(run_engine(2, &cfg, &rep), 0);
  check_each_once(&rep);
  CU_ASSERT_EQUAL(rep.workers[0].tasks, 2);
  CU_ASSERT_EQUAL(rep.workers[1].tasks, 2);
  so_report_free(&rep);
}

int main(void) {
  static const so_test_case cases[] = {
      {"every task runs exactly once (3 disciplines x 3 batch modes)", test_every_task_once},
      {"tasks and results larger than the small channel", test_large_messages},
      {"lazy generation keeps the master bounded", test_lazy_generation},
      {"priority queue hands out higher priority first", test_priority_order},
      {"lifo queue hands out the newest first", test_lifo_order},
      {"failed tasks are counted, the run goes on", test_failed_tasks_counted},
      {"a worker whose init fails stops the run cleanly", test_worker_init_failure_stops_cleanly},
      {"more workers than tasks is refused", test_more_workers_than_tasks},
      {"a job with zero tasks is refused", test_zero_tasks},
      {"--prefetch 0 holds no task in advance", test_prefetch_zero_holds_none},
      {"as many tasks as workers: one each", test_tasks_equal_workers},
      {"the parameter check refuses before init", test_check_refuses_before_init},
      {"long tasks wait for a dry worker, not one that holds a task", test_long_tasks_not_taken_while_holding},
      {NULL, NULL}};
  int rc = so_test_run("engine", cases);
  /* Again, with messages overtaking each other across the channels as MPI's may. */
  for (unsigned long seed = 1; seed <= 3; seed++) {
    harness_reorder_seed = seed;
    printf("reordering transport, seed %lu\n", seed);
    rc |= so_test_run("engine, reordering transport", cases);
  }
  free(P.seen);
  free(P.order);
  return rc;
}

/* Tasks in threads (--threads T with run()): how many run at once, each thread's task keeps its
 * own error, result and output, a halt lets running tasks finish, and only each worker's main
 * thread talks to the master; over in-process ranks, counted directly rather than timed. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "engine_harness.h"

#define MAX_TASKS 1024
#define MAX_RANKS 17
#define WAIT_LIMIT 10.0 /* seconds a task waits for a condition before it gives up (a failure) */

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --- A job whose run() counts how many of its tasks run at once, per worker --- */

typedef struct pool_probe {
  uint64_t tasks;
  unsigned threads;   /* the --threads of the run */
  int latch;          /* the first tasks wait until every worker runs `threads` at once */
  int fail_odd;       /* odd ids fail, with so_ctx_errorf naming the id */
  int lines;          /* output lines per task, each in pieces */
  int halt_at;        /* the merge of this many results halts the run now (0: never) */
  /* observed; under lock */
  pthread_mutex_t lock;
  pthread_cond_t changed;
  pthread_t main_thread[MAX_RANKS]; /* each worker's own thread (where init() runs) */
  int running[MAX_RANKS], most[MAX_RANKS], opened;
  int on_main;        /* run() calls on a worker's main thread */
  int timeouts;       /* waits that gave up */
  int halted;
  int started[MAX_TASKS], merged[MAX_TASKS], ended_after_halt;
  int32_t status[MAX_TASKS];
  int bad_results;
} pool_probe;

static pool_probe J;

static void reset(uint64_t tasks, unsigned threads) {
  memset(&J, 0, sizeof J);
  pthread_mutex_init(&J.lock, NULL);
  pthread_cond_init(&J.changed, NULL);
  J.tasks = tasks;
  J.threads = threads;
}

/* Waits (lock held) until cond() holds, WAIT_LIMIT seconds at most; counts a give-up. The
 * condition is looked at every 20 ms at least, so it may be a flag no one signals. */
static void wait_until(int (*cond)(so_ctx *ctx), so_ctx *ctx) {
  double limit = mono() + WAIT_LIMIT;
  while (!cond(ctx)) {
    if (mono() > limit) {
      J.timeouts++;
      return;
    }
    struct timespec until = so__clock_after(CLOCK_REALTIME, 20000000LL);
    pthread_cond_timedwait(&J.changed, &J.lock, &until);
  }
}

/* Every worker runs `threads` tasks at once (workers are ranks 1 and 2). Without this wait a
 * worker could finish its tasks before the other one starts any, and take them all. */
static int all_running(so_ctx *ctx) {
  (void)ctx;
  return J.opened || (J.running[1] >= (int)J.threads && J.running[2] >= (int)J.threads);
}
/* The worker has heard of the halt: the task's own context says so. */
static int heard_halt(so_ctx *ctx) { return so_ctx_halting(ctx); }

static int p_init(so_ctx *ctx) {
  if (so_ctx_role(ctx) == SO_ROLE_MASTER) {
    so_ctx_set_total(ctx, J.tasks);
    return 0;
  }
  J.main_thread[so_ctx_rank(ctx)] = pthread_self();
  return 0;
}

static int p_next(so_ctx *ctx, so_task_out *t) {
  (void)ctx;
  return t->id < J.tasks;
}

/* Writes bytes one at a time, letting other threads run in between, so tasks sharing a buffer
 * would mix. */
static int write_slowly(so_result *res, const void *data, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (so_result_write(res, (const char *)data + i, 1))
      return -1;
    sched_yield();
  }
  return 0;
}

static int p_run(so_ctx *ctx, const so_task *t, so_result *res) {
  int rank = so_ctx_rank(ctx);
  int32_t status = 0;
  if (J.fail_odd && t->id % 2)
    so_ctx_errorf(ctx, "task %llu is odd", (unsigned long long)t->id);
  pthread_mutex_lock(&J.lock);
  J.on_main += pthread_equal(pthread_self(), J.main_thread[rank]) != 0;
  J.started[t->id]++;
  if (++J.running[rank] > J.most[rank])
    J.most[rank] = J.running[rank];
  pthread_cond_broadcast(&J.changed);
  if (J.latch) {
    wait_until(all_running, ctx);
    J.opened = 1;
  }
  /* Halt test: task 0 ends at once, the others only once their worker heard of the halt. */
  if (J.halt_at && t->id != 0)
    wait_until(heard_halt, ctx);
  pthread_mutex_unlock(&J.lock);

  char line[160];
  for (int k = 0; k < J.lines; k++) {
    int n = snprintf(line, sizeof line, "task %llu line %d %s\n", (unsigned long long)t->id, k,
                     "................................................................");
    so_ctx_output(ctx, t->id, 1, line, 9, 1);
    sched_yield();
    so_ctx_output(ctx, t->id, 1, line + 9, (size_t)n - 9, 0);
  }
  if (write_slowly(res, &t->id, sizeof t->id))
    status = 97;
  else if (J.fail_odd && t->id % 2)
    status = 1;

  pthread_mutex_lock(&J.lock);
  J.running[rank]--;
  J.ended_after_halt += so_ctx_halting(ctx);
  pthread_mutex_unlock(&J.lock);
  return status;
}

static int p_merge(so_ctx *ctx, const so_task_result *r) {
  uint64_t id;
  pthread_mutex_lock(&J.lock);
  if (r->id >= J.tasks || r->len != sizeof id || (memcpy(&id, r->data, sizeof id), id != r->id))
    J.bad_results++;
  else
    J.merged[r->id]++, J.status[r->id] = r->status;
  int n = 0;
  for (uint64_t i = 0; i < J.tasks; i++)
    n += J.merged[i];
  if (J.halt_at && n == J.halt_at && !J.halted) {
    so_ctx_halt(ctx, SO_HALT_NOW);
    J.halted = 1;
  }
  pthread_mutex_unlock(&J.lock);
  return 0;
}

static const so_param_def no_params[] = {{NULL, 0, NULL, NULL, 0, 0}};
static const so_job pool_job = {SO_JOB_VERSION,
                                .name = "pool",
                                .summary = "tasks that count each other",
                                .params = no_params,
                                .init = p_init,
                                .next = p_next,
                                .run = p_run,
                                .merge = p_merge};

/* --- A transport that counts calls from any thread but the one that owns it --- */

typedef struct watched {
  so__transport base;
  so__transport *inner;
  pthread_t owner;
} watched;

static int foreign_calls;

static void check_thread(so__transport *t) {
  if (!pthread_equal(pthread_self(), ((watched *)t)->owner))
    __atomic_add_fetch(&foreign_calls, 1, __ATOMIC_SEQ_CST);
}
static int w_send(so__transport *t, int dest, int tag, const void *data, size_t len) {
  check_thread(t);
  return so__send(((watched *)t)->inner, dest, tag, data, len);
}
static int w_recv(so__transport *t, so__msg *msg, int timeout_ms) {
  check_thread(t);
  return so__recv(((watched *)t)->inner, msg, timeout_ms);
}
static void w_destroy(so__transport *t) {
  so__transport_destroy(((watched *)t)->inner);
  free(t);
}
static const so__transport_ops watched_ops = {w_send, w_recv, w_destroy};

static so__transport *watch(so__transport *inner) {
  watched *w = calloc(1, sizeof *w);
  CU_ASSERT_FATAL(w != NULL);
  w->base = (so__transport){&watched_ops, inner->rank, inner->size};
  w->inner = inner;
  w->owner = pthread_self();
  return &w->base;
}

static so_config config(unsigned threads) {
  so_config cfg;
  so_config_default(&cfg);
  cfg.slots = threads;
  return cfg;
}

/* --- Tests --- */

/* With T threads each worker runs exactly T tasks at once at its busiest: never more, and (its
 * first tasks wait until T run together) at least T. T = 1 keeps run() on the worker's own
 * thread; T > 1 never runs it there. */
static void check_concurrency(unsigned threads) {
  reset(2 * 3 * threads, threads);
  J.latch = 1;
  so_config cfg = config(threads);
  so_report rep;
  CU_ASSERT_EQUAL(harness_run(&pool_job, 2, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(rep.tasks, J.tasks);
  CU_ASSERT_EQUAL(J.timeouts, 0);
  CU_ASSERT_EQUAL(J.bad_results, 0);
  int once = 1;
  for (uint64_t i = 0; i < J.tasks; i++)
    once &= J.started[i] == 1 && J.merged[i] == 1 && J.status[i] == 0;
  CU_ASSERT(once);
  for (int r = 1; r <= 2; r++) {
    CU_ASSERT_EQUAL(J.most[r], (int)threads);
    if (J.most[r] != (int)threads)
      printf("\n  worker %d ran %d tasks at once, expected %u\n", r, J.most[r], threads);
  }
  CU_ASSERT_EQUAL(J.on_main, threads == 1 ? (int)J.tasks : 0);
  so_report_free(&rep);
}
static void test_one_thread(void) { check_concurrency(1); }
static void test_four_threads(void) { check_concurrency(4); }
static void test_sixteen_threads(void) { check_concurrency(16); }

/* Threads write their tasks' errors, results and output at the same time, in small pieces: each
 * lands with its own task. Meanwhile only the worker's main thread uses the transport. */
static void test_each_thread_its_own_task(void) {
  reset(96, 8);
  J.fail_odd = 1;
  J.lines = 40; /* 40 lines of ~90 bytes: each task fills a few OUTPUT messages */
  so_config cfg = config(8);
  char *text = NULL, errpath[] = "/tmp/so_taskpool_err.XXXXXX";
  size_t size = 0;
  FILE *out = open_memstream(&text, &size);
  int errfd = mkstemp(errpath);
  CU_ASSERT_FATAL(out != NULL && errfd >= 0);
  cfg.task_out = out;
  so_report rep;
  foreign_calls = 0;
  harness_wrap_worker = watch;
  fflush(stderr);
  int saved = dup(2);
  dup2(errfd, 2);
  int rc = harness_run(&pool_job, 2, &cfg, &rep);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  harness_wrap_worker = NULL;
  fclose(out);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(foreign_calls, 0);
  CU_ASSERT_EQUAL(rep.tasks, 96);
  CU_ASSERT_EQUAL(rep.failed, 48);
  CU_ASSERT_EQUAL(J.bad_results, 0);
  int right = 1;
  for (uint64_t i = 0; i < 96; i++)
    right &= J.merged[i] == 1 && J.status[i] == (i % 2 ? 1 : 0);
  CU_ASSERT(right);

  /* Output: whole lines, each once. */
  static int seen[96][40];
  memset(seen, 0, sizeof seen);
  int good = 1, lines = 0;
  for (char *p = text, *nl; p && *p; p = nl + 1) {
    nl = strchr(p, '\n');
    if (!nl) {
      good = 0;
      break;
    }
    *nl = 0;
    unsigned long long id;
    int k;
    if (sscanf(p, "task %llu line %d ", &id, &k) != 2 || id >= 96 || k < 0 || k >= 40 ||
        strlen(p) < 70 || p[strlen(p) - 1] != '.')
      good = 0;
    else
      seen[id][k]++;
    lines++;
  }
  CU_ASSERT(good);
  CU_ASSERT_EQUAL(lines, 96 * 40);
  int each_once = 1;
  for (int i = 0; i < 96; i++)
    for (int k = 0; k < 40; k++)
      each_once &= seen[i][k] == 1;
  CU_ASSERT(each_once);

  /* The failures the master printed each name the task whose error text they carry. */
  char buf[8192];
  ssize_t n = pread(errfd, buf, sizeof buf - 1, 0);
  buf[n > 0 ? n : 0] = 0;
  int shown = 0, matched = 0;
  for (char *p = buf; (p = strstr(p, "failed on rank")) != NULL; p++) {
    unsigned long long a, b;
    char *line = p;
    while (line > buf && line[-1] != '\n')
      line--;
    shown++;
    if (sscanf(line, "scaleout: error: job 'pool': task %llu failed on rank %*d: task %llu is odd",
               &a, &b) == 2 &&
        a == b)
      matched++;
  }
  CU_ASSERT(shown >= 1);
  CU_ASSERT_EQUAL(matched, shown);
  if (matched != shown || shown < 1)
    printf("\n  stderr of the run:\n%s\n", buf);
  close(errfd);
  unlink(errpath);
  free(text);
  so_report_free(&rep);
}

/* Halting now while threads run: nothing interrupts run(), so the running tasks finish and are
 * merged (they wait until their worker has heard of the halt, through so_ctx_halting in their own
 * contexts); the tasks held beyond them are given back unstarted. */
static void test_halt_now_lets_running_finish(void) {
  reset(200, 4);
  J.halt_at = 1;
  so_config cfg = config(4);
  cfg.prefetch = 8; /* each worker holds up to 8 tasks beyond its running ones */
  so_report rep;
  CU_ASSERT_EQUAL(harness_run(&pool_job, 2, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(rep.stopped, SO_HALT_NOW);
  CU_ASSERT_EQUAL(J.timeouts, 0);
  CU_ASSERT(J.ended_after_halt >= 1);
  int started = 0, lost = 0, twice = 0, failed = 0;
  for (int i = 0; i < 200; i++) {
    started += J.started[i] > 0;
    lost += J.started[i] && !J.merged[i];
    twice += J.merged[i] > 1 || J.started[i] > 1;
    failed += J.merged[i] && J.status[i] != 0;
  }
  /* Each worker started at most one task per thread, and one more in task 0's thread before it
   * heard of the halt: the tasks it held beyond those went back unstarted. */
  CU_ASSERT(started <= 2 * 4 + 1);
  if (started > 2 * 4 + 1)
    printf("\n  %d tasks started\n", started);
  CU_ASSERT_EQUAL(lost, 0);
  CU_ASSERT_EQUAL(twice, 0);
  CU_ASSERT_EQUAL(failed, 0);
  CU_ASSERT_EQUAL(rep.tasks, (uint64_t)started);
  so_report_free(&rep);
}

int main(void) {
  static const so_test_case cases[] = {
      {"--threads 1: one task at a time, on the worker's own thread", test_one_thread},
      {"--threads 4: each worker runs exactly 4 at once", test_four_threads},
      {"--threads 16: each worker runs exactly 16 at once", test_sixteen_threads},
      {"each thread's error, result and output stay its task's", test_each_thread_its_own_task},
      {"halt now: running tasks finish, held ones go back", test_halt_now_lets_running_finish},
      {NULL, NULL}};
  return so_test_run("taskpool", cases);
}

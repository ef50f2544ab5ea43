/* The engine's features for tasks that wait (commands): several tasks per worker at once,
 * reruns on another worker, halting soon and now, whole-line output; over in-process ranks. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_harness.h"

#define MAX_TASKS 512
#define MAX_RANKS 17

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --- A job of tasks that each wait ms milliseconds, several at once per worker --- */

typedef struct waiter {
  uint64_t tasks;
  int ms;
  int bad_rank;        /* run on this rank, a task fails (0: none) */
  int halt_at;         /* the merge of this many results halts the run (0: never) */
  int halt_how;
  int lines;           /* each task prints this many lines, the last in two partial pieces */
  int wait_notice;     /* tasks but id 0 wait (3 s at most) for the notice the first merge sends */
  double every;        /* task i becomes ready (i + 1) * every seconds after t0 (0: at once) */
  double t0;
  int first_ms;        /* task 0 waits this long instead of ms (0: ms) */
  int gate;            /* task 0 ends only once another task has started (halt-now test) */
  /* observed */
  pthread_mutex_t lock;
  int started_on[MAX_TASKS];  /* how often each id was started */
  int merged[MAX_TASKS];
  int merged_worker[MAX_TASKS];
  unsigned merged_attempts[MAX_TASKS];
  int32_t merged_status[MAX_TASKS];
  unsigned max_running[MAX_RANKS];
  double started_at[MAX_TASKS]; /* seconds after t0 */
  uint64_t nmerged;
  int notices[MAX_RANKS];     /* notices each rank received */
  int ended_by_notice;        /* waiting tasks that the notice ended */
  int bad_started;            /* a task has started on bad_rank */
  int notify_rc, worker_notify_rc, long_notify_rc;
} waiter;

static waiter W;

typedef struct slot {
  uint64_t id;
  double due;
  int noticed; /* the notice ended its wait */
} slot;

typedef struct wstate {
  slot running[16];
  unsigned n;
} wstate;

static int w_init(so_ctx *ctx) {
  if (so_ctx_role(ctx) == SO_ROLE_MASTER) {
    so_ctx_set_total(ctx, W.tasks);
    return 0;
  }
  wstate *s = calloc(1, sizeof *s);
  so_ctx_set_state(ctx, s);
  return s ? 0 : -1;
}

static void w_fini(so_ctx *ctx) { free(so_ctx_state(ctx)); }

static int w_next(so_ctx *ctx, so_task_out *t) {
  (void)ctx;
  /* A streamed source: the next task is not there before its time. */
  if (t->id < W.tasks && W.every > 0 && mono() < W.t0 + (double)(t->id + 1) * W.every)
    return SO_NEXT_LATER;
  return t->id < W.tasks;
}

static int w_start(so_ctx *ctx, const so_task *t) {
  wstate *s = so_ctx_state(ctx);
  if (s->n >= so_ctx_slots(ctx) || s->n >= 16)
    return -1; /* the engine started more than it may */
  int ms = t->id == 0 && W.first_ms ? W.first_ms : W.ms;
  s->running[s->n++] = (slot){t->id, W.wait_notice && t->id ? mono() + 3 : mono() + ms / 1000.0, 0};
  pthread_mutex_lock(&W.lock);
  if (W.wait_notice && t->id && W.notices[so_ctx_rank(ctx)]) {
    /* The notice came before this task started: it has nothing to wait for. */
    s->running[s->n - 1].due = mono();
    s->running[s->n - 1].noticed = 1;
  }
  if (so_ctx_rank(ctx) == W.bad_rank)
    W.bad_started = 1;
  W.started_on[t->id]++;
  W.started_at[t->id] = mono() - W.t0;
  int r = so_ctx_rank(ctx);
  if (s->n > W.max_running[r])
    W.max_running[r] = s->n;
  pthread_mutex_unlock(&W.lock);
  return 0;
}

/* Ends slot i with status; prints the task's lines first. */
static int finish_slot(so_ctx *ctx, wstate *s, unsigned i, int32_t status) {
  uint64_t id = s->running[i].id;
  if (s->running[i].noticed) {
    pthread_mutex_lock(&W.lock);
    W.ended_by_notice++;
    pthread_mutex_unlock(&W.lock);
  }
  char line[64];
  for (int k = 0; k < W.lines; k++) {
    int n = snprintf(line, sizeof line, "task %llu line %d\n", (unsigned long long)id, k);
    if (k == W.lines - 1) {
      /* The last line arrives in two pieces. */
      so_ctx_output(ctx, id, 1, line, 5, 1);
      so_ctx_output(ctx, id, 1, line + 5, (size_t)n - 5, 0);
    } else {
      so_ctx_output(ctx, id, 1, line, (size_t)n, 0);
    }
  }
  s->running[i] = s->running[--s->n];
  int rank = so_ctx_rank(ctx);
  return so_task_done(ctx, id, status, &rank, sizeof rank);
}

/* Whether a task has started on the failing rank (the others' tasks wait for that, so the
 * retries test never depends on which worker thread came first). */
static int bad_has_started(void) {
  pthread_mutex_lock(&W.lock);
  int yes = W.bad_started;
  pthread_mutex_unlock(&W.lock);
  return yes;
}

/* Whether a task other than task 0 has started, on any worker. */
static int other_started(void) {
  int any = 0;
  pthread_mutex_lock(&W.lock);
  for (uint64_t i = 1; i < W.tasks && !any; i++)
    any = W.started_on[i] > 0;
  pthread_mutex_unlock(&W.lock);
  return any;
}

static int w_progress(so_ctx *ctx, int timeout_ms) {
  wstate *s = so_ctx_state(ctx);
  double until = mono() + timeout_ms / 1000.0, first = until;
  for (unsigned i = 0; i < s->n; i++)
    if (s->running[i].due < first)
      first = s->running[i].due;
  double wait = first - mono();
  if (wait > 0) {
    struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
    nanosleep(&ts, NULL);
  }
  int ended = 0;
  double t = mono();
  for (unsigned i = 0; i < s->n;) {
    int held = (W.gate && s->running[i].id == 0 && !other_started()) ||
               (W.bad_rank && so_ctx_rank(ctx) != W.bad_rank && !bad_has_started());
    if (s->running[i].due <= t && !held) {
      int32_t status = so_ctx_rank(ctx) == W.bad_rank ? 1 : 0;
      if (finish_slot(ctx, s, i, status))
        return -1;
      ended++;
    } else {
      i++;
    }
  }
  return ended;
}

static void w_cancel(so_ctx *ctx) {
  wstate *s = so_ctx_state(ctx);
  while (s->n)
    finish_slot(ctx, s, 0, 137);
}

static int w_merge(so_ctx *ctx, const so_task_result *r) {
  if (r->id >= W.tasks || r->len != sizeof(int))
    return -1;
  int rank;
  memcpy(&rank, r->data, sizeof rank);
  W.merged[r->id]++;
  W.merged_worker[r->id] = rank;
  W.merged_attempts[r->id] = r->attempts;
  W.merged_status[r->id] = r->status;
  W.nmerged++;
  if (W.halt_at && W.nmerged == (uint64_t)W.halt_at)
    so_ctx_halt(ctx, W.halt_how);
  if (W.wait_notice && W.nmerged == 1) {
    static char big[2000];
    W.long_notify_rc = so_ctx_notify(ctx, big, sizeof big);
    W.notify_rc = so_ctx_notify(ctx, "go", 3);
  }
  return 0;
}

/* Worker: the notice ends every waiting task now. */
static int w_notice(so_ctx *ctx, const void *data, size_t len) {
  if (len != 3 || memcmp(data, "go", 3) != 0)
    return -1;
  pthread_mutex_lock(&W.lock);
  W.notices[so_ctx_rank(ctx)]++;
  W.worker_notify_rc = so_ctx_notify(ctx, "x", 1); /* master only */
  pthread_mutex_unlock(&W.lock);
  wstate *s = so_ctx_state(ctx);
  for (unsigned i = 0; i < s->n; i++) {
    s->running[i].due = mono();
    s->running[i].noticed = s->running[i].id != 0;
  }
  return 0;
}

static const so_param_def no_params[] = {{NULL, 0, NULL, NULL, 0, 0}};
static const so_job waiter_job = {SO_JOB_VERSION, .name = "waiter",
                                  .summary = "tasks that wait",
                                  .params = no_params,
                                  .init = w_init,
                                  .next = w_next,
                                  .merge = w_merge,
                                  .fini = w_fini,
                                  .start = w_start,
                                  .progress = w_progress,
                                  .cancel = w_cancel,
                                  .notice = w_notice};

static void reset(uint64_t tasks, int ms) {
  memset(&W, 0, sizeof W);
  pthread_mutex_init(&W.lock, NULL);
  W.tasks = tasks;
  W.ms = ms;
}

static so_config config(unsigned slots) {
  so_config cfg;
  so_config_default(&cfg);
  cfg.slots = slots;
  return cfg;
}

static void test_slots_run_tasks_concurrently(void) {
  reset(120, 20);
  so_config cfg = config(3);
  so_report rep;
  CU_ASSERT_EQUAL(harness_run(&waiter_job, 4, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(rep.tasks, 120);
  int once = 1;
  for (int i = 0; i < 120; i++)
    once &= W.merged[i] == 1 && W.started_on[i] == 1;
  CU_ASSERT(once);
  for (int r = 1; r <= 4; r++)
    CU_ASSERT_EQUAL(W.max_running[r], 3);
  so_report_free(&rep);
}

static void test_retries_go_to_another_worker(void) {
  reset(60, 1);
  W.bad_rank = 1;
  so_config cfg = config(2);
  cfg.retries = 1;
  so_report rep;
  CU_ASSERT_EQUAL(harness_run(&waiter_job, 3, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(rep.tasks, 60);
  CU_ASSERT_EQUAL(rep.failed, 0);
  int elsewhere = 1, retried = 0;
  for (int i = 0; i < 60; i++) {
    elsewhere &= W.merged[i] == 1 && W.merged_worker[i] != 1 && W.merged_status[i] == 0;
    retried += W.merged_attempts[i] == 2;
  }
  CU_ASSERT(elsewhere);
  CU_ASSERT(retried > 0); /* rank 1 did take tasks, and each was rerun once elsewhere */
  so_report_free(&rep);
}

static void test_retries_exhausted_on_one_worker(void) {
  reset(10, 1);
  W.bad_rank = 1;
  so_config cfg = config(1);
  cfg.retries = 2;
  so_report rep;
  CU_ASSERT_EQUAL(harness_run(&waiter_job, 1, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(rep.tasks, 10);
  CU_ASSERT_EQUAL(rep.failed, 10);
  int three = 1;
  for (int i = 0; i < 10; i++)
    three &= W.merged_attempts[i] == 3 && W.started_on[i] == 3;
  CU_ASSERT(three);
  so_report_free(&rep);
}

/* so_ctx_notify reaches every worker while its tasks run: here they wait for it. */
static void test_notice_reaches_running_workers(void) {
  reset(5, 10);
  W.wait_notice = 1;
  so_config cfg = config(2);
  so_report rep;
  CU_ASSERT_EQUAL(harness_run(&waiter_job, 3, &cfg, &rep), 0);
  /* Every task but task 0 waits 3 s unless the notice ends its wait: it must have, not time. */
  CU_ASSERT_EQUAL(W.ended_by_notice, 4);
  CU_ASSERT_EQUAL(rep.tasks, 5);
  CU_ASSERT_EQUAL(W.notify_rc, 0);
  CU_ASSERT_EQUAL(W.long_notify_rc, SO_EINVAL); /* over 1024 bytes */
  CU_ASSERT_EQUAL(W.worker_notify_rc, SO_EINVAL);
  for (int r = 1; r <= 3; r++)
    CU_ASSERT_EQUAL(W.notices[r], 1);
  so_report_free(&rep);
}

/* Halting soon: no task starts after the halt, every started task ends and is merged once. */
static void test_halt_soon_lets_running_finish(void) {
  reset(400, 30);
  W.halt_at = 5;
  W.halt_how = SO_HALT_SOON;
  so_config cfg = config(2);
  so_report rep;
  CU_ASSERT_EQUAL(harness_run(&waiter_job, 2, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(rep.stopped, SO_HALT_SOON);
  uint64_t started = 0, lost = 0, twice = 0;
  for (int i = 0; i < 400; i++) {
    started += W.started_on[i] > 0;
    lost += W.started_on[i] && !W.merged[i];
    twice += W.merged[i] > 1 || W.started_on[i] > 1;
  }
  CU_ASSERT(started < 400);
  CU_ASSERT_EQUAL(lost, 0);
  CU_ASSERT_EQUAL(twice, 0);
  CU_ASSERT_EQUAL(rep.tasks, started);
  CU_ASSERT_EQUAL(W.nmerged, started);
  so_report_free(&rep);
}

/* Halting now: running tasks are cancelled (status 137) at once, not waited for. Task 0 is short
 * but ends only once another task has started, and every other task takes 20 s; the first merge
 * halts the run, so at that moment at least one 20 s task is running. Without cancel() each would
 * end on its own, 20 s later, with status 0. */
static void test_halt_now_cancels_running(void) {
  reset(200, 20000);
  W.first_ms = 1;
  W.gate = 1;
  W.halt_at = 1;
  W.halt_how = SO_HALT_NOW;
  so_config cfg = config(2);
  so_report rep;
  double t0 = mono();
  CU_ASSERT_EQUAL(harness_run(&waiter_job, 2, &cfg, &rep), 0);
  double wall = mono() - t0;
  CU_ASSERT_EQUAL(rep.stopped, SO_HALT_NOW);
  uint64_t lost = 0, cancelled = 0, other = 0;
  for (int i = 0; i < 200; i++) {
    lost += W.started_on[i] && !W.merged[i];
    if (i > 0 && W.merged[i] && W.merged_status[i] == 137)
      cancelled++;
    else if (i > 0 && W.merged[i])
      other++;
  }
  CU_ASSERT_EQUAL(lost, 0);
  CU_ASSERT(cancelled >= 1); /* the long task(s) running at the halt */
  CU_ASSERT_EQUAL(other, 0); /* none of them ran its 20 s out */
  CU_ASSERT(wall < 10);
  if (cancelled < 1 || other || wall >= 10)
    printf("\n  %llu cancelled, %llu ended otherwise, %.2f s\n", (unsigned long long)cancelled,
           (unsigned long long)other, wall);
  so_report_free(&rep);
}

/* Checks that each task of a streamed source started after it became ready and within late
 * seconds of that, and ran once. */
static void check_streamed(uint64_t n, double late) {
  int once = 1, early = 0, delayed = 0;
  double worst = 0;
  for (uint64_t i = 0; i < n; i++) {
    once &= W.merged[i] == 1 && W.started_on[i] == 1;
    double d = W.started_at[i] - (double)(i + 1) * W.every;
    early += d < 0;
    delayed += d > late;
    worst = d > worst ? d : worst;
  }
  CU_ASSERT(once);
  CU_ASSERT_EQUAL(early, 0);
  CU_ASSERT_EQUAL(delayed, 0);
  if (delayed)
    printf("\n  a task started %.3f s after it was ready (allowed: %.3f s)\n", worst, late);
}

/* A source whose tasks come one by one (next() says SO_NEXT_LATER in between, as a pipe that is
 * still being written): each task starts as it comes, on whichever worker waits. */
static void test_streamed_source_starts_each_as_it_comes(void) {
  reset(8, 20);
  W.every = 0.06;
  so_config cfg = config(1);
  so_report rep;
  W.t0 = mono();
  CU_ASSERT_EQUAL(harness_run(&waiter_job, 2, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(rep.tasks, 8);
  /* The master asks the source again every 10 ms; the rest is thread scheduling. */
  check_streamed(8, 0.1);
  so_report_free(&rep);
}

/* The same with one worker of 3 slots busy with a long first task: its request was answered
 * empty while it held that task, and it must hear that work came (MORE) rather than wait until
 * the long task ends. */
static void test_streamed_source_fills_free_slots(void) {
  reset(5, 20);
  W.every = 0.1;
  W.first_ms = 800;
  so_config cfg = config(3);
  so_report rep;
  W.t0 = mono();
  CU_ASSERT_EQUAL(harness_run(&waiter_job, 1, &cfg, &rep), 0);
  CU_ASSERT_EQUAL(rep.tasks, 5);
  check_streamed(5, 0.1); /* the long task would hold them 0.5 s and more */
  so_report_free(&rep);
}

/* Output reaches the master's stream in whole lines, never two tasks mixed within a line. */
static void test_output_whole_lines(void) {
  reset(64, 2);
  W.lines = 5;
  char *text = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&text, &size);
  CU_ASSERT_FATAL(out != NULL);
  so_config cfg = config(4);
  cfg.task_out = out;
  so_report rep;
  CU_ASSERT_EQUAL(harness_run(&waiter_job, 3, &cfg, &rep), 0);
  fclose(out);
  int lines = 0, good = 1, seen[64][5];
  memset(seen, 0, sizeof seen);
  for (char *p = text, *nl; p && *p; p = nl + 1) {
    nl = strchr(p, '\n');
    if (!nl) {
      good = 0;
      break;
    }
    unsigned long long id;
    int k;
    char tail;
    *nl = 0;
    if (sscanf(p, "task %llu line %d%c", &id, &k, &tail) != 2 || id >= 64 || k < 0 || k >= 5)
      good = 0;
    else
      seen[id][k]++;
    lines++;
  }
  CU_ASSERT(good);
  CU_ASSERT_EQUAL(lines, 64 * 5);
  int each_once = 1;
  for (int i = 0; i < 64; i++)
    for (int k = 0; k < 5; k++)
      each_once &= seen[i][k] == 1;
  CU_ASSERT(each_once);
  free(text);
  so_report_free(&rep);
}

int main(void) {
  static const so_test_case cases[] = {
      {"slots run several tasks at once per worker", test_slots_run_tasks_concurrently},
      {"a failed task is rerun on another worker", test_retries_go_to_another_worker},
      {"with one worker, retries are exhausted there", test_retries_exhausted_on_one_worker},
      {"a notice reaches every worker while its tasks run", test_notice_reaches_running_workers},
      {"halt soon: running tasks finish, none lost or doubled", test_halt_soon_lets_running_finish},
      {"halt now: running tasks are cancelled at once", test_halt_now_cancels_running},
      {"output arrives in whole lines", test_output_whole_lines},
      {"a streamed source: each task starts as it comes", test_streamed_source_starts_each_as_it_comes},
      {"a streamed source fills free slots of a busy worker", test_streamed_source_fills_free_slots},
      {NULL, NULL}};
  return so_test_run("engine_async", cases);
}

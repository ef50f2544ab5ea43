/* Unit tests of the built-in jobs (pi, primes, sleep, noop), run in-process without MPI. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "ctx.h"
#include "jobs_list.h"
#include "map.h"
#include "params.h"
#include "so_jobtest.h"
#include "so_test.h"

/* --- Helpers --- */

static double answer_double(const so_answer *a, const char *name) {
  const so__answer_item *it = answer_get(a, name);
  return it && it->kind == SO_ANSWER_DOUBLE ? it->d : NAN;
}

/* Small deterministic generator for the tests' own random choices. */
static uint64_t test_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Orders in which the test driver runs and merges the generated tasks. */
typedef enum order_kind {
  ORDER_FORWARD,
  ORDER_REVERSE,
  ORDER_SHUFFLE,
  ORDER_DUP_FIRST, /* every task, and task 0 a second time at the end */
  ORDER_SKIP_LAST  /* every task but the last */
} order_kind;

/*
 * A driver unlike so__run_serial: it generates every task first, then runs them in the given
 * order on nworkers worker contexts in turn, merging each result at once. This is what the real
 * engine may do, so a job whose answer depends on order or on which worker ran what fails here.
 * It also checks that next() keeps returning 0 after the last task and that the built-in jobs'
 * tasks carry no payload. Returns 0 or non-zero, and the answer (free with so__answer_free).
 */
static int drive(const so_job *orig, const so_params *params, int nworkers, order_kind order,
                 so_answer **answer) {
  enum { MAXW = 4 };
  so_ctx m, w[MAXW];
  so__buf data = SO_BUF_INIT, out = SO_BUF_INIT, pay = SO_BUF_INIT;
  uint64_t n = 0, *ids = NULL;
  int rc = -1, winit = 0;
  *answer = NULL;
  /* A map job runs as the ordinary job the engine makes of it, under its own schedule. */
  const so_job *job;
  char err[256];
  if (so__map_wrap(orig, NULL, &job, err, sizeof err))
    return -1;
  so__ctx_init(&m, job, params, SO_ROLE_MASTER, 0, nworkers);
  m.task_data = &data;
  m.answer = so__answer_new();
  if (!m.answer || nworkers > MAXW || job->init(&m))
    goto done_master;
  for (; winit < nworkers; winit++) {
    so__ctx_init(&w[winit], job, params, SO_ROLE_WORKER, winit + 1, nworkers);
    if (job->init(&w[winit]))
      goto done;
  }
  for (;; n++) {
    so_task_out t = {.id = n};
    int more = job->next(&m, &t);
    if (more < 0 || n > 1000000)
      goto done;
    if (more == 0)
      break;
    /* A map task carries only where its items are; other built-in tasks carry nothing. */
    CU_ASSERT_EQUAL(data.len, orig->map ? sizeof(so__map_span) : 0);
    if (so__buf_append(&pay, data.data, data.len))
      goto done;
  }
  for (int again = 0; again < 3; again++) {
    so_task_out t = {.id = n + (uint64_t)again};
    CU_ASSERT_EQUAL(job->next(&m, &t), 0);
  }
  ids = malloc((n + 1) * sizeof *ids);
  if (!ids)
    goto done;
  size_t nids = n;
  for (uint64_t i = 0; i < n; i++)
    ids[i] = order == ORDER_REVERSE ? n - 1 - i : i;
  if (order == ORDER_SHUFFLE) {
    uint64_t s = 0x1234567;
    for (uint64_t i = n; i > 1; i--) {
      uint64_t j = test_rand(&s) % i, tmp = ids[i - 1];
      ids[i - 1] = ids[j];
      ids[j] = tmp;
    }
  } else if (order == ORDER_DUP_FIRST) {
    ids[nids++] = 0;
  } else if (order == ORDER_SKIP_LAST) {
    nids--;
  }
  for (size_t k = 0; k < nids; k++) {
    so_ctx *wc = &w[k % (size_t)nworkers];
    size_t plen = orig->map ? sizeof(so__map_span) : 0;
    so_task task = {.id = ids[k], .data = pay.data ? pay.data + ids[k] * plen : NULL, .len = plen};
    so_result res = {.buf = &out};
    so__buf_clear(&out);
    int st = job->run(wc, &task, &res);
    so_task_result r = {.id = ids[k], .status = st, .worker = wc->rank, .data = out.data,
                        .len = out.len};
    if (res.failed || (job->merge && job->merge(&m, &r)))
      goto done;
  }
  rc = job->finish ? job->finish(&m) : 0;
done:
  for (int i = 0; i < winit; i++)
    job->fini(&w[i]);
  job->fini(&m);
done_master:
  free(ids);
  so__buf_free(&data);
  so__buf_free(&out);
  so__buf_free(&pay);
  so__map_unwrap(job);
  if (rc == 0)
    *answer = m.answer;
  else
    so__answer_free(m.answer);
  return rc;
}

/* so__run_serial on a store built from the pairs; returns its code and the answer. */
#define SERIAL(ans, job, ...)                                                                      \
  serial(&(ans), (job), params_of((job), __VA_ARGS__, (const char *)NULL))

static int serial(so_answer **ans, const so_job *job, so_params *p) {
  uint64_t tasks = 0;
  *ans = NULL;
  if (!p)
    return -100;
  int rc = so__run_serial(job, p, &tasks, ans);
  so__params_free(p);
  return rc;
}

/* --- Built-in table --- */

static void test_builtin_find(void) {
  CU_ASSERT_PTR_EQUAL(so__builtin_find("pi"), &so_job_pi);
  CU_ASSERT_PTR_EQUAL(so__builtin_find("primes"), &so_job_primes);
  CU_ASSERT_PTR_EQUAL(so__builtin_find("sleep"), &so_job_sleep);
  CU_ASSERT_PTR_EQUAL(so__builtin_find("noop"), &so_job_noop);
  CU_ASSERT_PTR_EQUAL(so__builtin_find("cmd"), &so_job_cmd);
  CU_ASSERT_PTR_EQUAL(so__builtin_find("squarecube"), &so_job_squarecube);
  CU_ASSERT_PTR_EQUAL(so__builtin_find("dishes"), &so_job_dishes);
  CU_ASSERT_PTR_NULL(so__builtin_find("nope"));
  CU_ASSERT_PTR_NULL(so__builtin_find(NULL));
  size_t n = 0;
  while (so__builtin_jobs[n])
    n++;
  CU_ASSERT_EQUAL(n, 11);
  /* Every default must parse within its own range, or the job cannot run without options. */
  for (size_t i = 0; i < n; i++) {
    so_params *p = so__params_new(so__builtin_jobs[i]);
    CU_ASSERT_PTR_NOT_NULL(p);
    so__params_free(p);
  }
}

/* --- primes --- */

/* The primes in [from, to) by trial division: slow, obviously right. */
static int64_t naive_primes(uint64_t from, uint64_t to) {
  int64_t c = 0;
  for (uint64_t n = from; n < to; n++) {
    if (n < 2 || (n > 2 && n % 2 == 0))
      continue;
    int prime = 1;
    for (uint64_t d = 3; d * d <= n; d += 2)
      if (n % d == 0) {
        prime = 0;
        break;
      }
    c += prime;
  }
  return c;
}

/* The primes job's count for [from, to) in `tasks` tasks, or -1 when the job fails. */
static int64_t job_primes(uint64_t from, uint64_t to, uint64_t tasks) {
  char f[32], t[32], k[32];
  snprintf(f, sizeof f, "%llu", (unsigned long long)from);
  snprintf(t, sizeof t, "%llu", (unsigned long long)to);
  snprintf(k, sizeof k, "%llu", (unsigned long long)tasks);
  so_answer *a;
  if (SERIAL(a, &so_job_primes, "from", f, "to", t, "tasks", k))
    return -1;
  int64_t c = answer_int(a, "primes");
  CU_ASSERT_EQUAL(answer_int(a, "from"), (int64_t)from);
  CU_ASSERT_EQUAL(answer_int(a, "to"), (int64_t)to);
  so__answer_free(a);
  return c;
}

static void test_primes_known(void) {
  CU_ASSERT_EQUAL(job_primes(0, 2, 1), 0);
  CU_ASSERT_EQUAL(job_primes(0, 1, 1), 0);
  CU_ASSERT_EQUAL(job_primes(2, 3, 1), 1);
  CU_ASSERT_EQUAL(job_primes(0, 3, 3), 1);
  CU_ASSERT_EQUAL(job_primes(0, 100, 1), 25);
  CU_ASSERT_EQUAL(job_primes(0, 10000000, 1000), 664579);
  /* Task counts that do not divide the range must give the same count. */
  CU_ASSERT_EQUAL(job_primes(0, 10000000, 1), 664579);
  CU_ASSERT_EQUAL(job_primes(0, 10000000, 7), 664579);
  CU_ASSERT_EQUAL(job_primes(0, 10000000, 999), 664579);
  CU_ASSERT_EQUAL(job_primes(0, 10000000, 65537), 664579);
  CU_ASSERT_EQUAL(job_primes(0, 100000000, 13), 5761455);
  /* Tasks narrower than a sieve window (64 Ki numbers here) share the worker's window: tasks of
   * 10 numbers, and tasks of 62500 that straddle window edges. */
  CU_ASSERT_EQUAL(job_primes(0, 2000000, 200000), 148933);
  CU_ASSERT_EQUAL(job_primes(0, 1000000, 16), 78498);
  CU_ASSERT_EQUAL(job_primes(12345, 1000000, 4099), naive_primes(12345, 1000000));
  /* A window at the very top of the accepted range. */
  CU_ASSERT_EQUAL(job_primes(999999990000u, 1000000000000u, 3),
                  naive_primes(999999990000u, 1000000000000u));
}

/* Every range inside [0, 64) at a few task counts: the edges at 0, 1, 2, 3, 9 and 25. */
static void test_primes_tiny_ranges(void) {
  int bad = 0;
  for (uint64_t from = 0; from < 64; from++)
    for (uint64_t to = from + 1; to <= 64; to++) {
      uint64_t ks[] = {1, 2, 3, to - from};
      for (size_t i = 0; i < 4; i++)
        if (ks[i] <= to - from && job_primes(from, to, ks[i]) != naive_primes(from, to))
          bad++;
    }
  CU_ASSERT_EQUAL(bad, 0);
}

static void test_primes_random_ranges(void) {
  uint64_t s = 0x9E3779B97F4A7C15u;
  int bad = 0;
  for (int i = 0; i < 300; i++) {
    /* Ranges at several magnitudes, up to the job's limit of 10^12. */
    uint64_t scale = i % 3 == 0 ? 1000000 : i % 3 == 1 ? 10000000000u : 999999990000u;
    /* Trial division near 10^12 costs up to 5*10^5 divisions a prime: keep those ranges short. */
    uint64_t from = test_rand(&s) % scale;
    uint64_t len = 1 + test_rand(&s) % (i % 3 == 2 ? 200 : 3000);
    uint64_t to = from + len > 1000000000000u ? 1000000000000u : from + len;
    uint64_t tasks = 1 + test_rand(&s) % (to - from < 40 ? to - from : 40);
    int64_t got = job_primes(from, to, tasks), want = naive_primes(from, to);
    if (got != want) {
      fprintf(stderr, "primes [%llu, %llu) in %llu tasks: %lld, expected %lld\n",
              (unsigned long long)from, (unsigned long long)to, (unsigned long long)tasks,
              (long long)got, (long long)want);
      bad++;
    }
  }
  CU_ASSERT_EQUAL(bad, 0);
}

/* Out of order, across workers whose sieve state carries over from task to task. */
static void test_primes_order(void) {
  so_params *p = params_of(&so_job_primes, "from", "1000", "to", "2000000", "tasks", "97", NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  so_answer *a;
  CU_ASSERT_EQUAL(drive(&so_job_primes, p, 3, ORDER_SHUFFLE, &a), 0);
  CU_ASSERT_EQUAL(answer_int(a, "primes"), 148933 - 168);
  so__answer_free(a);
  /* Fine-grained tasks in shuffled order: each worker's cached window changes often. */
  so_params *fine = params_of(&so_job_primes, "from", "1000", "to", "2000000", "tasks", "199999",
                              NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(fine);
  CU_ASSERT_EQUAL(drive(&so_job_primes, fine, 3, ORDER_SHUFFLE, &a), 0);
  CU_ASSERT_EQUAL(answer_int(a, "primes"), 148933 - 168);
  so__answer_free(a);
  so__params_free(fine);
  /* A missing task must not yield a count. */
  CU_ASSERT_NOT_EQUAL(drive(&so_job_primes, p, 2, ORDER_SKIP_LAST, &a), 0);
  CU_ASSERT_PTR_NULL(a);
  so__params_free(p);

  /* A failed task is a hole the engine reports (exit 3): the count of the rest, and the hole. */
  p = params_of(&so_job_primes, "from", "0", "to", "100", "tasks", "4", NULL);
  const so_job *job;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(so__map_wrap(&so_job_primes, NULL, &job, err, sizeof err), 0);
  so_ctx m;
  so__ctx_init(&m, job, p, SO_ROLE_MASTER, 0, 1);
  m.answer = so__answer_new();
  CU_ASSERT_EQUAL_FATAL(job->init(&m), 0);
  static const uint64_t counts[4] = {9, 6, 4, 6}; /* [0,25) [25,50) [50,75) [75,100) */
  for (uint64_t id = 0; id < 4; id++) {
    uint64_t r4[4] = {counts[id], 25, 1, 1000}; /* primes, numbers; trailer: items, ns */
    so_task_result r = {.id = id, .status = id == 2 ? 1 : 0, .data = r4,
                        .len = id == 2 ? 0 : sizeof r4};
    CU_ASSERT_EQUAL(job->merge(&m, &r), 0);
  }
  CU_ASSERT_EQUAL(job->finish(&m), 0);
  CU_ASSERT_EQUAL(answer_int(m.answer, "primes"), 21);
  CU_ASSERT_EQUAL(answer_int(m.answer, "missing_numbers"), 25);
  so__answer_free(m.answer);
  job->fini(&m);
  so__map_unwrap(job);
  so__params_free(p);
}

static void test_primes_errors(void) {
  so_answer *a;
  /* Bad input, said as SO_EINVAL so that the exit status is the bad-input one. */
  CU_ASSERT_EQUAL(SERIAL(a, &so_job_primes, "from", "10", "to", "10"), SO_EINVAL);
  CU_ASSERT_EQUAL(SERIAL(a, &so_job_primes, "from", "20", "to", "10"), SO_EINVAL);
  CU_ASSERT_EQUAL(SERIAL(a, &so_job_primes, "from", "0", "to", "10", "tasks", "11"), SO_EINVAL);
  CU_ASSERT_EQUAL(SERIAL(a, &so_job_primes, "from", "0", "to", "10", "tasks", "10"), 0);
  CU_ASSERT_EQUAL(answer_int(a, "primes"), 4);
  so__answer_free(a);
  /* Beyond the largest `to` the job can vouch for, the parameter itself is refused. */
  CU_ASSERT_PTR_NULL(params_of(&so_job_primes, "to", "1000000000001", NULL));
}

/* --- pi --- */

static void test_pi_accuracy(void) {
  so_answer *a;
  CU_ASSERT_EQUAL_FATAL(SERIAL(a, &so_job_pi, "samples", "1e6", "tasks", "10"), 0);
  CU_ASSERT(fabs(answer_double(a, "pi") - M_PI) < 0.01);
  CU_ASSERT_EQUAL(answer_int(a, "samples"), 1000000);
  CU_ASSERT_EQUAL(answer_double(a, "pi"), 4.0 * (double)answer_int(a, "hits") / 1e6);
  so__answer_free(a);
  /* The same streams as pi before it became a map job: 7dd1102's pi.c gives these hits. */
  CU_ASSERT_EQUAL_FATAL(SERIAL(a, &so_job_pi, "samples", "2e6", "seed", "12345"), 0);
  CU_ASSERT_EQUAL(answer_int(a, "hits"), 1571406);
  so__answer_free(a);
  CU_ASSERT_EQUAL_FATAL(SERIAL(a, &so_job_pi, "samples", "200003", "tasks", "37", "seed", "7"), 0);
  CU_ASSERT_EQUAL(answer_int(a, "hits"), 156944);
  so__answer_free(a);
}

/* The answer is the same bits in any order, on any number of workers; the seed changes it. */
static void test_pi_order_independent(void) {
  so_params *p = params_of(&so_job_pi, "samples", "200003", "tasks", "37", "seed", "7", NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  uint64_t n;
  so_answer *ref, *a;
  CU_ASSERT_EQUAL_FATAL(so__run_serial(&so_job_pi, p, &n, &ref), 0);
  CU_ASSERT_EQUAL(n, 37);
  CU_ASSERT_EQUAL(answer_int(ref, "samples"), 200003);
  double want = answer_double(ref, "pi");
  order_kind orders[] = {ORDER_FORWARD, ORDER_REVERSE, ORDER_SHUFFLE};
  for (int o = 0; o < 3; o++)
    for (int nw = 1; nw <= 3; nw++) {
      CU_ASSERT_EQUAL_FATAL(drive(&so_job_pi, p, nw, orders[o], &a), 0);
      double got = answer_double(a, "pi");
      CU_ASSERT_EQUAL(memcmp(&got, &want, sizeof got), 0);
      CU_ASSERT_EQUAL(answer_int(a, "hits"), answer_int(ref, "hits"));
      so__answer_free(a);
    }
  so__params_free(p);
  CU_ASSERT_EQUAL(SERIAL(a, &so_job_pi, "samples", "200003", "tasks", "37", "seed", "8"), 0);
  CU_ASSERT_NOT_EQUAL(answer_int(a, "hits"), answer_int(ref, "hits"));
  so__answer_free(a);
  so__answer_free(ref);
}

static void test_pi_errors(void) {
  so_answer *a;
  CU_ASSERT_EQUAL(SERIAL(a, &so_job_pi, "samples", "10", "tasks", "11"), SO_EINVAL);
  CU_ASSERT_PTR_NULL(a);
  /* As many tasks as samples is fine: one sample each, and the total stays exact. */
  CU_ASSERT_EQUAL(SERIAL(a, &so_job_pi, "samples", "10", "tasks", "10"), 0);
  CU_ASSERT_EQUAL(answer_int(a, "samples"), 10);
  so__answer_free(a);
  CU_ASSERT_PTR_NULL(params_of(&so_job_pi, "samples", "0", NULL));
  CU_ASSERT_PTR_NULL(params_of(&so_job_pi, "seed", "-1", NULL));

  /* The map's result of a chunk is the two sums and the trailer: anything else is refused. */
  so_params *p = params_of(&so_job_pi, "samples", "100", "tasks", "4", NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  const so_job *job;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(so__map_wrap(&so_job_pi, NULL, &job, err, sizeof err), 0);
  so_ctx m;
  so__ctx_init(&m, job, p, SO_ROLE_MASTER, 0, 1);
  CU_ASSERT_EQUAL_FATAL(job->init(&m), 0);
  CU_ASSERT_EQUAL(m.total, 4); /* the default schedule (auto) makes one-item chunks at first */
  uint64_t good[4] = {3, 25, 1, 1000};
  so_task_result short_res = {.id = 0, .data = good, .len = 12};
  so_task_result long_res = {.id = 0, .data = good, .len = 8 * 4 + 8};
  so_task_result ok = {.id = 3, .data = good, .len = sizeof good};
  CU_ASSERT_NOT_EQUAL(job->merge(&m, &short_res), 0);
  CU_ASSERT_NOT_EQUAL(job->merge(&m, &long_res), 0);
  CU_ASSERT_EQUAL(job->merge(&m, &ok), 0);
  job->fini(&m);
  so__map_unwrap(job);
  so__params_free(p);
}

/* --- sleep --- */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}

static void test_sleep_timing(void) {
  so_answer *a;
  double t0 = now();
  CU_ASSERT_EQUAL_FATAL(SERIAL(a, &so_job_sleep, "tasks", "1", "ms", "20"), 0);
  double dt = now() - t0;
  CU_ASSERT(dt >= 0.020);
  CU_ASSERT(dt < 1.0);
  CU_ASSERT_EQUAL(answer_int(a, "tasks"), 1);
  CU_ASSERT_EQUAL(answer_int(a, "slept_ms"), 20);
  so__answer_free(a);

  /* A signal every 2 ms interrupts nanosleep(); the task must still wait its full time. */
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: the sleep sees EINTR */
  sigemptyset(&sa.sa_mask);
  CU_ASSERT_EQUAL_FATAL(sigaction(SIGALRM, &sa, &old), 0);
  struct itimerval it = {.it_interval = {0, 2000}, .it_value = {0, 2000}}, off = {{0, 0}, {0, 0}};
  alarms = 0;
  setitimer(ITIMER_REAL, &it, NULL);
  t0 = now();
  int rc = SERIAL(a, &so_job_sleep, "tasks", "2", "ms", "15");
  dt = now() - t0;
  setitimer(ITIMER_REAL, &off, NULL);
  sigaction(SIGALRM, &old, NULL);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(alarms > 0);
  CU_ASSERT(dt >= 0.030);
  CU_ASSERT_EQUAL(answer_int(a, "tasks"), 2);
  CU_ASSERT_EQUAL(answer_int(a, "slept_ms"), 30);
  so__answer_free(a);

  CU_ASSERT_PTR_NULL(params_of(&so_job_sleep, "ms", "3600001", NULL));
  CU_ASSERT_PTR_NULL(params_of(&so_job_sleep, "tasks", "0", NULL));
}

/* --- noop --- */

static void test_noop_accounting(void) {
  so_params *p = params_of(&so_job_noop, "tasks", "1000", NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  so_answer *a;
  CU_ASSERT_EQUAL_FATAL(drive(&so_job_noop, p, 2, ORDER_SHUFFLE, &a), 0);
  CU_ASSERT_EQUAL(answer_int(a, "tasks"), 1000);
  CU_ASSERT_EQUAL(answer_int(a, "distinct"), 1000);
  CU_ASSERT_EQUAL(answer_int(a, "duplicates"), 0);
  CU_ASSERT_EQUAL(answer_int(a, "missing"), 0);
  so__answer_free(a);

  CU_ASSERT_EQUAL_FATAL(drive(&so_job_noop, p, 1, ORDER_DUP_FIRST, &a), 0);
  CU_ASSERT_EQUAL(answer_int(a, "tasks"), 1001);
  CU_ASSERT_EQUAL(answer_int(a, "distinct"), 1000);
  CU_ASSERT_EQUAL(answer_int(a, "duplicates"), 1);
  CU_ASSERT_EQUAL(answer_int(a, "missing"), 0);
  so__answer_free(a);

  CU_ASSERT_EQUAL_FATAL(drive(&so_job_noop, p, 1, ORDER_SKIP_LAST, &a), 0);
  CU_ASSERT_EQUAL(answer_int(a, "tasks"), 999);
  CU_ASSERT_EQUAL(answer_int(a, "distinct"), 999);
  CU_ASSERT_EQUAL(answer_int(a, "duplicates"), 0);
  CU_ASSERT_EQUAL(answer_int(a, "missing"), 1);
  so__answer_free(a);
  so__params_free(p);

  /* An id the job never produced is an error, not a silent miss. */
  p = params_of(&so_job_noop, "tasks", "8", NULL);
  so_ctx m;
  so__ctx_init(&m, &so_job_noop, p, SO_ROLE_MASTER, 0, 1);
  CU_ASSERT_EQUAL_FATAL(so_job_noop.init(&m), 0);
  so_task_result r = {.id = 8};
  CU_ASSERT_NOT_EQUAL(so_job_noop.merge(&m, &r), 0);
  so_job_noop.fini(&m);
  CU_ASSERT_PTR_NULL(m.state);
  so_job_noop.fini(&m); /* fini on a NULL state is harmless */
  so__params_free(p);

  /* A task that failed did not run as asked: its id is missing, not seen. */
  p = params_of(&so_job_noop, "tasks", "3", NULL);
  so__ctx_init(&m, &so_job_noop, p, SO_ROLE_MASTER, 0, 1);
  m.answer = so__answer_new();
  CU_ASSERT_EQUAL_FATAL(so_job_noop.init(&m), 0);
  for (uint64_t id = 0; id < 3; id++) {
    so_task_result ok = {.id = id, .status = id == 1 ? 2 : 0};
    CU_ASSERT_EQUAL(so_job_noop.merge(&m, &ok), 0);
  }
  CU_ASSERT_EQUAL(so_job_noop.finish(&m), 0);
  CU_ASSERT_EQUAL(answer_int(m.answer, "distinct"), 2);
  CU_ASSERT_EQUAL(answer_int(m.answer, "missing"), 1);
  so__answer_free(m.answer);
  so_job_noop.fini(&m);
  so__params_free(p);
}

/* Above 10^9 tasks the master keeps no bitmap and reports only the count. */
static void test_noop_untracked(void) {
  so_params *p = params_of(&so_job_noop, "tasks", "2e9", NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  so_ctx m;
  so__ctx_init(&m, &so_job_noop, p, SO_ROLE_MASTER, 0, 1);
  m.answer = so__answer_new();
  CU_ASSERT_EQUAL_FATAL(so_job_noop.init(&m), 0);
  CU_ASSERT_EQUAL(m.total, 2000000000u);
  so_task_result r = {.id = 1999999999};
  CU_ASSERT_EQUAL(so_job_noop.merge(&m, &r), 0);
  CU_ASSERT_EQUAL(so_job_noop.finish(&m), 0);
  CU_ASSERT_EQUAL(answer_int(m.answer, "tasks"), 1);
  CU_ASSERT_PTR_NULL(answer_get(m.answer, "distinct"));
  so_job_noop.fini(&m);
  so__answer_free(m.answer);
  so__params_free(p);
}

static void test_noop_trace(void) {
  char base[64], path[80];
  snprintf(base, sizeof base, "/tmp/so_test_jobs_trace_%ld", (long)getpid());
  snprintf(path, sizeof path, "%s.1", base); /* so__run_serial's worker is rank 1 */
  unlink(path);
  so_answer *a;
  CU_ASSERT_EQUAL_FATAL(SERIAL(a, &so_job_noop, "tasks", "50", "trace", base), 0);
  so__answer_free(a);
  FILE *f = fopen(path, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  unsigned long long id, expect = 0;
  int in_order = 1;
  while (fscanf(f, "%llu", &id) == 1)
    in_order &= id == expect++;
  fclose(f);
  unlink(path);
  CU_ASSERT(in_order);
  CU_ASSERT_EQUAL(expect, 50);
  /* An unwritable trace path fails the worker's init with a message. */
  CU_ASSERT_NOT_EQUAL(SERIAL(a, &so_job_noop, "tasks", "5", "trace", "/nonexistent/dir/t"), 0);
}

/* A trace line that cannot be written fails its task, with the reason; nothing is buffered, so
 * the very task whose line was lost is the one that fails. */
static void test_noop_trace_full(void) {
  char base[64], path[80];
  snprintf(base, sizeof base, "/tmp/so_test_jobs_full_%ld", (long)getpid());
  snprintf(path, sizeof path, "%s.1", base);
  unlink(path);
  CU_ASSERT_EQUAL_FATAL(symlink("/dev/full", path), 0);
  so_params *p = params_of(&so_job_noop, "tasks", "4", "trace", base, NULL);
  so_ctx w;
  so__ctx_init(&w, &so_job_noop, p, SO_ROLE_WORKER, 1, 1);
  CU_ASSERT_EQUAL_FATAL(so_job_noop.init(&w), 0);
  so__buf out = SO_BUF_INIT;
  for (uint64_t id = 0; id < 2; id++) {
    so_task task = {.id = id};
    so_result res = {.buf = &out};
    w.error[0] = 0;
    CU_ASSERT_NOT_EQUAL(so_job_noop.run(&w, &task, &res), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.error, "No space left on device"));
    char want[32];
    snprintf(want, sizeof want, "task %llu ", (unsigned long long)id);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.error, want));
  }
  so_job_noop.fini(&w);
  so__buf_free(&out);
  so__params_free(p);
  unlink(path);
}

int main(void) {
  static const so_test_case cases[] = {
      {"builtin_find", test_builtin_find},
      {"primes_known", test_primes_known},
      {"primes_tiny_ranges", test_primes_tiny_ranges},
      {"primes_random_ranges", test_primes_random_ranges},
      {"primes_order", test_primes_order},
      {"primes_errors", test_primes_errors},
      {"pi_accuracy", test_pi_accuracy},
      {"pi_order_independent", test_pi_order_independent},
      {"pi_errors", test_pi_errors},
      {"sleep_timing", test_sleep_timing},
      {"noop_accounting", test_noop_accounting},
      {"noop_untracked", test_noop_untracked},
      {"noop_trace", test_noop_trace},
      {"noop_trace_full", test_noop_trace_full},
      {NULL, NULL},
  };
  return so_test_run("jobs", cases);
}

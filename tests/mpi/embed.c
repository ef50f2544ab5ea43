/*
 * A program that embeds the engine through the installed public API only (scaleout/scaleout.h and
 * the functions libscaleout.so exports under SCALEOUT_2), as docs/api.md describes: it builds the
 * parameters of its own job from text, runs it with so_run on MPI_COMM_WORLD twice, reads the
 * answer by name and checks it against the formula, and checks the job-table version rules.
 *
 * Run with 3 ranks (1 master, 2 workers): mpirun -n 3 ./embed. Prints "ok"/"FAIL" lines on rank 0
 * and exits 0 only when every check passed (the verdict is shared with every rank).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <mpi.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scaleout/scaleout.h"

/* --- The job: sum of squares of 0 .. n-1, one task per number, the square computed on a worker.
 * Its answer: sum (int), mean (double), label (string). --- */

typedef struct sumsq {
  int64_t sum;
  uint64_t merged;
} sumsq;

static int sq_check(so_ctx *ctx) {
  so_ctx_set_total(ctx, (uint64_t)so_ctx_int(ctx, "n"));
  return 0;
}

static int sq_init(so_ctx *ctx) {
  if (so_ctx_role(ctx) != SO_ROLE_MASTER)
    return 0;
  sumsq *s = calloc(1, sizeof *s);
  if (!s)
    return SO_ENOMEM;
  so_ctx_set_state(ctx, s);
  return 0;
}

static int sq_next(so_ctx *ctx, so_task_out *task) {
  return task->id < (uint64_t)so_ctx_int(ctx, "n") ? 1 : 0;
}

static int sq_run(so_ctx *ctx, const so_task *task, so_result *res) {
  int64_t v = (int64_t)task->id * (int64_t)task->id;
  return so_result_write(res, &v, sizeof v);
}

static int sq_merge(so_ctx *ctx, const so_task_result *r) {
  sumsq *s = so_ctx_state(ctx);
  int64_t v;
  if (r->status != 0 || r->len != sizeof v) {
    so_ctx_errorf(ctx, "task %" PRIu64 " came back with %zu bytes", r->id, r->len);
    return SO_EJOB;
  }
  memcpy(&v, r->data, sizeof v);
  s->sum += v;
  s->merged++;
  return 0;
}

static int sq_finish(so_ctx *ctx) {
  sumsq *s = so_ctx_state(ctx);
  so_answer_int(ctx, "sum", s->sum);
  so_answer_double(ctx, "mean", s->merged ? (double)s->sum / (double)s->merged : 0.0);
  so_answer_string(ctx, "label", so_ctx_string(ctx, "label"));
  so_ctx_set_exit(ctx, (int)(s->merged % 7)); /* any status: the program reads it back */
  return 0;
}

static void sq_fini(so_ctx *ctx) { free(so_ctx_state(ctx)); }

static const so_param_def sq_params[] = {
    {"n", SO_PARAM_INT, NULL, "how many numbers (required)", 1, 1e7},
    {"label", SO_PARAM_STRING, "squares", "a name for the answer", 1, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static const so_job sumsq_job = {
    SO_JOB_VERSION,
    .name = "sumsq",
    .summary = "sum of squares, one task per number",
    .params = sq_params,
    .check = sq_check,
    .init = sq_init,
    .next = sq_next,
    .run = sq_run,
    .merge = sq_merge,
    .finish = sq_finish,
    .fini = sq_fini,
};

/* --- Checks, counted on rank 0 --- */

static int rank, passed, failed;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
  if (rank != 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  printf("  %s  ", ok ? "ok  " : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  ok ? passed++ : failed++;
}

static int64_t want_sum(int64_t n) { return (n - 1) * n * (2 * n - 1) / 6; }

/* Runs sumsq with --n n (as text) and checks the report's answer on the master. */
static void run_once(const char *n_text, int64_t n, const so_config *cfg, int json) {
  char err[256];
  so_params *p = so_params_new(&sumsq_job);
  check(p != NULL, "so_params_new(sumsq)");
  if (!p)
    return;
  check(so_params_set(p, "n", n_text, err, sizeof err) == 0, "so_params_set n = %s", n_text);
  check(so_params_ready(p, err, sizeof err) == 0, "so_params_ready (label keeps its default)");
  so_report rep;
  memset(&rep, 0, sizeof rep);
  double t0 = MPI_Wtime();
  int rc = so_run(MPI_COMM_WORLD, &sumsq_job, p, cfg, &rep);
  check(rc == 0, "so_run --n %s: %s (%.2f s)", n_text, rc ? so_strerror(rc) : "0",
        MPI_Wtime() - t0);
  if (rank == 0 && rc == 0) {
    int64_t sum = -1, as_int = -1;
    double mean = -1;
    const char *label = NULL;
    int rs = so_report_answer_int(&rep, "sum", &sum);
    int rm = so_report_answer_double(&rep, "mean", &mean);
    int rl = so_report_answer_string(&rep, "label", &label);
    check(rs == 0 && sum == want_sum(n), "answer sum = %" PRId64 " (n(n-1)(2n-1)/6 = %" PRId64 ")",
          sum, want_sum(n));
    check(rm == 0 && mean == (double)want_sum(n) / (double)n, "answer mean = %.17g", mean);
    check(rl == 0 && strcmp(label, "squares") == 0, "answer label = %s", label ? label : "(none)");
    check(so_report_answer_count(&rep) == 3 && strcmp(so_report_answer_name(&rep, 1), "mean") == 0,
          "3 figures, the second named mean");
    check(so_report_answer_int(&rep, "mean", &as_int) == SO_EINVAL && as_int == -1,
          "mean does not read as an int");
    check(so_report_exit(&rep) == (int)(n % 7), "so_report_exit = %d (n mod 7)",
          so_report_exit(&rep));
    check(rep.tasks == (uint64_t)n && rep.failed == 0 && rep.nworkers == 2,
          "report: %" PRIu64 " tasks, %" PRIu64 " failed, %d workers", rep.tasks, rep.failed,
          rep.nworkers);
    if (json) {
      fflush(stdout);
      printf("json: ");
      check(so_report_json(stdout, &rep, &sumsq_job, p, cfg) == 0, "so_report_json");
    }
  }
  so_report_free(&rep);
  so_params_free(p);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (rank == 0)
    printf("embed: %d ranks, job API %d.%d\n", size, SO_API_MAJOR, SO_API_MINOR);

  so_config cfg;
  so_config_default(&cfg);
  cfg.quiet = 1;
  cfg.bind = SO_BIND_NONE; /* the machine is shared with other tests; binding is not checked here */

  /* Bad input to the parameter API, before anything runs. */
  char err[256];
  so_params *p = so_params_new(&sumsq_job);
  check(p && so_params_ready(p, err, sizeof err) == SO_EINVAL && strstr(err, "--n"),
        "required n missing: %s", p ? err : "(no params)");
  check(p && so_params_set(p, "m", "3", err, sizeof err) == SO_EINVAL && strstr(err, "--m"),
        "unknown name: %s", p ? err : "");
  check(p && so_params_set(p, "n", "3x", err, sizeof err) == SO_EINVAL && strstr(err, "3x"),
        "bad number: %s", p ? err : "");
  check(p && so_params_set(p, "n", "0", err, sizeof err) == SO_EINVAL, "out of range: %s",
        p ? err : "");
  so_params_free(p);

  /* Twice in one process, with different parameters. */
  run_once("1_000", 1000, &cfg, 0);
  run_once("2e2", 200, &cfg, 1);

  /* A job table of another major version is refused by so_run on every rank with SO_EINVAL. */
  so_job old = sumsq_job;
  old.abi = SO_API_MAJOR - 1;
  p = so_params_new(&sumsq_job);
  if (p)
    so_params_set(p, "n", "10", err, sizeof err);
  if (rank == 0)
    fflush(stdout);
  int rc = so_run(MPI_COMM_WORLD, &old, p, &cfg, NULL);
  int all_einval = 0, mine = rc == SO_EINVAL;
  MPI_Allreduce(&mine, &all_einval, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  check(all_einval, "so_run refuses a job of API %d on every rank (SO_EINVAL)", SO_API_MAJOR - 1);

  /* A shorter table of this major version (an older minor) runs, its later fields read as 0. */
  unsigned char *small = calloc(1, sizeof(so_job));
  so_job shorter = sumsq_job;
  shorter.size = (uint32_t)offsetof(so_job, exit);
  memcpy(small, &shorter, offsetof(so_job, exit));
  memset(small + offsetof(so_job, exit), 0xff, sizeof(so_job) - offsetof(so_job, exit));
  so_report rep;
  memset(&rep, 0, sizeof rep);
  rc = so_run(MPI_COMM_WORLD, (const so_job *)small, p, &cfg, &rep);
  int64_t sum = -1;
  if (rank == 0 && rc == 0)
    so_report_answer_int(&rep, "sum", &sum);
  check(rc == 0 && sum == want_sum(10),
        "a %u-byte table (fields after it set to garbage) runs: sum = %" PRId64,
        (unsigned)shorter.size, sum);
  so_report_free(&rep);
  free(small);
  so_params_free(p);

  int verdict = failed;
  MPI_Bcast(&verdict, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rank == 0)
    printf("%d passed, %d failed\n", passed, failed);
  MPI_Finalize();
  return verdict ? 1 : 0;
}

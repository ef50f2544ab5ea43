/*
 * so_run as a library call, checked with hwloc from inside the tasks (not from the report):
 *   twice     one process runs so_run three times (--bind core, none, core) on MPI_COMM_WORLD;
 *             every task reports the CPU binding it ran under, which must be its worker's planned
 *             core, or the whole set under none; after each run every rank's binding and stop
 *             signal dispositions are as before it
 *   halves    two engines at once on the two halves of a 4-rank MPI_COMM_WORLD, core offsets 0
 *             and 1, count 1: the two workers run on different cores, each on its own
 *   badset    3 ranks, rank 2 alone is given a cpuset outside the machine: every rank returns
 *             SO_EINVAL promptly (the set-up verdict is agreed before the loops)
 *   badinit   3 ranks, the job's init() fails on rank 2 only: every rank returns an error promptly
 * Run under mpirun --bind-to none (so scaleout's plan applies) by tests/mpi/engines.sh, which
 * counts the "  ok" and "  FAIL" lines printed here.
 */
#include <hwloc.h>
#include <mpi.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "params.h"
#include "scaleout/scaleout.h"

#define TASKS 24
#define SET_TEXT 128

static hwloc_topology_t topo;
static int world_rank;
static const char *fail_init_on; /* "badinit": the world rank whose init() fails */

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  printf("  %s  rank %d: %s\n", ok ? "ok  " : "FAIL", world_rank, text);
  fflush(stdout);
}

/* The calling process's binding as a list ("0-1"). */
static void bound(char *out, size_t len) {
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  out[0] = '\0';
  if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0 ||
      hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_THREAD) == 0)
    hwloc_bitmap_list_snprintf(out, len, set);
  hwloc_bitmap_free(set);
}

/* The cpuset of core i (logical order) as a list. */
static void core_set(int i, char *out, size_t len) {
  int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  hwloc_obj_t c = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)(i % n));
  hwloc_bitmap_list_snprintf(out, len, c->cpuset);
}

/* --- the job: each task reports where it ran --- */
typedef struct seen {
  char set[8][SET_TEXT]; /* per engine rank (up to 7 workers): the binding its tasks reported */
  int tasks[8], mixed[8];
} seen;

static int where_init(so_ctx *ctx) {
  if (fail_init_on && world_rank == atoi(fail_init_on)) {
    so_ctx_errorf(ctx, "init fails on world rank %d on purpose", world_rank);
    return 1;
  }
  if (so_ctx_role(ctx) == SO_ROLE_MASTER) {
    seen *s = calloc(1, sizeof *s);
    if (!s)
      return SO_ENOMEM;
    so_ctx_set_state(ctx, s);
  }
  return 0;
}

static int where_next(so_ctx *ctx, so_task_out *task) {
  (void)ctx;
  return task->id < TASKS;
}

static int where_run(so_ctx *ctx, const so_task *task, so_result *res) {
  (void)ctx;
  (void)task;
  char text[SET_TEXT];
  bound(text, sizeof text);
  struct timespec ts = {0, 10 * 1000000L}; /* 10 ms, so every worker gets tasks */
  nanosleep(&ts, NULL);
  return so_result_write(res, text, strlen(text) + 1);
}

static int where_merge(so_ctx *ctx, const so_task_result *res) {
  seen *s = so_ctx_state(ctx);
  int w = res->worker;
  if (w < 1 || w > 7 || !res->len || ((const char *)res->data)[res->len - 1])
    return 1;
  if (s->tasks[w]++ == 0)
    snprintf(s->set[w], SET_TEXT, "%s", (const char *)res->data);
  else if (strcmp(s->set[w], res->data) != 0)
    s->mixed[w]++;
  return 0;
}

static void where_fini(so_ctx *ctx) {
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    free(so_ctx_state(ctx));
  so_ctx_set_state(ctx, NULL);
}

static seen last; /* the master's copy of what the last run's tasks saw */
static int where_finish(so_ctx *ctx) {
  last = *(seen *)so_ctx_state(ctx);
  return 0;
}

static const so_job where_job = {
    SO_JOB_VERSION,
    .name = "where",
    .summary = "each task reports the CPU binding it ran under",
    .init = where_init,
    .next = where_next,
    .run = where_run,
    .merge = where_merge,
    .finish = where_finish,
    .fini = where_fini,
};

/* Runs the job on comm; returns so_run's code and the seconds it took. */
static int run(MPI_Comm comm, const so_config *cfg, double *secs) {
  so_params *params = so__params_new(&where_job);
  so_report rep;
  memset(&rep, 0, sizeof rep);
  memset(&last, 0, sizeof last);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int rc = so_run(comm, &where_job, params, cfg, &rep);
  clock_gettime(CLOCK_MONOTONIC, &b);
  *secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  so_report_free(&rep);
  so__params_free(params);
  return rc;
}

static void config(so_config *cfg) {
  so_config_default(cfg);
  cfg->batch = 1;
  cfg->prefetch = 0;
  cfg->quiet = 1;
  cfg->grace = 5; /* the master catches the stop signals and the workers ignore them */
}

/* Every worker's tasks ran under expect(w) (a list), one binding per worker. */
static void check_workers(const char *what, int nworkers, void (*expect)(int w, char *, size_t)) {
  for (int w = 1; w <= nworkers; w++) {
    char want[SET_TEXT];
    expect(w, want, sizeof want);
    check(last.tasks[w] > 0 && last.mixed[w] == 0 && strcmp(last.set[w], want) == 0,
          "%s: worker %d's %d tasks ran bound to %s (%d others), expected %s", what, w,
          last.tasks[w], last.set[w][0] ? last.set[w] : "?", last.mixed[w], want);
  }
}

static void expect_core(int w, char *out, size_t len) { core_set(w - 1, out, len); }
static char whole[SET_TEXT];
static void expect_whole(int w, char *out, size_t len) {
  (void)w;
  snprintf(out, len, "%s", whole);
}

/* The stop signals' handlers, to compare before and after a run. */
static void handlers(void *out[3]) {
  static const int sigs[3] = {SIGINT, SIGTERM, SIGUSR1};
  for (int i = 0; i < 3; i++) {
    struct sigaction sa;
    sigaction(sigs[i], NULL, &sa);
    out[i] = (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction : (void *)sa.sa_handler;
  }
}

static int mode_twice(void) {
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  bound(whole, sizeof whole);
  static const so_bind_policy pols[3] = {SO_BIND_CORE, SO_BIND_NONE, SO_BIND_CORE};
  for (int i = 0; i < 3; i++) {
    so_config cfg;
    config(&cfg);
    cfg.bind = pols[i];
    char before[SET_TEXT], after[SET_TEXT];
    void *hb[3], *ha[3];
    bound(before, sizeof before);
    handlers(hb);
    double secs;
    int rc = run(MPI_COMM_WORLD, &cfg, &secs);
    bound(after, sizeof after);
    handlers(ha);
    char what[64];
    snprintf(what, sizeof what, "run %d (--bind %s)", i + 1, pols[i] == SO_BIND_NONE ? "none" : "core");
    check(rc == 0, "%s returned %d in %.2f s", what, rc, secs);
    check(strcmp(before, after) == 0, "%s: binding after the run %s, before it %s", what, after,
          before);
    check(memcmp(hb, ha, sizeof hb) == 0, "%s: SIGINT, SIGTERM and SIGUSR1 dispositions as before",
          what);
    if (world_rank == 0)
      check_workers(what, size - 1, pols[i] == SO_BIND_NONE ? expect_whole : expect_core);
  }
  return 0;
}

static int mode_halves(void) {
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != 4) {
    check(0, "halves needs 4 ranks, has %d", size);
    return 1;
  }
  int half = world_rank / 2;
  MPI_Comm comm;
  MPI_Comm_split(MPI_COMM_WORLD, half, world_rank, &comm);
  so_config cfg;
  config(&cfg);
  cfg.core_offset = half;
  cfg.core_count = 1;
  double secs;
  int rc = run(comm, &cfg, &secs);
  check(rc == 0, "engine %c (core offset %d) returned %d in %.2f s", 'A' + half, half, rc, secs);
  /* Each engine's master passes its worker's binding to world rank 0. */
  char set[SET_TEXT] = "", sets[4][SET_TEXT];
  if (world_rank % 2 == 0) {
    check(last.tasks[1] > 0 && last.mixed[1] == 0, "engine %c: its worker's %d tasks all ran "
          "bound to %s", 'A' + half, last.tasks[1], last.set[1]);
    snprintf(set, sizeof set, "%s", last.set[1]);
  }
  MPI_Gather(set, SET_TEXT, MPI_CHAR, sets, SET_TEXT, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (world_rank == 0) {
    char c0[SET_TEXT], c1[SET_TEXT];
    core_set(0, c0, sizeof c0);
    core_set(1, c1, sizeof c1);
    check(strcmp(sets[0], c0) == 0, "engine A's worker ran on %s, core 0 is %s", sets[0], c0);
    check(strcmp(sets[2], c1) == 0, "engine B's worker ran on %s, core 1 is %s", sets[2], c1);
    check(strcmp(sets[0], sets[2]) != 0, "the two engines' workers ran on different cores (%s, %s)",
          sets[0], sets[2]);
  }
  MPI_Comm_free(&comm);
  return 0;
}

/* A set-up failure on rank 2 alone: every rank returns an error within a few seconds. */
static int mode_fails(const char *mode) {
  so_config cfg;
  config(&cfg);
  cfg.quiet = 0;
  if (strcmp(mode, "badset") == 0 && world_rank == 2)
    cfg.cpuset = "4096";
  if (strcmp(mode, "badinit") == 0)
    fail_init_on = "2";
  double secs;
  int rc = run(MPI_COMM_WORLD, &cfg, &secs);
  int want = strcmp(mode, "badset") == 0 ? SO_EINVAL : SO_EJOB;
  check(rc == want && secs < 20, "%s: returned %d (%s) in %.2f s, expected %d within 20 s", mode,
        rc, so_strerror(rc), secs, want);
  return 0;
}

int main(int argc, char **argv) {
  int provided;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) {
    check(0, "hwloc could not load the machine");
    MPI_Finalize();
    return 1;
  }
  const char *mode = argc > 1 ? argv[1] : "";
  int rc;
  if (strcmp(mode, "twice") == 0)
    rc = mode_twice();
  else if (strcmp(mode, "halves") == 0)
    rc = mode_halves();
  else if (strcmp(mode, "badset") == 0 || strcmp(mode, "badinit") == 0)
    rc = mode_fails(mode);
  else {
    fprintf(stderr, "usage: engines twice|halves|badset|badinit\n");
    rc = 2;
  }
  hwloc_topology_destroy(topo);
  MPI_Finalize();
  return rc;
}

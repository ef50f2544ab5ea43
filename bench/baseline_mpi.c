/* The floor scaleout's dispatch is measured against: raw MPI master/worker, one empty task per message. */

/*
 * Usage: mpirun -n 2 so_baseline [TASKS]     (TASKS defaults to 1e6; 1e6 and 1_000_000 forms work)
 *
 * Rank 0 hands out TASKS empty tasks, one per message; every other rank is a worker that sends
 * one request per task, the request carrying the result of the task it last ran (the first
 * request carries none). Nothing else happens: no batching, no prefetch, no bookkeeping beyond a
 * checksum the master keeps so the results are used. The master prints the rate on one line,
 *
 *   baseline: TASKS tasks, W workers, one task per message: S s, R tasks/s
 *
 * and bench/dispatch.sh reads R from it. Exit status: 0, 2 for bad usage, 1 if MPI fails.
 */
#include <mpi.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { TAG_REQUEST = 1, TAG_TASK = 2, TAG_STOP = 3 };

/* Message layout, both directions: one uint64_t. A request carries the previous task's result
 * (UINT64_MAX for "none"); a TAG_TASK message carries the task id; TAG_STOP carries nothing
 * meaningful. */
#define NO_RESULT UINT64_MAX

/* Every MPI call goes through here: the communicator returns errors, this turns them into one
 * line of text and ends the job, which is all a benchmark can sensibly do. */
static void check(int rc, const char *what)
{
  if (rc == MPI_SUCCESS)
    return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fprintf(stderr, "so_baseline: error: %s: %s\n", what, text);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

/* Parses a task count such as 1000000, 1e6 or 1_000_000. Returns 0 and sets *out, or -1. */
static int parse_count(const char *text, uint64_t *out)
{
  char digits[64];
  size_t n = 0;
  for (const char *p = text; *p != '\0'; p++) {
    if (*p == '_')
      continue;
    if (n + 1 >= sizeof digits)
      return -1;
    digits[n++] = *p;
  }
  digits[n] = '\0';
  if (n == 0)
    return -1;
  char *end = NULL;
  errno = 0;
  double v = strtod(digits, &end);
  if (errno != 0 || *end != '\0' || !(v >= 1.0) || v > 1e15 || v != (double)(uint64_t)v)
    return -1;
  *out = (uint64_t)v;
  return 0;
}

/* Master: answers requests until every task is out, then answers each worker's next request
 * with a stop. Returns the checksum of the results it received. */
static uint64_t master(MPI_Comm comm, int nworkers, uint64_t ntasks)
{
  uint64_t next = 0, checksum = 0, msg;
  int stopped = 0;
  MPI_Status st;
  while (stopped < nworkers) {
    check(MPI_Recv(&msg, 1, MPI_UINT64_T, MPI_ANY_SOURCE, TAG_REQUEST, comm, &st), "MPI_Recv");
    if (msg != NO_RESULT)
      checksum += msg;
    if (next < ntasks) {
      check(MPI_Send(&next, 1, MPI_UINT64_T, st.MPI_SOURCE, TAG_TASK, comm), "MPI_Send");
      next++;
    } else {
      check(MPI_Send(&next, 1, MPI_UINT64_T, st.MPI_SOURCE, TAG_STOP, comm), "MPI_Send");
      stopped++;
    }
  }
  return checksum;
}

/* Worker: requests, runs the empty task (its result is its id), repeats until told to stop. */
static void worker(MPI_Comm comm)
{
  uint64_t result = NO_RESULT, task;
  MPI_Status st;
  for (;;) {
    check(MPI_Send(&result, 1, MPI_UINT64_T, 0, TAG_REQUEST, comm), "MPI_Send");
    check(MPI_Recv(&task, 1, MPI_UINT64_T, 0, MPI_ANY_TAG, comm, &st), "MPI_Recv");
    if (st.MPI_TAG == TAG_STOP)
      return;
    result = task;
  }
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

  MPI_Comm comm;
  check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "MPI_Comm_dup");
  int rank, size;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(comm, &size), "MPI_Comm_size");

  /* Every rank checks its arguments the same way, so every rank leaves the same way. */
  uint64_t ntasks = 1000000;
  const char *usage = NULL;
  if (argc > 2)
    usage = "too many arguments";
  else if (argc == 2 && parse_count(argv[1], &ntasks) != 0)
    usage = "TASKS must be a whole number of at least 1";
  else if (size < 2)
    usage = "needs at least 2 ranks (one master, one worker): mpirun -n 2 so_baseline";
  if (usage != NULL) {
    if (rank == 0)
      fprintf(stderr, "so_baseline: error: %s\nusage: mpirun -n RANKS so_baseline [TASKS]\n", usage);
    MPI_Comm_free(&comm);
    MPI_Finalize();
    return 2;
  }

  check(MPI_Barrier(comm), "MPI_Barrier");
  double t0 = MPI_Wtime();
  uint64_t checksum = 0;
  if (rank == 0)
    checksum = master(comm, size - 1, ntasks);
  else
    worker(comm);
  double seconds = MPI_Wtime() - t0;

  if (rank == 0) {
    /* The ids 0..N-1 each came back once, so the checksum is known; a mismatch means a bug here. */
    uint64_t expect = ntasks % 2 == 0 ? ntasks / 2 * (ntasks - 1) : (ntasks - 1) / 2 * ntasks;
    if (checksum != expect) {
      fprintf(stderr, "so_baseline: error: checksum %" PRIu64 ", expected %" PRIu64 "\n", checksum,
              expect);
      MPI_Abort(comm, 1);
    }
    printf("baseline: %" PRIu64 " tasks, %d workers, one task per message: %.3f s, %.0f tasks/s\n",
           ntasks, size - 1, seconds, (double)ntasks / seconds);
  }
  MPI_Comm_free(&comm);
  MPI_Finalize();
  return 0;
}

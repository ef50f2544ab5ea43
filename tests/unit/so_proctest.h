/* Process checks shared by the unit tests of the process supervisor and the shepherd: a monotonic
 * clock and counting the live members of a process group through /proc. */
#ifndef SO_PROCTEST_H
#define SO_PROCTEST_H

#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Seconds on CLOCK_MONOTONIC. */
static inline double so_test_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Counts live (not zombie) processes whose process group is pgid, by reading /proc directly:
 * kill(-pgid, 0) would count zombies too, which some containers' init reaps only now and then. */
static inline int so_test_live_in_group(pid_t pgid) {
  DIR *d = opendir("/proc");
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  int live = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end, path[64], buf[512];
    long pid = strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end)
      continue;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
      continue; /* gone since readdir */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'), state;
    int ppid, pgrp;
    if (p && sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
        state != 'Z' && state != 'X')
      live++;
  }
  closedir(d);
  return live;
}

/* Whether every live member of process group pgid is gone within max_s seconds. */
static inline int so_test_group_gone_within(pid_t pgid, double max_s) {
  double until = so_test_now() + max_s;
  while (so_test_live_in_group(pgid) && so_test_now() < until)
    usleep(10000);
  return so_test_live_in_group(pgid) == 0;
}

#endif

/* Clock readings in seconds, as doubles: what timeouts, deadlines and reports compute with. */
#ifndef SO_CLOCK_H
#define SO_CLOCK_H

#include <time.h>

/* Seconds on clock id (CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME, ...). */
static inline double so__clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds on CLOCK_MONOTONIC: for intervals and deadlines, never for dates. */
static inline double so__mono_s(void) { return so__clock_s(CLOCK_MONOTONIC); }

/* The reading of clock id ns nanoseconds (>= 0) from now, as pthread_cond_timedwait wants it. */
static inline struct timespec so__clock_after(clockid_t id, long long ns) {
  struct timespec ts;
  clock_gettime(id, &ts);
  long long sum = ts.tv_nsec + ns;
  ts.tv_sec += (time_t)(sum / 1000000000LL);
  ts.tv_nsec = (long)(sum % 1000000000LL);
  return ts;
}

#endif

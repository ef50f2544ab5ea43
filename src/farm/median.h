/* A streaming median of runtimes in bounded memory, for --timeout P%. */
#ifndef SO_FARM_MEDIAN_H
#define SO_FARM_MEDIAN_H

#include <stdint.h>

/*
 * Values go into logarithmic buckets 1% wide from 1 ms to about 10^6 s (2,100 counters, 17 KB,
 * whatever the number of values); smaller values count as 1 ms, larger ones as the top bucket.
 * The median is the middle bucket's centre, within 0.5% of the exact lower median (the value of
 * rank floor((n - 1) / 2) in sorted order, as GNU parallel takes it). Adding a value costs O(1)
 * plus a walk over empty buckets between the old and the new median, so the median can be read
 * after every value: the master does, at every finished command.
 *
 * Master only; not thread-safe. Zeroed memory is not a valid median: use so__median_init.
 */
#define SO__MEDIAN_BUCKETS 2100

typedef struct so__median {
  uint64_t n;                          /* values added */
  uint64_t below;                      /* values in buckets under the median's */
  int at;                              /* the median's bucket, when n > 0 */
  uint32_t count[SO__MEDIAN_BUCKETS];  /* values per bucket; a full one takes no more */
} so__median;

void so__median_init(so__median *m);

/* Adds a value (seconds; negative and NaN count as 0). */
void so__median_add(so__median *m, double v);

/* The median of the values added so far, in seconds; 0 when there is none. */
double so__median_get(const so__median *m);

#endif

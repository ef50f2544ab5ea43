/* A streaming median of runtimes in bounded memory: logarithmic buckets and a moving pointer. */
#include "median.h"

#include <math.h>
#include <string.h>

#define LOW 1e-3    /* the bottom bucket's lower edge, seconds */
#define RATIO 1.01  /* each bucket's upper edge over its lower one */

void so__median_init(so__median *m) { memset(m, 0, sizeof *m); }

static int bucket_of(double v) {
  if (!(v > LOW))
    return 0;
  double i = floor(log(v / LOW) / log(RATIO));
  return i >= SO__MEDIAN_BUCKETS - 1 ? SO__MEDIAN_BUCKETS - 1 : (int)i;
}

void so__median_add(so__median *m, double v) {
  int b = bucket_of(v);
  if (m->count[b] == UINT32_MAX)
    return; /* 4 billion values in one bucket: the median no longer moves for one more */
  m->count[b]++;
  if (m->n++ == 0) {
    m->at = b;
    return;
  }
  if (b < m->at)
    m->below++;
  /* The median is the value of rank k (0-based); keep below <= k < below + count[at]. */
  uint64_t k = (m->n - 1) / 2;
  while (k < m->below) {
    m->at--;
    m->below -= m->count[m->at];
  }
  while (k >= m->below + m->count[m->at]) {
    m->below += m->count[m->at];
    m->at++;
  }
}

double so__median_get(const so__median *m) {
  if (m->n == 0)
    return 0;
  return LOW * pow(RATIO, m->at + 0.5);
}

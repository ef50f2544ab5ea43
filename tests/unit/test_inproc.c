/* Unit tests of the in-process transport: in order, and reordering the way MPI may (each
 * sender's small and large channels in order, overtaking each other), deterministically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "so_test.h"
#include "transport.h"

#define SMALL 64
#define LARGE (SO_TRANSPORT_SMALL_MAX + 1)
#define COUNT 200

static unsigned char payload[LARGE];

/* Message i of a sender: large when bit 0 of a fixed pattern says so; its first 4 bytes are i. */
static size_t size_of(int i) { return (i * 7 + 3) % 5 < 2 ? LARGE : SMALL; }

static void send_all(so__transport *t, int dest, int from) {
  for (int i = 0; i < COUNT; i++) {
    int v = from * 1000 + i;
    memcpy(payload, &v, sizeof v);
    CU_ASSERT_EQUAL(so__send(t, dest, 7, payload, size_of(i)), 0);
  }
}

/* Receives everything on rank 0's endpoint; order[] gets the values in delivery order. */
static int receive_all(so__transport *t, int n, int *order) {
  for (int k = 0; k < n; k++) {
    so__msg m;
    if (so__recv(t, &m, -1) != 1)
      return k;
    memcpy(&order[k], m.data, sizeof(int));
    int i = order[k] % 1000;
    CU_ASSERT_EQUAL(m.len, size_of(i));
    CU_ASSERT_EQUAL(m.src, order[k] / 1000);
    CU_ASSERT_EQUAL(m.tag, 7);
  }
  return n;
}

/* Two senders' messages delivered under seed (0: in order) into order (2 * COUNT). */
static void deliver(unsigned long seed, int *order) {
  so__inproc *g = seed ? so__inproc_new_reordering(3, seed) : so__inproc_new(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  so__transport *r = so__inproc_endpoint(g, 0), *a = so__inproc_endpoint(g, 1),
                *b = so__inproc_endpoint(g, 2);
  send_all(a, 0, 1);
  send_all(b, 0, 2);
  /* Every letter is due by now, so the order depends on the seed alone. */
  struct timespec ts = {0, 3000000L};
  nanosleep(&ts, NULL);
  CU_ASSERT_EQUAL(receive_all(r, 2 * COUNT, order), 2 * COUNT);
  so__msg m;
  CU_ASSERT_EQUAL(so__recv(r, &m, 0), 0);
  so__transport_destroy(r);
  so__transport_destroy(a);
  so__transport_destroy(b);
  so__inproc_free(g);
}

/* Each sender's channel in order; returns how many messages overtook an earlier one of their
 * sender (on the other channel). */
static int check_channels(const int *order) {
  int last[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, high[3] = {-1, -1, -1}, overtaken = 0;
  for (int k = 0; k < 2 * COUNT; k++) {
    int src = order[k] / 1000, i = order[k] % 1000, large = size_of(i) == LARGE;
    CU_ASSERT_TRUE(i > last[src][large]);
    last[src][large] = i;
    if (i < high[src])
      overtaken++;
    if (i > high[src])
      high[src] = i;
  }
  return overtaken;
}

static void test_in_order(void) {
  int order[2 * COUNT];
  deliver(0, order);
  CU_ASSERT_EQUAL(check_channels(order), 0);
  for (int k = 0; k < COUNT; k++) {
    CU_ASSERT_EQUAL(order[k], 1000 + k);
    CU_ASSERT_EQUAL(order[COUNT + k], 2000 + k);
  }
}

static void test_reordering(void) {
  int one[2 * COUNT], again[2 * COUNT], other[2 * COUNT];
  deliver(1, one);
  deliver(1, again);
  deliver(2, other);
  int overtaken = check_channels(one);
  check_channels(other);
  printf("\n    seed 1: %d messages overtook an earlier one of their sender ", overtaken);
  CU_ASSERT_TRUE(overtaken > 0);
  CU_ASSERT_EQUAL(memcmp(one, again, sizeof one), 0); /* the same seed, the same order */
  CU_ASSERT_NOT_EQUAL(memcmp(one, other, sizeof one), 0);
  /* The senders interleave too. */
  int switches = 0;
  for (int k = 1; k < 2 * COUNT; k++)
    switches += one[k] / 1000 != one[k - 1] / 1000;
  CU_ASSERT_TRUE(switches > 2);
}

/* A large message may be missed by a look (timeout 0) right after it was sent, never by a wait. */
static void test_large_held(void) {
  int missed = 0;
  for (unsigned long seed = 1; seed <= 20; seed++) {
    so__inproc *g = so__inproc_new_reordering(2, seed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    so__transport *r = so__inproc_endpoint(g, 0), *s = so__inproc_endpoint(g, 1);
    CU_ASSERT_EQUAL(so__send(s, 0, 3, payload, LARGE), 0);
    so__msg m;
    int got = so__recv(r, &m, 0);
    missed += got == 0;
    if (got == 0)
      CU_ASSERT_EQUAL(so__recv(r, &m, -1), 1);
    CU_ASSERT_EQUAL(m.len, (size_t)LARGE);
    CU_ASSERT_EQUAL(so__recv(r, &m, 0), 0);
    so__transport_destroy(r);
    so__transport_destroy(s);
    so__inproc_free(g);
  }
  CU_ASSERT_TRUE(missed > 0 && missed < 20);
}

int main(void) {
  static const so_test_case cases[] = {
    {"in order: each sender's messages as sent", test_in_order},
    {"reordering: channels in order, overtaking, seeded", test_reordering},
    {"reordering: a large message missed by a look, not by a wait", test_large_held},
    {NULL, NULL},
  };
  return so_test_run("inproc", cases);
}

/* Unit tests of the wire protocol: round trips, and every malformed length rejected in bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "scaleout/errors.h"
#include "so_test.h"

/* --- Helpers --- */

static unsigned char byte_of(uint64_t id, size_t k) { return (unsigned char)(id * 29u + k * 3u + 1u); }

/* Result/task k of the sample messages: its id, status or type, and payload length. */
static const uint32_t sample_len[] = {0, 1, 7, 24, 25, 300, 0, 4096};
#define NSAMPLE (sizeof sample_len / sizeof sample_len[0])
static uint64_t sample_id(size_t k) { return 1000000007u * (k + 1); }

/* Builds a REQUEST holding the sample results into b. */
static void build_request(so__buf *b) {
  CU_ASSERT_EQUAL_FATAL(so__proto_req_begin(b), 0);
  for (size_t k = 0; k < NSAMPLE; k++) {
    size_t off;
    CU_ASSERT_EQUAL_FATAL(so__proto_req_result_begin(b, sample_id(k), &off), 0);
    for (size_t i = 0; i < sample_len[k]; i++) {
      unsigned char c = byte_of(sample_id(k), i);
      CU_ASSERT_EQUAL_FATAL(so__buf_append(b, &c, 1), 0);
    }
    so__proto_req_result_end(b, off, (int32_t)k - 3);
  }
  so__proto_req_finish(b, (uint32_t)NSAMPLE, 17, 123456789012345u, 987654321098765u);
}

static void build_tasks(so__buf *b) {
  unsigned char data[4096];
  CU_ASSERT_EQUAL_FATAL(so__proto_tasks_begin(b), 0);
  for (size_t k = 0; k < NSAMPLE; k++) {
    for (size_t i = 0; i < sample_len[k]; i++)
      data[i] = byte_of(sample_id(k), i);
    CU_ASSERT_EQUAL_FATAL(so__proto_tasks_add(b, sample_id(k), (uint32_t)k * 11, data, sample_len[k]), 0);
  }
  so__proto_tasks_finish(b, (uint32_t)NSAMPLE, 42);
}

static int payload_ok(uint64_t id, const void *data, uint32_t len) {
  const unsigned char *d = data;
  for (uint32_t i = 0; i < len; i++)
    if (d[i] != byte_of(id, i))
      return 0;
  return 1;
}

/* Parses msg as a whole REQUEST the way the master does: open, nresults records, done. Returns 0
 * or the first error; the record data are read byte by byte so an overread shows under ASan. */
static int parse_request(const void *msg, size_t len) {
  so__reader r;
  so__req_hdr h;
  int rc = so__proto_req_open(&r, msg, len, &h);
  unsigned sum = 0;
  for (uint32_t k = 0; !rc && k < h.nresults; k++) {
    so__result_rec rec;
    const void *data;
    rc = so__proto_req_next(&r, &rec, &data);
    for (uint32_t i = 0; !rc && i < rec.len; i++)
      sum += ((const unsigned char *)data)[i];
  }
  (void)sum;
  return rc ? rc : so__proto_done(&r);
}

static int parse_tasks(const void *msg, size_t len) {
  so__reader r;
  so__tasks_hdr h;
  int rc = so__proto_tasks_open(&r, msg, len, &h);
  unsigned sum = 0;
  for (uint32_t k = 0; !rc && k < h.ntasks; k++) {
    so__task_rec rec;
    const void *data;
    rc = so__proto_tasks_next(&r, &rec, &data);
    for (uint32_t i = 0; !rc && i < rec.len; i++)
      sum += ((const unsigned char *)data)[i];
  }
  (void)sum;
  return rc ? rc : so__proto_done(&r);
}

/* A heap copy of exactly len bytes, so ASan sees any read past the end of the message. */
static void *exact_copy(const void *src, size_t len) {
  void *p = malloc(len ? len : 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  if (len)
    memcpy(p, src, len);
  return p;
}

/* --- Tests --- */

static void test_request_round_trip(void) {
  so__buf b = SO_BUF_INIT;
  build_request(&b);
  void *msg = exact_copy(b.data, b.len);
  so__reader r;
  so__req_hdr h;
  CU_ASSERT_EQUAL_FATAL(so__proto_req_open(&r, msg, b.len, &h), 0);
  CU_ASSERT_EQUAL(h.nresults, NSAMPLE);
  CU_ASSERT_EQUAL(h.want, 17);
  CU_ASSERT_EQUAL(h.in_hand, 123456789012345u);
  CU_ASSERT_EQUAL(h.busy_ns, 987654321098765u);
  for (size_t k = 0; k < NSAMPLE; k++) {
    so__result_rec rec;
    const void *data = NULL;
    CU_ASSERT_EQUAL_FATAL(so__proto_req_next(&r, &rec, &data), 0);
    CU_ASSERT_EQUAL(rec.id, sample_id(k));
    CU_ASSERT_EQUAL(rec.status, (int32_t)k - 3);
    CU_ASSERT_EQUAL(rec.len, sample_len[k]);
    CU_ASSERT_TRUE(payload_ok(rec.id, data, rec.len));
  }
  CU_ASSERT_EQUAL(so__proto_done(&r), 0);
  free(msg);

  /* A report with no results, and rebuilding in the same buffer clears the old message. */
  CU_ASSERT_EQUAL_FATAL(so__proto_req_begin(&b), 0);
  so__proto_req_finish(&b, 0, 0, 0, 0);
  CU_ASSERT_EQUAL(b.len, sizeof(so__req_hdr));
  CU_ASSERT_EQUAL_FATAL(so__proto_req_open(&r, b.data, b.len, &h), 0);
  CU_ASSERT_EQUAL(h.nresults, 0);
  CU_ASSERT_EQUAL(h.want, 0);
  CU_ASSERT_EQUAL(so__proto_done(&r), 0);
  so__buf_free(&b);
}

static void test_tasks_round_trip(void) {
  so__buf b = SO_BUF_INIT;
  build_tasks(&b);
  void *msg = exact_copy(b.data, b.len);
  so__reader r;
  so__tasks_hdr h;
  CU_ASSERT_EQUAL_FATAL(so__proto_tasks_open(&r, msg, b.len, &h), 0);
  CU_ASSERT_EQUAL(h.ntasks, NSAMPLE);
  CU_ASSERT_EQUAL(h.low, 42);
  for (size_t k = 0; k < NSAMPLE; k++) {
    so__task_rec rec;
    const void *data = NULL;
    CU_ASSERT_EQUAL_FATAL(so__proto_tasks_next(&r, &rec, &data), 0);
    CU_ASSERT_EQUAL(rec.id, sample_id(k));
    CU_ASSERT_EQUAL(rec.type, (uint32_t)k * 11);
    CU_ASSERT_EQUAL(rec.len, sample_len[k]);
    CU_ASSERT_TRUE(payload_ok(rec.id, data, rec.len));
  }
  CU_ASSERT_EQUAL(so__proto_done(&r), 0);
  free(msg);

  /* An empty batch still carries its low-water mark; empty payloads may be NULL. */
  CU_ASSERT_EQUAL_FATAL(so__proto_tasks_begin(&b), 0);
  CU_ASSERT_EQUAL_FATAL(so__proto_tasks_add(&b, 9, 2, NULL, 0), 0);
  so__proto_tasks_finish(&b, 1, 0);
  CU_ASSERT_EQUAL_FATAL(so__proto_tasks_open(&r, b.data, b.len, &h), 0);
  CU_ASSERT_EQUAL(h.ntasks, 1);
  CU_ASSERT_EQUAL(h.low, 0);
  so__task_rec rec;
  const void *data;
  CU_ASSERT_EQUAL_FATAL(so__proto_tasks_next(&r, &rec, &data), 0);
  CU_ASSERT_EQUAL(rec.id, 9);
  CU_ASSERT_EQUAL(rec.len, 0);
  CU_ASSERT_EQUAL(so__proto_done(&r), 0);

  CU_ASSERT_EQUAL_FATAL(so__proto_tasks_begin(&b), 0);
  so__proto_tasks_finish(&b, 0, 3);
  CU_ASSERT_EQUAL(b.len, sizeof(so__tasks_hdr));
  CU_ASSERT_EQUAL_FATAL(so__proto_tasks_open(&r, b.data, b.len, &h), 0);
  CU_ASSERT_EQUAL(h.ntasks, 0);
  CU_ASSERT_EQUAL(h.low, 3);
  CU_ASSERT_EQUAL(so__proto_done(&r), 0);
  so__buf_free(&b);
}

/* Every proper prefix of a valid message fails somewhere in open/next/done, reading only inside
 * the prefix; the whole message parses. */
static void test_truncations(void) {
  so__buf b = SO_BUF_INIT;
  for (int kind = 0; kind < 2; kind++) {
    if (kind == 0)
      build_request(&b);
    else
      build_tasks(&b);
    int (*parse)(const void *, size_t) = kind == 0 ? parse_request : parse_tasks;
    size_t accepted = 0;
    for (size_t len = 0; len < b.len; len++) {
      void *msg = exact_copy(b.data, len);
      int rc = parse(msg, len);
      if (rc != SO_EPROTO) {
        fprintf(stderr, "\n    %s prefix of %zu/%zu bytes gave %d\n", kind ? "TASKS" : "REQUEST",
                len, b.len, rc);
        accepted++;
      }
      free(msg);
    }
    CU_ASSERT_EQUAL(accepted, 0);
    void *msg = exact_copy(b.data, b.len);
    CU_ASSERT_EQUAL(parse(msg, b.len), 0);
    free(msg);
  }
  so__buf_free(&b);
}

/* Bytes after the last record, and records the header does not count, fail so__proto_done. */
static void test_trailing_bytes(void) {
  so__buf b = SO_BUF_INIT;
  for (int kind = 0; kind < 2; kind++) {
    if (kind == 0)
      build_request(&b);
    else
      build_tasks(&b);
    int (*parse)(const void *, size_t) = kind == 0 ? parse_request : parse_tasks;
    for (size_t extra = 1; extra <= 40; extra++) {
      unsigned char *msg = malloc(b.len + extra);
      CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
      memcpy(msg, b.data, b.len);
      memset(msg + b.len, 0, extra);
      CU_ASSERT_EQUAL(parse(msg, b.len + extra), SO_EPROTO);
      free(msg);
    }
  }
  /* A header that undercounts its records leaves the rest unread. */
  build_tasks(&b);
  so__proto_tasks_finish(&b, (uint32_t)NSAMPLE - 1, 0);
  CU_ASSERT_EQUAL(parse_tasks(b.data, b.len), SO_EPROTO);
  build_request(&b);
  so__proto_req_finish(&b, (uint32_t)NSAMPLE - 1, 0, 0, 0);
  CU_ASSERT_EQUAL(parse_request(b.data, b.len), SO_EPROTO);
  so__buf_free(&b);
}

/* Lengths in records that point past the end are refused, including ones that would wrap. */
static void test_bad_record_lengths(void) {
  so__buf b = SO_BUF_INIT;
  const uint32_t bad[] = {1, 100, 0x7fffffffu, 0xffffffffu};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CU_ASSERT_EQUAL_FATAL(so__proto_tasks_begin(&b), 0);
    CU_ASSERT_EQUAL_FATAL(so__proto_tasks_add(&b, 1, 0, NULL, 0), 0);
    so__proto_tasks_finish(&b, 1, 0);
    so__task_rec rec;
    memcpy(&rec, b.data + sizeof(so__tasks_hdr), sizeof rec);
    rec.len = bad[i];
    memcpy(b.data + sizeof(so__tasks_hdr), &rec, sizeof rec);
    void *msg = exact_copy(b.data, b.len);
    CU_ASSERT_EQUAL(parse_tasks(msg, b.len), SO_EPROTO);
    free(msg);

    CU_ASSERT_EQUAL_FATAL(so__proto_req_begin(&b), 0);
    size_t off;
    CU_ASSERT_EQUAL_FATAL(so__proto_req_result_begin(&b, 1, &off), 0);
    so__proto_req_result_end(&b, off, 0);
    so__proto_req_finish(&b, 1, 0, 0, 0);
    so__result_rec res;
    memcpy(&res, b.data + off, sizeof res);
    res.len = bad[i];
    memcpy(b.data + off, &res, sizeof res);
    msg = exact_copy(b.data, b.len);
    CU_ASSERT_EQUAL(parse_request(msg, b.len), SO_EPROTO);
    free(msg);
  }
  /* A header promising more records than the message holds. */
  build_tasks(&b);
  so__proto_tasks_finish(&b, (uint32_t)NSAMPLE + 1, 0);
  CU_ASSERT_EQUAL(parse_tasks(b.data, b.len), SO_EPROTO);
  build_request(&b);
  so__proto_req_finish(&b, 0xffffffffu, 0, 0, 0);
  CU_ASSERT_EQUAL(parse_request(b.data, b.len), SO_EPROTO);
  so__buf_free(&b);
}

static void test_fixed(void) {
  so__stop_msg stop = {.abort = 1}, got_stop = {.abort = 7};
  CU_ASSERT_EQUAL(so__proto_fixed(&stop, sizeof stop, &got_stop, sizeof got_stop), 0);
  CU_ASSERT_EQUAL(got_stop.abort, 1);

  so__final_msg fin;
  memset(&fin, 0, sizeof fin);
  fin.tasks = 12345;
  fin.failed = 6;
  fin.busy_ns = 777;
  fin.last_pu = 3;
  fin.last_core = -1;
  snprintf(fin.host, sizeof fin.host, "node-17");
  snprintf(fin.cpuset, sizeof fin.cpuset, "0-3,8");
  snprintf(fin.bound_by, sizeof fin.bound_by, "scaleout");
  unsigned char *wire = exact_copy(&fin, sizeof fin);
  so__final_msg out;
  memset(&out, 0xAB, sizeof out);
  CU_ASSERT_EQUAL(so__proto_fixed(wire, sizeof fin, &out, sizeof out), 0);
  CU_ASSERT_EQUAL(memcmp(&out, &fin, sizeof fin), 0);

  /* One byte short or long, empty, or a different message: refused, out untouched. */
  memset(&out, 0xAB, sizeof out);
  so__final_msg pristine;
  memcpy(&pristine, &out, sizeof out);
  CU_ASSERT_EQUAL(so__proto_fixed(wire, sizeof fin - 1, &out, sizeof out), SO_EPROTO);
  CU_ASSERT_EQUAL(so__proto_fixed(wire, sizeof fin + 1, &out, sizeof out), SO_EPROTO);
  CU_ASSERT_EQUAL(so__proto_fixed(wire, 0, &out, sizeof out), SO_EPROTO);
  CU_ASSERT_EQUAL(so__proto_fixed(&stop, sizeof stop, &out, sizeof out), SO_EPROTO);
  CU_ASSERT_EQUAL(memcmp(&out, &pristine, sizeof out), 0);
  CU_ASSERT_EQUAL(so__proto_fixed(wire, sizeof fin, &got_stop, sizeof got_stop), SO_EPROTO);
  CU_ASSERT_EQUAL(got_stop.abort, 1);
  free(wire);
}

/* The tags are distinct, so no message can be mistaken for another. */
static void test_tags_distinct(void) {
  const int tags[] = {SO_TAG_REQUEST, SO_TAG_TASKS, SO_TAG_STOP, SO_TAG_FINAL, SO_TAG_FAIL};
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++)
      CU_ASSERT_NOT_EQUAL(tags[i], tags[j]);
}

int main(void) {
  static const so_test_case cases[] = {
    {"REQUEST round trip with results of 0 to 4096 bytes", test_request_round_trip},
    {"TASKS round trip, also empty and NULL payloads", test_tasks_round_trip},
    {"every truncation is SO_EPROTO and read in bounds", test_truncations},
    {"trailing bytes fail so__proto_done", test_trailing_bytes},
    {"record lengths past the end are refused", test_bad_record_lengths},
    {"fixed-size messages of the wrong size are refused", test_fixed},
    {"message tags are distinct", test_tags_distinct},
    {NULL, NULL},
  };
  return so_test_run("proto", cases);
}

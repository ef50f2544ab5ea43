/* Unit tests of the wire protocol: round trips, and every malformed length rejected in bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "scaleout/scaleout.h"
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

/* --- Every message type, round-tripped through the functions sender and receiver use --- */

/* One message type: build fills b with a sample message the way its sender does; read parses
 * msg the way its receiver does, checks every field against the sample (CUnit asserts) and
 * returns 0 or the receiver's error. prefixes: every proper prefix is refused; trailing: one byte
 * more is refused. */
typedef struct msg_case {
  const char *name;
  int tag;
  void (*build)(so__buf *b);
  int (*read)(const void *msg, size_t len, int check);
  int prefixes, trailing; /* prefixes 2: refused unless they end at an OUTPUT record's end */
} msg_case;

static const char sample_text[] = "task 7: cannot open /data/in.7: No such file or directory";

static void put(so__buf *b, const void *data, size_t len) {
  so__buf_clear(b);
  CU_ASSERT_EQUAL_FATAL(so__buf_append(b, data, len), 0);
}

static int read_request(const void *msg, size_t len, int check) {
  (void)check; /* the fields are checked by test_request_round_trip */
  return parse_request(msg, len);
}
static int read_tasks(const void *msg, size_t len, int check) {
  (void)check;
  return parse_tasks(msg, len);
}

static void build_stop(so__buf *b) {
  so__stop_msg s = {.abort = 1};
  put(b, &s, sizeof s);
}
static int read_stop(const void *msg, size_t len, int check) {
  so__stop_msg s;
  int rc = so__proto_fixed(msg, len, &s, sizeof s);
  if (!rc && check)
    CU_ASSERT_EQUAL(s.abort, 1);
  return rc;
}

static void sample_final(so__final_msg *f) {
  memset(f, 0, sizeof *f);
  f->tasks = 12345;
  f->failed = 6;
  f->busy_ns = 777;
  f->last_pu = 3;
  f->last_core = -1;
  snprintf(f->host, sizeof f->host, "node-17");
  snprintf(f->cpuset, sizeof f->cpuset, "0-3,8");
  snprintf(f->bound_by, sizeof f->bound_by, "scaleout");
}
static void build_final(so__buf *b) {
  so__final_msg f;
  sample_final(&f);
  put(b, &f, sizeof f);
}
static int read_final(const void *msg, size_t len, int check) {
  so__final_msg f, want;
  sample_final(&want);
  int rc = so__proto_fixed(msg, len, &f, sizeof f);
  if (!rc && check)
    CU_ASSERT_EQUAL(memcmp(&f, &want, sizeof f), 0);
  return rc;
}

static void build_fail(so__buf *b) {
  unsigned char out[sizeof(so__fail_msg) + SO_NOTE_MAX];
  put(b, out, so__proto_fail_build(out, SO_EINVAL, sample_text));
}
static int read_fail(const void *msg, size_t len, int check) {
  so__fail_msg f;
  const char *text;
  size_t n;
  int rc = so__proto_fail_read(msg, len, &f, &text, &n);
  if (!rc && check) {
    CU_ASSERT_EQUAL(f.code, SO_EINVAL);
    CU_ASSERT_EQUAL(n, strlen(sample_text));
    CU_ASSERT(n == strlen(sample_text) && memcmp(text, sample_text, n) == 0);
  }
  return rc;
}

static void build_taskerr(so__buf *b) {
  unsigned char out[sizeof(so__taskerr_rec) + SO_NOTE_MAX];
  put(b, out, so__proto_taskerr_build(out, 7, -42, sample_text));
}
static int read_taskerr(const void *msg, size_t len, int check) {
  so__taskerr_rec rec;
  const char *text;
  int rc = so__proto_taskerr_read(msg, len, &rec, &text);
  if (!rc && check) {
    CU_ASSERT_EQUAL(rec.id, 7);
    CU_ASSERT_EQUAL(rec.status, -42);
    CU_ASSERT(rec.len == strlen(sample_text) && memcmp(text, sample_text, rec.len) == 0);
  }
  return rc;
}

/* OUTPUT: a whole line, a line in two pieces, stderr, an empty closing record, and a piece
 * longer than one message (cut by so__proto_output_put, which then sends the full message). */
static so__buf sent; /* what the flush callback "sent": the full messages, back to back */
static int output_flush(void *arg) {
  so__buf *b = arg;
  int rc = so__buf_append(&sent, b->data, b->len);
  so__buf_clear(b);
  return rc;
}
static void build_output(so__buf *b) {
  static char big[SO_OUTPUT_MAX + 100];
  memset(big, 'x', sizeof big);
  so__buf_clear(b);
  so__buf_free(&sent);
  CU_ASSERT_EQUAL_FATAL(so__proto_output_put(b, 1, 1, "hello\n", 6, 0, output_flush, b), 0);
  CU_ASSERT_EQUAL_FATAL(so__proto_output_put(b, 2, 1, "par", 3, 1, output_flush, b), 0);
  CU_ASSERT_EQUAL_FATAL(so__proto_output_put(b, 2, 1, "tial\n", 5, 0, output_flush, b), 0);
  CU_ASSERT_EQUAL_FATAL(so__proto_output_put(b, 3, 2, "oops\n", 5, 0, output_flush, b), 0);
  CU_ASSERT_EQUAL_FATAL(so__proto_output_put(b, 4, 1, NULL, 0, 0, output_flush, b), 0);
  CU_ASSERT_EQUAL_FATAL(so__proto_output_put(b, 5, 2, big, sizeof big, 0, output_flush, b), 0);
  /* The message under test: the full ones sent on the way, then the rest. Each stays under
   * SO_OUTPUT_MAX. */
  CU_ASSERT(sent.len > 0 && sent.len <= SO_OUTPUT_MAX && b->len <= SO_OUTPUT_MAX);
  CU_ASSERT_EQUAL_FATAL(so__buf_append(&sent, b->data, b->len), 0);
  put(b, sent.data, sent.len);
  so__buf_free(&sent);
}
static int read_output(const void *msg, size_t len, int check) {
  static const struct {
    uint64_t task;
    uint16_t stream, partial;
    const char *text;
  } want[] = {{1, 1, 0, "hello\n"}, {2, 1, 1, "par"}, {2, 1, 0, "tial\n"}, {3, 2, 0, "oops\n"},
              {4, 1, 0, ""}};
  so__reader r;
  so__proto_output_open(&r, msg, len);
  size_t k = 0, big = 0;
  int rc = 0;
  while (!rc && so__proto_more(&r)) {
    so__output_rec rec;
    const void *data;
    if ((rc = so__proto_output_next(&r, &rec, &data)) != 0 || !check)
      continue;
    if (k < 5) {
      CU_ASSERT(rec.task == want[k].task && rec.stream == want[k].stream &&
                rec.partial == want[k].partial && rec.len == strlen(want[k].text) &&
                memcmp(data, want[k].text, rec.len) == 0);
    } else {
      /* The long piece: records of task 5 on stderr, all partial but the last. */
      CU_ASSERT(rec.task == 5 && rec.stream == 2);
      big += rec.len;
      CU_ASSERT_EQUAL(rec.partial, big < SO_OUTPUT_MAX + 100);
    }
    k++;
  }
  if (!rc && check) {
    CU_ASSERT(k >= 7);
    CU_ASSERT_EQUAL(big, SO_OUTPUT_MAX + 100);
  }
  return rc;
}

static void build_halt(so__buf *b) {
  so__halt_msg h = {.how = SO_HALT_NOW};
  put(b, &h, sizeof h);
}
static int read_halt(const void *msg, size_t len, int check) {
  int32_t how = 0;
  int rc = so__proto_halt_read(msg, len, &how);
  if (!rc && check)
    CU_ASSERT_EQUAL(how, SO_HALT_NOW);
  return rc;
}

/* NOTICE carries the job's bytes as they are: any length up to SO_NOTICE_MAX (so a prefix is a
 * valid notice too), and one byte more is refused. */
static void build_notice(so__buf *b) {
  unsigned char data[SO_NOTICE_MAX];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = byte_of(99, i);
  put(b, data, sizeof data);
}
static int read_notice(const void *msg, size_t len, int check) {
  int rc = so__proto_notice_read(msg, len);
  if (!rc && check)
    CU_ASSERT_TRUE(payload_ok(99, msg, (uint32_t)len));
  return rc;
}

static void build_more(so__buf *b) { put(b, "", 1); }
static int read_more(const void *msg, size_t len, int check) {
  (void)check;
  return so__proto_more_read(msg, len);
}

static const msg_case msg_cases[] = {
    {"REQUEST", SO_TAG_REQUEST, build_request, read_request, 1, 1},
    {"TASKS", SO_TAG_TASKS, build_tasks, read_tasks, 1, 1},
    {"STOP", SO_TAG_STOP, build_stop, read_stop, 1, 1},
    {"FINAL", SO_TAG_FINAL, build_final, read_final, 1, 1},
    {"FAIL", SO_TAG_FAIL, build_fail, read_fail, 0, 0}, /* the text's length is the rest */
    {"OUTPUT", SO_TAG_OUTPUT, build_output, read_output, 2, 1}, /* whole records may end it */
    {"HALT", SO_TAG_HALT, build_halt, read_halt, 1, 1},
    {"NOTICE", SO_TAG_NOTICE, build_notice, read_notice, 0, 1},
    {"TASKERR", SO_TAG_TASKERR, build_taskerr, read_taskerr, 1, 1},
    {"MORE", SO_TAG_MORE, build_more, read_more, 1, 1},
};
#define NCASES (sizeof msg_cases / sizeof msg_cases[0])

/* Whether the first len bytes of the OUTPUT message msg end where one of its records ends. */
static int record_end(const void *msg, size_t full, size_t len) {
  so__reader r;
  so__proto_output_open(&r, msg, full);
  while (so__proto_more(&r)) {
    so__output_rec rec;
    const void *data;
    if (so__proto_output_next(&r, &rec, &data))
      return 0;
    if ((size_t)(r.p - (const unsigned char *)msg) == len)
      return 1;
  }
  return len == 0;
}

/* Each message type: the receiver reads back what the sender built, field by field, from an
 * exact-size copy (ASan sees any overread); proper prefixes and a trailing byte are refused
 * where the layout can tell (FAIL's text and NOTICE's bytes run to the end; an OUTPUT message
 * may end after any whole record, so there every cut inside a record is refused and every cut
 * at a record's end read). */
static void test_every_message_round_trip(void) {
  so__buf b = SO_BUF_INIT;
  for (size_t i = 0; i < NCASES; i++) {
    const msg_case *c = &msg_cases[i];
    c->build(&b);
    void *msg = exact_copy(b.data, b.len);
    int rc = c->read(msg, b.len, 1);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc)
      printf("\n    %s: its own message was refused (%d)\n", c->name, rc);
    free(msg);
    size_t accepted = 0;
    for (size_t len = 0; len < b.len; len++) {
      msg = exact_copy(b.data, len);
      int prc = c->read(msg, len, 0);
      free(msg);
      int want = c->prefixes == 2 && record_end(b.data, b.len, len) ? 0 : SO_EPROTO;
      if (c->prefixes ? prc != want : (prc != 0 && prc != SO_EPROTO))
        accepted++;
    }
    CU_ASSERT_EQUAL(accepted, 0);
    if (accepted)
      printf("\n    %s: %zu prefixes read wrongly\n", c->name, accepted);
    if (c->trailing) {
      CU_ASSERT_EQUAL_FATAL(so__buf_append(&b, "\x01", 1), 0);
      msg = exact_copy(b.data, b.len);
      CU_ASSERT_EQUAL(c->read(msg, b.len, 0), SO_EPROTO);
      free(msg);
    }
  }
  so__buf_free(&b);
}

/* Every tag up to SO_TAG_LAST has its case above, and the tags are distinct, so no message can
 * be mistaken for another and none goes untested. */
static void test_every_tag_covered(void) {
  int seen[SO_TAG_LAST - SO_TAG_REQUEST + 1];
  memset(seen, 0, sizeof seen);
  for (size_t i = 0; i < NCASES; i++) {
    int t = msg_cases[i].tag;
    CU_ASSERT(t >= SO_TAG_REQUEST && t <= SO_TAG_LAST);
    if (t >= SO_TAG_REQUEST && t <= SO_TAG_LAST)
      seen[t - SO_TAG_REQUEST]++;
  }
  for (int t = SO_TAG_REQUEST; t <= SO_TAG_LAST; t++) {
    CU_ASSERT_EQUAL(seen[t - SO_TAG_REQUEST], 1);
    if (seen[t - SO_TAG_REQUEST] != 1)
      printf("\n    tag 0x%x has %d cases\n", t, seen[t - SO_TAG_REQUEST]);
  }
}

int main(void) {
  static const so_test_case cases[] = {
    {"REQUEST round trip with results of 0 to 4096 bytes", test_request_round_trip},
    {"TASKS round trip, also empty and NULL payloads", test_tasks_round_trip},
    {"every truncation is SO_EPROTO and read in bounds", test_truncations},
    {"trailing bytes fail so__proto_done", test_trailing_bytes},
    {"record lengths past the end are refused", test_bad_record_lengths},
    {"fixed-size messages of the wrong size are refused", test_fixed},
    {"every message type round-trips, OUTPUT and HALT included", test_every_message_round_trip},
    {"every tag has its round trip, and tags are distinct", test_every_tag_covered},
    {NULL, NULL},
  };
  return so_test_run("proto", cases);
}

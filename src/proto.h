/* The wire protocol between master and workers: every message tag and every message layout. */
#ifndef SO_PROTO_H
#define SO_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * The conversation, per worker:
 *
 *   worker -> master  REQUEST  results of finished tasks, the time they took, and how many more
 *                              tasks the worker wants; in_hand says how many it still holds.
 *   master -> worker  TASKS    a batch of tasks (possibly empty) and the low-water mark: the
 *                              worker asks again when it holds that many or fewer. One request
 *                              may be answered by several TASKS messages, each carrying their
 *                              number (`parts`), to refill a hand deeper than one batch.
 *   master -> worker  STOP     no more work (or the run is aborted); the worker answers FINAL.
 *   worker -> master  FINAL    the worker's totals and where it ran.
 *   worker -> master  FAIL     the worker cannot go on (its job init failed): so__fail_msg, then
 *                              the job's message (empty when the worker printed it itself).
 *   worker -> master  TASKERR  one of the worker's first failed tasks: so__taskerr_rec, then the
 *                              text the job gave so_ctx_errorf (possibly empty); the master
 *                              prints the first few of the run and counts the rest.
 *   worker -> master  OUTPUT   output of running tasks, for the master's stdout/stderr.
 *   master -> worker  HALT     start no more tasks: give back those not started (status
 *                              SO_STATUS_UNRUN); with SO_HALT_NOW also cancel running ones.
 *                              Sent unasked, at any time; after it the worker reports its
 *                              remaining results in a REQUEST (want 0 if it was told to stop).
 *   master -> worker  NOTICE   the job's own bytes (so_ctx_notify) for its notice() callback,
 *                              at most SO_NOTICE_MAX of them. Sent unasked, at any time; no
 *                              answer. Notices reach a worker in the order they were sent.
 *   master -> worker  MORE     work came from a source that had none (SO_NEXT_LATER) after this
 *                              worker's request got an empty answer: it may ask again at once
 *                              instead of waiting until it runs dry. Sent unasked; one byte.
 *
 * A worker has at most one REQUEST outstanding. A REQUEST with in_hand == 0 may be parked by
 * the master until work appears; one with in_hand > 0 is always answered at once (perhaps with
 * an empty batch), because that worker will produce more results the master may be waiting for.
 * Layouts are native-endian packed records: the ranks of one run share one architecture.
 */
enum {
  SO_TAG_REQUEST = 0x5c01,
  SO_TAG_TASKS = 0x5c02,
  SO_TAG_STOP = 0x5c03,
  SO_TAG_FINAL = 0x5c04,
  SO_TAG_FAIL = 0x5c05,
  SO_TAG_OUTPUT = 0x5c06, /* worker -> master: task output, whole lines (see so__output_rec) */
  SO_TAG_HALT = 0x5c07,   /* master -> worker: start no more tasks (so__halt_msg) */
  SO_TAG_NOTICE = 0x5c08,  /* master -> worker: the job's bytes for its notice() callback */
  SO_TAG_TASKERR = 0x5c09, /* worker -> master: why a task failed (so__taskerr_rec) */
  SO_TAG_MORE = 0x5c0a,    /* master -> worker: work came, ask again (one byte) */
  SO_TAG_LAST = SO_TAG_MORE /* keep it the last tag: test_proto round-trips every one up to it */
};

/* Longest notice: small, so notices travel on the ordered small channel. */
#define SO_NOTICE_MAX 1024

/* Text in FAIL and TASKERR messages is cut to this many bytes, so they stay small. */
#define SO_NOTE_MAX 512

typedef struct so__fail_msg {
  int32_t code; /* SO_EINVAL when the job found its input bad, else SO_EJOB */
} so__fail_msg;

typedef struct so__taskerr_rec {
  uint64_t id;
  int32_t status; /* what run() returned */
  uint32_t len;   /* bytes of text that follow */
} so__taskerr_rec;

/* The status of a task given back unrun because the run is halting: never merged. */
#define SO_STATUS_UNRUN INT32_MIN

/* Output messages stay below this size, so they travel on the transport's ordered small channel
 * together with FINAL and can never overtake or be overtaken by it. */
#define SO_OUTPUT_MAX 8192

typedef struct so__output_rec {
  uint64_t task;
  uint16_t stream;  /* 1 stdout, 2 stderr */
  uint16_t partial; /* 1: the data ends inside a line that a later record completes */
  uint32_t len;     /* bytes that follow */
} so__output_rec;

typedef struct so__halt_msg {
  int32_t how; /* SO_HALT_SOON or SO_HALT_NOW */
} so__halt_msg;

typedef struct so__req_hdr {
  uint32_t want;     /* tasks wanted; 0 = only reporting */
  uint32_t nresults; /* result records that follow */
  uint64_t in_hand;  /* tasks the worker still holds, not yet reported */
  uint64_t busy_ns;  /* time inside run() for the reported tasks */
} so__req_hdr;

typedef struct so__result_rec {
  uint64_t id;
  int32_t status;
  uint32_t len; /* bytes of result data that follow */
} so__result_rec;

typedef struct so__tasks_hdr {
  uint32_t ntasks;
  uint32_t low;  /* ask again when holding this many or fewer */
  uint32_t parts; /* messages answering the same request (0 means 1); they may arrive in any
                     order, since large and small messages travel apart */
  uint32_t reserved;
} so__tasks_hdr;

typedef struct so__task_rec {
  uint64_t id;
  uint32_t type;
  uint32_t len; /* bytes of task data that follow */
} so__task_rec;

typedef struct so__stop_msg {
  int32_t abort; /* 0: all work done; 1: the run failed, stop at once */
} so__stop_msg;

typedef struct so__final_msg {
  uint64_t tasks;
  uint64_t failed;
  uint64_t busy_ns;
  int32_t last_pu;
  int32_t last_core;
  char host[64];
  char cpuset[128];
  char bound_by[16];
} so__final_msg;

/* --- Building messages: start with the header, append records, done. --- */

/* Starts a REQUEST in b (cleared first). Returns 0 or SO_ENOMEM. */
int so__proto_req_begin(so__buf *b);
/* Starts one result record; the caller then appends its data to b and calls ..._end with the
 * offset this returned, which patches the record's length. Returns 0 or SO_ENOMEM. */
int so__proto_req_result_begin(so__buf *b, uint64_t id, size_t *rec_off);
void so__proto_req_result_end(so__buf *b, size_t rec_off, int32_t status);
/* Fills in the header of a REQUEST built in b; the caller counted the records it added. */
void so__proto_req_finish(so__buf *b, uint32_t nresults, uint32_t want, uint64_t in_hand,
                          uint64_t busy_ns);

int so__proto_tasks_begin(so__buf *b);
int so__proto_tasks_add(so__buf *b, uint64_t id, uint32_t type, const void *data, uint32_t len);
/* Fills in the header of a TASKS message built in b; the caller counted the tasks it added. */
void so__proto_tasks_finish(so__buf *b, uint32_t ntasks, uint32_t low);
/* Sets how many TASKS messages answer the same request, in a finished one. */
void so__proto_tasks_set_parts(so__buf *b, uint32_t parts);

/* Appends output (so_ctx_output's arguments) to the OUTPUT message being built in b, as records
 * that keep the message under SO_OUTPUT_MAX: whenever b is full, flush(arg) is called to send
 * and clear it, and a piece cut from the middle of data is marked partial. A call with len 0 and
 * partial 0 adds an empty record (it ends a held line). Returns 0, SO_ENOMEM, or flush's error. */
int so__proto_output_put(so__buf *b, uint64_t task, int stream, const void *data, size_t len,
                         int partial, int (*flush)(void *arg), void *arg);

/* FAIL and TASKERR: the fixed record, then the text cut to SO_NOTE_MAX bytes, built into out
 * (room for the record and SO_NOTE_MAX bytes). Return the message's length. */
size_t so__proto_fail_build(void *out, int32_t code, const char *text);
size_t so__proto_taskerr_build(void *out, uint64_t id, int32_t status, const char *text);

/* --- Reading messages: a cursor that checks every length against the message's size. --- */

typedef struct so__reader {
  const unsigned char *p, *end;
} so__reader;

/* Each returns 0, or SO_EPROTO when the message is shorter or longer than its header says. */
int so__proto_req_open(so__reader *r, const void *msg, size_t len, so__req_hdr *hdr);
int so__proto_req_next(so__reader *r, so__result_rec *rec, const void **data);
int so__proto_tasks_open(so__reader *r, const void *msg, size_t len, so__tasks_hdr *hdr);
int so__proto_tasks_next(so__reader *r, so__task_rec *rec, const void **data);
/* An OUTPUT message is records alone: open it, then take records until so__proto_more is 0. */
void so__proto_output_open(so__reader *r, const void *msg, size_t len);
int so__proto_more(const so__reader *r);
/* One record; SO_EPROTO also for a stream other than 1 or 2. */
int so__proto_output_next(so__reader *r, so__output_rec *rec, const void **data);
/* After the last record: SO_EPROTO if bytes remain. */
int so__proto_done(const so__reader *r);

/* FAIL and TASKERR as built above: the record, and the text (tlen bytes, not terminated).
 * SO_EPROTO when shorter than the record or with more text than SO_NOTE_MAX (or, for TASKERR,
 * than its record says). */
int so__proto_fail_read(const void *msg, size_t len, so__fail_msg *f, const char **text,
                        size_t *tlen);
int so__proto_taskerr_read(const void *msg, size_t len, so__taskerr_rec *rec, const char **text);
/* HALT: so__halt_msg with SO_HALT_SOON or SO_HALT_NOW. NOTICE: at most SO_NOTICE_MAX bytes of
 * the job's own. MORE: one byte. Each returns 0 or SO_EPROTO. */
int so__proto_halt_read(const void *msg, size_t len, int32_t *how);
int so__proto_notice_read(const void *msg, size_t len);
int so__proto_more_read(const void *msg, size_t len);

/* Fixed-size messages are copied whole; these check the size. */
int so__proto_fixed(const void *msg, size_t len, void *out, size_t size);

#endif

/* Encoding and decoding of the messages defined in proto.h, checking every length on the way in. */
#include "proto.h"

#include "scaleout/scaleout.h"

int so__proto_req_begin(so__buf *b) {
  so__buf_clear(b);
  int rc = so__buf_reserve(b, sizeof(so__req_hdr));
  if (rc == 0)
    b->len = sizeof(so__req_hdr);
  return rc;
}

int so__proto_req_result_begin(so__buf *b, uint64_t id, size_t *rec_off) {
  int rc = so__buf_reserve(b, sizeof(so__result_rec));
  if (rc)
    return rc;
  so__result_rec rec = {.id = id};
  *rec_off = b->len;
  so__buf_put(b, &rec, sizeof rec);
  return 0;
}

void so__proto_req_result_end(so__buf *b, size_t rec_off, int32_t status) {
  so__result_rec rec;
  memcpy(&rec, b->data + rec_off, sizeof rec);
  rec.status = status;
  rec.len = (uint32_t)(b->len - rec_off - sizeof rec);
  memcpy(b->data + rec_off, &rec, sizeof rec);
}

void so__proto_req_finish(so__buf *b, uint32_t nresults, uint32_t want, uint64_t in_hand,
                          uint64_t busy_ns) {
  so__req_hdr h;
  h.nresults = nresults;
  h.want = want;
  h.in_hand = in_hand;
  h.busy_ns = busy_ns;
  memcpy(b->data, &h, sizeof h);
}

int so__proto_tasks_begin(so__buf *b) {
  so__buf_clear(b);
  int rc = so__buf_reserve(b, sizeof(so__tasks_hdr));
  if (rc == 0) {
    so__tasks_hdr h = {0, 0, 0, 0};
    so__buf_put(b, &h, sizeof h);
  }
  return rc;
}

int so__proto_tasks_add(so__buf *b, uint64_t id, uint32_t type, const void *data, uint32_t len) {
  int rc = so__buf_reserve(b, sizeof(so__task_rec) + len);
  if (rc)
    return rc;
  so__task_rec rec = {.id = id, .type = type, .len = len};
  so__buf_put(b, &rec, sizeof rec);
  so__buf_put(b, data, len);
  return 0;
}

void so__proto_tasks_set_parts(so__buf *b, uint32_t parts) {
  so__tasks_hdr h;
  memcpy(&h, b->data, sizeof h);
  h.parts = parts;
  memcpy(b->data, &h, sizeof h);
}

void so__proto_tasks_finish(so__buf *b, uint32_t ntasks, uint32_t low) {
  so__tasks_hdr h = {0, 0, 0, 0};
  h.ntasks = ntasks;
  h.low = low;
  memcpy(b->data, &h, sizeof h);
}

int so__proto_output_put(so__buf *b, uint64_t task, int stream, const void *data, size_t len,
                         int partial, int (*flush)(void *arg), void *arg) {
  const unsigned char *p = data;
  while (len > 0 || !partial) {
    if (b->len + sizeof(so__output_rec) + 1 > SO_OUTPUT_MAX) {
      int rc = flush(arg);
      if (rc)
        return rc;
    }
    size_t room = SO_OUTPUT_MAX - sizeof(so__output_rec) - b->len;
    size_t n = len < room ? len : room;
    so__output_rec rec = {task, (uint16_t)stream, (uint16_t)(partial || n < len), (uint32_t)n};
    int rc = so__buf_reserve(b, sizeof rec + n);
    if (rc)
      return rc;
    so__buf_put(b, &rec, sizeof rec);
    so__buf_put(b, p, n);
    p += n;
    len -= n;
    if (len == 0)
      break;
  }
  return 0;
}

static int take(so__reader *r, void *out, size_t size) {
  if ((size_t)(r->end - r->p) < size)
    return SO_EPROTO;
  memcpy(out, r->p, size);
  r->p += size;
  return 0;
}

int so__proto_req_open(so__reader *r, const void *msg, size_t len, so__req_hdr *hdr) {
  r->p = msg;
  r->end = r->p + len;
  return take(r, hdr, sizeof *hdr);
}

int so__proto_req_next(so__reader *r, so__result_rec *rec, const void **data) {
  if (take(r, rec, sizeof *rec) || (size_t)(r->end - r->p) < rec->len)
    return SO_EPROTO;
  *data = r->p;
  r->p += rec->len;
  return 0;
}

int so__proto_tasks_open(so__reader *r, const void *msg, size_t len, so__tasks_hdr *hdr) {
  r->p = msg;
  r->end = r->p + len;
  return take(r, hdr, sizeof *hdr);
}

int so__proto_tasks_next(so__reader *r, so__task_rec *rec, const void **data) {
  if (take(r, rec, sizeof *rec) || (size_t)(r->end - r->p) < rec->len)
    return SO_EPROTO;
  *data = r->p;
  r->p += rec->len;
  return 0;
}

void so__proto_output_open(so__reader *r, const void *msg, size_t len) {
  r->p = msg;
  r->end = r->p + len;
}

int so__proto_more(const so__reader *r) { return r->p < r->end; }

int so__proto_output_next(so__reader *r, so__output_rec *rec, const void **data) {
  if (take(r, rec, sizeof *rec) || (size_t)(r->end - r->p) < rec->len ||
      (rec->stream != 1 && rec->stream != 2))
    return SO_EPROTO;
  *data = r->p;
  r->p += rec->len;
  return 0;
}

int so__proto_done(const so__reader *r) { return r->p == r->end ? 0 : SO_EPROTO; }

int so__proto_fixed(const void *msg, size_t len, void *out, size_t size) {
  if (len != size)
    return SO_EPROTO;
  memcpy(out, msg, size);
  return 0;
}

size_t so__proto_fail_build(void *out, int32_t code, const char *text) {
  size_t n = strnlen(text, SO_NOTE_MAX);
  so__fail_msg f = {code};
  memcpy(out, &f, sizeof f);
  memcpy((char *)out + sizeof f, text, n);
  return sizeof f + n;
}

size_t so__proto_taskerr_build(void *out, uint64_t id, int32_t status, const char *text) {
  size_t n = strnlen(text, SO_NOTE_MAX);
  so__taskerr_rec rec = {id, status, (uint32_t)n};
  memcpy(out, &rec, sizeof rec);
  memcpy((char *)out + sizeof rec, text, n);
  return sizeof rec + n;
}

int so__proto_fail_read(const void *msg, size_t len, so__fail_msg *f, const char **text,
                        size_t *tlen) {
  if (len < sizeof *f || len - sizeof *f > SO_NOTE_MAX)
    return SO_EPROTO;
  memcpy(f, msg, sizeof *f);
  *text = (const char *)msg + sizeof *f;
  *tlen = len - sizeof *f;
  return 0;
}

int so__proto_taskerr_read(const void *msg, size_t len, so__taskerr_rec *rec, const char **text) {
  if (len < sizeof *rec)
    return SO_EPROTO;
  memcpy(rec, msg, sizeof *rec);
  if (rec->len != len - sizeof *rec || rec->len > SO_NOTE_MAX)
    return SO_EPROTO;
  *text = (const char *)msg + sizeof *rec;
  return 0;
}

int so__proto_halt_read(const void *msg, size_t len, int32_t *how) {
  so__halt_msg h;
  if (so__proto_fixed(msg, len, &h, sizeof h) || (h.how != SO_HALT_SOON && h.how != SO_HALT_NOW))
    return SO_EPROTO;
  *how = h.how;
  return 0;
}

int so__proto_notice_read(const void *msg, size_t len) {
  (void)msg;
  return len <= SO_NOTICE_MAX ? 0 : SO_EPROTO;
}

int so__proto_more_read(const void *msg, size_t len) {
  (void)msg;
  return len == 1 ? 0 : SO_EPROTO;
}

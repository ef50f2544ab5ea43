/* The frames a worker and its shepherd exchange over their socketpair: every tag and layout. */
#ifndef SO_FARM_SHEPHERD_WIRE_H
#define SO_FARM_SHEPHERD_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "scaleout/scaleout.h"

/*
 * A frame is a 5-byte header, u32 payload length then u8 tag, followed by the payload. Both ends
 * run on the same machine, so numbers travel in native byte order; strings are a u32 length and
 * that many bytes (no NUL). Payloads are bounded by SO__SHEP_MAX_FRAME, so a corrupt length
 * cannot make either side allocate without limit. Layouts, in order:
 *
 * shepherd -> worker
 *   HELLO   i32 status (0 ready, else an SO_E* code), u32 pid, str message
 *   OUTPUT  u64 id, u8 stream (1 stdout, 2 stderr), then the bytes up to the frame's end
 *   DONE    u64 id, i32 exitval, i32 signal, u8 timed_out, u8 killed, u8 started, u8 recorded,
 *           u8 unlogged, f64 start, f64 wall, f64 utime, f64 stime, i64 maxrss_kb, u64 out_bytes,
 *           u64 err_bytes, str error (empty for none)
 * worker -> shepherd
 *   RUN       u64 id, u64 seq, f64 timeout, u8 output, str cmd, str results_dir,
 *             u32 number of env entries, then each as a str
 *   KILL      u64 id
 *   KILL_ALL  (empty)
 *   QUIT      (empty)
 *   LIMIT     f64 timeout: every command, running or queued, gets this timeout, counted from its
 *             own start (0: none); for --timeout P%, whose limit follows the median runtime
 */
enum {
  SO__SHEP_HELLO = 1,
  SO__SHEP_OUTPUT = 2,
  SO__SHEP_DONE = 3,
  SO__SHEP_RUN = 16,
  SO__SHEP_KILL = 17,
  SO__SHEP_KILL_ALL = 18,
  SO__SHEP_QUIT = 19,
  SO__SHEP_LIMIT = 20
};

#define SO__SHEP_HDR 5u
/* Longest command accepted; the joblog takes lines up to 64 MiB, and --help promises 4 MiB. */
#define SO__SHEP_MAX_CMD ((size_t)16 << 20)
#define SO__SHEP_MAX_FRAME ((size_t)64 << 20)
/* Longest command passed to sh -c as one argument: Linux's MAX_ARG_STRLEN (131072) less the NUL. */
#define SO__SHEP_MAX_ARG ((size_t)131071)

/* ---- encoding: the caller reserved room, or uses the checked so__shep_frame_* below ---- */

/* Starts a frame of the given tag in b; returns its offset for so__shep_frame_end. */
static inline size_t so__shep_frame_begin(so__buf *b, int tag) {
  size_t at = b->len;
  unsigned char hdr[SO__SHEP_HDR] = {0, 0, 0, 0, (unsigned char)tag};
  so__buf_put(b, hdr, sizeof hdr);
  return at;
}

/* Writes the payload length of the frame that starts at offset at. */
static inline void so__shep_frame_end(so__buf *b, size_t at) {
  uint32_t len = (uint32_t)(b->len - at - SO__SHEP_HDR);
  memcpy(b->data + at, &len, sizeof len);
}

static inline void so__shep_put_u8(so__buf *b, unsigned v) {
  unsigned char c = (unsigned char)v;
  so__buf_put(b, &c, 1);
}
static inline void so__shep_put_u32(so__buf *b, uint32_t v) { so__buf_put(b, &v, sizeof v); }
static inline void so__shep_put_i32(so__buf *b, int32_t v) { so__buf_put(b, &v, sizeof v); }
static inline void so__shep_put_u64(so__buf *b, uint64_t v) { so__buf_put(b, &v, sizeof v); }
static inline void so__shep_put_i64(so__buf *b, int64_t v) { so__buf_put(b, &v, sizeof v); }
static inline void so__shep_put_f64(so__buf *b, double v) { so__buf_put(b, &v, sizeof v); }
static inline void so__shep_put_str(so__buf *b, const char *s, size_t len) {
  so__shep_put_u32(b, (uint32_t)len);
  so__buf_put(b, s, len);
}

/* ---- decoding: a cursor over one payload; any overrun sets bad and yields zeros ---- */

typedef struct so__shep_rd {
  const unsigned char *p;
  size_t left;
  int bad;
} so__shep_rd;

static inline int so__shep_get(so__shep_rd *r, void *out, size_t n) {
  if (r->left < n) {
    r->bad = 1;
    r->left = 0;
    memset(out, 0, n);
    return 0;
  }
  memcpy(out, r->p, n);
  r->p += n;
  r->left -= n;
  return 1;
}

static inline unsigned so__shep_get_u8(so__shep_rd *r) {
  unsigned char c;
  so__shep_get(r, &c, 1);
  return c;
}
static inline uint32_t so__shep_get_u32(so__shep_rd *r) {
  uint32_t v;
  so__shep_get(r, &v, sizeof v);
  return v;
}
static inline int32_t so__shep_get_i32(so__shep_rd *r) {
  int32_t v;
  so__shep_get(r, &v, sizeof v);
  return v;
}
static inline uint64_t so__shep_get_u64(so__shep_rd *r) {
  uint64_t v;
  so__shep_get(r, &v, sizeof v);
  return v;
}
static inline int64_t so__shep_get_i64(so__shep_rd *r) {
  int64_t v;
  so__shep_get(r, &v, sizeof v);
  return v;
}
static inline double so__shep_get_f64(so__shep_rd *r) {
  double v;
  so__shep_get(r, &v, sizeof v);
  return v;
}
/* Points *s at the string's bytes inside the payload (not NUL-terminated). */
static inline size_t so__shep_get_str(so__shep_rd *r, const char **s) {
  size_t len = so__shep_get_u32(r);
  if (r->bad || r->left < len) {
    r->bad = 1;
    r->left = 0;
    *s = "";
    return 0;
  }
  *s = (const char *)r->p;
  r->p += len;
  r->left -= len;
  return len;
}

/* Looks at the start of the unread bytes in [data, data+len): returns 1 and the tag and payload
 * when a whole frame is there, 0 when more bytes are needed (*need then says how many in all, if
 * the header is complete), or SO_EPROTO for a frame longer than SO__SHEP_MAX_FRAME. */
static inline int so__shep_frame_peek(const unsigned char *data, size_t len, int *tag,
                                      so__shep_rd *payload, size_t *need) {
  *need = SO__SHEP_HDR;
  if (len < SO__SHEP_HDR)
    return 0;
  uint32_t plen;
  memcpy(&plen, data, sizeof plen);
  if (plen > SO__SHEP_MAX_FRAME)
    return SO_EPROTO;
  *need = SO__SHEP_HDR + plen;
  if (len < *need)
    return 0;
  *tag = data[4];
  *payload = (so__shep_rd){data + SO__SHEP_HDR, plen, 0};
  return 1;
}

#endif

/* Data-parallel maps, worker side: runs one chunk task's items, from a range or from its bytes of
 * the input file, and returns the chunk's partial reduction or its gathered output. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ctx.h"
#include "map.h"

#define RUN_BLOCK (1u << 20) /* bytes a worker reads at a time */

/* One task being run. */
typedef struct chunk_run {
  so_ctx *ctx;
  const so_map *map;
  so_result *res;     /* the task's result: gathered bytes go straight into it */
  so__buf scratch;    /* reductions: what an item writes with so_result_write is dropped */
  so_result sres;
  void *acc;          /* the chunk's partial (NULL for a gather) */
  so__buf heads;      /* gather: one so__map_piece_head per chunk run */
  so__map_piece_head cur;
  size_t cur_start;   /* result length when the current chunk began */
  uint64_t items;
} chunk_run;

static int gathering(const chunk_run *c) { return c->map->reduce == SO_REDUCE_GATHER; }

static void piece_open(chunk_run *c, uint64_t first) {
  c->cur = (so__map_piece_head){first, 0, 0};
  c->cur_start = gathering(c) ? c->res->buf->len : 0;
}

static int piece_close(chunk_run *c) {
  if (!gathering(c))
    return 0;
  c->cur.len = c->res->buf->len - c->cur_start;
  return so__buf_append(&c->heads, &c->cur, sizeof c->cur);
}

static int one(chunk_run *c, uint64_t index, const void *rec, size_t len) {
  so_result *r = c->res;
  if (!gathering(c)) {
    so__buf_clear(&c->scratch);
    c->sres.failed = 0;
    r = &c->sres;
  }
  int rc = c->map->item(c->ctx, index, rec, len, c->acc, r);
  if (rc)
    return rc;
  if (r->failed) {
    so_ctx_errorf(c->ctx, "out of memory writing the output of item %" PRIu64, index);
    return SO_ENOMEM;
  }
  c->cur.count++;
  c->items++;
  return 0;
}

/* Reads exactly len bytes at off. */
static int read_at(chunk_run *c, int fd, void *buf, size_t len, uint64_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t got = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      so_ctx_errorf(c->ctx, "cannot read input '%s' at byte %" PRIu64 ": %s",
                    so_ctx_string(c->ctx, c->map->path_param), off + done,
                    got < 0 ? strerror(errno) : "it is shorter than when the run began");
      return SO_EIO;
    }
    done += (size_t)got;
  }
  return 0;
}

/* The chunks of a range or of records: each chunk's items in order, read a block at a time. */
static int run_chunks(chunk_run *c, const so__map_span *sp, const so__map_rank *st) {
  int records = c->map->input == SO_MAP_RECORDS;
  size_t rec = records ? st->record : 0;
  unsigned char *buf = NULL;
  size_t per = 0; /* records per read */
  if (records) {
    per = RUN_BLOCK / rec ? RUN_BLOCK / rec : 1;
    if (per > sp->chunk)
      per = sp->chunk;
    if (!(buf = malloc(per * rec))) {
      so_ctx_errorf(c->ctx, "out of memory");
      return SO_ENOMEM;
    }
  }
  int rc = 0;
  uint64_t step = sp->stride * sp->chunk;
  for (uint64_t c0 = sp->phase * sp->chunk; !rc && c0 < sp->count; c0 += step) {
    uint64_t k = sp->count - c0 < sp->chunk ? sp->count - c0 : sp->chunk;
    piece_open(c, sp->first + c0);
    for (uint64_t i = 0; !rc && i < k;) {
      uint64_t m = records ? (k - i < per ? k - i : per) : k - i;
      if (records)
        rc = read_at(c, st->fd, buf, (size_t)m * rec, sp->offset + (c0 + i) * rec);
      for (uint64_t j = 0; !rc && j < m; j++)
        rc = one(c, sp->first + c0 + i + j, records ? buf + j * rec : NULL, rec);
      i += m;
    }
    if (!rc)
      rc = piece_close(c);
    if (sp->count - c0 <= step)
      break;
  }
  free(buf);
  return rc;
}

/* The lines of [offset, offset + len), streamed a block at a time (a line longer than the
 * block grows it); of these, the ones in this task's chunks run. */
static int run_lines(chunk_run *c, const so__map_span *sp, const so__map_rank *st) {
  size_t cap = sp->len < RUN_BLOCK ? (size_t)sp->len + 1 : RUN_BLOCK, start = 0, have = 0;
  unsigned char *buf = malloc(cap);
  if (!buf) {
    so_ctx_errorf(c->ctx, "out of memory");
    return SO_ENOMEM;
  }
  uint64_t rd = sp->offset, end = sp->offset + sp->len, rel = 0;
  int rc = 0;
  while (!rc && rel < sp->count) {
    unsigned char *nl = have > start ? memchr(buf + start, '\n', have - start) : NULL;
    if (!nl && rd < end) {
      memmove(buf, buf + start, have - start);
      have -= start;
      start = 0;
      if (have == cap) {
        unsigned char *b = realloc(buf, cap * 2);
        if (!b) {
          so_ctx_errorf(c->ctx, "out of memory for a line of over %zu bytes", cap);
          rc = SO_ENOMEM;
          break;
        }
        buf = b;
        cap *= 2;
      }
      size_t want = cap - have < end - rd ? cap - have : (size_t)(end - rd);
      rc = read_at(c, st->fd, buf + have, want, rd);
      have += want;
      rd += want;
      continue;
    }
    if (!nl && have == start)
      break; /* no bytes left: fewer lines than the master counted */
    size_t len = nl ? (size_t)(nl - (buf + start)) : have - start;
    if ((rel / sp->chunk) % sp->stride == sp->phase) {
      if (rel % sp->chunk == 0)
        piece_open(c, sp->first + rel);
      rc = one(c, sp->first + rel, buf + start, len);
      if (!rc && ((rel + 1) % sp->chunk == 0 || rel + 1 == sp->count))
        rc = piece_close(c);
    }
    start += len + (nl != NULL);
    rel++;
  }
  free(buf);
  if (!rc && rel < sp->count) {
    so_ctx_errorf(c->ctx, "input '%s' has fewer lines than when the run began",
                  so_ctx_string(c->ctx, c->map->path_param));
    rc = SO_EIO;
  }
  return rc;
}

int so__map_task(so_ctx *ctx, const so_task *task, so_result *res) {
  const so__map_job *mj = so__map_job_of(ctx->job);
  const so__map_rank *st = ctx->map;
  const so_map *map = mj->map;
  so__map_span sp;
  if (task->len != sizeof sp || !st) {
    so_ctx_errorf(ctx, "task %" PRIu64 " is not a map chunk (%zu bytes)", task->id, task->len);
    return SO_EPROTO;
  }
  memcpy(&sp, task->data, sizeof sp);
  if (sp.chunk == 0 || sp.stride == 0) {
    so_ctx_errorf(ctx, "task %" PRIu64 " has an empty chunk size", task->id);
    return SO_EPROTO;
  }
  double t0 = so__mono_s();
  chunk_run c = {.ctx = ctx, .map = map, .res = res, .scratch = SO_BUF_INIT,
                 .heads = SO_BUF_INIT};
  c.sres.buf = &c.scratch;
  int rc = 0;
  uint64_t values[64]; /* a small reduction's partial needs no allocation */
  if (map->reduce == SO_REDUCE_CUSTOM) {
    if (!(c.acc = map->acc_new(ctx)))
      rc = SO_ENOMEM;
  } else if (map->reduce != SO_REDUCE_GATHER) {
    c.acc = map->nvalues <= 64 ? values : malloc((size_t)map->nvalues * 8);
    if (c.acc)
      so__map_acc_reset(map, c.acc);
    else
      rc = SO_ENOMEM;
  }
  if (rc)
    so_ctx_errorf(ctx, "out of memory for the partial result");
  else if (map->input == SO_MAP_LINES)
    rc = run_lines(&c, &sp, st);
  else
    rc = run_chunks(&c, &sp, st);

  if (!rc) {
    if (map->reduce == SO_REDUCE_CUSTOM) {
      rc = map->acc_write(ctx, c.acc, res);
    } else if (map->reduce != SO_REDUCE_GATHER) {
      rc = so_result_write(res, c.acc, (size_t)map->nvalues * 8);
    } else {
      uint64_t k = c.heads.len / sizeof(so__map_piece_head);
      rc = so_result_write(res, c.heads.data, c.heads.len);
      if (!rc)
        rc = so_result_write(res, &k, sizeof k);
    }
    so__map_trailer tr = {c.items, (uint64_t)((so__mono_s() - t0) * 1e9)};
    if (!rc)
      rc = so_result_write(res, &tr, sizeof tr);
  }
  if (map->reduce == SO_REDUCE_CUSTOM && c.acc)
    map->acc_free(ctx, c.acc);
  else if (c.acc != values)
    free(c.acc);
  so__buf_free(&c.scratch);
  so__buf_free(&c.heads);
  return rc;
}

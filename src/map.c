/* Data-parallel maps, master side: the wrapper job that cuts a map's input into chunk tasks by
 * the schedule, and reduces or gathers (in input order) what the chunks return. */
#include "map.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx.h"
#include "error.h"

#define MAP_READ_BLOCK (1u << 20) /* bytes the master reads at a time while cutting lines */

/* --- Schedules --- */

int so_schedule_parse(const char *text, so_schedule *out, char *err, size_t errlen) {
  static const struct {
    const char *name;
    so_sched_kind kind;
  } kinds[] = {{"static", SO_SCHED_STATIC},
               {"dynamic", SO_SCHED_DYNAMIC},
               {"guided", SO_SCHED_GUIDED},
               {"auto", SO_SCHED_AUTO}};
  const char *comma = strchr(text, ',');
  size_t len = comma ? (size_t)(comma - text) : strlen(text);
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    if (strlen(kinds[i].name) != len || strncmp(kinds[i].name, text, len) != 0)
      continue;
    so_schedule s = {kinds[i].kind, 0};
    if (comma) {
      if (s.kind == SO_SCHED_AUTO) {
        so__seterr(err, errlen, "schedule '%s': auto takes no chunk size", text);
        return SO_EINVAL;
      }
      char *end;
      errno = 0;
      unsigned long long v = strtoull(comma + 1, &end, 10);
      if (comma[1] < '0' || comma[1] > '9' || *end || errno || v == 0 || v > UINT32_MAX) {
        so__seterr(err, errlen,
                   "schedule '%s': the chunk size must be a whole number from 1 to %u",
                   text, UINT32_MAX);
        return SO_EINVAL;
      }
      s.chunk = v;
    }
    *out = s;
    return 0;
  }
  so__seterr(err, errlen, "unknown schedule '%s': use static, dynamic, guided or auto", text);
  return SO_EINVAL;
}

/* --- The wrapper job --- */

static so__map_job *wrapper(so_ctx *ctx) { return so__map_job_of(ctx->job); }

static int is_string_param(const so_job *job, const char *name, so_param_type type) {
  for (const so_param_def *p = job->params; name && p && p->name; p++)
    if (strcmp(p->name, name) == 0)
      return p->type == type;
  return 0;
}

/* The map's declaration alone: what every rank can check without files or messages. */
static int check_decl(const so_job *job, const so_map *map, char *err, size_t errlen) {
  const char *name = job->name ? job->name : "?";
  if (!map->item) {
    so__seterr(err, errlen, "job '%s': its map has no item function", name);
    return SO_EINVAL;
  }
  if (map->input == SO_MAP_RANGE && !map->count) {
    so__seterr(err, errlen, "job '%s': a map over a range needs a count function", name);
    return SO_EINVAL;
  }
  if (map->input != SO_MAP_RANGE && map->input != SO_MAP_LINES && map->input != SO_MAP_RECORDS) {
    so__seterr(err, errlen, "job '%s': unknown map input %d", name, (int)map->input);
    return SO_EINVAL;
  }
  if (map->input != SO_MAP_RANGE && !is_string_param(job, map->path_param, SO_PARAM_STRING)) {
    so__seterr(err, errlen, "job '%s': the map's path_param '%s' is not a string parameter of the job",
               name, map->path_param ? map->path_param : "(null)");
    return SO_EINVAL;
  }
  if (map->input == SO_MAP_RECORDS && !map->record_size &&
      !is_string_param(job, map->record_param, SO_PARAM_INT)) {
    so__seterr(err, errlen,
               "job '%s': a map over records needs a record_size or an integer record_param", name);
    return SO_EINVAL;
  }
  switch (map->reduce) {
  case SO_REDUCE_GATHER: break;
  case SO_REDUCE_SUM:
  case SO_REDUCE_MIN:
  case SO_REDUCE_MAX:
    if (map->value != SO_VALUE_I64 && map->value != SO_VALUE_U64 && map->value != SO_VALUE_F64) {
      so__seterr(err, errlen, "job '%s': unknown reduction value type %d", name, (int)map->value);
      return SO_EINVAL;
    }
    if (map->nvalues == 0 || map->nvalues > 1u << 20) {
      so__seterr(err, errlen, "job '%s': a reduction needs 1 to %u values, not %" PRIu32, name,
                 1u << 20, map->nvalues);
      return SO_EINVAL;
    }
    break;
  case SO_REDUCE_CUSTOM:
    if (!map->acc_new || !map->acc_write || !map->combine || !map->acc_free) {
      so__seterr(err, errlen,
                 "job '%s': a custom reduction needs acc_new, acc_write, combine and acc_free", name);
      return SO_EINVAL;
    }
    break;
  default:
    so__seterr(err, errlen, "job '%s': unknown reduction %d: use gather, sum, min, max or custom",
               name, (int)map->reduce);
    return SO_EINVAL;
  }
  return 0;
}

static int check_schedule(const so_job *job, so_schedule s, char *err, size_t errlen) {
  if (s.kind != SO_SCHED_AUTO && s.kind != SO_SCHED_STATIC && s.kind != SO_SCHED_DYNAMIC &&
      s.kind != SO_SCHED_GUIDED) {
    so__seterr(err, errlen, "job '%s': unknown schedule kind %d", job->name, (int)s.kind);
    return SO_EINVAL;
  }
  if (s.chunk > UINT32_MAX || (s.kind == SO_SCHED_AUTO && s.chunk)) {
    so__seterr(err, errlen, "job '%s': schedule chunk %" PRIu64 " is out of range", job->name,
               s.chunk);
    return SO_EINVAL;
  }
  return 0;
}

/* Output of items not yet deliverable, because an earlier item's output has not arrived. */
typedef struct so__map_held {
  uint64_t first, count;
  unsigned char *data;
  size_t len;
} held_piece;

static void rank_free(so_ctx *ctx) {
  so__map_rank *st = ctx->map;
  if (!st)
    return;
  so__map_job *mj = wrapper(ctx);
  if (st->fd >= 0)
    close(st->fd);
  free(st->rbuf);
  for (size_t i = 0; i < st->nheld; i++)
    free(st->held[i].data);
  free(st->held);
  if (st->total && mj->map->reduce == SO_REDUCE_CUSTOM)
    mj->map->acc_free(ctx, st->total);
  else
    free(st->total);
  free(st);
  ctx->map = NULL;
}

static int map_check(so_ctx *ctx) {
  const so_job *orig = wrapper(ctx)->orig;
  int rc = orig->check ? orig->check(ctx) : 0;
  /* The engine's task count is the number of chunks, which init() works out. */
  ctx->has_total = 0;
  return rc;
}

/* Counts the lines of the input as a stream: the newlines, plus a last line without one. */
static int count_lines(so_ctx *ctx, so__map_rank *st, const char *path) {
  unsigned char *buf = malloc(MAP_READ_BLOCK);
  if (!buf) {
    so_ctx_errorf(ctx, "out of memory");
    return SO_ENOMEM;
  }
  uint64_t n = 0, pos = 0;
  unsigned char last = '\n';
  while (pos < st->fsize) {
    ssize_t got = pread(st->fd, buf, MAP_READ_BLOCK, (off_t)pos);
    if (got <= 0) {
      so_ctx_errorf(ctx, "cannot read input '%s': %s", path, got < 0 ? strerror(errno) : "it shrank");
      free(buf);
      return SO_EINVAL;
    }
    for (unsigned char *p = buf, *end = buf + got; (p = memchr(p, '\n', (size_t)(end - p))); p++)
      n++;
    last = buf[got - 1];
    pos += (uint64_t)got;
  }
  free(buf);
  st->n = n + (last != '\n');
  return 0;
}

/* Opens the input on any rank; the master also learns its size and item count. */
static int open_input(so_ctx *ctx, so__map_rank *st) {
  so__map_job *mj = wrapper(ctx);
  const so_map *map = mj->map;
  const char *path = so_ctx_string(ctx, map->path_param);
  if (!path || !path[0]) {
    so_ctx_errorf(ctx, "--%s: the input file is not given", map->path_param);
    return SO_EINVAL;
  }
  st->fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (st->fd < 0 || fstat(st->fd, &sb) != 0) {
    so_ctx_errorf(ctx, "cannot read input '%s': %s", path, strerror(errno));
    return SO_EINVAL;
  }
  if (!S_ISREG(sb.st_mode)) {
    so_ctx_errorf(ctx, "cannot read input '%s': not a regular file", path);
    return SO_EINVAL;
  }
  st->fsize = (uint64_t)sb.st_size;
  if (map->input == SO_MAP_RECORDS) {
    int64_t r = mj->record ? (int64_t)mj->record : so_ctx_int(ctx, map->record_param);
    if (r <= 0) {
      so_ctx_errorf(ctx, "--%s: the record size must be at least 1 byte, not %lld",
                    map->record_param, (long long)r);
      return SO_EINVAL;
    }
    st->record = (size_t)r;
    if (st->fsize % st->record) {
      so_ctx_errorf(ctx, "input '%s' is %" PRIu64 " bytes, not a whole number of %zu-byte records",
                    path, st->fsize, st->record);
      return SO_EINVAL;
    }
    st->n = st->fsize / st->record;
    return 0;
  }
  return ctx->role == SO_ROLE_MASTER ? count_lines(ctx, st, path) : 0;
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

/* The guided chunk: libgomp's formula, ceil(remaining / W), never below N. */
static uint64_t guided_size(uint64_t rem, uint64_t w, uint64_t min) {
  uint64_t q = ceil_div(rem, w);
  return q < min ? min : q;
}

/* The number of tasks the schedule makes of n items, or UINT64_MAX when only the run decides. */
static uint64_t task_count(so_schedule s, uint64_t n, uint64_t w) {
  uint64_t min = s.chunk ? s.chunk : 1, t = 0;
  switch (s.kind) {
  case SO_SCHED_STATIC: return w;
  case SO_SCHED_DYNAMIC: return ceil_div(n, min);
  case SO_SCHED_GUIDED:
    while (n > 0 && ceil_div(n, w) > min) {
      n -= ceil_div(n, w);
      t++;
    }
    return t + ceil_div(n, min);
  default: return UINT64_MAX;
  }
}

static int map_init(so_ctx *ctx) {
  so__map_job *mj = wrapper(ctx);
  const so_job *orig = mj->orig;
  int rc = orig->init ? orig->init(ctx) : 0;
  if (rc)
    return rc;
  so__map_rank *st = calloc(1, sizeof *st);
  if (!st) {
    so_ctx_errorf(ctx, "out of memory");
    rc = SO_ENOMEM;
    goto fail;
  }
  ctx->map = st;
  st->fd = -1;
  st->workers = ctx->workers > 0 ? ctx->workers : 1;
  if (mj->map->input != SO_MAP_RANGE && (rc = open_input(ctx, st)) != 0)
    goto fail;
  if (ctx->role != SO_ROLE_MASTER)
    return 0;
  if (mj->map->input == SO_MAP_RANGE)
    st->n = mj->map->count(ctx);
  so__batch_init(&st->ctl, st->workers, 0, SO_PREFETCH_AUTO);
  uint64_t tasks = task_count(mj->sched, st->n, (uint64_t)st->workers);
  ctx->has_total = 0;
  if (tasks != UINT64_MAX)
    so_ctx_set_total(ctx, tasks);
  const so_map *map = mj->map;
  if (map->reduce == SO_REDUCE_CUSTOM) {
    st->total = map->acc_new(ctx);
  } else if (map->reduce != SO_REDUCE_GATHER) {
    st->total = malloc((size_t)map->nvalues * 8);
    if (st->total)
      so__map_acc_reset(map, st->total);
  }
  if (map->reduce != SO_REDUCE_GATHER && !st->total) {
    so_ctx_errorf(ctx, "out of memory");
    rc = SO_ENOMEM;
    goto fail;
  }
  return 0;
fail:
  /* The engine calls fini() only after init() succeeded: undo the job's own init here. */
  rank_free(ctx);
  if (orig->fini)
    orig->fini(ctx);
  return rc;
}

static void map_fini(so_ctx *ctx) {
  rank_free(ctx);
  const so_job *orig = wrapper(ctx)->orig;
  if (orig->fini)
    orig->fini(ctx);
}

/* --- Cutting the input into chunks (master) --- */

/* The bytes of the next k lines from st->off, read as a stream through a read-ahead block. */
static int line_bytes(so_ctx *ctx, so__map_rank *st, uint64_t k, uint64_t *bytes) {
  if (!st->rbuf && !(st->rbuf = malloc(MAP_READ_BLOCK))) {
    so_ctx_errorf(ctx, "out of memory");
    return SO_ENOMEM;
  }
  uint64_t pos = st->off;
  while (k > 0 && pos < st->fsize) {
    if (pos < st->rbase || pos >= st->rbase + st->rlen) {
      ssize_t got = pread(st->fd, st->rbuf, MAP_READ_BLOCK, (off_t)pos);
      if (got <= 0) {
        so_ctx_errorf(ctx, "cannot read input '%s': %s", so_ctx_string(ctx, wrapper(ctx)->map->path_param),
                      got < 0 ? strerror(errno) : "it shrank while the run went on");
        return SO_EIO;
      }
      st->rbase = pos;
      st->rlen = (size_t)got;
    }
    unsigned char *p = st->rbuf + (pos - st->rbase), *end = st->rbuf + st->rlen;
    unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl) {
      pos = st->rbase + (uint64_t)(nl - st->rbuf) + 1;
      k--;
    } else {
      pos = st->rbase + st->rlen; /* the line goes on in the next block, or ends the file */
    }
  }
  *bytes = pos - st->off;
  return 0;
}

/* Hands out the next `size` items as one chunk. */
static int cut(so_ctx *ctx, so__map_rank *st, uint64_t size, so__map_span *sp) {
  const so_map *map = wrapper(ctx)->map;
  uint64_t bytes = 0;
  if (map->input == SO_MAP_RECORDS) {
    bytes = size * st->record;
  } else if (map->input == SO_MAP_LINES) {
    int rc = line_bytes(ctx, st, size, &bytes);
    if (rc)
      return rc;
  }
  *sp = (so__map_span){.offset = st->off, .len = bytes, .first = st->next, .count = size,
                       .chunk = size ? size : 1, .stride = 1, .phase = 0};
  st->off += bytes;
  st->next += size;
  return 0;
}

static int map_next(so_ctx *ctx, so_task_out *task) {
  so__map_job *mj = wrapper(ctx);
  so__map_rank *st = ctx->map;
  so_schedule s = mj->sched;
  uint64_t w = (uint64_t)st->workers, rem = st->n - st->next, size;
  so__map_span sp;
  (void)task;
  if (s.kind == SO_SCHED_STATIC) {
    /* One task per worker, whatever the input: a worker with no items gets an empty one. */
    if (st->tasks >= w)
      return 0;
    if (s.chunk) {
      sp = (so__map_span){.offset = 0, .len = st->fsize, .first = 0, .count = st->n,
                          .chunk = s.chunk, .stride = w, .phase = st->tasks};
      st->next = st->n;
    } else {
      size = st->n / w + (st->tasks < st->n % w);
      int rc = cut(ctx, st, size, &sp);
      if (rc)
        return rc;
    }
  } else {
    if (rem == 0)
      return 0;
    uint64_t min = s.chunk ? s.chunk : 1;
    if (s.kind == SO_SCHED_DYNAMIC)
      size = min;
    else if (s.kind == SO_SCHED_GUIDED)
      size = guided_size(rem, w, min);
    else {
      /* Auto: about 1 ms of work by the measured item time, but never more than a guided
       * chunk of half the size, since items need not cost alike: mandelbrot's cheap top rows
       * measured first made one chunk of most of the costly rows (imbalance 2.0). */
      size = so__batch_size(&st->ctl, rem);
      uint64_t cap = guided_size(rem, 2 * w, 1);
      if (size > cap)
        size = cap;
    }
    int rc = cut(ctx, st, size < rem ? size : rem, &sp);
    if (rc)
      return rc;
  }
  st->tasks++;
  int rc = so_task_set_data(ctx, task, &sp, sizeof sp);
  if (rc) {
    so_ctx_errorf(ctx, "out of memory");
    return rc;
  }
  return 1;
}

/* --- Reductions and the gather (master) --- */

void so__map_acc_reset(const so_map *map, void *acc) {
  for (uint32_t i = 0; i < map->nvalues; i++) {
    switch (map->value) {
    case SO_VALUE_I64:
      ((int64_t *)acc)[i] = map->reduce == SO_REDUCE_MIN ? INT64_MAX
                            : map->reduce == SO_REDUCE_MAX ? INT64_MIN : 0;
      break;
    case SO_VALUE_U64: ((uint64_t *)acc)[i] = map->reduce == SO_REDUCE_MIN ? UINT64_MAX : 0; break;
    case SO_VALUE_F64:
      ((double *)acc)[i] = map->reduce == SO_REDUCE_MIN ? (double)INFINITY
                           : map->reduce == SO_REDUCE_MAX ? -(double)INFINITY : 0.0;
      break;
    }
  }
}

#define COMBINE(T)                                                                            \
  do {                                                                                        \
    T *t = total;                                                                             \
    const T *p = part;                                                                        \
    for (uint32_t i = 0; i < map->nvalues; i++) {                                             \
      if (map->reduce == SO_REDUCE_SUM)                                                       \
        t[i] += p[i];                                                                         \
      else if (map->reduce == SO_REDUCE_MIN ? p[i] < t[i] : p[i] > t[i])                      \
        t[i] = p[i];                                                                          \
    }                                                                                         \
  } while (0)

void so__map_acc_combine(const so_map *map, void *total, const void *part) {
  switch (map->value) {
  case SO_VALUE_I64: COMBINE(int64_t); break;
  case SO_VALUE_U64: COMBINE(uint64_t); break;
  case SO_VALUE_F64: COMBINE(double); break;
  }
}

static int deliver(so_ctx *ctx, uint64_t first, uint64_t count, const void *data, size_t len) {
  so__map_job *mj = wrapper(ctx);
  so__map_rank *st = ctx->map;
  st->delivered = first + count;
  if (len == 0)
    return 0;
  if (mj->map->gathered)
    return mj->map->gathered(ctx, first, data, len);
  if (fwrite(data, 1, len, mj->out) != len) {
    so_ctx_errorf(ctx, "cannot write the gathered output: %s", strerror(errno));
    return SO_EIO;
  }
  return 0;
}

static void heap_swap(held_piece *a, held_piece *b) {
  held_piece t = *a;
  *a = *b;
  *b = t;
}

static int hold(so_ctx *ctx, so__map_rank *st, uint64_t first, uint64_t count, const void *data,
                size_t len) {
  if (st->nheld == st->capheld) {
    size_t cap = st->capheld ? st->capheld * 2 : 16;
    held_piece *h = realloc(st->held, cap * sizeof *h);
    if (!h)
      goto nomem;
    st->held = h;
    st->capheld = cap;
  }
  held_piece p = {first, count, NULL, len};
  if (len && !(p.data = malloc(len)))
    goto nomem;
  if (len)
    memcpy(p.data, data, len);
  held_piece *h = st->held;
  size_t i = st->nheld++;
  h[i] = p;
  while (i > 0 && h[(i - 1) / 2].first > h[i].first) {
    heap_swap(&h[i], &h[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  return 0;
nomem:
  so_ctx_errorf(ctx, "out of memory holding gathered output");
  return SO_ENOMEM;
}

static held_piece heap_pop(so__map_rank *st) {
  held_piece *h = st->held, top = h[0];
  h[0] = h[--st->nheld];
  for (size_t i = 0;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < st->nheld && h[l].first < h[m].first)
      m = l;
    if (r < st->nheld && h[r].first < h[m].first)
      m = r;
    if (m == i)
      break;
    heap_swap(&h[i], &h[m]);
    i = m;
  }
  return top;
}

/* Delivers every held piece whose turn has come; at the end (all) also those after a gap. */
static int drain(so_ctx *ctx, so__map_rank *st, int all) {
  while (st->nheld && (all || st->held[0].first <= st->delivered)) {
    held_piece p = heap_pop(st);
    int rc = deliver(ctx, p.first, p.count, p.data, p.len);
    free(p.data);
    if (rc)
      return rc;
  }
  return 0;
}

static int piece(so_ctx *ctx, so__map_rank *st, uint64_t first, uint64_t count, const void *data,
                 size_t len) {
  if (first != st->delivered)
    return hold(ctx, st, first, count, data, len);
  int rc = deliver(ctx, first, count, data, len);
  return rc ? rc : drain(ctx, st, 0);
}

/* A failed task's chunks deliver nothing, so the output after them is not held forever. */
static int skip_failed(so_ctx *ctx, so__map_rank *st, const so_task_result *res) {
  so__map_span sp;
  if (res->task_len != sizeof sp)
    return 0;
  memcpy(&sp, res->task_data, sizeof sp);
  for (uint64_t c = sp.phase * sp.chunk; c < sp.count; c += sp.stride * sp.chunk) {
    uint64_t k = sp.count - c < sp.chunk ? sp.count - c : sp.chunk;
    int rc = piece(ctx, st, sp.first + c, k, NULL, 0);
    if (rc)
      return rc;
  }
  return 0;
}

static int bad_result(so_ctx *ctx, const so_task_result *res) {
  so_ctx_errorf(ctx, "task %" PRIu64 " sent a malformed %zu-byte map result", res->id, res->len);
  return SO_EPROTO;
}

static int map_merge(so_ctx *ctx, const so_task_result *res) {
  so__map_job *mj = wrapper(ctx);
  const so_map *map = mj->map;
  so__map_rank *st = ctx->map;
  int rc = 0;
  if (res->status != 0) {
    st->failed++;
    rc = map->reduce == SO_REDUCE_GATHER ? skip_failed(ctx, st, res) : 0;
  } else {
    so__map_trailer tr;
    if (res->len < sizeof tr)
      return bad_result(ctx, res);
    size_t body = res->len - sizeof tr;
    const unsigned char *d = res->data;
    memcpy(&tr, d + body, sizeof tr);
    so__batch_observe(&st->ctl, tr.items, tr.ns);
    st->back += tr.items;
    if (map->reduce == SO_REDUCE_CUSTOM) {
      rc = map->combine(ctx, st->total, d, body);
    } else if (map->reduce != SO_REDUCE_GATHER) {
      if (body != (size_t)map->nvalues * 8)
        return bad_result(ctx, res);
      so__map_acc_combine(map, st->total, d);
    } else {
      uint64_t k;
      if (body < sizeof k)
        return bad_result(ctx, res);
      memcpy(&k, d + body - sizeof k, sizeof k);
      size_t table = (size_t)k * sizeof(so__map_piece_head);
      if (k > body / sizeof(so__map_piece_head) || table + sizeof k > body)
        return bad_result(ctx, res);
      const unsigned char *heads = d + body - sizeof k - table;
      size_t at = 0, out = (size_t)(heads - d);
      for (uint64_t i = 0; !rc && i < k; i++) {
        so__map_piece_head h;
        memcpy(&h, heads + i * sizeof h, sizeof h);
        if (h.len > out - at)
          return bad_result(ctx, res);
        rc = piece(ctx, st, h.first, h.count, d + at, (size_t)h.len);
        at += (size_t)h.len;
      }
    }
  }
  if (rc == 0 && mj->orig->merge)
    rc = mj->orig->merge(ctx, res);
  return rc;
}

static int map_finish(so_ctx *ctx) {
  so__map_job *mj = wrapper(ctx);
  so__map_rank *st = ctx->map;
  int rc = 0;
  /* Items lost without a failed chunk or a stop to explain it would be the engine's bug: say so
   * rather than report a wrong answer as complete. */
  if (st->back != st->n && !st->failed && !so_ctx_stopped(ctx)) {
    so_ctx_errorf(ctx, "only %" PRIu64 " of %" PRIu64 " items came back, so the answer would be "
                  "incomplete", st->back, st->n);
    return SO_EJOB;
  }
  if (mj->map->reduce == SO_REDUCE_GATHER) {
    rc = drain(ctx, st, 1);
    if (rc == 0 && !mj->map->gathered && fflush(mj->out) != 0) {
      so_ctx_errorf(ctx, "cannot write the gathered output: %s", strerror(errno));
      rc = SO_EIO;
    }
  } else if (mj->map->reduced) {
    rc = mj->map->reduced(ctx, st->total);
  }
  if (rc == 0 && mj->orig->finish)
    rc = mj->orig->finish(ctx);
  return rc;
}

/* --- Making and running the wrapper --- */

int so__map_wrap(const so_job *job, const so_config *cfg, const so_job **out, char *err,
                 size_t errlen) {
  *out = job;
  if (!job || !job->map || so__map_is_wrapper(job))
    return 0;
  const so_map *map = job->map;
  so_schedule s = map->schedule;
  if (cfg && cfg->schedule.kind != SO_SCHED_DEFAULT)
    s = cfg->schedule;
  if (s.kind == SO_SCHED_DEFAULT)
    s.kind = SO_SCHED_AUTO;
  int rc = check_decl(job, map, err, errlen);
  if (!rc)
    rc = check_schedule(job, s, err, errlen);
  if (rc)
    return rc;
  so__map_job *mj = calloc(1, sizeof *mj);
  if (!mj) {
    so__seterr(err, errlen, "out of memory");
    return SO_ENOMEM;
  }
  /* An older job's table is shorter: the fields it does not know stay zero. */
  size_t known = job->size && job->size < sizeof(so_job) ? job->size : sizeof(so_job);
  memcpy(&mj->job, job, known);
  mj->orig = job;
  mj->map = map;
  mj->sched = s;
  mj->out = cfg && cfg->task_out ? cfg->task_out : stdout;
  mj->record = map->record_size;
  mj->job.size = (uint32_t)sizeof(so_job);
  mj->self = *map;
  mj->job.map = &mj->self;
  mj->job.types = NULL;
  mj->job.stages = NULL;
  mj->job.check = map_check;
  mj->job.init = map_init;
  mj->job.next = map_next;
  mj->job.run = so__map_task;
  mj->job.merge = map_merge;
  mj->job.finish = map_finish;
  mj->job.fini = map_fini;
  /* A small input may make fewer chunks than workers, or none: that is a valid answer. A gather
   * keeps each task's span so a failed chunk's place in the output can be skipped. */
  mj->job.flags |= SO_JOB_FEW_TASKS_OK;
  if (map->reduce == SO_REDUCE_GATHER)
    mj->job.flags |= SO_JOB_KEEP_TASKS;
  *out = &mj->job;
  return 0;
}

void so__map_unwrap(const so_job *job) {
  if (job && job->next == map_next)
    free((void *)job);
}

int so__map_is_wrapper(const so_job *job) { return job && job->next == map_next; }

int so__job_owns_stdout(const so_job *job) {
  const so_map *map = job->map;
  return (job->flags & SO_JOB_OWNS_STDOUT) ||
         (map && map->reduce == SO_REDUCE_GATHER && !map->gathered);
}

int so__map_run(MPI_Comm comm, const so_job *job, const so_params *params, const so_config *cfg,
                so_report *rep) {
  int rank = 0;
  int rc = so__mpi_check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  if (rc)
    return rc;
  char err[512];
  const so_job *w;
  rc = so__map_wrap(job, cfg, &w, err, sizeof err);
  if (rc) {
    /* Every rank finds the same fault in the same declaration: one of them says so. */
    if (rank == 0)
      so__errorf("%s", err);
    return rc;
  }
  /* Static and guided deal chunks as OpenMP does, one chunk per message: with the engine's
   * adaptive batching a worker still busy with guided's first half-size chunk was dealt several
   * more (mandelbrot's imbalance 1.23). Under guided a worker holds one chunk beyond the one it
   * runs, so the next is there when it is free (without it each chunk waited for the master to
   * wake: pi on one worker, 1,000 chunks of 1.5 ms, 1.57 s against 1.20 s); under static, one
   * block per worker, a worker must not ask twice. Auto sizes its chunks itself, so batching
   * several into a message would only undo that. Dynamic keeps the engine's batching: chunks of
   * N, several to a message when they are short (primes in 1e6 slices would otherwise cost a
   * message each). Explicit --batch or --prefetch always win. */
  so_config c = *cfg;
  so_sched_kind kind = so__map_job_of(w)->sched.kind;
  if (kind != SO_SCHED_DYNAMIC) {
    if (c.batch == 0)
      c.batch = 1;
    if (c.prefetch == SO_PREFETCH_AUTO)
      c.prefetch = kind == SO_SCHED_STATIC ? 0 : 1;
  }
  rc = so_run(comm, w, params, &c, rep);
  so__map_unwrap(w);
  return rc;
}

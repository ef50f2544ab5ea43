/* The wordcount job: map-reduce over the text files named after ":::", one file per map item,
 * counted on the workers into hash tables that the master combines; exact counts, printed
 * sorted by count (most first) then by word, as `uniq -c` prints them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs_list.h"
#include "scaleout/map.h"

enum { WC_ENOMEM = 1, WC_EIO, WC_ERESULT }; /* job-specific failure codes */

static const so_param_def wc_params[] = {
    {"out", SO_PARAM_STRING, "-", "where the counts go (\"-\": standard output)", 0, -1},
    {NULL, 0, NULL, NULL, 0, 0},
};

/* One distinct word and its count. */
typedef struct wc_entry {
  char *word; /* len bytes, not terminated (a word may hold any byte but white space) */
  size_t len;
  uint64_t hash, count;
} wc_entry;

/* Word counts: an open-addressing hash table, capacity a power of two, at most 3/4 full. */
typedef struct wc_table {
  wc_entry *slots;
  size_t cap, used;
  uint64_t words; /* every word counted, repeats included */
} wc_table;

/* Words are maximal runs of anything but the six white-space bytes of the C locale, the set of
 * `tr -s '[:space:]' '\n'`, whatever the locale of the run. */
static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static uint64_t fnv1a(const char *p, size_t len) {
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)p[i]) * 0x100000001b3u;
  return h;
}

static wc_table *table_new(void) {
  wc_table *t = calloc(1, sizeof *t);
  if (t && !(t->slots = calloc(t->cap = 1024, sizeof *t->slots))) {
    free(t);
    t = NULL;
  }
  return t;
}

static void table_free(wc_table *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->cap; i++)
    free(t->slots[i].word);
  free(t->slots);
  free(t);
}

static int table_grow(wc_table *t) {
  size_t cap = t->cap * 2;
  wc_entry *s = calloc(cap, sizeof *s);
  if (!s)
    return -1;
  for (size_t i = 0; i < t->cap; i++) {
    if (!t->slots[i].word)
      continue;
    size_t j = t->slots[i].hash & (cap - 1);
    while (s[j].word)
      j = (j + 1) & (cap - 1);
    s[j] = t->slots[i];
  }
  free(t->slots);
  t->slots = s;
  t->cap = cap;
  return 0;
}

/* Adds n to the count of the len-byte word w (copied when new). Returns 0 or -1 (memory). */
static int table_add(wc_table *t, const char *w, size_t len, uint64_t n) {
  uint64_t h = fnv1a(w, len);
  size_t j = h & (t->cap - 1);
  for (; t->slots[j].word; j = (j + 1) & (t->cap - 1)) {
    wc_entry *e = &t->slots[j];
    if (e->hash == h && e->len == len && memcmp(e->word, w, len) == 0) {
      e->count += n;
      t->words += n;
      return 0;
    }
  }
  /* A zero-length word never reaches here, but malloc(0) may return NULL: allocate one more. */
  char *copy = malloc(len + 1);
  if (!copy)
    return -1;
  memcpy(copy, w, len);
  t->slots[j] = (wc_entry){copy, len, h, n};
  t->words += n;
  if (++t->used * 4 > t->cap * 3)
    return table_grow(t);
  return 0;
}

/* Every word after ":::" must name a readable file; checked before any rank starts, so a typo
 * is bad input (exit 2) rather than a failed item halfway through the run. */
static int wc_check(so_ctx *ctx) {
  const char *const *argv;
  int argc = so_ctx_args(ctx, &argv);
  if (!argv || argc == 0) {
    so_ctx_errorf(ctx, "wordcount needs the files to count after ':::' "
                  "(scaleout run wordcount ::: FILE...)");
    return SO_EINVAL;
  }
  for (int i = 0; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) || access(argv[i], R_OK)) {
      so_ctx_errorf(ctx, "cannot read '%s': %s", argv[i], strerror(errno));
      return SO_EINVAL;
    } else if (S_ISDIR(st.st_mode)) {
      so_ctx_errorf(ctx, "cannot read '%s': it is a directory", argv[i]);
      return SO_EINVAL;
    }
  }
  return 0;
}

static uint64_t wc_count(so_ctx *ctx) {
  const char *const *argv;
  return (uint64_t)so_ctx_args(ctx, &argv);
}

/* Worker: counts the words of one file into the chunk's table. A word may straddle two reads:
 * its start is kept in `word` until its end comes. */
static int wc_item(so_ctx *ctx, uint64_t index, const void *rec, size_t len, void *acc,
                   so_result *res) {
  const char *const *argv;
  so_ctx_args(ctx, &argv);
  const char *path = argv[index];
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    so_ctx_errorf(ctx, "cannot read '%s': %s", path, strerror(errno));
    return WC_EIO;
  }
  enum { BUFSZ = 1 << 16 };
  char *buf = malloc(BUFSZ), *word = NULL;
  size_t wlen = 0, wcap = 0;
  int rc = buf ? 0 : WC_ENOMEM;
  for (ssize_t n; rc == 0 && (n = read(fd, buf, BUFSZ)) != 0;) {
    if (n < 0) {
      if (errno == EINTR)
        continue;
      so_ctx_errorf(ctx, "cannot read '%s': %s", path, strerror(errno));
      rc = WC_EIO;
      break;
    }
    size_t i = 0;
    while (rc == 0 && i < (size_t)n) {
      if (wlen == 0)
        while (i < (size_t)n && is_space((unsigned char)buf[i]))
          i++;
      size_t start = i;
      while (i < (size_t)n && !is_space((unsigned char)buf[i]))
        i++;
      size_t piece = i - start;
      if (i == (size_t)n) { /* the word may go on in the next read: keep its start */
        if (wlen + piece > wcap) {
          size_t cap = (wlen + piece) * 2;
          char *w = realloc(word, cap);
          if (!w) {
            rc = WC_ENOMEM;
            break;
          }
          word = w, wcap = cap;
        }
        memcpy(word + wlen, buf + start, piece);
        wlen += piece;
      } else if (wlen) { /* the end of a word begun in an earlier read */
        if (wlen + piece > wcap) {
          char *w = realloc(word, wlen + piece);
          if (!w) {
            rc = WC_ENOMEM;
            break;
          }
          word = w, wcap = wlen + piece;
        }
        memcpy(word + wlen, buf + start, piece);
        rc = table_add(acc, word, wlen + piece, 1) ? WC_ENOMEM : 0;
        wlen = 0;
      } else if (piece) {
        rc = table_add(acc, buf + start, piece, 1) ? WC_ENOMEM : 0;
      }
    }
  }
  if (rc == 0 && wlen)
    rc = table_add(acc, word, wlen, 1) ? WC_ENOMEM : 0;
  if (rc == WC_ENOMEM)
    so_ctx_errorf(ctx, "'%s': out of memory", path);
  close(fd);
  free(buf);
  free(word);
  return rc;
}

static void *wc_acc_new(so_ctx *ctx) { return table_new(); }

static void wc_acc_free(so_ctx *ctx, void *acc) { table_free(acc); }

/* A partial travels as records of (8-byte count, 8-byte length, the word's bytes). */
static int wc_acc_write(so_ctx *ctx, void *acc, so_result *res) {
  const wc_table *t = acc;
  for (size_t i = 0; i < t->cap; i++) {
    const wc_entry *e = &t->slots[i];
    if (!e->word)
      continue;
    uint64_t head[2] = {e->count, e->len};
    if (so_result_write(res, head, sizeof head) || so_result_write(res, e->word, e->len))
      return WC_ENOMEM;
  }
  return 0;
}

/* Adds a partial's counts into the master's table: counts add, so the order partials come in
 * changes nothing. */
static int wc_combine(so_ctx *ctx, void *total, const void *data, size_t len) {
  const char *p = data, *end = p + len;
  while (p < end) {
    uint64_t head[2];
    if ((size_t)(end - p) < sizeof head) {
      so_ctx_errorf(ctx, "a partial ends inside a record (%zu bytes left)", (size_t)(end - p));
      return WC_ERESULT;
    }
    memcpy(head, p, sizeof head);
    p += sizeof head;
    if (head[1] > (uint64_t)(end - p) || head[0] == 0) {
      so_ctx_errorf(ctx, "a partial holds a malformed record");
      return WC_ERESULT;
    }
    if (table_add(total, p, head[1], head[0])) {
      so_ctx_errorf(ctx, "out of memory");
      return WC_ENOMEM;
    }
    p += head[1];
  }
  return 0;
}

/* Most frequent first; equal counts by the words' bytes (the C locale's `sort`), a prefix
 * before the longer word. */
static int by_count_then_word(const void *x, const void *y) {
  const wc_entry *a = *(const wc_entry *const *)x, *b = *(const wc_entry *const *)y;
  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  int c = memcmp(a->word, b->word, a->len < b->len ? a->len : b->len);
  return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Master: the counts, sorted, in `uniq -c`'s format ("%7d word"), then the answer. */
static int wc_reduced(so_ctx *ctx, const void *totalp) {
  const wc_table *t = totalp;
  const char *path = so_ctx_string(ctx, "out");
  int to_stdout = strcmp(path, "-") == 0;
  const wc_entry **v = malloc((t->used ? t->used : 1) * sizeof *v);
  if (!v) {
    so_ctx_errorf(ctx, "out of memory");
    return WC_ENOMEM;
  }
  size_t n = 0;
  for (size_t i = 0; i < t->cap; i++)
    if (t->slots[i].word)
      v[n++] = &t->slots[i];
  qsort(v, n, sizeof *v, by_count_then_word);
  FILE *out = to_stdout ? stdout : fopen(path, "wb");
  int rc = 0;
  if (out) {
    for (size_t i = 0; i < n && rc >= 0; i++) {
      rc = fprintf(out, "%7llu ", (unsigned long long)v[i]->count);
      if (rc >= 0 && (fwrite(v[i]->word, 1, v[i]->len, out) != v[i]->len || putc('\n', out) < 0))
        rc = -1;
    }
    if (to_stdout ? fflush(out) : fclose(out))
      rc = -1;
  }
  free(v);
  if (!out || rc < 0) {
    so_ctx_errorf(ctx, "cannot write '%s': %s", to_stdout ? "standard output" : path,
                  strerror(errno));
    return WC_EIO;
  }
  const char *const *argv;
  so_answer_int(ctx, "files", so_ctx_args(ctx, &argv));
  so_answer_int(ctx, "words", (int64_t)t->words);
  so_answer_int(ctx, "distinct", (int64_t)n);
  return 0;
}

static const so_map wc_map = {
    .input = SO_MAP_RANGE,
    .count = wc_count,
    .schedule = {SO_SCHED_DYNAMIC, 1},
    .reduce = SO_REDUCE_CUSTOM,
    .item = wc_item,
    .acc_new = wc_acc_new,
    .acc_write = wc_acc_write,
    .combine = wc_combine,
    .acc_free = wc_acc_free,
    .reduced = wc_reduced,
};

const so_job so_job_wordcount = {
    SO_JOB_VERSION,
    .name = "wordcount",
    .summary = "word counts of the files after ':::', sorted by count then word (map-reduce)",
    .params = wc_params,
    .check = wc_check,
    .flags = SO_JOB_TAKES_ARGS | SO_JOB_OWNS_STDOUT,
    .map = &wc_map,
};

/* The mandelbrot job: an image of the Mandelbrot set, rows of very uneven cost mapped over a
 * range and gathered in input order into a PGM file, with a checksum of its pixels. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs_list.h"
#include "scaleout/map.h"

enum { MB_ENOMEM = 1, MB_EIO, MB_EORDER }; /* job-specific failure codes */

static const so_param_def mb_params[] = {
    {"width", SO_PARAM_INT, "1200", "pixels per row", 1, 1e6},
    {"height", SO_PARAM_INT, "800", "rows (one map item each)", 1, 1e6},
    {"iterations", SO_PARAM_INT, "1000", "escape-time iterations per pixel at most", 1, 1e9},
    {"region", SO_PARAM_STRING, "-2.25,0.75,-1.25,1.25",
     "the plane shown, as XMIN,XMAX,YMIN,YMAX (row 0 is YMAX, the top of the image)", 0, -1},
    {"out", SO_PARAM_OUTPUT, "mandelbrot.pgm", "the PGM file written, or \"\" for none", 0, -1},
    {NULL, 0, NULL, NULL, 0, 0},
};

typedef struct mb_state {
  uint64_t width, height, iterations;
  double xmin, xmax, ymin, ymax;
  /* Master: the image file, how many bytes of pixels it has, their FNV-1a hash so far and the
   * pixels inside the set. */
  FILE *out;
  const char *path;
  uint64_t bytes, fnv, inside;
} mb_state;

/* Reads XMIN,XMAX,YMIN,YMAX; returns 0 or -1 when the text is not four numbers in order. */
static int parse_region(const char *text, double v[4]) {
  const char *p = text;
  for (int i = 0; i < 4; i++) {
    char *end;
    errno = 0;
    v[i] = strtod(p, &end);
    if (end == p || errno || (i < 3 ? *end != ',' : *end != '\0'))
      return -1;
    p = end + 1;
  }
  return v[0] < v[1] && v[2] < v[3] ? 0 : -1;
}

static int mb_check(so_ctx *ctx) {
  double v[4];
  const char *region = so_ctx_string(ctx, "region");
  if (parse_region(region, v)) {
    so_ctx_errorf(ctx, "--region '%s' must be four numbers XMIN,XMAX,YMIN,YMAX with "
                  "XMIN < XMAX and YMIN < YMAX", region);
    return SO_EINVAL;
  }
  return 0;
}

/*
 * The grey level of pixel (x, y): the escape time of c = (cx, cy), 0 (black) inside the set.
 * Rows that cross the set cost `iterations` per pixel, rows far from it a few: that unevenness
 * is what the schedules are compared on. Pixel centres sit at (x + 0.5) / width, so an image and
 * its serial reference compute the very same doubles.
 */
static unsigned char pixel(const mb_state *s, uint64_t x, uint64_t y) {
  double cx = s->xmin + ((double)x + 0.5) * (s->xmax - s->xmin) / (double)s->width;
  double cy = s->ymax - ((double)y + 0.5) * (s->ymax - s->ymin) / (double)s->height;
  double zx = 0.0, zy = 0.0;
  uint64_t it = 0;
  while (it < s->iterations) {
    double xx = zx * zx, yy = zy * zy;
    if (xx + yy > 4.0)
      break;
    zy = 2.0 * zx * zy + cy;
    zx = xx - yy + cx;
    it++;
  }
  return it >= s->iterations ? 0 : (unsigned char)(255 - it * 255 / s->iterations);
}

static int mb_init(so_ctx *ctx) {
  int rc = mb_check(ctx);
  if (rc)
    return rc;
  mb_state *s = calloc(1, sizeof *s);
  if (!s) {
    so_ctx_errorf(ctx, "out of memory");
    return MB_ENOMEM;
  }
  double v[4];
  parse_region(so_ctx_string(ctx, "region"), v);
  s->xmin = v[0], s->xmax = v[1], s->ymin = v[2], s->ymax = v[3];
  s->width = (uint64_t)so_ctx_int(ctx, "width");
  s->height = (uint64_t)so_ctx_int(ctx, "height");
  s->iterations = (uint64_t)so_ctx_int(ctx, "iterations");
  s->fnv = 0xcbf29ce484222325u; /* FNV-1a offset basis */
  so_ctx_set_state(ctx, s);
  s->path = so_ctx_string(ctx, "out");
  if (so_ctx_role(ctx) == SO_ROLE_MASTER && s->path[0]) {
    s->out = fopen(s->path, "wb");
    if (!s->out || fprintf(s->out, "P5\n%llu %llu\n255\n", (unsigned long long)s->width,
                           (unsigned long long)s->height) < 0) {
      so_ctx_errorf(ctx, "cannot write '%s': %s", s->path, strerror(errno));
      return MB_EIO;
    }
  }
  return 0;
}

static uint64_t mb_count(so_ctx *ctx) {
  const mb_state *s = so_ctx_state(ctx);
  return s->height;
}

/* Worker: one row, its width bytes of grey levels as the item's output. */
static int mb_item(so_ctx *ctx, uint64_t index, const void *rec, size_t len, void *acc,
                   so_result *res) {
  const mb_state *s = so_ctx_state(ctx);
  unsigned char *row = malloc(s->width);
  if (!row) {
    so_ctx_errorf(ctx, "row %llu: out of memory", (unsigned long long)index);
    return MB_ENOMEM;
  }
  for (uint64_t x = 0; x < s->width; x++)
    row[x] = pixel(s, x, index);
  int rc = so_result_write(res, row, s->width) ? MB_ENOMEM : 0;
  free(row);
  return rc;
}

/* Master: consecutive rows in input order; they go on the file and into the checksum. */
static int mb_gathered(so_ctx *ctx, uint64_t first, const void *data, size_t len) {
  mb_state *s = so_ctx_state(ctx);
  if (first * s->width != s->bytes || len % s->width) {
    so_ctx_errorf(ctx, "rows arrived out of order: %zu bytes from row %llu after %llu rows",
                  len, (unsigned long long)first, (unsigned long long)(s->bytes / s->width));
    return MB_EORDER;
  }
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    s->fnv = (s->fnv ^ p[i]) * 0x100000001b3u; /* FNV-1a prime */
    s->inside += p[i] == 0;
  }
  s->bytes += len;
  if (s->out && fwrite(data, 1, len, s->out) != len) {
    so_ctx_errorf(ctx, "cannot write '%s': %s", s->path, strerror(errno));
    return MB_EIO;
  }
  return 0;
}

static int mb_finish(so_ctx *ctx) {
  mb_state *s = so_ctx_state(ctx);
  if (s->out) {
    int rc = fclose(s->out);
    s->out = NULL;
    if (rc) {
      so_ctx_errorf(ctx, "cannot write '%s': %s", s->path, strerror(errno));
      return MB_EIO;
    }
  }
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)s->fnv);
  so_answer_string(ctx, "checksum", hex);
  so_answer_int(ctx, "rows", (int64_t)(s->bytes / s->width));
  so_answer_int(ctx, "inside", (int64_t)s->inside);
  if (s->path[0])
    so_answer_string(ctx, "image", s->path);
  return 0;
}

static void mb_fini(so_ctx *ctx) {
  mb_state *s = so_ctx_state(ctx);
  if (s && s->out)
    fclose(s->out);
  free(s);
  so_ctx_set_state(ctx, NULL);
}

static const so_map mb_map = {
    .input = SO_MAP_RANGE,
    .count = mb_count,
    .schedule = {SO_SCHED_DYNAMIC, 1},
    .reduce = SO_REDUCE_GATHER,
    .item = mb_item,
    .gathered = mb_gathered,
};

const so_job so_job_mandelbrot = {
    SO_JOB_VERSION,
    .name = "mandelbrot",
    .summary = "Mandelbrot image as PGM, rows of uneven cost gathered in order (data-parallel)",
    .params = mb_params,
    .check = mb_check,
    .init = mb_init,
    .finish = mb_finish,
    .fini = mb_fini,
    .map = &mb_map,
};

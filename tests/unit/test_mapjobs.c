/* Unit tests of the data-parallel built-in jobs (mandelbrot, matmul, stream, wordcount): each
 * against a serial reference written here, through so__run_serial and through the in-process
 * engine at 1 to 5 workers under every schedule. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "engine_harness.h"
#include "jobs_list.h"
#include "map.h"
#include "params.h"
#include "scaleout/map.h"
#include "so_jobtest.h"
#include "so_test.h"

/* --- Helpers --- */

static char tmpdir[256];

/* A path under the test's temporary directory (a static buffer per call slot). */
static const char *tmp_path(const char *name) {
  static char bufs[8][512];
  static int k;
  char *b = bufs[k++ % 8];
  snprintf(b, 512, "%s/%s", tmpdir, name);
  return b;
}

#define PARAMS(job, ...) params_of((job), __VA_ARGS__, (const char *)NULL)

static double answer_double(const so_answer *a, const char *name) {
  const so__answer_item *it = answer_get(a, name);
  return it && it->kind == SO_ANSWER_DOUBLE ? it->d : NAN;
}

static const char *answer_string(const so_answer *a, const char *name) {
  const so__answer_item *it = answer_get(a, name);
  return it && it->kind == SO_ANSWER_STRING ? it->s : "<missing>";
}

/* The whole content of a file (NUL-terminated, length in *len); NULL when unreadable. */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap + 1);
  size_t got;
  while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *nb = realloc(b, (cap *= 2) + 1);
      if (!nb)
        free(b);
      b = nb;
    }
  }
  fclose(f);
  if (b)
    b[n] = '\0';
  *len = n;
  return b;
}

static int write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  size_t w = fwrite(data, 1, len, f);
  return fclose(f) == 0 && w == len ? 0 : -1;
}

/* The schedules every job is run under. */
static const char *const schedules[] = {"static",    "static,3", "dynamic", "dynamic,4",
                                        "guided",    "guided,2", "auto",    NULL};

/* Runs job with params on w in-process workers under schedule text, as so_run would (the map
 * made into the engine's ordinary job first); returns the master's code and the report (free
 * with so_report_free). */
static int engine_run(const so_job *job, const so_params *p, int w, const char *sched,
                      so_report *rep) {
  so_config cfg;
  so_config_default(&cfg);
  cfg.quiet = 1;
  char err[256];
  CU_ASSERT_FATAL(so_schedule_parse(sched, &cfg.schedule, err, sizeof err) == 0);
  const so_job *wrapped;
  CU_ASSERT_FATAL(so__map_wrap(job, &cfg, &wrapped, err, sizeof err) == 0);
  int rc = harness_run_params(wrapped, p, w, &cfg, rep);
  so__map_unwrap(wrapped);
  return rc;
}

/* --- mandelbrot --- */

/* The reference image, written from the definition: escape time of each pixel centre. */
static unsigned char *mandel_ref(int w, int h, int maxit, double x0, double x1, double y0,
                                 double y1) {
  unsigned char *img = malloc((size_t)w * (size_t)h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double cx = x0 + (x + 0.5) * (x1 - x0) / w, cy = y1 - (y + 0.5) * (y1 - y0) / h;
      double zx = 0, zy = 0;
      int it = 0;
      for (; it < maxit && zx * zx + zy * zy <= 4.0; it++) {
        double t = zx * zx - zy * zy + cx;
        zy = 2.0 * zx * zy + cy;
        zx = t;
      }
      img[(size_t)y * (size_t)w + (size_t)x] =
          it >= maxit ? 0 : (unsigned char)(255 - (uint64_t)it * 255 / (uint64_t)maxit);
    }
  return img;
}

static uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3u;
  return h;
}

/* The PGM the job wrote must be the reference's header and pixels, and the checksum theirs. */
static void check_pgm(const char *path, const so_answer *a, const unsigned char *ref, int w,
                      int h) {
  char head[64], hex[17];
  int hl = snprintf(head, sizeof head, "P5\n%d %d\n255\n", w, h);
  size_t len = 0;
  char *got = slurp(path, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(got);
  CU_ASSERT_EQUAL(len, (size_t)hl + (size_t)w * (size_t)h);
  CU_ASSERT(len >= (size_t)hl && memcmp(got, head, (size_t)hl) == 0);
  CU_ASSERT(len == (size_t)hl + (size_t)w * (size_t)h &&
            memcmp(got + hl, ref, (size_t)w * (size_t)h) == 0);
  free(got);
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a(ref, (size_t)w * (size_t)h));
  CU_ASSERT_STRING_EQUAL(answer_string(a, "checksum"), hex);
  CU_ASSERT_EQUAL(answer_int(a, "rows"), h);
}

static void test_mandelbrot(void) {
  /* The upper half of the plane only: rows near the real axis cost 300 iterations a pixel,
   * rows at the top a few, so the schedules hand out very uneven work. */
  const int w = 53, h = 41, it = 300;
  unsigned char *ref = mandel_ref(w, h, it, -2.0, 0.6, 0.0, 1.2);
  const char *out = tmp_path("m.pgm");
  so_params *p = PARAMS(&so_job_mandelbrot, "width", "53", "height", "41", "iterations", "300",
                        "region", "-2,0.6,0,1.2", "out", out);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  uint64_t tasks = 0;
  so_answer *a = NULL;
  CU_ASSERT_EQUAL(so__run_serial(&so_job_mandelbrot, p, &tasks, &a), 0);
  check_pgm(out, a, ref, w, h);
  so__answer_free(a);
  for (int wk = 1; wk <= 5; wk++)
    for (int s = 0; schedules[s]; s++) {
      unlink(out);
      so_report rep;
      CU_ASSERT_EQUAL(engine_run(&so_job_mandelbrot, p, wk, schedules[s], &rep), 0);
      check_pgm(out, rep.answer, ref, w, h);
      so_report_free(&rep);
    }
  so__params_free(p);
  free(ref);
}

/* --- matmul --- */

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

/* The job's documented entries: an integer in [-8, 8] hashed from seed, matrix and position. */
static int64_t mm_entry(uint64_t seed, int m, uint64_t n, uint64_t i, uint64_t j) {
  return (int64_t)(mix64(mix64(seed * 2 + (uint64_t)m + 0x9E3779B97F4A7C15u) ^ (i * n + j)) % 17) -
         8;
}

/* The naive product in integers: its entries' sum and sum of squares. */
static void mm_ref(uint64_t seed, uint64_t n, uint64_t *sum, uint64_t *sumsq) {
  *sum = *sumsq = 0;
  for (uint64_t i = 0; i < n; i++)
    for (uint64_t j = 0; j < n; j++) {
      int64_t c = 0;
      for (uint64_t k = 0; k < n; k++)
        c += mm_entry(seed, 0, n, i, k) * mm_entry(seed, 1, n, k, j);
      *sum += (uint64_t)c;
      *sumsq += (uint64_t)(c * c);
    }
}

static void check_mm(const so_answer *a, uint64_t sum, uint64_t sumsq, int64_t checked) {
  CU_ASSERT_EQUAL(answer_int(a, "sum"), (int64_t)sum);
  CU_ASSERT_EQUAL(answer_int(a, "sumsq"), (int64_t)sumsq);
  CU_ASSERT_EQUAL(answer_int(a, "checked"), checked);
  CU_ASSERT_EQUAL(answer_double(a, "max_error"), 0.0);
  CU_ASSERT_DOUBLE_EQUAL(answer_double(a, "frobenius"), sqrt((double)sumsq), 1e-6);
}

static void test_matmul(void) {
  /* 70 rows in items of 8 (the last one short) and tiles of 16 (the last one short too). */
  uint64_t sum, sumsq;
  mm_ref(7, 70, &sum, &sumsq);
  so_params *p = PARAMS(&so_job_matmul, "n", "70", "rows", "8", "tile", "16", "seed", "7",
                        "verify", "3");
  so_params *full = PARAMS(&so_job_matmul, "n", "70", "rows", "70", "tile", "9", "seed", "7",
                           "verify", "1000");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_PTR_NOT_NULL_FATAL(full);
  uint64_t tasks = 0;
  so_answer *a = NULL;
  CU_ASSERT_EQUAL(so__run_serial(&so_job_matmul, p, &tasks, &a), 0);
  check_mm(a, sum, sumsq, 70 * 3);
  so__answer_free(a);
  CU_ASSERT_EQUAL(so__run_serial(&so_job_matmul, full, &tasks, &a), 0);
  check_mm(a, sum, sumsq, 70 * 70); /* every entry against the naive product */
  so__answer_free(a);
  for (int wk = 1; wk <= 5; wk++)
    for (int s = 0; schedules[s]; s++) {
      so_report rep;
      CU_ASSERT_EQUAL(engine_run(&so_job_matmul, p, wk, schedules[s], &rep), 0);
      check_mm(rep.answer, sum, sumsq, 70 * 3);
      so_report_free(&rep);
    }
  so__params_free(p);
  so__params_free(full);
}

/* --- stream --- */

static void test_stream(void) {
  /* Each pass leaves a[i] = b[i] + 3 c[i] with b[i] = i mod 1024, c[i] = 7i mod 1024. */
  const uint64_t n = 5000, passes = 11;
  int64_t one = 0;
  for (uint64_t i = 0; i < n; i++)
    one += (int64_t)(i & 1023) + 3 * (int64_t)((i * 7) & 1023);
  so_params *p = PARAMS(&so_job_stream, "n", "5000", "passes", "11", "scalar", "3");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  uint64_t tasks = 0;
  so_answer *a = NULL;
  CU_ASSERT_EQUAL(so__run_serial(&so_job_stream, p, &tasks, &a), 0);
  CU_ASSERT_EQUAL(answer_int(a, "sum"), one * (int64_t)passes);
  CU_ASSERT_EQUAL(answer_int(a, "bytes"), (int64_t)(24 * n * passes));
  CU_ASSERT(answer_double(a, "gbps") > 0);
  CU_ASSERT(answer_double(a, "pass_gbps") > 0);
  so__answer_free(a);
  for (int wk = 1; wk <= 5; wk++)
    for (int s = 0; schedules[s]; s++) {
      so_report rep;
      CU_ASSERT_EQUAL(engine_run(&so_job_stream, p, wk, schedules[s], &rep), 0);
      CU_ASSERT_EQUAL(answer_int(rep.answer, "sum"), one * (int64_t)passes);
      CU_ASSERT_EQUAL(answer_int(rep.answer, "bytes"), (int64_t)(24 * n * passes));
      CU_ASSERT(answer_double(rep.answer, "gbps") > 0);
      so_report_free(&rep);
    }
  so__params_free(p);
}

/* --- wordcount --- */

typedef struct ref_word {
  const char *w;
  size_t len;
  uint64_t count;
} ref_word;

static int ref_cmp(const void *x, const void *y) {
  const ref_word *a = x, *b = y;
  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  int c = memcmp(a->w, b->w, a->len < b->len ? a->len : b->len);
  return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int ref_space(unsigned char c) { return strchr(" \t\n\v\f\r", c) && c; }

/*
 * The reference counts, the slow obvious way: every file whole in memory, each word looked up
 * in a list by linear search, then sorted, then printed as `uniq -c` would. Returns the text.
 */
static char *wc_ref(const char *const *files, int nfiles, size_t *outlen, uint64_t *words) {
  ref_word *v = NULL;
  size_t n = 0, cap = 0;
  char **bufs = calloc((size_t)nfiles, sizeof *bufs);
  *words = 0;
  for (int f = 0; f < nfiles; f++) {
    size_t len;
    char *b = bufs[f] = slurp(files[f], &len);
    for (size_t i = 0; b && i < len;) {
      while (i < len && ref_space((unsigned char)b[i]))
        i++;
      size_t s = i;
      while (i < len && !ref_space((unsigned char)b[i]))
        i++;
      if (i == s)
        continue;
      (*words)++;
      size_t k = 0;
      while (k < n && !(v[k].len == i - s && memcmp(v[k].w, b + s, i - s) == 0))
        k++;
      if (k == n) {
        if (n == cap)
          v = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
        v[n++] = (ref_word){b + s, i - s, 0};
      }
      v[k].count++;
    }
  }
  qsort(v, n, sizeof *v, ref_cmp);
  char *out = NULL;
  size_t olen = 0;
  FILE *m = open_memstream(&out, &olen);
  for (size_t k = 0; k < n; k++) {
    fprintf(m, "%7llu ", (unsigned long long)v[k].count);
    fwrite(v[k].w, 1, v[k].len, m);
    fputc('\n', m);
  }
  fclose(m);
  for (int f = 0; f < nfiles; f++)
    free(bufs[f]);
  free(bufs);
  free(v);
  *outlen = olen;
  return out;
}

/* Files with what word splitting gets wrong: every white-space byte, leading and trailing runs,
 * no final newline, an empty file, bytes above 127 and NUL inside words, a word longer than the
 * job's 64 KiB reads, and words cut by those reads' boundaries. */
static int make_corpus(const char **files) {
  static const char *names[] = {"w0.txt", "w1.txt", "w2.txt", "w3.txt", "w4.txt", "w5.txt",
                                "w6.txt"};
  const char t0[] = "  the cat\tsat on\vthe\fmat\r\nthe end";
  const char t1[] = "";
  const char t2[] = "caf\xc3\xa9 caf\xc3\xa9\ncafe a\0b a\0b a\n\n\n";
  const char t3[] = "\n\n  \t";
  if (write_file(tmp_path(names[0]), t0, sizeof t0 - 1) ||
      write_file(tmp_path(names[1]), t1, 0) ||
      write_file(tmp_path(names[2]), t2, sizeof t2 - 1) ||
      write_file(tmp_path(names[3]), t3, sizeof t3 - 1))
    return -1;
  /* 200 000 bytes: a 100 000-byte word, then words of 1 to 9 letters placed so that some cross
   * 65 536 and 131 072. */
  size_t big = 200000;
  char *b = malloc(big);
  memset(b, 'x', 100000);
  uint64_t r = 42;
  for (size_t i = 100000; i < big; i++) {
    r = r * 6364136223846793005u + 1442695040888963407u;
    int k = (int)((r >> 33) % 10);
    b[i] = k == 0 ? ' ' : k == 1 ? '\n' : (char)('a' + k % 3);
  }
  b[65535] = 'q', b[65536] = 'q'; /* inside the long word anyway */
  b[131071] = 'a', b[131072] = 'b', b[131073] = ' ';
  int rc = write_file(tmp_path(names[4]), b, big);
  /* The same big file twice (counts add across files) and a copy of t0. */
  rc = rc || write_file(tmp_path(names[5]), b, big) ||
       write_file(tmp_path(names[6]), t0, sizeof t0 - 1);
  free(b);
  for (int i = 0; i < 7; i++)
    files[i] = strdup(tmp_path(names[i]));
  return rc;
}

static void check_wc(const char *path, const so_answer *a, const char *ref, size_t reflen,
                     uint64_t words) {
  size_t len = 0;
  char *got = slurp(path, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(got);
  CU_ASSERT_EQUAL(len, reflen);
  CU_ASSERT(len == reflen && memcmp(got, ref, len) == 0);
  free(got);
  CU_ASSERT_EQUAL(answer_int(a, "words"), (int64_t)words);
  CU_ASSERT_EQUAL(answer_int(a, "files"), 7);
}

static void test_wordcount(void) {
  const char *files[7];
  CU_ASSERT_FATAL(make_corpus(files) == 0);
  size_t reflen;
  uint64_t words;
  char *ref = wc_ref(files, 7, &reflen, &words);
  CU_ASSERT(words > 30000); /* the corpus is what the test means it to be */
  const char *out = tmp_path("counts.txt");
  so_params *p = PARAMS(&so_job_wordcount, "out", out);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  so__params_set_args(p, 7, files);
  uint64_t tasks = 0;
  so_answer *a = NULL;
  CU_ASSERT_EQUAL(so__run_serial(&so_job_wordcount, p, &tasks, &a), 0);
  check_wc(out, a, ref, reflen, words);
  so__answer_free(a);
  for (int wk = 1; wk <= 5; wk++)
    for (int s = 0; schedules[s]; s++) {
      unlink(out);
      so_report rep;
      CU_ASSERT_EQUAL(engine_run(&so_job_wordcount, p, wk, schedules[s], &rep), 0);
      check_wc(out, rep.answer, ref, reflen, words);
      so_report_free(&rep);
    }
  so__params_free(p);
  free(ref);
  for (int i = 0; i < 7; i++)
    free((char *)files[i]);
}

/* --- Bad input --- */

/* check() of job with params p must refuse them as bad input (SO_EINVAL) with a message that
 * contains `what`. */
static void expect_refused(const so_job *job, so_params *p, const char *what) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  so_ctx ctx;
  so__ctx_init(&ctx, job, p, SO_ROLE_MASTER, 0, 2);
  CU_ASSERT_PTR_NOT_NULL_FATAL(job->check);
  CU_ASSERT_EQUAL(job->check(&ctx), SO_EINVAL);
  if (!strstr(ctx.error, what))
    fprintf(stderr, "test: message '%s' lacks '%s'\n", ctx.error, what);
  CU_ASSERT_PTR_NOT_NULL(strstr(ctx.error, what));
  so__params_free(p);
}

static void test_bad_input(void) {
  /* Zero sizes are out of the parameters' ranges. */
  const struct {
    const so_job *job;
    const char *name;
  } zero[] = {{&so_job_mandelbrot, "width"}, {&so_job_mandelbrot, "height"},
              {&so_job_mandelbrot, "iterations"}, {&so_job_matmul, "n"},
              {&so_job_matmul, "rows"},        {&so_job_matmul, "tile"},
              {&so_job_stream, "n"},           {&so_job_stream, "passes"}};
  for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
    so_params *p = so__params_new(zero[i].job);
    char err[256];
    CU_ASSERT_EQUAL(so__params_set(p, zero[i].name, "0", err, sizeof err), SO_EINVAL);
    so__params_free(p);
  }
  expect_refused(&so_job_mandelbrot, PARAMS(&so_job_mandelbrot, "region", "1,2,3"), "--region");
  expect_refused(&so_job_mandelbrot, PARAMS(&so_job_mandelbrot, "region", "1,0,0,1"), "--region");
  expect_refused(&so_job_mandelbrot, PARAMS(&so_job_mandelbrot, "region", "0,1,0,1x"),
                 "--region");
  expect_refused(&so_job_matmul, PARAMS(&so_job_matmul, "n", "10", "rows", "11"), "--rows");
  expect_refused(&so_job_wordcount, so__params_new(&so_job_wordcount), "':::'");
  so_params *p = so__params_new(&so_job_wordcount);
  const char *none[] = {tmp_path("w0.txt"), tmp_path("no-such-file")};
  so__params_set_args(p, 2, none);
  expect_refused(&so_job_wordcount, p, "no-such-file");
  p = so__params_new(&so_job_wordcount);
  const char *dir[] = {tmpdir};
  so__params_set_args(p, 1, dir);
  expect_refused(&so_job_wordcount, p, "directory");
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "%s/test_mapjobs.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  static const so_test_case cases[] = {
      {"mandelbrot: PGM and checksum equal the reference, every schedule, 1-5 workers",
       test_mandelbrot},
      {"matmul: blocked product equals the naive one, every schedule, 1-5 workers", test_matmul},
      {"stream: triad sums and bytes exact, every schedule, 1-5 workers", test_stream},
      {"wordcount: counts and order equal the reference, every schedule, 1-5 workers",
       test_wordcount},
      {"bad parameters are refused as bad input", test_bad_input},
      {NULL, NULL},
  };
  int rc = so_test_run("mapjobs", cases);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "test: could not remove %s\n", tmpdir);
  return rc;
}

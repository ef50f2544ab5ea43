/* Command templates: a parsed list of literal runs and replacement strings, expanded per job. */
#include "template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quote.h"
#include "scaleout/scaleout.h"

typedef enum part_kind {
  PART_LITERAL = 0,
  PART_ARG,        /* {} */
  PART_NOEXT,      /* {.} */
  PART_BASE,       /* {/} */
  PART_DIR,        /* {//} */
  PART_BASE_NOEXT, /* {/.} */
  PART_SEQ,        /* {#} */
  PART_SLOT        /* {%} */
} part_kind;

typedef struct part {
  part_kind kind;
  size_t off; /* literal text: offset into so__template.text */
  size_t len;
} part;

struct so__template {
  char *text; /* the template as given, plus " {}" when that was appended */
  part *parts;
  size_t nparts;
  int appended;
};

/* The recognised replacement strings; longer ones first so "{//}" is not read as "{/}" text. */
static const struct {
  const char *token;
  part_kind kind;
} tokens[] = {{"{//}", PART_DIR}, {"{/.}", PART_BASE_NOEXT}, {"{}", PART_ARG},
              {"{.}", PART_NOEXT}, {"{/}", PART_BASE},       {"{#}", PART_SEQ},
              {"{%}", PART_SLOT}};

static part_kind token_at(const char *s, size_t *toklen) {
  for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
    size_t n = strlen(tokens[i].token);
    if (strncmp(s, tokens[i].token, n) == 0) {
      *toklen = n;
      return tokens[i].kind;
    }
  }
  return PART_LITERAL;
}

/* Splits t->text into parts; with parts == NULL only counts them. Returns the count and sets
 * *replacements to the number of replacement strings found. */
static size_t split(const char *text, part *parts, size_t *replacements) {
  size_t n = 0, lit = 0, i = 0;
  *replacements = 0;
  while (text[i]) {
    size_t toklen = 0;
    part_kind k = text[i] == '{' ? token_at(text + i, &toklen) : PART_LITERAL;
    if (k == PART_LITERAL) {
      i++;
      continue;
    }
    if (i > lit) {
      if (parts)
        parts[n] = (part){PART_LITERAL, lit, i - lit};
      n++;
    }
    if (parts)
      parts[n] = (part){k, 0, 0};
    n++;
    (*replacements)++;
    i += toklen;
    lit = i;
  }
  if (i > lit) {
    if (parts)
      parts[n] = (part){PART_LITERAL, lit, i - lit};
    n++;
  }
  return n;
}

int so__template_parse(so__template **out, const char *text, char *err, size_t errlen) {
  *out = NULL;
  if (!text || !text[strspn(text, " \t\r\n")]) {
    snprintf(err, errlen, "the command template is empty; give a command such as 'prog {}'");
    return SO_EINVAL;
  }
  so__template *t = calloc(1, sizeof *t);
  if (!t)
    goto fail_alloc;
  size_t replacements = 0;
  split(text, NULL, &replacements);
  size_t len = strlen(text);
  t->appended = replacements == 0;
  t->text = malloc(len + 4);
  if (!t->text)
    goto fail_text;
  memcpy(t->text, text, len + 1);
  if (t->appended)
    memcpy(t->text + len, " {}", 4);
  t->nparts = split(t->text, NULL, &replacements);
  t->parts = calloc(t->nparts, sizeof *t->parts);
  if (!t->parts)
    goto fail_parts;
  split(t->text, t->parts, &replacements);
  *out = t;
  return 0;

fail_parts:
  free(t->text);
fail_text:
  free(t);
fail_alloc:
  snprintf(err, errlen, "out of memory while parsing the command template");
  return SO_ENOMEM;
}

void so__template_free(so__template *t) {
  if (!t)
    return;
  free(t->parts);
  free(t->text);
  free(t);
}

int so__template_appended(const so__template *t) { return t->appended; }

/* The span after the last '/', which is empty for "dir/". */
static void basename_span(const char *s, size_t len, size_t *off, size_t *n) {
  size_t i = len;
  while (i > 0 && s[i - 1] != '/')
    i--;
  *off = i;
  *n = len - i;
}

/* The length of s[0..len) once its extension is removed, as GNU parallel's {.} does it
 * (s:\.[^/.]*$::): the last '.' with neither '/' nor '.' after it goes, with what follows it.
 * So a dotfile's whole name is its extension (".bashrc" becomes "", "dir/.x" becomes "dir/"),
 * ".." becomes "." and "trail/." becomes "trail/"; a '.' before a '/' is never an extension. */
static size_t noext_len(const char *s, size_t len) {
  size_t i = len;
  while (i > 0 && s[i - 1] != '/' && s[i - 1] != '.')
    i--;
  return i > 0 && s[i - 1] == '.' ? i - 1 : len;
}

/* POSIX dirname(1): trailing slashes are not a component, "file" lives in ".", and the root's
 * dirname is itself. The result is a span of s or a constant string. */
static void dirname_span(const char *s, size_t len, const char **p, size_t *n) {
  size_t i = len;
  while (i > 0 && s[i - 1] == '/')
    i--;
  if (i == 0) {
    *p = len ? "/" : ".";
    *n = 1;
    return;
  }
  while (i > 0 && s[i - 1] != '/')
    i--;
  if (i == 0) {
    *p = ".";
    *n = 1;
    return;
  }
  while (i > 0 && s[i - 1] == '/')
    i--;
  *p = i ? s : "/";
  *n = i ? i : 1;
}

static int append_number(so__buf *out, uint64_t v) {
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
  return so__buf_append(out, digits, (size_t)n);
}

int so__template_expand(const so__template *t, const char *arg, size_t arglen, uint64_t seq,
                        uint64_t slot, so__buf *out) {
  /* Checked once here: some parts (the dirname, the basename) see only a piece of arg. */
  if (arglen && memchr(arg, '\0', arglen))
    return SO_EINVAL;
  size_t entry_len = out->len;
  int rc = 0;
  for (size_t i = 0; i < t->nparts && rc == 0; i++) {
    const part *pt = &t->parts[i];
    size_t off, n;
    const char *p;
    switch (pt->kind) {
    case PART_LITERAL: rc = so__buf_append(out, t->text + pt->off, pt->len); break;
    case PART_ARG: rc = so__shell_quote(out, arg, arglen); break;
    case PART_NOEXT:
      rc = so__shell_quote(out, arg, noext_len(arg, arglen));
      break;
    case PART_BASE:
      basename_span(arg, arglen, &off, &n);
      rc = so__shell_quote(out, arg + off, n);
      break;
    case PART_BASE_NOEXT:
      basename_span(arg, arglen, &off, &n);
      rc = so__shell_quote(out, arg + off, noext_len(arg + off, n));
      break;
    case PART_DIR:
      dirname_span(arg, arglen, &p, &n);
      rc = so__shell_quote(out, p, n);
      break;
    case PART_SEQ: rc = append_number(out, seq); break;
    case PART_SLOT: rc = append_number(out, slot); break;
    }
  }
  if (rc == 0)
    rc = so__buf_reserve(out, 1);
  if (rc) {
    out->len = entry_len;
    return rc;
  }
  out->data[out->len] = '\0';
  return 0;
}

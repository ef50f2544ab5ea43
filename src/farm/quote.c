/* Shell quoting of one argument: bare when provably harmless, single-quoted otherwise. */
#include "quote.h"

#include <string.h>

#include "scaleout/scaleout.h"

/* Words that /bin/sh (and bash, which some systems link as sh) treat as syntax in command
 * position. A template may put {} first ("{} --help"), so a bare reserved word would change the
 * command's grammar; quoting it makes it an ordinary word. */
static const char *const reserved[] = {
    "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then", "until",
    "while", "function", "select", "time", "coproc", NULL};

static int safe_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return 1;
  /* '=' and '~' are left out on purpose: "A=b" in command position is an assignment, and a
   * leading '~' (or one after '=' or ':' in an assignment) is tilde-expanded. */
  return c == '_' || c == '.' || c == '/' || c == ':' || c == '@' || c == '%' || c == '+' ||
         c == ',' || c == '-';
}

int so__shell_is_bare(const char *arg, size_t len) {
  if (len == 0)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!safe_char((unsigned char)arg[i]))
      return 0;
  for (const char *const *w = reserved; *w; w++)
    if (strlen(*w) == len && memcmp(*w, arg, len) == 0)
      return 0;
  return 1;
}

int so__shell_quote(so__buf *out, const char *arg, size_t len) {
  if (len && memchr(arg, '\0', len))
    return SO_EINVAL;
  if (so__shell_is_bare(arg, len))
    return so__buf_append(out, arg, len);

  /* Count the quotes first so one reservation covers the whole result. */
  size_t quotes = 0;
  for (size_t i = 0; i < len; i++)
    quotes += arg[i] == '\'';
  if (len > (SIZE_MAX - 2) / 4)
    return SO_ENOMEM;
  int rc = so__buf_reserve(out, len + 2 + 3 * quotes);
  if (rc)
    return rc;
  so__buf_put(out, "'", 1);
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (arg[i] != '\'')
      continue;
    /* Close the quoted run, emit an escaped quote, reopen: 'it'\''s' is "it's". */
    so__buf_put(out, arg + start, i - start);
    so__buf_put(out, "'\\''", 4);
    start = i + 1;
  }
  so__buf_put(out, arg + start, len - start);
  so__buf_put(out, "'", 1);
  return 0;
}

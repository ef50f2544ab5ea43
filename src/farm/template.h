/* Command templates: "prog {} --out {.}.out" parsed once, expanded per argument into a buffer. */
#ifndef SO_FARM_TEMPLATE_H
#define SO_FARM_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * Replacement strings, as in GNU parallel:
 *   {}    the argument
 *   {.}   the argument without its extension
 *   {/}   the basename: everything after the last '/' ("dir/" gives "")
 *   {//}  the dirname, as POSIX dirname(1) computes it ("file" gives ".", "/a/b/" gives "/a")
 *   {/.}  the basename without its extension
 *   {#}   the job sequence number, 1-based
 *   {%}   the job slot number, 1-based
 * Any other brace text ("{print $1}", "${HOME}", "{1}") is literal.
 *
 * The extension is what GNU parallel 20221122 removes (s:\.[^/.]*$::): the last '.' that has
 * neither '/' nor '.' after it, and what follows it. "a/b.tar.gz" -> "a/b.tar", "x." -> "x";
 * a dotfile's name is all extension, so ".bashrc" -> "" and "dir/.hidden" -> "dir/" (write
 * "{}.out" rather than "{.}.out" for arguments that may be dotfiles); ".." -> ".", "." -> "",
 * "trail/." -> "trail/"; "a.b/c" and "dir.d/" keep their dots, which sit before a '/'. Matching
 * GNU parallel exactly (not keeping dotfile names, as scaleout once did) lets one template mean
 * the same under both tools.
 *
 * Every value derived from the argument is shell-quoted (see quote.h), so the argument reaches
 * the program as one unchanged word. A template that itself puts quotes around a replacement
 * string ("echo '{}'") therefore breaks quoting, as in GNU parallel: write "echo {}" instead.
 * A template with no replacement string at all gets " {}" appended, as GNU parallel does.
 *
 * Any rank may use a template. Expansion only reads it, so threads may share one parsed template
 * as long as each expands into its own buffer.
 */
typedef struct so__template so__template;

/*
 * Parses text into a new template. Returns 0 and sets *out (free with so__template_free), or
 * SO_EINVAL with a sentence in err when text is empty or only blanks, or SO_ENOMEM. On error
 * *out is NULL. text is copied; the caller keeps ownership of it.
 */
int so__template_parse(so__template **out, const char *text, char *err, size_t errlen);

/* Frees a template; accepts NULL. */
void so__template_free(so__template *t);

/* Returns 1 when parsing appended " {}" because the text had no replacement string. */
int so__template_appended(const so__template *t);

/*
 * Appends the command for one job to out: arg (arglen bytes) substituted and quoted, seq and
 * slot as decimal numbers. On success out->data[out->len] is a NUL byte that len does not count,
 * so out->data can be passed to exec as a C string after the caller cleared out beforehand.
 * Allocates nothing beyond growing out. Returns 0, SO_ENOMEM, or SO_EINVAL when arg holds a NUL
 * byte; on error out->len is restored to its value on entry. The caller owns out.
 */
int so__template_expand(const so__template *t, const char *arg, size_t arglen, uint64_t seq,
                        uint64_t slot, so__buf *out);

#endif

/* Shell quoting of one argument so that /bin/sh -c passes it to the program unchanged. */
#ifndef SO_FARM_QUOTE_H
#define SO_FARM_QUOTE_H

#include <stddef.h>

#include "buf.h"

/*
 * Appends arg (len bytes) to out, quoted so that when the result is one word of a /bin/sh -c
 * command line, the shell hands the program exactly those bytes as ONE argument: no splitting,
 * globbing, expansion, substitution, comment or reserved-word meaning survives.
 *
 * A non-empty argument made only of letters, digits and "_./:@%+,-" that is not a shell reserved
 * word is appended bare, so logged commands stay readable ("echo file.txt"); anything else is
 * put in single quotes, with each ' written as '\'' (the only character single quotes cannot
 * hold). The empty argument becomes ''. Leading '-' needs no quoting: it is the program, not the
 * shell, that reads options.
 *
 * Returns 0, SO_ENOMEM, or SO_EINVAL when arg contains a NUL byte, which no argv string can
 * carry; on either error out is unchanged. The caller owns out. Safe on any rank and thread.
 */
int so__shell_quote(so__buf *out, const char *arg, size_t len);

/* Returns 1 when so__shell_quote would append arg bare (unquoted), 0 otherwise. */
int so__shell_is_bare(const char *arg, size_t len);

#endif

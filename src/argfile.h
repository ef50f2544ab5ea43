/* The words after ":::" of a direct run, passed to its ranks apart from mpirun's command line. */
#ifndef SO_ARGFILE_H
#define SO_ARGFILE_H

#include <stddef.h>

/*
 * Why: mpirun gives each rank its whole command line a second time in one environment variable
 * (Open MPI's OMPI_ARGV), and Linux refuses any single argument or environment string over
 * 128 KiB (MAX_ARG_STRLEN) with "Argument list too long". A `::: *.log` of 2,700 names of 54
 * bytes is past that, though the user's shell took it. So the direct run's parent writes the
 * words into a memory file (memfd: no name in any file system, gone when the parent is, whatever
 * kills it), names it in the ranks' environment as /proc/PID/fd/N (SO_ARGFILE_ENV; the ranks run
 * on the same machine, as the same user), and gives mpirun the command line up to and including
 * ":::"; each rank reads the words back before it parses its arguments.
 */
#define SO_ARGFILE_ENV "SCALEOUT_ARGS_FILE"

/* In the direct run's parent: writes the n words (each followed by a NUL byte) to a new memory
 * file and sets SO_ARGFILE_ENV to its path. Returns the file's descriptor, to be closed once the
 * run has ended, or -1 after putting a sentence in err. */
int so__argfile_offer(int n, char *const *words, char *err, size_t errlen);

/* The argument vector a rank runs with: the one it was given, or that with the words read back. */
typedef struct so__argv {
  int argc;
  char **argv;
  char *data;   /* owned: the file's bytes, which the added words point into */
  char **owned; /* owned: the vector, when it was rebuilt */
} so__argv;

/*
 * In a rank, before parsing: when SO_ARGFILE_ENV names a file, checks that argv ends with ":::",
 * reads the words from the file into out (argv's own strings and then the words), and removes
 * the variable from the environment so commands the run starts do not inherit it; otherwise
 * out is argc and argv unchanged. Returns 0, or -1 after putting a sentence in err.
 * Free out with so__argv_free.
 */
int so__argfile_splice(int argc, char **argv, so__argv *out, char *err, size_t errlen);
void so__argv_free(so__argv *a);

#endif

/* Streaming readers of task sources: a file of commands, an --args file, and the line splitter. */
#ifndef SO_FARM_TASKFILE_H
#define SO_FARM_TASKFILE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * The longest line a task source or args file may hold, in bytes without the newline. Longer
 * lines are an error naming the line, never a truncation. 4 MiB leaves room for the 1 MiB lines
 * people do write while bounding the memory one line can take.
 *
 * Note that Linux refuses any single argv or environment string longer than 128 KiB - 1
 * (MAX_ARG_STRLEN) with E2BIG, so a command longer than that cannot run as "/bin/sh -c CMD";
 * whoever runs it must hand it to the shell another way (a pipe or a file as the script).
 */
#define SO_TASKFILE_MAX_LINE ((size_t)4 << 20)

/* ---- The line splitter, shared with the joblog reader. ---- */

/* Splits a file descriptor's bytes into '\n'-terminated lines, reading in fixed chunks so a file
 * is never loaded whole. Fields are private to taskfile.c except where noted. */
typedef struct so__lines {
  int fd;
  size_t max;             /* longest accepted line */
  unsigned char *chunk;   /* read buffer */
  size_t chunk_len, chunk_pos;
  so__buf line;            /* a line that straddles chunks */
  int eof;
  int midline;            /* lr->line holds the start of a line that SO_LINES_LATER left */
  int poll_first;         /* public, set by the owner: never block (see so__lines_next) */
  uint64_t lineno;        /* public: 1-based number of the line last returned (or too long) */
  uint64_t line_offset;   /* public: file offset where that line starts */
  uint64_t consumed;      /* public: bytes consumed so far */
  int complete;           /* public: 1 when that line ended with '\n', 0 for a final partial one */
} so__lines;

/* Prepares lr to read fd (not taken over: the caller closes it after so__lines_free). Returns 0
 * or SO_ENOMEM. */
int so__lines_init(so__lines *lr, int fd, size_t max);

/* Frees lr's buffers; accepts a zeroed or already freed so__lines. */
void so__lines_free(so__lines *lr);

/* What so__lines_next and so__taskfile_next return when no whole line is there yet and reading
 * now would wait (a pipe or terminal whose writer is still writing). */
#define SO_LINES_LATER 2

/*
 * Reads the next line. Returns 1 and sets *line and *len (without the '\n'; the byte after the
 * line is a NUL that len does not count; valid until the next call), 0 at end of file,
 * SO_EINVAL when the line is longer than max (lr->lineno names it), or SO_EIO when read()
 * failed (errno is kept). After an error the reader must only be freed. A CR before the '\n'
 * is not removed.
 * With lr->poll_first set, it reads only when poll() says the descriptor is ready, and returns
 * SO_LINES_LATER instead of waiting; the part of a line read so far is kept for the next call.
 */
int so__lines_next(so__lines *lr, char **line, size_t *len);

/* ---- Task sources. ---- */

typedef enum so__taskfile_mode {
  /* One shell command per line. Lines that are empty or only blanks (space, tab, CR) are
   * skipped, and so are comments: lines whose first non-blank character is '#'. A file with no
   * command is a source of no tasks. */
  SO_TASKFILE_COMMANDS = 0,
  /* One argument per line, as GNU parallel's -a / :::: read them: every line is an argument,
   * an empty line is the empty argument, and '#' has no meaning. The newline that ends the last
   * line does not start one more argument. A file with no line at all has no argument. */
  SO_TASKFILE_ARGS = 1
} so__taskfile_mode;

/* Master only: the task source is read where tasks are handed out. Not thread-safe. */
typedef struct so__taskfile so__taskfile;

/*
 * Opens path ("-" is standard input, which is read but never closed) in the given mode. A source
 * that is not a regular file (standard input, a pipe, a terminal) is read as a stream that is
 * never waited on: see SO_LINES_LATER below.
 * Returns 0 and sets *out (free with so__taskfile_close), or an error with a sentence naming the
 * file in err and *out NULL: SO_EIO when it is missing, unreadable, or a directory; SO_EINVAL
 * for an unknown mode; SO_ENOMEM.
 */
int so__taskfile_open(so__taskfile **out, const char *path, so__taskfile_mode mode, char *err,
                      size_t errlen);

/*
 * Returns the next command or argument: 1, setting *text, *len and *lineno (the 1-based line in
 * the file; text is NUL-terminated and valid until the next call), 0 when the source is
 * exhausted (at once for an empty one: like GNU parallel and xargs -r, no task is no error),
 * SO_LINES_LATER when a stream has no whole line ready yet (call again later: the reader never
 * blocks, so a master reading it can go on answering its workers), or an error with a sentence
 * naming the file and line in err:
 *   SO_EINVAL  a NUL byte on the line, or a line longer than SO_TASKFILE_MAX_LINE;
 *   SO_EIO     read() failed;
 *   SO_ENOMEM.
 * Only '\n' ends a line. A CR before it is part of the line, as in GNU parallel (-a, ::::, and
 * commands on its standard input): an argument arrives byte for byte, and "echo a\r" prints the
 * CR. A file written with CR LF line ends needs converting first (dos2unix, or tr -d '\r').
 * After an error, further calls return the same code again.
 */
int so__taskfile_next(so__taskfile *tf, const char **text, size_t *len, uint64_t *lineno,
                      char *err, size_t errlen);

/* 1 when the source is a regular file, which can be read twice (a check before the run). */
int so__taskfile_rereadable(const so__taskfile *tf);

/* The name used in messages: the path, or "standard input" for "-". */
const char *so__taskfile_name(const so__taskfile *tf);

/* Closes the file (not standard input) and frees tf; accepts NULL. */
void so__taskfile_close(so__taskfile *tf);

#endif

/* The GNU parallel compatible joblog (writer, reader) and the task source fingerprint sidecar. */
#ifndef SO_FARM_JOBLOG_H
#define SO_FARM_JOBLOG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "srcprint.h"

/*
 * Format (GNU parallel 20221122's, field for field): a header line, then one line per finished
 * task, nine tab-separated fields ending with '\n':
 *   Seq         1-based job number, decimal
 *   Host        where it ran; GNU parallel writes ":" for the local machine
 *   Starttime   epoch seconds, printf "%.3f"             e.g. "1700000000.123"
 *   JobRuntime  seconds, printf "%10.3f" (space padded)  e.g. "     0.250"
 *   Send        bytes sent to the job, decimal (-1 allowed: GNU writes it when unknown)
 *   Receive     bytes of standard output received, decimal (same); standard error does not
 *               count, as in GNU parallel
 *   Exitval     the exit status; 0 when the job was killed by a signal, -1 when --timeout
 *               killed it (so__joblog_set_status)
 *   Signal      the number of the signal that killed it, else 0
 *   Command     the command as run
 *
 * Escaping: Command is the last field, so a tab in it needs none (a reader splits on the first
 * eight tabs only). A newline in it is written as a NUL byte, exactly as GNU parallel's
 * print_joblog does, so GNU parallel's --resume and --retry-failed read our logs and we read
 * theirs. No command can contain a NUL byte (it is a C string and an argv entry), so the reader
 * turns every NUL back into '\n' and the round trip is exact. Tools like grep then call the log
 * binary; use grep -a. A CR is written as is. Host must not contain a tab or newline.
 *
 * Durability: every line is formatted first and written with one write() on an O_APPEND
 * descriptor, so a process crash never leaves half a line; a machine crash can (or a GNU parallel
 * killed mid-print, or an editor that drops the final newline). A last line without its '\n'
 * counts when its first eight fields are all there, each tab-terminated and valid: Exitval and
 * Signal are then whole and only the command can be cut short. Anything less is ignored, and
 * opening for resume truncates it away (its command runs again; a shard still holding its line
 * restores it); a kept line gets its '\n' at that point. Lines reach the
 * disk (fdatasync) according to so__joblog_options.sync_interval: after every line when it is 0,
 * else at most sync_interval seconds after the oldest unsynced line, checked whenever a line is
 * appended or so__joblog_tick is called, so an idle master must call so__joblog_tick from its loop
 * to keep the bound. so__joblog_sync syncs now; so__joblog_close syncs before closing. A newly
 * created log's header and directory entry are synced at open. When a fingerprint sidecar is
 * attached, it is synced before the log each time, so a result line is never more durable than
 * the fingerprint of its task.
 *
 * Master only: the farm's master reads the task source and writes the log. Objects here are not
 * safe to share between threads without a lock.
 */
#define SO_JOBLOG_HEADER \
  "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n"

/* Longest joblog line, '\n' excluded. It bounds the memory a garbage file can make the reader
 * take, and is far above any command that can run: a quoted 4 MiB argument stays below it. The
 * writer refuses longer lines, so whatever it writes reads back. */
#define SO_JOBLOG_MAX_LINE ((size_t)64 << 20)

/* Highest Seq the status table takes (one byte per Seq). */
#define SO_JOBLOG_MAX_SEQ ((uint64_t)UINT32_MAX)

/* One task's line. The reader's pointers point into its line buffer (valid during the callback). */
typedef struct so__joblog_entry {
  uint64_t seq;
  const char *host;    /* NULL writes ":" */
  double starttime;    /* epoch seconds */
  double runtime;      /* seconds */
  int64_t send;
  int64_t receive;
  int exitval;
  int signal;
  const char *command; /* command_len bytes, may hold tabs and newlines but no NUL */
  size_t command_len;
} so__joblog_entry;

/* Sets e->exitval and e->signal as GNU parallel writes them for a command that exited with
 * exitval (0-255), or died of signal sig (sig != 0; exitval is then ignored), timed_out when
 * --timeout killed it: Exitval -1 for a timeout (whatever ended the command; Signal stays the
 * signal it died of, 0 if it exited on its own), 0 for any other death by a signal. */
void so__joblog_set_status(so__joblog_entry *e, int exitval, int sig, int timed_out);

/* Appends e as one joblog line, with its '\n', to out. Returns 0, SO_ENOMEM, or SO_EINVAL when
 * seq is 0, the host is empty or holds a tab or newline, the command holds a NUL byte, a time is
 * not finite, or the line would exceed SO_JOBLOG_MAX_LINE; on error out->len is unchanged. */
int so__joblog_format(so__buf *out, const so__joblog_entry *e);

/* Parses one line (without its '\n') in place: fields are NUL-terminated and NULs in the command
 * become '\n'. Returns 0 and fills *e (pointing into line), or SO_EINVAL when the line is not a
 * task line of the format above. */
int so__joblog_parse_line(char *line, size_t len, so__joblog_entry *e);

/*
 * Reads the joblog at path line by line, calling fn (if not NULL) for each task line. fn
 * returns 0 to go on, or a negative SO_E* code that stops the scan and is returned; it may write
 * a sentence into its err, which the scan prefixes with the file and line. Header lines are
 * skipped wherever they are (concatenated logs hold several; a log without one is accepted too);
 * a last line without '\n' is taken when complete and ignored otherwise (see Durability above);
 * an empty file is a log with no tasks. *valid_len, if not NULL, receives the length of the part
 * made of the lines taken. Returns 0, or an error with a
 * sentence in err: SO_EIO when the file cannot be opened or read, SO_EINVAL naming the first
 * line that is not a joblog line, SO_ENOMEM.
 */
typedef int (*so__joblog_fn)(void *ctx, const so__joblog_entry *e, char *err, size_t errlen);
int so__joblog_scan(const char *path, so__joblog_fn fn, void *ctx, uint64_t *valid_len, char *err,
                    size_t errlen);

/* so__joblog_scan of a file already open for reading at fd (read from its current offset, which
 * it moves; the caller closes it), named name in messages: for a shard read under its lock. */
int so__joblog_scan_fd(int fd, const char *name, so__joblog_fn fn, void *ctx, uint64_t *valid_len,
                       char *err, size_t errlen);

/* What a joblog says about each Seq. A Seq logged several times (GNU parallel --retry-failed
 * appends new lines) counts as succeeded when any of its lines did. */
enum { SO_JOBLOG_NOT_RUN = 0, SO_JOBLOG_SUCCEEDED = 1, SO_JOBLOG_FAILED = 2 };

typedef struct so__joblog_status {
  unsigned char *state; /* state[seq] for seq in 1..max_seq */
  uint64_t max_seq;     /* highest Seq seen, 0 for none */
  uint64_t records;     /* task lines read */
  uint64_t succeeded;   /* distinct Seqs with a successful line (Exitval 0 and Signal 0) */
  uint64_t failed;      /* distinct Seqs whose lines all failed */
  uint64_t cap;         /* private: the highest Seq the table has room for */
} so__joblog_status;

/* An empty status needs no allocation: so__joblog_status st = SO_JOBLOG_STATUS_INIT; */
#define SO_JOBLOG_STATUS_INIT {NULL, 0, 0, 0, 0, 0}

/* Returns SO_JOBLOG_NOT_RUN, SO_JOBLOG_SUCCEEDED or SO_JOBLOG_FAILED for seq. */
int so__joblog_status_of(const so__joblog_status *st, uint64_t seq);

/* Adds one task line to a status, as reading it from a log would. Same error contract as the
 * scan's callback. */
int so__joblog_status_add(so__joblog_status *st, const so__joblog_entry *e, char *err,
                          size_t errlen);

/* Frees the table and leaves an empty status; accepts an empty one. */
void so__joblog_status_free(so__joblog_status *st);

/* Reads the joblog at path into *st (which must be empty; the caller frees it). A missing file is
 * an error (SO_EIO): check for it first when a missing log means "nothing ran yet". Same error
 * contract as so__joblog_scan, plus SO_EINVAL for a Seq above SO_JOBLOG_MAX_SEQ. */
int so__joblog_read(const char *path, so__joblog_status *st, char *err, size_t errlen);

/* ---- The writer. ---- */

typedef struct so__joblog so__joblog;

typedef struct so__joblog_options {
  /* 1: keep the lines already in the file (truncating a partial last line) and append; a missing
   * or empty file starts a new log. 0: start a new log, replacing any file. */
  int resume;
  /* Seconds between a line and its fdatasync at most: 0 syncs every line, a negative value
   * syncs only when asked and at close. */
  double sync_interval;
  /* A sidecar to sync before the log, or NULL. Not owned by the log. */
  so__srcprint *source;
} so__joblog_options;

/*
 * Opens the joblog at path for appending; opts NULL means {0, 0, NULL}. With opts->resume and
 * status not NULL, the lines already there are read into *status (which must be empty; the
 * caller frees it). Returns 0 and sets *out (close with so__joblog_close), or an error with a
 * sentence in err and *out NULL: SO_EIO when the file cannot be created, read, truncated or
 * synced; SO_EINVAL when the existing file is not a joblog (it is left untouched); SO_ENOMEM.
 */
int so__joblog_open(so__joblog **out, const char *path, const so__joblog_options *opts,
                    so__joblog_status *status, char *err, size_t errlen);

/*
 * Appends one task's line (see so__joblog_format) with one write(), then syncs if due. Returns 0,
 * SO_EINVAL for an entry that cannot be written, or SO_EIO with a sentence in err; on SO_EIO
 * nothing of the line stays in the file (a partial write is truncated away) unless even that
 * failed, which err then says.
 */
int so__joblog_append(so__joblog *jl, const so__joblog_entry *e, char *err, size_t errlen);

/* Syncs if lines are waiting and the interval has passed. Same error contract as sync. */
int so__joblog_tick(so__joblog *jl, char *err, size_t errlen);

/* Syncs the sidecar (if any) and the log now. Returns 0 or SO_EIO with a sentence in err. */
int so__joblog_sync(so__joblog *jl, char *err, size_t errlen);

/* The number of lines appended since the last sync. */
uint64_t so__joblog_unsynced(const so__joblog *jl);

/* Syncs, closes and frees jl; accepts NULL. Returns 0 or SO_EIO (jl is freed either way). */
int so__joblog_close(so__joblog *jl, char *err, size_t errlen);

#endif

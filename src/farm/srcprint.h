/* The task source fingerprint sidecar ("<joblog>.source"): what --resume compares. */
#ifndef SO_FARM_SRCPRINT_H
#define SO_FARM_SRCPRINT_H

#include <stddef.h>
#include <stdint.h>

/*
 * GNU parallel's format has no room for it, so the fingerprint lives next to the log. The
 * sidecar is text: the line "scaleout-source-fingerprints\t1", then one line per task in order,
 * "<seq>\t<line in the source>\t<hash>", and, once the source has been read to its end,
 * "end\t<tasks>\t<hash of all>". Each hash is 16 lowercase hex digits of FNV-1a 64 over the
 * command as it will run (after template expansion); the whole-source hash chains the per-task
 * hashes in order. FNV-1a detects accidental changes, not deliberate collisions, which is what
 * resume safety needs. Per-task lines let a resume name the first task that differs; they cost
 * about 25 bytes per task. Entries are written with one write() each as tasks are read, before
 * the tasks run, so a task's fingerprint is always in the file before its joblog line.
 */
#define SO_SRCPRINT_SUFFIX ".source"
#define SO_FNV1A64_INIT UINT64_C(0xcbf29ce484222325)

/* Continues an FNV-1a 64 hash h (start from SO_FNV1A64_INIT) over len bytes. */
uint64_t so__fnv1a64(uint64_t h, const void *data, size_t len);

typedef struct so__srcprint so__srcprint;

enum {
  /* Compare the tasks with an existing sidecar (which must exist), then extend it. Without this
   * flag the sidecar is created afresh, replacing any old one. */
  SO_SRCPRINT_RESUME = 1u << 0,
  /* With RESUME: a difference is reported but accepted (--force); the sidecar is rewritten from
   * the first differing task on, and a missing sidecar is created. */
  SO_SRCPRINT_FORCE = 1u << 1,
  /* With RESUME: only compare, never write (a check pass before any work starts). */
  SO_SRCPRINT_CHECK_ONLY = 1u << 2
};

/*
 * Opens the sidecar at path. source_name names the task source in messages. Returns 0 and sets
 * *out (free with so__srcprint_close), or an error with a sentence in err and *out NULL:
 * SO_EINVAL for unknown or contradictory flags (FORCE or CHECK_ONLY without RESUME, FORCE with
 * CHECK_ONLY), or for a file that is not a sidecar; SO_EIO when it cannot be created, opened or
 * read, or is missing in RESUME mode without FORCE; SO_ENOMEM.
 */
int so__srcprint_open(so__srcprint **out, const char *path, unsigned flags, const char *source_name,
                      char *err, size_t errlen);

/*
 * Records (or, when resuming, compares) the task with the next seq, which must be one more than
 * the previous one, starting at 1. lineno is its line in the task source, for messages.
 * Returns 0; 1 when the task differs from the logged one but FORCE accepted it (err then holds
 * the sentence, for a warning); or an error with a sentence in err: SO_EINVAL when the task
 * differs (naming the task, its line now and its line then) or seq is out of order; SO_EIO.
 */
int so__srcprint_add(so__srcprint *sp, uint64_t seq, uint64_t lineno, const char *cmd, size_t len,
                     char *err, size_t errlen);

/*
 * Declares the task source read to its end: compares the count with the sidecar when resuming
 * (fewer tasks than logged, or more than a finished sidecar recorded, is a difference with the
 * same 0 / 1 / SO_EINVAL contract as so__srcprint_add), then writes the end line and syncs.
 */
int so__srcprint_finish(so__srcprint *sp, char *err, size_t errlen);

/* Syncs the sidecar to disk (fdatasync). Returns 0 or SO_EIO with a sentence in err. */
int so__srcprint_sync(so__srcprint *sp, char *err, size_t errlen);

/* Closes the sidecar without syncing and frees sp; accepts NULL. */
void so__srcprint_close(so__srcprint *sp);

#endif

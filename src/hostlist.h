/* The hosts of a direct run over several machines: --hostfile FILE, --hosts a,b:2,c, and the
 * task counts of a Slurm allocation. */
#ifndef SO_HOSTLIST_H
#define SO_HOSTLIST_H

#include <stddef.h>

/* Slots a host may be given (a slot holds one rank). */
#define SO_HOST_MAX_SLOTS 65536

typedef struct so__host {
  char *name;
  int slots;
} so__host;

typedef struct so__hostlist {
  so__host *hosts; /* owned, in the order given (a host named twice is one entry, slots summed) */
  int n;
  long slots;      /* the sum */
} so__hostlist;

/*
 * Parses --hosts text: host names separated by commas, each with an optional ":SLOTS" (1 when
 * absent, as Open MPI's --host counts it). Returns 0, or SO_EINVAL with one sentence in err
 * (an empty list or name, a bad character, bad slots), or SO_ENOMEM. Free out with
 * so__hostlist_free (also after a failure).
 */
int so__hostlist_parse_hosts(const char *text, so__hostlist *out, char *err, size_t errlen);

/*
 * Parses the text of an Open MPI hostfile named origin (for messages): one host a line,
 * "HOST [slots=N] [max_slots=N]", '#' starts a comment, blank lines are skipped. A line without
 * slots= counts max_slots, or else default_slots (Open MPI would count that node's cores, which
 * only it can see; the caller passes this machine's). Returns as so__hostlist_parse_hosts does.
 */
int so__hostlist_parse_text(const char *text, const char *origin, int default_slots,
                            so__hostlist *out, char *err, size_t errlen);

/* Reads and parses the hostfile at path (a missing or unreadable file is SO_EINVAL too). */
int so__hostlist_parse_file(const char *path, int default_slots, so__hostlist *out, char *err,
                            size_t errlen);

/* True when name is this machine: "localhost", a loopback address, this machine's host name
 * (or the same name without its domain), or a name or address of one of its interfaces. */
int so__hostlist_is_local(const char *name);

/* Moves the first host for which is_local says yes to the front, keeping the others' order.
 * Returns 1 when there was one, 0 when none of the hosts is local. */
int so__hostlist_local_first(so__hostlist *hl, int (*is_local)(const char *name));

/* Writes the list as Open MPI's --host wants it ("a:2,b:2"). Returns 0, or -1 when len is too
 * small. */
int so__hostlist_format(const so__hostlist *hl, char *buf, size_t len);

void so__hostlist_free(so__hostlist *hl);

/* The tasks of a Slurm allocation from SLURM_TASKS_PER_NODE's syntax ("2(x3),1" is 2 on each of
 * three nodes and 1 on a fourth): the sum, or -1 when text is not in that form. */
long so__hostlist_slurm_tasks(const char *text);

#endif

/* The joblog's owner lock: one run at a time owns a joblog, for as long as any process of that
 * run (its master, a shepherd, a command) still lives. */
#ifndef SO_FARM_JOBLOCK_H
#define SO_FARM_JOBLOCK_H

#include <stddef.h>

/*
 * The lock is flock() on JOBLOG.lock, a file kept next to the joblog (it is never removed:
 * removing a lock file races with a process about to lock it). Every process of a run holds a
 * shared lock on it: the master from its start, each shepherd from its start, and each command,
 * which inherits the shepherd's descriptor (its open file description, so the lock lasts until
 * the last process holding a copy has closed it or died). A new run takes the exclusive lock
 * first, which it gets only when no process of an earlier (or concurrent) run is left, writes
 * its pid, host and start time into the file for the messages of later runs, then turns its lock
 * into a shared one without waiting. flock does not convert atomically (the kernel drops the old
 * lock, then takes the new one): a competitor may take the exclusive lock in between, and then
 * the conversion fails and this run gives up, so at most one run ever passes.
 *
 * A shepherd takes its shared lock without waiting. It gets it while its master holds one; it
 * fails only when the run it belongs to has lost the joblog (its master died and a new run took
 * the exclusive lock), and then it must run nothing.
 *
 * Shared file systems: flock on a local file system is exact. On NFS, Linux clients implement
 * flock with the server's byte-range locks (NFSv4 leases, NFSv3 NLM), so the lock holds across
 * hosts unless the file system is mounted with local_lock=flock or local_lock=all, or nolock,
 * in which case it only holds among processes of one host. Lustre needs the flock mount option
 * (localflock holds per client only). The shards have the same reliance.
 *
 * Master and shepherd only.
 */

/* JOBLOG + ".lock" into out. Returns 0, or SO_EINVAL when it does not fit. */
int so__joblock_path(const char *joblog, char *out, size_t outlen);

/* How so__joblock_own behaves when another run owns the lock. */
enum { SO_JOBLOCK_REFUSE = 0, SO_JOBLOCK_WAIT = 1 };

/*
 * Makes the caller's run the owner of the joblog whose lock file is path (created if missing).
 * With SO_JOBLOCK_WAIT it waits (telling so on stderr once, unless quiet) until the previous
 * owner's processes are all gone; stop, if not NULL, is polled every 50 ms meanwhile and a
 * non-zero answer ends the wait with SO_ESTOPPED. Returns 0 and *fd, the descriptor that holds
 * the lock (close-on-exec; closing it releases the caller's share), or an error with a sentence
 * in err naming the owner (pid, host, start time): SO_EINVAL when another run owns the joblog
 * (and the caller did not wait) or the file cannot be opened (the path cannot be used), SO_EIO
 * when it cannot be locked or written.
 */
int so__joblock_own(const char *path, int how, int quiet, int (*stop)(void), int *fd, char *err,
                    size_t errlen);

/* Joins the run that owns the joblog (a shepherd): a shared lock without waiting. Returns 0 and
 * *fd (close-on-exec), or SO_EINVAL when another run owns the joblog now (err names it) or the
 * file cannot be opened, SO_EIO when it cannot be locked. */
int so__joblock_join(const char *path, int *fd, char *err, size_t errlen);

#endif

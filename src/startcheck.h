/* Start-up checks that need only the command line, made before any rank starts or task runs. */
#ifndef SO_STARTCHECK_H
#define SO_STARTCHECK_H

#include <mpi.h>

#include "launch.h"
#include "options.h"

/* A direct run refuses more workers than this many per PU it may use, unless --oversubscribe:
 * past it the workers only take turns on the CPUs, and start-up alone (one MPI process each)
 * takes minutes. */
#define SO_OVERSUBSCRIBE_PER_PU 8

/*
 * Whether the JSON report can be written at path: an existing file is opened for writing and
 * left as it was (not truncated); a new one is created and removed again, so a refused run leaves
 * no empty file behind. Not collective. Returns 0, or SO_EINVAL after saying why on stderr.
 */
int so__startcheck_report(const char *path);

/*
 * In the parent of a direct run, before mpirun starts anything: the report path, the job's own
 * check of its parameters (so_job.check, without MPI), a task count below the worker count (jobs
 * that know it from their parameters; not for SO_JOB_FEW_TASKS_OK jobs), and a worker count far beyond
 * the PUs this process may use (more than SO_OVERSUBSCRIBE_PER_PU per PU without
 * --oversubscribe; over hosts, more ranks than their slots). *n is the worker count to start:
 * cli->workers when given, else the default (one per core, or the slots less one), which this
 * lowers to the task count when that is smaller. Not collective.
 * Returns 0, or SO_EINVAL after one line on stderr.
 */
int so__startcheck_direct(const so__cli *cli, so__where *w, int *n);

/*
 * In the parent of a direct run, first: where its ranks go (*w). --hostfile or --hosts: the
 * hosts, read and checked (a missing file, a bad line, bad slots, an empty list are refused with
 * one sentence), this machine first when it is one of them. Else, in a Slurm batch script
 * (SLURM_JOB_ID set, SLURM_STEP_ID not) of an allocation of several nodes: the allocation's
 * tasks. Else this machine. so__startcheck_direct then checks the worker count against the
 * slots (more ranks than slots need --oversubscribe). Not collective. Returns 0, or SO_EINVAL
 * after one line on stderr. Free w->hosts with so__hostlist_free.
 */
int so__startcheck_where(const so__cli *cli, so__where *w);

/*
 * On every rank of comm, before so_run: rank 0 checks the report path (under a user's mpirun the
 * parent's check never ran) and every rank learns the verdict. Collective. Returns 0 or
 * SO_EINVAL (printed by rank 0).
 */
int so__startcheck_ranks(MPI_Comm comm, const so__cli *cli);

#endif

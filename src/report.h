/* The run summary for people (stdout) and for programs (--json). */
#ifndef SO_REPORT_H
#define SO_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scaleout/scaleout.h"

/* Load imbalance: the busiest worker's busy time over the mean busy time (1.0 is perfect). */
double so__report_imbalance(const so_report *rep);

/* One node of a run: the ranks that ran on one host (so_worker_report.host, and the master's). */
typedef struct so__node_report {
  const char *host;        /* the host name, pointing into the report */
  int workers;             /* workers that ran there (0 on a node of the master alone) */
  int first;               /* index in so_report.workers of its first worker, -1 when none */
  int master;              /* 1 on the master's node */
  uint64_t tasks, failed;  /* the sums of its workers' */
  double busy;             /* seconds its workers spent inside run(), summed */
} so__node_report;

/* The host the master ran on, as the master recorded it in the report (so_run does), or "". */
const char *so__report_master_host(const so_report *rep);

/* Groups the report's workers by host, with the master's host (when the report has it) counted
 * as a node of its own if no worker ran there, nodes in the order of their lowest rank (the
 * master's first). Sets *nodes to a malloc'd array (free it; NULL when there is none) and
 * returns how many nodes, or SO_ENOMEM. Not collective; reads only rep. */
int so__report_nodes(const so_report *rep, so__node_report **nodes);

/* A node's busy share: the time its workers spent in run() over the time they had (the run's wall
 * time times its worker count), 0 to 1; 0 when the wall time is unknown. */
double so__node_busy_share(const so_report *rep, const so__node_report *node);

/* The summary's node lines, one per node (host, workers, tasks, busy share, failed, "(master)"
 * on the master's), printed only when the run had more than one node. */
void so__report_print_nodes(FILE *out, const so_report *rep, const so__node_report *nodes,
                            int count);

/* Prints the answer, the totals (with the number of nodes and, inside a batch job, its id), one
 * line per node when there are several, one line per worker and, when the answer does not cover
 * every task, the notice of so__report_notice. */
void so__report_print(FILE *out, const so_report *rep, const so_job *job, const so_config *cfg);

/* The task-parallel lines of the summary: one per task type (tasks, mean, largest batch), one per
 * bounded pipeline stage (capacity, highest occupancy, how often and how long it held the stage
 * before back), and the tasks that never ran because one they waited for failed. */
#define SO_REPORT_NOTRUN_SHOWN 5 /* names of tasks not run listed (so__graph keeps as many) */
void so__report_print_tasks(FILE *out, const so_report *rep);
/* The same figures into the JSON report object root (a json_t *); *bad set when out of memory. */
void so__report_json_tasks(void *root, const so_report *rep, int *bad);

/* Prints one line saying the answer is partial (a stop signal ended the run) or incomplete
 * (tasks failed, unless the job chose its own exit status with so_ctx_set_exit and so accounts
 * for them itself).
 * Returns 1 when it printed the line, else 0. */
int so__report_notice(FILE *out, const so_report *rep);

/* The report as one line of JSON text (no newline), malloc'd; NULL when out of memory.
 * Invalid UTF-8 in any string (parameters as typed, host names) becomes U+FFFD, and NaN or an
 * infinity becomes null, so the text always parses as JSON. */
char *so__report_json_text(const so_report *rep, const so_job *job, const so_params *params,
                           const so_config *cfg);

/* Writes the report as one JSON object to path. Returns 0, or SO_EIO/SO_ENOMEM (printed). */
int so__report_json(const char *path, const so_report *rep, const so_job *job,
                    const so_params *params, const so_config *cfg);

/* A copy of text (NULL counts as "") in which every byte that does not belong to a valid UTF-8
 * sequence is replaced by U+FFFD; malloc'd, NULL when out of memory. */
char *so__utf8_clean(const char *text);

/* "SIGTERM" and the like for the stop signals, else "signal N" written into buf. */
const char *so__signal_name(int sig, char *buf, size_t len);

const char *so__discipline_name(so_discipline d);

#endif

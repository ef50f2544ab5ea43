/* The run summary for people (stdout) and for programs (--json). */
#ifndef SO_REPORT_H
#define SO_REPORT_H

#include <stdio.h>

#include "scaleout/scaleout.h"

/* Load imbalance: the busiest worker's busy time over the mean busy time (1.0 is perfect). */
double so__report_imbalance(const so_report *rep);

/* Prints the answer, the totals and one line per worker. */
void so__report_print(FILE *out, const so_report *rep, const so_job *job, const so_config *cfg);

/* Writes the report as one JSON object to path. Returns 0 or SO_EIO (printed). */
int so__report_json(const char *path, const so_report *rep, const so_job *job,
                    const so_params *params, const so_config *cfg);

const char *so__discipline_name(so_discipline d);

#endif

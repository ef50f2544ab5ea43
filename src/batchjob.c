/* The batch job of a run from the scheduler's environment, and output names that carry its id. */
#include "batchjob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scaleout/errors.h"

/* The id's first part as a file name part: PBS ids carry the server ("77.server.example"), which
 * PBS itself leaves out of its own output names (job.o77). */
static void make_tag(const char *id, char *tag, size_t len) {
  size_t n = 0;
  for (const char *c = id; *c && *c != '.' && n + 1 < len; c++, n++) {
    int plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                *c == '-' || *c == '_';
    tag[n] = plain ? *c : '_';
  }
  tag[n] = '\0';
}

int so__batch_job_get(so__batch_job *bj) {
  static const struct {
    const char *var, *scheduler, *key;
  } known[] = {{"SLURM_JOB_ID", "Slurm", "slurm"}, {"PBS_JOBID", "PBS", "pbs"}};
  memset(bj, 0, sizeof *bj);
  for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
    const char *id = getenv(known[i].var);
    /* An id that would leave nothing to name a file by ("", ".x") is no id to go by. */
    if (!id || !id[0] || id[0] == '.')
      continue;
    snprintf(bj->id, sizeof bj->id, "%s", id);
    make_tag(id, bj->tag, sizeof bj->tag);
    bj->scheduler = known[i].scheduler;
    bj->key = known[i].key;
    return 1;
  }
  return 0;
}

int so__batch_output_name(const char *name, const so__batch_job *bj, char *buf, size_t len) {
  if (!name)
    name = "";
  if (!bj || !bj->scheduler || !name[0] || strcmp(name, "-") == 0) {
    if ((size_t)snprintf(buf, len, "%s", name) >= len)
      return SO_EINVAL;
    return 0;
  }
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  const char *dot = strrchr(base, '.');
  if (!dot || dot == base)
    dot = name + strlen(name);
  int n = snprintf(buf, len, "%.*s-%s%s", (int)(dot - name), name, bj->tag, dot);
  return n < 0 || (size_t)n >= len ? SO_EINVAL : 0;
}

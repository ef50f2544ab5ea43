/* The so_job table's version check: a job of another API major version is refused, one of another
 * minor version is read through a zeroed copy of this engine's size. */
#include "jobcheck.h"

#include <stdint.h>
#include <string.h>

#include "error.h"

int so__job_accept(const so_job *job, so_job *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!job) {
    so__seterr(err, errlen, "no job was given to run");
    return SO_EINVAL;
  }
  /* abi, size and name open the table in every major version (job.h), so even a job of
   * another version can be named. */
  const char *name = job->name ? job->name : "(unnamed)";
  if (job->abi != SO_API_MAJOR) {
    if (job->abi == 0)
      so__seterr(err, errlen,
                 "job '%s' has no API version (abi 0) in its so_job table, which must start "
                 "with SO_JOB_VERSION; this engine runs jobs of API %d",
                 name, SO_API_MAJOR);
    else
      so__seterr(err, errlen,
                 "job '%s' was built for job API %u, but this engine runs jobs of API %d: "
                 "rebuild it against this scaleout's headers",
                 name, (unsigned)job->abi, SO_API_MAJOR);
    return SO_EINVAL;
  }
  if (job->size < SO__JOB_MIN_SIZE) {
    so__seterr(err, errlen,
               "job '%s' declares a so_job table of %u bytes, smaller than the %zu bytes every "
               "job of API %d has: start its table with SO_JOB_VERSION",
               name, (unsigned)job->size, (size_t)SO__JOB_MIN_SIZE, SO_API_MAJOR);
    return SO_EINVAL;
  }
  /* A newer minor version only adds fields at the end: when they are all zero the job uses
   * nothing this engine lacks and runs as if built for this version. */
  const unsigned char *tail = (const unsigned char *)job + sizeof(so_job);
  for (size_t i = sizeof(so_job); i < job->size; i++, tail++) {
    if (*tail) {
      so__seterr(err, errlen,
                 "job '%s' was built for a newer minor version of job API %d (a %u byte table) "
                 "and sets fields this engine (API %d.%d, %zu bytes) does not know",
                 name, SO_API_MAJOR, (unsigned)job->size, SO_API_MAJOR, SO_API_MINOR,
                 sizeof(so_job));
      return SO_EINVAL;
    }
  }
  memcpy(out, job, job->size < sizeof(so_job) ? job->size : sizeof(so_job));
  out->size = (uint32_t)sizeof(so_job);
  return 0;
}

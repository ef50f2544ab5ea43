/* Job plugins: shared objects loaded with dlopen that add jobs beside the built-in ones. */
#ifndef SO_PLUGIN_H
#define SO_PLUGIN_H

#include <stddef.h>

#include <mpi.h>

#include "scaleout/job.h"

/* The environment variable naming directories (colon-separated) whose *.so files are loaded
 * when a job name is not built in, and for `scaleout jobs`. */
#define SO_JOB_PATH_ENV "SCALEOUT_JOB_PATH"

/* Loads one plugin file and adds its jobs. Not collective; every rank of a run loads the file
 * itself. Loading the same file twice adds nothing. Returns 0, or SO_EINVAL with one line in
 * err naming the file (missing or unreadable, not a shared object, no SO_PLUGIN_SYMBOL, another
 * API major version, a job table of another version or size, a job name that clashes with a
 * built-in or an already loaded job), or SO_ENOMEM. The library stays loaded until exit. */
int so__plugin_load(const char *file, char *err, size_t errlen);

/* Loads every *.so file (in name order) of each directory in path (colon-separated; empty
 * entries and NULL are skipped). A directory that cannot be read is an error, as is any file
 * that so__plugin_load refuses. Returns 0, SO_EINVAL or SO_ENOMEM as so__plugin_load. */
int so__plugin_load_path(const char *path, char *err, size_t errlen);

/* What the command line asks for, before it is parsed (a plugin's jobs and parameters are part
 * of the command line): for `run`, the file of --job-lib, or with none, SCALEOUT_JOB_PATH when
 * the named job is not built in; for `jobs`, its --job-lib and SCALEOUT_JOB_PATH. A --job-lib
 * that lacks the named job is refused here. Returns 0, SO_EINVAL or SO_ENOMEM (err set). */
int so__plugin_prepare(int argc, char **argv, char *err, size_t errlen);

/* The built-in jobs followed by the loaded ones, NULL-terminated; valid until the next load. */
const so_job *const *so__jobs_all(void);

/* A built-in or loaded job by name, or NULL. */
const so_job *so__jobs_find(const char *name);

/* The absolute path of the plugin file a job came from, or NULL for a built-in job. */
const char *so__plugin_file(const so_job *job);

/* The command line a direct run passes to its ranks: argv (run's, NULL-terminated) with every
 * --job-lib replaced by one "--job-lib ABSOLUTE-PATH" after "run" when job is a plugin's, so each
 * rank loads the very file the parent checked, whatever its working directory or
 * SCALEOUT_JOB_PATH. *list_at (the index of ":::" in argv, or 0) is moved to match. Returns a
 * new array (free it; the strings are argv's or the plugin table's) or NULL when out of memory. */
char **so__plugin_rank_argv(char **argv, const so_job *job, int *list_at);

/* Collective over comm, right after MPI_Init on every rank of a run: agrees on whether every rank
 * loaded its plugins (local_rc 0) or not (an SO_E* code, err its one-line reason), so no rank
 * starts a run that another cannot join. The first failing rank prints its reason. Returns 0
 * when all succeeded, else SO_EINVAL (or SO_EMPI when the agreement itself failed). */
int so__plugin_agree(MPI_Comm comm, int local_rc, const char *err);

#endif

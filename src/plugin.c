/* Job plugins: loads shared objects that export SO_PLUGIN_SYMBOL, checks the versions they were
 * built for, and keeps the table of built-in and loaded jobs the command line works from. */
#include "plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builtin.h"
#include "error.h"
#include "jobcheck.h"
#include "options.h"

/* One loaded job: the table as the engine reads it and the file it came from. */
typedef struct loaded_job {
  const so_job *job; /* our checked copy of the plugin's table (owned) */
  const char *file;  /* the absolute path, shared by the jobs of one file */
} loaded_job;

/* Process-wide: the command line loads plugins once, before it parses, and every lookup after
 * that reads these tables; nothing is ever unloaded (jobs point into the libraries). */
static char **files;           /* absolute paths of the loaded libraries */
static size_t nfiles;
static loaded_job *jobs;
static size_t njobs;
static const so_job **all;     /* built-ins then loaded jobs, NULL-terminated */

static size_t builtin_count(void) {
  size_t n = 0;
  while (so__builtin_jobs[n])
    n++;
  return n;
}

static int rebuild_all(void) {
  size_t nb = builtin_count();
  const so_job **t = realloc(all, (nb + njobs + 1) * sizeof *t);
  if (!t)
    return SO_ENOMEM;
  all = t;
  for (size_t i = 0; i < nb; i++)
    all[i] = so__builtin_jobs[i];
  for (size_t i = 0; i < njobs; i++)
    all[nb + i] = jobs[i].job;
  all[nb + njobs] = NULL;
  return 0;
}

const so_job *const *so__jobs_all(void) {
  if (!all && rebuild_all() != 0)
    return so__builtin_jobs; /* out of memory: the built-ins are still right */
  return all;
}

const so_job *so__jobs_find(const char *name) {
  const so_job *job = so__builtin_find(name);
  for (size_t i = 0; !job && name && i < njobs; i++)
    if (strcmp(jobs[i].job->name, name) == 0)
      job = jobs[i].job;
  return job;
}

const char *so__plugin_file(const so_job *job) {
  for (size_t i = 0; i < njobs; i++)
    if (jobs[i].job == job)
      return jobs[i].file;
  return NULL;
}

/* dlerror() starts with the file name, which our message already gives. */
static const char *dl_reason(const char *path) {
  const char *e = dlerror();
  if (!e)
    return "unknown reason";
  size_t n = strlen(path);
  if (strncmp(e, path, n) == 0 && e[n] == ':')
    e += n + 1;
  while (*e == ' ')
    e++;
  return e;
}

/* Checks one job table of a plugin with the engine's own check (its API version and size, see
 * jobcheck.h), then that its name is a word the command line can give. The table is always
 * copied, so a table of an older minor version reads as a full one with the rest zero. Returns 0
 * with *out set (free it), SO_EINVAL or SO_ENOMEM. */
static int accept_job(const char *file, size_t index, const so_job *job, const so_job **out,
                      char *err, size_t errlen) {
  if (!job) {
    so__seterr(err, errlen, "job plugin '%s': job %zu of its table is NULL", file, index);
    return SO_EINVAL;
  }
  so_job *copy = malloc(sizeof *copy);
  if (!copy)
    return SO_ENOMEM;
  char why[384];
  if (so__job_accept(job, copy, why, sizeof why) != 0) {
    so__seterr(err, errlen, "job plugin '%s': %s", file, why);
    free(copy);
    return SO_EINVAL;
  }
  if (!copy->name || !copy->name[0] || strpbrk(copy->name, " \t\n=") || copy->name[0] == '-') {
    so__seterr(err, errlen, "job plugin '%s': job %zu has no usable name (a word, not "
                            "starting with '-')", file, index);
    free(copy);
    return SO_EINVAL;
  }
  *out = copy;
  return 0;
}

/* The file's canonical absolute path, after checking it is a readable regular file. */
static int resolve(const char *file, char *abs, char *err, size_t errlen) {
  struct stat st;
  if (!file[0]) {
    so__seterr(err, errlen, "--job-lib needs a file name");
    return SO_EINVAL;
  }
  if (stat(file, &st) != 0 || !realpath(file, abs)) {
    so__seterr(err, errlen, "cannot load job plugin '%s': %s", file, strerror(errno));
    return SO_EINVAL;
  }
  if (!S_ISREG(st.st_mode)) {
    so__seterr(err, errlen, "cannot load job plugin '%s': not a regular file", file);
    return SO_EINVAL;
  }
  return 0;
}

int so__plugin_load(const char *file, char *err, size_t errlen) {
  char abs[PATH_MAX];
  int rc = resolve(file, abs, err, errlen);
  if (rc)
    return rc;
  for (size_t i = 0; i < nfiles; i++)
    if (strcmp(files[i], abs) == 0)
      return 0;
  /* dlopen's own words for a file that is not ELF ("file too short", "invalid ELF header") do
   * not say what the user gave it. */
  unsigned char magic[4] = {0};
  FILE *f = fopen(abs, "rb");
  if (!f) {
    so__seterr(err, errlen, "cannot load job plugin '%s': %s", file, strerror(errno));
    return SO_EINVAL;
  }
  size_t got = fread(magic, 1, sizeof magic, f);
  fclose(f);
  if (got != sizeof magic || memcmp(magic, "\177ELF", 4) != 0) {
    so__seterr(err, errlen, "cannot load job plugin '%s': not a shared object (no ELF header)",
               file);
    return SO_EINVAL;
  }
  /* RTLD_NOW: a symbol the plugin needs and nobody has is refused here, not a crash mid-run.
   * RTLD_LOCAL: two plugins' own symbols never resolve to each other. */
  dlerror();
  void *lib = dlopen(abs, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    so__seterr(err, errlen, "cannot load job plugin '%s': %s", file, dl_reason(abs));
    return SO_EINVAL;
  }
  const so_plugin *pl = dlsym(lib, SO_PLUGIN_SYMBOL);
  if (!pl) {
    so__seterr(err, errlen, "job plugin '%s' has no entry symbol '%s' (define it with "
                            "SO_PLUGIN(&job, ...) from scaleout/job.h)", file, SO_PLUGIN_SYMBOL);
    dlclose(lib);
    return SO_EINVAL;
  }
  if (pl->api_major != SO_API_MAJOR) {
    so__seterr(err, errlen, "job plugin '%s' was built for job API %u.%u, this scaleout runs "
                            "API %d.%d (rebuild it against this scaleout's scaleout/job.h)",
               file, pl->api_major, pl->api_minor, SO_API_MAJOR, SO_API_MINOR);
    dlclose(lib);
    return SO_EINVAL;
  }
  if (!pl->jobs || !pl->jobs[0]) {
    so__seterr(err, errlen, "job plugin '%s' exports no jobs", file);
    dlclose(lib);
    return SO_EINVAL;
  }
  size_t n = 0;
  while (pl->jobs[n])
    n++;
  char *name = strdup(abs);
  loaded_job *grown = realloc(jobs, (njobs + n) * sizeof *grown);
  char **fgrown = realloc(files, (nfiles + 1) * sizeof *fgrown);
  if (grown)
    jobs = grown;
  if (fgrown)
    files = fgrown;
  if (!name || !grown || !fgrown) {
    free(name);
    dlclose(lib);
    return SO_ENOMEM;
  }
  size_t first = njobs;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const so_job *job;
    rc = accept_job(file, i, pl->jobs[i], &job, err, errlen);
    if (rc)
      break;
    const so_job *same = so__jobs_find(job->name); /* this plugin's earlier jobs too */
    if (same) {
      const char *other = so__plugin_file(same);
      if (other && other != name)
        so__seterr(err, errlen, "job plugin '%s': job '%s' is already loaded from '%s'", file,
                   job->name, other);
      else if (other)
        so__seterr(err, errlen, "job plugin '%s' has two jobs named '%s'", file, job->name);
      else
        so__seterr(err, errlen, "job plugin '%s': job '%s' has the name of a built-in job "
                                "(rename it)", file, job->name);
      free((void *)job);
      rc = SO_EINVAL;
      break;
    }
    jobs[njobs++] = (loaded_job){job, name};
  }
  if (rc == 0)
    rc = rebuild_all();
  if (rc) {
    /* Nothing of a refused plugin stays: its jobs leave the table before the library goes. */
    for (size_t k = first; k < njobs; k++)
      free((void *)jobs[k].job);
    njobs = first;
    rebuild_all();
    free(name);
    dlclose(lib);
    return rc;
  }
  files[nfiles++] = name;
  return 0;
}

static int so_suffix(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return d->d_name[0] != '.' && n > 3 && strcmp(d->d_name + n - 3, ".so") == 0;
}

int so__plugin_load_path(const char *path, char *err, size_t errlen) {
  if (!path)
    return 0;
  char *copy = strdup(path);
  if (!copy)
    return SO_ENOMEM;
  int rc = 0;
  char *save = NULL;
  for (char *dir = strtok_r(copy, ":", &save); dir && rc == 0; dir = strtok_r(NULL, ":", &save)) {
    struct dirent **names;
    int n = scandir(dir, &names, so_suffix, alphasort);
    if (n < 0) {
      so__seterr(err, errlen, "cannot read the job plugin directory '%s' (from %s): %s", dir,
                 SO_JOB_PATH_ENV, strerror(errno));
      rc = SO_EINVAL;
      break;
    }
    for (int i = 0; i < n; i++) {
      char file[PATH_MAX];
      if (rc == 0 && snprintf(file, sizeof file, "%s/%s", dir, names[i]->d_name) < (int)sizeof file)
        rc = so__plugin_load(file, err, errlen);
      free(names[i]);
    }
    free(names);
  }
  free(copy);
  return rc;
}

/* True when the command line asks for help (before any ":::"). */
static int asks_help(int argc, char **argv) {
  for (int i = 2; i < argc && strcmp(argv[i], ":::") != 0; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return 1;
  return 0;
}

int so__plugin_prepare(int argc, char **argv, char *err, size_t errlen) {
  const char *lib = NULL, *name = NULL;
  int cmd = so__cli_plugin_args(argc, argv, so__builtin_jobs, &lib, &name);
  if (cmd == SO_PLUGIN_ARGS_NONE)
    return 0;
  const char *path = getenv(SO_JOB_PATH_ENV);
  int rc = 0;
  if (lib)
    rc = so__plugin_load(lib, err, errlen);
  /* `run --help` without a job lists the jobs too; a run of a built-in job (or the farm) never
   * reads the directories, so a bad one there cannot stop it. */
  int listing = cmd == SO_PLUGIN_ARGS_JOBS || (!name && asks_help(argc, argv));
  if (rc == 0 && path && path[0] && (listing || (!lib && name && !so__builtin_find(name))))
    rc = so__plugin_load_path(path, err, errlen);
  if (rc == 0 && lib && cmd == SO_PLUGIN_ARGS_RUN && name) {
    const so_job *job = so__jobs_find(name);
    char abs[PATH_MAX];
    if (!job || !so__plugin_file(job) || !realpath(lib, abs) ||
        strcmp(so__plugin_file(job), abs) != 0) {
      int off = snprintf(err, errlen, "job plugin '%s' has no job '%s'; its jobs are:", lib, name);
      for (size_t i = 0; i < njobs && off > 0 && (size_t)off < errlen; i++)
        if (realpath(lib, abs) && strcmp(jobs[i].file, abs) == 0)
          off += snprintf(err + off, errlen - (size_t)off, " %s", jobs[i].job->name);
      rc = SO_EINVAL;
    }
  }
  return rc;
}

int so__plugin_agree(MPI_Comm comm, int local_rc, const char *err) {
  int rank, size;
  if (so__mpi_check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank") ||
      so__mpi_check(MPI_Comm_size(comm, &size), "MPI_Comm_size"))
    return SO_EMPI;
  /* The lowest failing rank speaks for all, so a file missing everywhere is said once. */
  int mine = local_rc ? rank : size, first;
  if (so__mpi_check(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm),
                    "agreeing on the job plugin (MPI_Allreduce)"))
    return SO_EMPI;
  if (first == size)
    return 0;
  if (rank == first) {
    if (rank == 0)
      so__errorf("%s", err && err[0] ? err : so_strerror(local_rc));
    else
      so__errorf("rank %d: %s", rank, err && err[0] ? err : so_strerror(local_rc));
  }
  return SO_EINVAL;
}

char **so__plugin_rank_argv(char **argv, const so_job *job, int *list_at) {
  const char *file = so__plugin_file(job);
  int argc = 0;
  while (argv[argc])
    argc++;
  char **out = calloc((size_t)argc + 3, sizeof *out);
  if (!out)
    return NULL;
  int n = 0, at = *list_at;
  for (int i = 0; i < argc; i++) {
    int before_list = at <= 0 || i < at;
    if (i >= 2 && before_list && strcmp(argv[i], "--job-lib") == 0 && i + 1 < argc) {
      i++; /* replaced by the absolute path below */
      at -= at > 0 ? 2 : 0;
      continue;
    }
    if (i >= 2 && before_list && strncmp(argv[i], "--job-lib=", 10) == 0) {
      at -= at > 0 ? 1 : 0;
      continue;
    }
    out[n++] = argv[i];
    if (i == 1 && file) {
      out[n++] = "--job-lib";
      out[n++] = (char *)file;
      at += at > 0 ? 2 : 0;
    }
  }
  out[n] = NULL;
  *list_at = at;
  return out;
}

/* Command-line parsing: strict, complete, and silent (the caller prints the one-line error). */
#include "options.h"

#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "params.h"
#include "scaleout/map.h"

#define SO_MAX_WORKERS 1048576
#define SO_MAX_BATCH 16777216

void so__cli_usage(FILE *out) {
  fputs("usage: scaleout <command> [options]\n"
        "\n"
        "Spreads a job's tasks over MPI ranks: rank 0 keeps the queue, every other rank is a\n"
        "worker pinned to its own core. Typed directly it starts one worker per core itself;\n"
        "under mpirun or srun it uses the ranks it is given.\n"
        "\n"
        "commands:\n"
        "  run JOB [options]   run a job (scaleout run --help)\n"
        "  jobs [--job-lib F]  list the jobs and their parameters (built-in and plugin)\n"
        "  topo [options]      show the topology and the binding plan (scaleout topo --help)\n"
        "  help                this text\n"
        "\n"
        "  --help, -h          this text\n"
        "  --version           print the version\n",
        out);
}

void so__cli_run_usage(FILE *out, const so_job *const *jobs) {
  fputs("usage: scaleout run JOB [options] [job parameters]\n"
        "       mpirun -n RANKS scaleout run JOB [options] [job parameters]\n"
        "\n"
        "options:\n"
        "  -n, --workers N     workers of a direct run (default: one per core of the CPUs\n"
        "                      it may use, after --cpuset/--core-*); under mpirun/srun, ranks - 1\n"
        "  --queue DISCIPLINE  fifo (default), lifo or priority\n"
        "  --batch auto|N      tasks per message: auto (default) adapts to the task duration\n"
        "  --prefetch auto|K   a worker asks for more when it holds K tasks or fewer; 0: only\n"
        "                      when it has none; auto (default) follows the task duration\n"
        "  --window N          tasks generated ahead for lifo/priority (default 4096)\n"
        "  --bind POLICY       core (default), pu, numa, package or none\n"
        "  --schedule KIND[,N] data-parallel jobs: static, dynamic, guided or auto, as in OpenMP\n"
        "  --cpuset LIST       plan workers on these CPUs of each node only (\"2-3\", \"0,4\")\n"
        "  --core-offset N     skip the first N cores of that set; --core-count N: use N cores\n"
        "  --threads T         tasks run at once per worker, each in a thread (commands of\n"
        "                      the farm: at once); helps tasks that wait, not CPU-bound ones\n"
        "  --retries N         run a failed task up to N times in all, reruns on another worker\n"
        "  --grace S           on SIGTERM/SIGINT/SIGUSR1, seconds running tasks get to finish\n"
        "  --json FILE         also write the report as JSON\n"
        "  --oversubscribe     let a direct run start more than 8 workers per PU (with\n"
        "                      hosts: more ranks than their slots)\n"
        "  --hostfile FILE     start the ranks over the hosts of FILE through mpirun (Open\n"
        "                      MPI's syntax: HOST slots=N a line); default workers: the\n"
        "                      slots minus one for the master, which runs on this machine\n"
        "  --hosts LIST        the same from a list: a,b:2,c (':N' for N slots, else 1)\n"
        "  --job-lib FILE      load the job from the plugin FILE (a shared object built\n"
        "                      against scaleout/job.h); without it, a job that is not\n"
        "                      built in is looked for in $SCALEOUT_JOB_PATH's *.so files\n"
        "  -q, --quiet         no warnings\n"
        "  -h, --help          this text; scaleout run JOB --help lists JOB's parameters\n"
        "\n"
        "jobs:\n",
        out);
  for (const so_job *const *j = jobs; *j; j++)
    fprintf(out, "  %-10s %s\n", (*j)->name, (*j)->summary ? (*j)->summary : "");
}

/* What help adds after a parameter's text: its default, "(required)" for a value that has none,
 * nothing for a flag (absent means off). */
static const char *param_note(const so_param_def *p, char *buf, size_t len) {
  if (p->type == SO_PARAM_FLAG)
    return "";
  if (!p->defval)
    return " (required)";
  /* An output's default as this run would use it: inside a batch job, with the job's id. */
  char named[SO_PARAM_OUTPUT_MAX];
  const char *def = p->defval;
  if (p->type == SO_PARAM_OUTPUT && so__params_output_default(p, named, sizeof named) == 0)
    def = named;
  snprintf(buf, len, " (default %s)", def[0] ? def : "none");
  return buf;
}

/* The range a numeric parameter accepts, as help prints it ("; 1 to 1e+09"), or "". */
static const char *param_range(const so_param_def *p, char *buf, size_t len) {
  if ((p->type != SO_PARAM_INT && p->type != SO_PARAM_DOUBLE) || p->min > p->max)
    return "";
  snprintf(buf, len, ", %.10g to %.10g", p->min, p->max);
  return buf;
}

static const char *param_arg(const so_param_def *p) {
  return p->type == SO_PARAM_STRING   ? "TEXT"
         : p->type == SO_PARAM_OUTPUT ? "FILE"
         : p->type == SO_PARAM_INT    ? "N"
         : p->type == SO_PARAM_FLAG ? ""
                                    : "X";
}

static const char *param_type(const so_param_def *p) {
  return p->type == SO_PARAM_STRING   ? "text"
         : p->type == SO_PARAM_OUTPUT ? "output file"
         : p->type == SO_PARAM_INT    ? "integer"
         : p->type == SO_PARAM_FLAG ? "flag"
                                    : "number";
}

/* A map's schedule by name, by the constants rather than their values, so the words stay right
 * whatever numbering map.h gives them (anything not chosen is auto, as map.h says). */
static const char *sched_name(so_sched_kind kind) {
  switch (kind) {
  case SO_SCHED_STATIC:
    return "static";
  case SO_SCHED_DYNAMIC:
    return "dynamic";
  case SO_SCHED_GUIDED:
    return "guided";
  default:
    return "auto";
  }
}

static const char *input_name(so_map_input input) {
  switch (input) {
  case SO_MAP_RANGE:
    return "an index range";
  case SO_MAP_LINES:
    return "the lines of a text file";
  case SO_MAP_RECORDS:
    return "fixed-size records of a file";
  }
  return "an unknown input";
}

static const char *reduce_name(so_reduce_op op) {
  switch (op) {
  case SO_REDUCE_GATHER:
    return "gathered in input order";
  case SO_REDUCE_SUM:
    return "reduced by sum";
  case SO_REDUCE_MIN:
    return "reduced by min";
  case SO_REDUCE_MAX:
    return "reduced by max";
  case SO_REDUCE_CUSTOM:
    return "reduced by the job's own combine";
  }
  return "(unknown reduction)";
}

/* What kind of parallel work the job is, in the words of scaleout/job.h and scaleout/map.h. */
static void job_kind(FILE *out, const so_job *job) {
  if (job->map) {
    const so_map *m = job->map;
    fprintf(out, "kind: data-parallel map over %s, results %s; default schedule %s",
            input_name(m->input), reduce_name(m->reduce), sched_name(m->schedule.kind));
    if (m->schedule.chunk)
      fprintf(out, ",%llu", (unsigned long long)m->schedule.chunk);
    fputs(" (--schedule)\n", out);
  } else if (job->stages) {
    fputs("kind: pipeline, stages:", out);
    for (const so_stage *st = job->stages; st->name; st++) {
      fprintf(out, "%s %s", st == job->stages ? "" : " ->", st->name);
      if (st != job->stages && st->capacity)
        fprintf(out, " (at most %u in flight)", st->capacity);
    }
    fputc('\n', out);
  } else if (job->types) {
    fputs("kind: task types:", out);
    for (const so_task_type *t = job->types; t->name; t++)
      fprintf(out, "%s %s", t == job->types ? "" : ",", t->name);
    fputc('\n', out);
  } else if (job->start) {
    fputs("kind: tasks that wait (asynchronous), --threads at once per worker\n", out);
  } else {
    fputs("kind: tasks (one run() per task)\n", out);
  }
}

void so__cli_job_usage(FILE *out, const so_job *job, const char *from) {
  fprintf(out, "usage: scaleout run %s%s%s%s [options] [parameters]\n\n%s\n\n", from ? "--job-lib " : "",
          from ? from : "", from ? " " : "", job->name, job->summary ? job->summary : "");
  fprintf(out, "from: %s\n", from ? from : "built in");
  job_kind(out, job);
  if (job->options && job->options[0])
    fprintf(out, "default options: %s\n", job->options);
  fputs("\nparameters:\n", out);
  if (!job->params || !job->params->name)
    fputs("  (none)\n", out);
  for (const so_param_def *p = job->params; p && p->name; p++) {
    char arg[48], note[SO_PARAM_OUTPUT_MAX + 16], range[96];
    snprintf(arg, sizeof arg, "--%s %s", p->name, param_arg(p));
    fprintf(out, "  %-20s %s%s\n", arg, p->help ? p->help : "", param_note(p, note, sizeof note));
    fprintf(out, "  %-20s   %s%s\n", "", param_type(p), param_range(p, range, sizeof range));
  }
  fputs("\nrun options: see scaleout run --help\n", out);
}

void so__cli_jobs(FILE *out, const so_job *const *jobs, so__job_origin origin) {
  for (const so_job *const *j = jobs; *j; j++) {
    const char *from = origin ? origin(*j) : NULL;
    if (from)
      fprintf(out, "%s: %s  [plugin %s]\n", (*j)->name, (*j)->summary ? (*j)->summary : "", from);
    else
      fprintf(out, "%s: %s\n", (*j)->name, (*j)->summary ? (*j)->summary : "");
    for (const so_param_def *p = (*j)->params; p && p->name; p++) {
      char note[96];
      fprintf(out, "    --%-14s %s%s\n", p->name, p->help ? p->help : "",
              param_note(p, note, sizeof note));
    }
  }
}

void so__cli_free(so__cli *cli) {
  so__params_free(cli->params);
  cli->params = NULL;
  free(cli->job_options);
  cli->job_options = NULL;
}

static int parse_workers(const char *v, so__cli *cli, char *err, size_t errlen) {
  int64_t n;
  if (so__parse_int(v, &n) || n < 1 || n > SO_MAX_WORKERS) {
    snprintf(err, errlen, "--workers expects a whole number from 1 to %d, not '%s'", SO_MAX_WORKERS, v);
    return SO_EINVAL;
  }
  cli->workers = (int)n;
  return 0;
}

static int parse_queue(const char *v, so__cli *cli, char *err, size_t errlen) {
  if (strcmp(v, "fifo") == 0)
    cli->cfg.discipline = SO_QUEUE_FIFO;
  else if (strcmp(v, "lifo") == 0)
    cli->cfg.discipline = SO_QUEUE_LIFO;
  else if (strcmp(v, "priority") == 0)
    cli->cfg.discipline = SO_QUEUE_PRIORITY;
  else {
    snprintf(err, errlen, "--queue must be fifo, lifo or priority, not '%s'", v);
    return SO_EINVAL;
  }
  return 0;
}

static int parse_count(const char *opt, const char *v, int64_t lo, int64_t hi, uint32_t *out,
                       char *err, size_t errlen) {
  int64_t n;
  if (so__parse_int(v, &n) || n < lo || n > hi) {
    snprintf(err, errlen, "%s expects a whole number from %lld to %lld, not '%s'", opt,
             (long long)lo, (long long)hi, v);
    return SO_EINVAL;
  }
  *out = (uint32_t)n;
  return 0;
}

/* Handles one run option that takes a value. Returns 1 if name is not a run option. */
static int run_option(const char *name, const char *v, so__cli *cli, char *err, size_t errlen) {
  if (strcmp(name, "workers") == 0)
    return parse_workers(v, cli, err, errlen);
  if (strcmp(name, "queue") == 0)
    return parse_queue(v, cli, err, errlen);
  if (strcmp(name, "batch") == 0) {
    if (strcmp(v, "auto") == 0) {
      cli->cfg.batch = 0;
      return 0;
    }
    int rc = parse_count("--batch", v, 1, SO_MAX_BATCH, &cli->cfg.batch, err, errlen);
    if (rc)
      snprintf(err, errlen, "--batch expects 'auto' or a whole number from 1 to %d, not '%s'",
               SO_MAX_BATCH, v);
    return rc;
  }
  if (strcmp(name, "prefetch") == 0) {
    if (strcmp(v, "auto") == 0) {
      cli->cfg.prefetch = SO_PREFETCH_AUTO;
      return 0;
    }
    int rc = parse_count("--prefetch", v, 0, SO_MAX_BATCH, &cli->cfg.prefetch, err, errlen);
    if (rc)
      snprintf(err, errlen, "--prefetch expects 'auto' or a whole number from 0 to %d, not '%s'",
               SO_MAX_BATCH, v);
    return rc;
  }
  if (strcmp(name, "window") == 0)
    return parse_count("--window", v, 1, SO_MAX_BATCH, &cli->cfg.window, err, errlen);
  if (strcmp(name, "bind") == 0) {
    if (so__bind_policy_parse(v, &cli->cfg.bind) == 0)
      return 0;
    snprintf(err, errlen, "--bind must be core, pu, numa, package or none, not '%s'", v);
    return SO_EINVAL;
  }
  if (strcmp(name, "schedule") == 0)
    return so_schedule_parse(v, &cli->cfg.schedule, err, errlen);
  if (strcmp(name, "cpuset") == 0) {
    cli->cfg.cpuset = v; /* checked by every rank against its node (pinplan.h) */
    return 0;
  }
  if (strcmp(name, "core-offset") == 0 || strcmp(name, "core-count") == 0) {
    int offset = strcmp(name, "core-offset") == 0;
    uint32_t n = 0;
    int rc = parse_count(offset ? "--core-offset" : "--core-count", v, 0, 65535, &n, err, errlen);
    if (rc == 0)
      *(offset ? &cli->cfg.core_offset : &cli->cfg.core_count) = (int)n;
    return rc;
  }
  if (strcmp(name, "threads") == 0)
    return parse_count("--threads", v, 1, 4096, &cli->cfg.slots, err, errlen);
  if (strcmp(name, "retries") == 0) {
    /* GNU parallel's meaning: N runs in all, so N - 1 reruns (0 and 1 both mean none; GNU
     * parallel's --retries 0 reruns forever, which no run here should do). */
    int rc = parse_count("--retries", v, 0, 1000000, &cli->cfg.retries, err, errlen);
    if (rc == 0 && cli->cfg.retries > 0)
      cli->cfg.retries--;
    return rc;
  }
  if (strcmp(name, "grace") == 0) {
    double g;
    if (so__parse_double(v, &g) || g < 0 || g > 86400) {
      snprintf(err, errlen, "--grace expects seconds from 0 to 86400, not '%s'", v);
      return SO_EINVAL;
    }
    cli->cfg.grace = g;
    return 0;
  }
  if (strcmp(name, "job-lib") == 0) {
    if (!v[0]) {
      snprintf(err, errlen, "--job-lib needs a file name");
      return SO_EINVAL;
    }
    cli->job_lib = v;
    return 0;
  }
  if (strcmp(name, "hostfile") == 0 || strcmp(name, "hosts") == 0) {
    int file = strcmp(name, "hostfile") == 0;
    if (cli->hostfile || cli->hosts) {
      snprintf(err, errlen, "give --hostfile or --hosts once (the hosts of one run)");
      return SO_EINVAL;
    }
    if (!v[0]) {
      snprintf(err, errlen, file ? "--hostfile needs a file name"
                                 : "--hosts needs a list of hosts (a,b:2,c)");
      return SO_EINVAL;
    }
    *(file ? &cli->hostfile : &cli->hosts) = v; /* read and checked by startcheck.c */
    return 0;
  }
  if (strcmp(name, "json") == 0) {
    if (!v[0]) {
      snprintf(err, errlen, "--json needs a file name");
      return SO_EINVAL;
    }
    cli->json = v;
    return 0;
  }
  return 1;
}

/* The run options that take a value (the others are -h/--help, -q/--quiet, --oversubscribe). */
static int is_run_option(const char *name, size_t len) {
  static const char *const names[] = {"workers", "queue",   "batch",   "prefetch", "window", "bind",
                                      "json",    "threads", "retries", "grace",    "job-lib",
                                      "schedule", "cpuset", "core-offset", "core-count",
                                      "hostfile", "hosts", NULL};
  for (const char *const *n = names; *n; n++)
    if (strlen(*n) == len && strncmp(*n, name, len) == 0)
      return 1;
  return 0;
}

/* Splits "-n", "--name" or "--name=value" into a name; returns 0 for anything else. */
static int option_name(const char *a, const char **name, size_t *len, const char **eq) {
  *eq = NULL;
  if (strcmp(a, "-n") == 0) {
    *name = "workers";
    *len = 7;
    return 1;
  }
  if (a[0] != '-' || a[1] != '-' || a[2] == 0)
    return 0;
  *name = a + 2;
  *eq = strchr(*name, '=');
  *len = *eq ? (size_t)(*eq - *name) : strlen(*name);
  return 1;
}

/* True when --name is a flag parameter of some job (it then takes no value). */
static int is_flag_of_any_job(const so_job *const *jobs, const char *name, size_t len) {
  for (const so_job *const *j = jobs; *j; j++)
    for (const so_param_def *p = (*j)->params; p && p->name; p++)
      if (p->type == SO_PARAM_FLAG && strlen(p->name) == len && strncmp(p->name, name, len) == 0)
        return 1;
  return 0;
}

/* Finds the job: the first bare word that is not an option's value, or, when there is none and
 * the command line names a task source (--tasks with no job, --command, --args, :::), the
 * command farm. An option met before the job is taken to have a value unless it is some job's
 * flag or the next word is itself an option. */
static const char *find_job(int argc, char **argv, const so_job *const *jobs, int *farm) {
  *farm = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *name, *eq;
    size_t len;
    if (strcmp(a, ":::") == 0)
      break;
    if (strcmp(a, "--command") == 0 || strncmp(a, "--command=", 10) == 0 ||
        strcmp(a, "--args") == 0 || strncmp(a, "--args=", 7) == 0 || strcmp(a, "--tasks") == 0 ||
        strncmp(a, "--tasks=", 8) == 0)
      *farm = 1;
    if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0 || strcmp(a, "-h") == 0 ||
        strcmp(a, "--help") == 0 || strcmp(a, "--oversubscribe") == 0)
      continue;
    if (option_name(a, &name, &len, &eq)) {
      if (!eq && i + 1 < argc && argv[i + 1][0] != '-' && strcmp(argv[i + 1], ":::") &&
          !is_flag_of_any_job(jobs, name, len))
        i++;
      continue;
    }
    if (a[0] != '-')
      return a;
  }
  for (int i = 0; i < argc; i++)
    if (strcmp(argv[i], ":::") == 0)
      *farm = 1;
  return NULL;
}

/*
 * Applies the job's default engine options (so_job.options, e.g. the farm's "--grace 10") through
 * the same run_option as the command line's, before them, so the user's own win. They are the
 * job author's: anything but a run option with its value is refused, naming the job.
 */
static int apply_job_options(so__cli *cli, char *err, size_t errlen) {
  if (!cli->job->options)
    return 0;
  char *words = strdup(cli->job->options);
  if (!words)
    return SO_ENOMEM;
  cli->job_options = words;
  char *argv[64];
  int argc = 0;
  for (char *save = NULL, *w = strtok_r(words, " \t\n", &save); w;
       w = strtok_r(NULL, " \t\n", &save)) {
    if (argc == 64) {
      snprintf(err, errlen, "job '%s' has more than 64 words in its so_job.options", cli->job->name);
      return SO_EINVAL;
    }
    argv[argc++] = w;
  }
  for (int i = 0; i < argc; i++) {
    const char *name, *eq, *v;
    size_t len;
    char key[64];
    if (!option_name(argv[i], &name, &len, &eq) || len > 63 || !is_run_option(name, len)) {
      snprintf(err, errlen, "job '%s' has '%s' in its so_job.options, which is no run option with "
                            "a value", cli->job->name, argv[i]);
      return SO_EINVAL;
    }
    snprintf(key, sizeof key, "%.*s", (int)len, name);
    if (strcmp(key, "hostfile") == 0 || strcmp(key, "hosts") == 0) {
      /* Where a run goes is the user's choice (and the ranks would read it a second time). */
      snprintf(err, errlen, "job '%s' has '--%s' in its so_job.options; the hosts are the "
                            "command line's", cli->job->name, key);
      return SO_EINVAL;
    }
    if (eq) {
      v = eq + 1;
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      snprintf(err, errlen, "job '%s' gives '%s' without a value in its so_job.options",
               cli->job->name, argv[i]);
      return SO_EINVAL;
    }
    char why[256];
    if (run_option(key, v, cli, why, sizeof why)) {
      snprintf(err, errlen, "job '%s' has a bad so_job.options: %s", cli->job->name, why);
      return SO_EINVAL;
    }
  }
  return 0;
}

static int parse_run(int argc, char **argv, so__job_lookup lookup, const so_job *const *jobs,
                     so__cli *cli, char *err, size_t errlen) {
  int farm;
  const char *jobname = find_job(argc, argv, jobs, &farm);
  if (jobname) {
    cli->job = lookup(jobname);
    if (!cli->job) {
      int off = snprintf(err, errlen, "unknown job '%s'; the jobs are:", jobname);
      for (const so_job *const *j = jobs; *j && off > 0 && (size_t)off < errlen; j++)
        off += snprintf(err + off, errlen - (size_t)off, " %s", (*j)->name);
      /* A job of one's own is a plugin: say how it is found. */
      if (off > 0 && (size_t)off < errlen)
        snprintf(err + off, errlen - (size_t)off, " (a plugin's job: --job-lib FILE, or its "
                                                  "directory in SCALEOUT_JOB_PATH)");
      return SO_EINVAL;
    }
  } else if (farm) {
    cli->job = lookup("cmd");
  }
  if (cli->job && !(cli->params = so__params_new(cli->job)))
    return SO_ENOMEM;

  int rc = cli->job ? apply_job_options(cli, err, errlen) : 0;
  int seen_job = 0;
  for (int i = 0; !rc && i < argc; i++) {
    const char *a = argv[i], *name, *eq;
    size_t len;
    if (strcmp(a, ":::") == 0) {
      if (!cli->params) {
        snprintf(err, errlen, "':::' needs a job that takes arguments");
        return SO_EINVAL;
      }
      if (!(cli->job->flags & SO_JOB_TAKES_ARGS)) {
        snprintf(err, errlen, "job '%s' takes no arguments after ':::' (only the command farm "
                              "does: scaleout run --command TEMPLATE ::: ...)", cli->job->name);
        return SO_EINVAL;
      }
      so__params_set_args(cli->params, argc - i - 1, (const char *const *)argv + i + 1);
      cli->list = argv + i;
      break;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      cli->help = 1;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      cli->cfg.quiet = 1;
    } else if (strcmp(a, "--oversubscribe") == 0) {
      cli->oversubscribe = 1;
    } else if (option_name(a, &name, &len, &eq)) {
      char key[64];
      snprintf(key, sizeof key, "%.*s", (int)(len < 63 ? len : 63), name);
      const so_param_def *def = cli->params && len < 63 ? so__params_find(cli->params, key) : NULL;
      int run_opt = len < 63 && is_run_option(name, len);
      if (!def && !run_opt) {
        if (cli->job)
          snprintf(err, errlen, "unknown option '%s' for job '%s' (see scaleout run %s --help)", a,
                   cli->job->name, cli->job->name);
        else
          snprintf(err, errlen, "unknown option '%s' (see scaleout run --help)", a);
        return SO_EINVAL;
      }
      const char *v;
      if (def && def->type == SO_PARAM_FLAG && !eq) {
        v = "1";
      } else if (eq) {
        v = eq + 1;
      } else if (i + 1 < argc) {
        v = argv[++i];
      } else {
        snprintf(err, errlen, "option '%s' needs a value", a);
        return SO_EINVAL;
      }
      if (def && def->type == SO_PARAM_FLAG && eq) {
        snprintf(err, errlen, "option '--%s' takes no value", key);
        return SO_EINVAL;
      }
      const char *had = cli->hosts ? cli->hosts : cli->hostfile;
      rc = run_opt ? run_option(key, v, cli, err, errlen)
                   : so__params_set(cli->params, key, v, err, errlen);
      if (!rc && !had && (cli->hosts || cli->hostfile)) {
        cli->hosts_word = a;
        cli->hosts_words = eq ? 1 : 2;
      }
    } else if (a[0] == '-' && a[1] != 0) {
      snprintf(err, errlen, "unknown option '%s' (see scaleout run --help)", a);
      return SO_EINVAL;
    } else if (!seen_job && jobname && strcmp(a, jobname) == 0) {
      seen_job = 1;
    } else {
      snprintf(err, errlen, "unexpected argument '%s'%s%s", a, cli->job ? " after job " : "",
               cli->job ? cli->job->name : "");
      return SO_EINVAL;
    }
  }
  if (!rc && !cli->job && !cli->help) {
    snprintf(err, errlen, "run needs a job name (see scaleout jobs) or a task source "
                          "(--tasks FILE, --command TEMPLATE)");
    rc = SO_EINVAL;
  }
  if (!rc && cli->params && !cli->help)
    rc = so__params_check(cli->params, err, errlen);
  return rc;
}

int so__cli_plugin_args(int argc, char **argv, const so_job *const *jobs, const char **job_lib,
                        const char **job) {
  *job_lib = *job = NULL;
  if (argc < 2)
    return SO_PLUGIN_ARGS_NONE;
  int is_run = strcmp(argv[1], "run") == 0;
  if (!is_run && strcmp(argv[1], "jobs") != 0)
    return SO_PLUGIN_ARGS_NONE;
  /* The same reading as the parsers': the last --job-lib wins, nothing after ::: counts. */
  for (int i = 2; i < argc && strcmp(argv[i], ":::") != 0; i++) {
    if (strcmp(argv[i], "--job-lib") == 0 && i + 1 < argc)
      *job_lib = argv[++i];
    else if (strncmp(argv[i], "--job-lib=", 10) == 0)
      *job_lib = argv[i] + 10;
  }
  if (!is_run)
    return SO_PLUGIN_ARGS_JOBS;
  int farm;
  *job = find_job(argc - 2, argv + 2, jobs, &farm);
  return SO_PLUGIN_ARGS_RUN;
}

int so__cli_parse(int argc, char **argv, so__job_lookup lookup, const so_job *const *jobs,
                  so__cli *cli, char *err, size_t errlen) {
  memset(cli, 0, sizeof *cli);
  so_config_default(&cli->cfg);
  cli->workers = -1;
  err[0] = 0;
  if (argc < 2) {
    snprintf(err, errlen, "no command given (try scaleout --help)");
    return SO_EINVAL;
  }
  const char *cmd = argv[1];
  cli->sub_argc = argc - 2;
  cli->sub_argv = argv + 2;
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    cli->cmd = SO_CMD_HELP;
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    cli->cmd = SO_CMD_VERSION;
    return 0;
  }
  if (strcmp(cmd, "jobs") == 0) {
    cli->cmd = SO_CMD_JOBS;
    if (argc == 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0))
      return 0; /* the listing is its own help */
    for (int i = 2; i < argc; i++) {
      if (strcmp(argv[i], "--job-lib") == 0 && i + 1 < argc && argv[i + 1][0]) {
        cli->job_lib = argv[++i];
      } else if (strncmp(argv[i], "--job-lib=", 10) == 0 && argv[i][10]) {
        cli->job_lib = argv[i] + 10;
      } else {
        snprintf(err, errlen, "jobs takes only --job-lib FILE, not '%s'", argv[i]);
        return SO_EINVAL;
      }
    }
    return 0;
  }
  if (strcmp(cmd, "topo") == 0) {
    cli->cmd = SO_CMD_TOPO;
    return 0;
  }
  if (strcmp(cmd, "run") == 0) {
    cli->cmd = SO_CMD_RUN;
    return parse_run(argc - 2, argv + 2, lookup, jobs, cli, err, errlen);
  }
  snprintf(err, errlen, "unknown command '%s' (the commands are run, jobs, topo, help)", cmd);
  return SO_EINVAL;
}

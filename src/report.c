/* The run summary: human lines on stdout and the JSON report with the same figures. */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "ctx.h"
#include "error.h"
#include "params.h"

void so_report_free(so_report *rep) {
  if (!rep)
    return;
  free(rep->workers);
  so__answer_free(rep->answer);
  rep->workers = NULL;
  rep->answer = NULL;
}

const char *so__discipline_name(so_discipline d) {
  switch (d) {
  case SO_QUEUE_FIFO: return "fifo";
  case SO_QUEUE_LIFO: return "lifo";
  case SO_QUEUE_PRIORITY: return "priority";
  }
  return "?";
}

double so__report_imbalance(const so_report *rep) {
  double sum = 0, max = 0;
  for (int i = 0; i < rep->nworkers; i++) {
    sum += rep->workers[i].busy;
    if (rep->workers[i].busy > max)
      max = rep->workers[i].busy;
  }
  return sum > 0 ? max / (sum / rep->nworkers) : 1.0;
}

static double rate(const so_report *rep) { return rep->wall > 0 ? (double)rep->tasks / rep->wall : 0; }

void so__report_print(FILE *out, const so_report *rep, const so_job *job, const so_config *cfg) {
  so__answer_print(out, rep->answer);
  fprintf(out, "\n%s: %llu tasks (%llu failed) on %d workers in %.3f s, %.0f tasks/s, %llu batches\n",
          job->name, (unsigned long long)rep->tasks, (unsigned long long)rep->failed, rep->nworkers,
          rep->wall, rate(rep), (unsigned long long)rep->messages);
  fprintf(out, "queue %s, batch %s, bind %s; master CPU %.3f s (%.1f%% of wall); load imbalance %.3f\n",
          so__discipline_name(cfg->discipline), cfg->batch ? "fixed" : "auto",
          so__bind_policy_name(cfg->bind), rep->master_cpu,
          rep->wall > 0 ? 100.0 * rep->master_cpu / rep->wall : 0.0, so__report_imbalance(rep));
  fprintf(out, "%6s  %-16s %10s %7s %8s  %-10s %-9s %s\n", "worker", "host", "tasks", "busy%",
          "failed", "cpuset", "bound by", "last ran on");
  for (int i = 0; i < rep->nworkers; i++) {
    const so_worker_report *w = &rep->workers[i];
    char where[48] = "unknown";
    if (w->last_pu >= 0)
      snprintf(where, sizeof where, "core L#%d, PU P#%d", w->last_core, w->last_pu);
    fprintf(out, "%6d  %-16s %10llu %6.1f%% %8llu  %-10s %-9s %s\n", w->rank, w->host,
            (unsigned long long)w->tasks, rep->wall > 0 ? 100.0 * w->busy / rep->wall : 0.0,
            (unsigned long long)w->failed, w->cpuset[0] ? w->cpuset : "-", w->bound_by, where);
  }
}

int so__report_json(const char *path, const so_report *rep, const so_job *job,
                    const so_params *params, const so_config *cfg) {
  FILE *f = fopen(path, "w");
  if (!f) {
    so__errorf("cannot write the JSON report '%s': %s", path, strerror(errno));
    return SO_EIO;
  }
  fprintf(f, "{\"scaleout_version\":\"%s\",\"job\":", SO_VERSION);
  so__json_string(f, job->name);
  fputs(",\"params\":{", f);
  for (size_t i = 0; i < so__params_count(params); i++) {
    const so_param_def *d = so__params_def(params, i);
    const char *text = so__params_text(params, d->name);
    fprintf(f, "%s", i ? "," : "");
    so__json_string(f, d->name);
    fputc(':', f);
    so__json_string(f, text ? text : "");
  }
  fprintf(f, "},\"config\":{\"workers\":%d,\"queue\":\"%s\",\"batch\":", rep->nworkers,
          so__discipline_name(cfg->discipline));
  if (cfg->batch)
    fprintf(f, "%u", cfg->batch);
  else
    fputs("\"auto\"", f);
  fprintf(f, ",\"bind\":\"%s\"},\"answer\":", so__bind_policy_name(cfg->bind));
  so__answer_json(f, rep->answer);
  fprintf(f,
          ",\"tasks\":%llu,\"failed\":%llu,\"messages\":%llu,\"wall_seconds\":%.6f,"
          "\"tasks_per_second\":%.1f,\"master_cpu_seconds\":%.6f,\"master_cpu_share\":%.6f,"
          "\"load_imbalance\":%.4f,\"workers\":[",
          (unsigned long long)rep->tasks, (unsigned long long)rep->failed,
          (unsigned long long)rep->messages, rep->wall, rate(rep), rep->master_cpu,
          rep->wall > 0 ? rep->master_cpu / rep->wall : 0.0, so__report_imbalance(rep));
  for (int i = 0; i < rep->nworkers; i++) {
    const so_worker_report *w = &rep->workers[i];
    fprintf(f, "%s{\"rank\":%d,\"host\":", i ? "," : "", w->rank);
    so__json_string(f, w->host);
    fprintf(f, ",\"tasks\":%llu,\"failed\":%llu,\"busy_seconds\":%.6f,\"busy_share\":%.4f,\"cpuset\":",
            (unsigned long long)w->tasks, (unsigned long long)w->failed, w->busy,
            rep->wall > 0 ? w->busy / rep->wall : 0.0);
    so__json_string(f, w->cpuset);
    fputs(",\"bound_by\":", f);
    so__json_string(f, w->bound_by);
    fprintf(f, ",\"last_pu\":%d,\"last_core\":%d}", w->last_pu, w->last_core);
  }
  fputs("]}\n", f);
  if (fclose(f) != 0) {
    so__errorf("cannot write the JSON report '%s': %s", path, strerror(errno));
    return SO_EIO;
  }
  return 0;
}

/* The report's view by node: the workers grouped by the host they ran on, the master's host
 * counted too, and the summary's line per node. */
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "report.h"

/* One rank to group: a worker (index into rep->workers) or the master (index -1, no figures). */
typedef struct member {
  const char *host;
  const so_worker_report *w; /* NULL for the master */
  int index;
} member;

static int by_host_then_index(const void *a, const void *b) {
  const member *x = a, *y = b;
  int c = strcmp(x->host, y->host);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

static int by_first(const void *a, const void *b) {
  const so__node_report *x = a, *y = b;
  int fx = x->master ? -1 : x->first, fy = y->master ? -1 : y->first;
  return (fx > fy) - (fx < fy);
}

const char *so__report_master_host(const so_report *rep) {
  return rep && rep->answer ? rep->answer->master_host : "";
}

int so__report_nodes(const so_report *rep, so__node_report **nodes) {
  *nodes = NULL;
  if (!rep)
    return 0;
  int nw = rep->workers ? rep->nworkers : 0;
  const char *mhost = so__report_master_host(rep);
  int n = nw + (mhost[0] ? 1 : 0);
  if (n < 1)
    return 0;
  /* Sorting by host keeps this O(n log n) for runs of thousands of workers; the nodes are then
   * put back in the order of their lowest rank (the master's node first). */
  member *m = malloc((size_t)n * sizeof *m);
  so__node_report *v = calloc((size_t)n, sizeof *v);
  if (!m || !v) {
    free(m);
    free(v);
    return SO_ENOMEM;
  }
  for (int i = 0; i < nw; i++)
    m[i] = (member){rep->workers[i].host, &rep->workers[i], i};
  if (mhost[0])
    m[nw] = (member){mhost, NULL, -1};
  qsort(m, (size_t)n, sizeof *m, by_host_then_index);
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (i == 0 || strcmp(m[i].host, m[i - 1].host) != 0)
      v[k++] = (so__node_report){.host = m[i].host, .first = -1};
    so__node_report *node = &v[k - 1];
    if (!m[i].w) {
      node->master = 1;
      continue;
    }
    if (node->first < 0)
      node->first = m[i].index;
    node->workers++;
    node->tasks += m[i].w->tasks;
    node->failed += m[i].w->failed;
    node->busy += m[i].w->busy;
  }
  free(m);
  qsort(v, (size_t)k, sizeof *v, by_first);
  *nodes = v;
  return k;
}

double so__node_busy_share(const so_report *rep, const so__node_report *node) {
  return rep->wall > 0 && node->workers > 0 ? node->busy / (rep->wall * node->workers) : 0.0;
}

void so__report_print_nodes(FILE *out, const so_report *rep, const so__node_report *nodes,
                            int count) {
  /* One node says nothing the totals line and the worker table do not. */
  if (count < 2)
    return;
  for (int i = 0; i < count; i++) {
    const so__node_report *node = &nodes[i];
    fprintf(out, "node %-16s %4d %-7s %10llu %-5s %6.1f%% busy %8llu failed%s\n", node->host,
            node->workers, node->workers == 1 ? "worker" : "workers",
            (unsigned long long)node->tasks, node->tasks == 1 ? "task" : "tasks",
            100.0 * so__node_busy_share(rep, node), (unsigned long long)node->failed,
            node->master ? "  (master)" : "");
  }
}

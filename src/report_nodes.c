/* The report's view by node: the workers grouped by the host they ran on, and the summary's line
 * per node. */
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* Sorting context: qsort has none, so the workers travel with each index. */
typedef struct member {
  const so_worker_report *w;
  int index;
} member;

static int by_host_then_index(const void *a, const void *b) {
  const member *x = a, *y = b;
  int c = strcmp(x->w->host, y->w->host);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

static int by_first(const void *a, const void *b) {
  const so__node_report *x = a, *y = b;
  return (x->first > y->first) - (x->first < y->first);
}

int so__report_nodes(const so_report *rep, so__node_report **nodes) {
  *nodes = NULL;
  if (!rep || rep->nworkers < 1 || !rep->workers)
    return 0;
  int n = rep->nworkers;
  /* Sorting by host keeps this O(n log n) for runs of thousands of workers; the nodes are then
   * put back in the order their first worker comes in (rank order). */
  member *m = malloc((size_t)n * sizeof *m);
  so__node_report *v = calloc((size_t)n, sizeof *v);
  if (!m || !v) {
    free(m);
    free(v);
    return SO_ENOMEM;
  }
  for (int i = 0; i < n; i++)
    m[i] = (member){&rep->workers[i], i};
  qsort(m, (size_t)n, sizeof *m, by_host_then_index);
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (i == 0 || strcmp(m[i].w->host, m[i - 1].w->host) != 0)
      v[k++] = (so__node_report){.host = m[i].w->host, .first = m[i].index};
    so__node_report *node = &v[k - 1];
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
    fprintf(out, "node %-16s %4d %-7s %10llu %-5s %6.1f%% busy %8llu failed\n", node->host,
            node->workers, node->workers == 1 ? "worker" : "workers",
            (unsigned long long)node->tasks, node->tasks == 1 ? "task" : "tasks",
            100.0 * so__node_busy_share(rep, node), (unsigned long long)node->failed);
  }
}

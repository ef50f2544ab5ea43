/* Named tasks and their dependencies (see graph.h). */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

enum { G_WAIT, G_READY, G_OK, G_FAILED, G_NOTRUN };

typedef struct so__gnode {
  char *name; /* NULL for an unnamed task that waits */
  uint64_t id;
  uint32_t type;
  int64_t priority;
  unsigned char *data; /* the payload while the task waits */
  uint32_t len;
  char **after;    /* declared graph: the names it waits for, until sealed */
  size_t nafter;
  size_t *waits;   /* declared graph: the nodes it waits for (for the cycle message) */
  size_t *deps;    /* the nodes that wait for this one */
  size_t ndeps, capdeps;
  size_t nwait;    /* tasks it still waits for */
  int state;
} so__gnode;

void so__graph_init(so__graph *g) { memset(g, 0, sizeof *g); }

static void node_free(so__gnode *n) {
  free(n->name);
  free(n->data);
  for (size_t i = 0; i < n->nafter; i++)
    free(n->after[i]);
  free(n->after);
  free(n->waits);
  free(n->deps);
}

void so__graph_free(so__graph *g) {
  for (size_t i = 0; i < g->n; i++)
    node_free(&g->nodes[i]);
  free(g->nodes);
  free(g->by_name);
  free(g->by_id);
  so__graph_init(g);
}

static size_t hash_str(const char *s) {
  size_t h = 1469598103934665603u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

static size_t hash_id(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x;
}

static size_t find_name(const so__graph *g, const char *name) {
  if (!g->name_cap)
    return SIZE_MAX;
  for (size_t i = hash_str(name) & (g->name_cap - 1);; i = (i + 1) & (g->name_cap - 1)) {
    size_t v = g->by_name[i];
    if (!v)
      return SIZE_MAX;
    if (strcmp(g->nodes[v - 1].name, name) == 0)
      return v - 1;
  }
}

static size_t find_id(const so__graph *g, uint64_t id) {
  if (!g->id_cap)
    return SIZE_MAX;
  for (size_t i = hash_id(id) & (g->id_cap - 1);; i = (i + 1) & (g->id_cap - 1)) {
    size_t v = g->by_id[i];
    if (!v)
      return SIZE_MAX;
    if (g->nodes[v - 1].id == id)
      return v - 1;
  }
}

/* Inserts node idx into the name (names) or id table, a power of two of slots kept at most half
 * full (nodes up to idx bound the entries). Returns 0 or SO_ENOMEM. */
static int index_put(so__graph *g, int names, size_t idx) {
  size_t **tab = names ? &g->by_name : &g->by_id, *cap = names ? &g->name_cap : &g->id_cap;
  if (2 * (idx + 1) >= *cap) {
    size_t ncap = *cap ? *cap * 2 : 64;
    while (2 * (idx + 1) >= ncap)
      ncap *= 2;
    size_t *nt = calloc(ncap, sizeof *nt);
    if (!nt)
      return SO_ENOMEM;
    for (size_t i = 0; i < *cap; i++) {
      size_t v = (*tab)[i];
      if (!v)
        continue;
      size_t h = names ? hash_str(g->nodes[v - 1].name) : hash_id(g->nodes[v - 1].id);
      size_t j = h & (ncap - 1);
      while (nt[j])
        j = (j + 1) & (ncap - 1);
      nt[j] = v;
    }
    free(*tab);
    *tab = nt;
    *cap = ncap;
  }
  size_t h = names ? hash_str(g->nodes[idx].name) : hash_id(g->nodes[idx].id);
  size_t j = h & (*cap - 1);
  while ((*tab)[j])
    j = (j + 1) & (*cap - 1);
  (*tab)[j] = idx + 1;
  return 0;
}

static int add_dependent(so__gnode *of, size_t idx) {
  if (of->ndeps == of->capdeps) {
    size_t cap = of->capdeps ? 2 * of->capdeps : 4;
    size_t *p = realloc(of->deps, cap * sizeof *p);
    if (!p)
      return SO_ENOMEM;
    of->deps = p;
    of->capdeps = cap;
  }
  of->deps[of->ndeps++] = idx;
  return 0;
}

/* A task's name in messages: its own, or its id for an unnamed one. */
static const char *label(const so__gnode *n, char *buf, size_t len) {
  if (n->name)
    return n->name;
  snprintf(buf, len, "#%llu", (unsigned long long)n->id);
  return buf;
}

static void count_not_run(so__graph *g, so__gnode *n) {
  n->state = G_NOTRUN;
  free(n->data);
  n->data = NULL;
  g->not_run++;
  if (g->nshown < SO_GRAPH_NOTRUN_SHOWN) {
    char buf[32];
    snprintf(g->not_run_names[g->nshown++], sizeof g->not_run_names[0], "%s",
             label(n, buf, sizeof buf));
  }
}

/* Marks every task that waits, directly or not, for node idx as never to run. */
static int fail_dependents(so__graph *g, size_t idx) {
  size_t cap = 16, top = 0;
  size_t *stack = malloc(cap * sizeof *stack);
  if (!stack)
    return SO_ENOMEM;
  stack[top++] = idx;
  while (top) {
    so__gnode *n = &g->nodes[stack[--top]];
    for (size_t k = 0; k < n->ndeps; k++) {
      so__gnode *d = &g->nodes[n->deps[k]];
      if (d->state != G_WAIT)
        continue;
      count_not_run(g, d);
      g->pending--;
      if (top == cap) {
        size_t *p = realloc(stack, 2 * cap * sizeof *p);
        if (!p) {
          free(stack);
          return SO_ENOMEM;
        }
        stack = p;
        cap *= 2;
      }
      stack[top++] = n->deps[k];
    }
  }
  free(stack);
  return 0;
}

static int release_node(so__graph *g, so__gnode *n, so__graph_release_fn release, void *arg) {
  n->state = G_READY;
  g->pending--;
  int rc = release(arg, n->id, n->type, n->priority, n->data, n->len);
  free(n->data);
  n->data = NULL;
  return rc;
}

int so__graph_add(so__graph *g, const so_task_spec *spec, uint64_t id, const char *job,
                  int *ready) {
  *ready = 0;
  size_t nafter = 0;
  while (spec->after && spec->after[nafter])
    nafter++;
  if (spec->name && !spec->name[0]) {
    so__errorf("job '%s': task %llu has an empty name", job, (unsigned long long)id);
    return SO_EINVAL;
  }
  if (spec->name && find_name(g, spec->name) != SIZE_MAX) {
    so__errorf("job '%s': two tasks are named '%s'", job, spec->name);
    return SO_EINVAL;
  }
  if (spec->len > UINT32_MAX) {
    so__errorf("job '%s': task %llu has a payload over 4 GiB", job, (unsigned long long)id);
    return SO_EINVAL;
  }
  /* After the declared graph, references are resolved now: every one must exist. */
  size_t nwait = 0;
  int doomed = 0;
  for (size_t i = 0; g->sealed && i < nafter; i++) {
    size_t d = find_name(g, spec->after[i]);
    if (d == SIZE_MAX) {
      char buf[32];
      so__errorf("job '%s': task '%s' waits for '%s', which no task has", job,
                 spec->name ? spec->name : (snprintf(buf, sizeof buf, "#%llu",
                                                     (unsigned long long)id), buf),
                 spec->after[i]);
      return SO_EINVAL;
    }
    int st = g->nodes[d].state;
    doomed |= st == G_FAILED || st == G_NOTRUN;
    nwait += st == G_WAIT || st == G_READY;
  }
  if (g->sealed && !spec->name && (nwait == 0 || doomed)) {
    if (doomed) {
      /* Never runs; counted like any other dependent of a failed task. */
      so__gnode tmp = {.id = id};
      count_not_run(g, &tmp);
    } else {
      *ready = 1;
    }
    return 0;
  }
  if (g->n == g->cap) {
    size_t cap = g->cap ? 2 * g->cap : 64;
    so__gnode *p = realloc(g->nodes, cap * sizeof *p);
    if (!p)
      return SO_ENOMEM;
    g->nodes = p;
    g->cap = cap;
  }
  size_t idx = g->n;
  so__gnode *n = &g->nodes[idx];
  memset(n, 0, sizeof *n);
  n->id = id;
  n->type = spec->type;
  n->priority = spec->priority;
  n->state = G_WAIT;
  int rc = SO_ENOMEM;
  if (spec->name && !(n->name = strdup(spec->name)))
    goto fail;
  if (!g->sealed && nafter) {
    if (!(n->after = calloc(nafter, sizeof *n->after)))
      goto fail;
    for (; n->nafter < nafter; n->nafter++)
      if (!(n->after[n->nafter] = strdup(spec->after[n->nafter])))
        goto fail;
  }
  int keep_data = !g->sealed || (nwait > 0 && !doomed);
  if (keep_data && spec->len) {
    if (!(n->data = malloc(spec->len)))
      goto fail;
    memcpy(n->data, spec->data, spec->len);
    n->len = (uint32_t)spec->len;
  }
  if (n->name && ((rc = index_put(g, 1, idx)) != 0 || (rc = index_put(g, 0, idx)) != 0))
    goto fail;
  g->n++;
  if (!g->sealed) {
    g->pending++; /* released by so__graph_seal */
    return 0;
  }
  for (size_t i = 0; i < nafter && !doomed; i++) {
    size_t d = find_name(g, spec->after[i]);
    if (g->nodes[d].state == G_WAIT || g->nodes[d].state == G_READY)
      if ((rc = add_dependent(&g->nodes[d], idx)) != 0)
        return rc;
  }
  n = &g->nodes[idx];
  n->nwait = nwait;
  if (doomed) {
    count_not_run(g, n);
  } else if (nwait == 0) {
    n->state = G_READY;
    *ready = 1;
  } else {
    g->pending++;
  }
  return 0;
fail:
  node_free(n);
  return rc;
}

/* Finds a cycle among the nodes Kahn's walk could not reach (left[i] set) and prints it. */
static void report_cycle(so__graph *g, const char *job, const unsigned char *left) {
  size_t start = 0;
  while (!left[start])
    start++;
  /* Walk from a stuck node to a stuck node it waits for: the walk must come back on itself. */
  size_t *pos = malloc(g->n * sizeof *pos), *path = malloc((g->n + 1) * sizeof *path);
  if (!pos || !path) {
    so__errorf("job '%s': the declared tasks wait for each other in a cycle", job);
    free(pos);
    free(path);
    return;
  }
  for (size_t i = 0; i < g->n; i++)
    pos[i] = SIZE_MAX;
  size_t len = 0, cur = start;
  while (pos[cur] == SIZE_MAX) {
    pos[cur] = len;
    path[len++] = cur;
    const so__gnode *n = &g->nodes[cur];
    size_t next = cur;
    for (size_t k = 0; k < n->nafter; k++)
      if (left[n->waits[k]]) {
        next = n->waits[k];
        break;
      }
    cur = next;
  }
  char text[1024];
  size_t off = 0;
  char buf[32];
  for (size_t i = pos[cur]; i < len && off < sizeof text; i++)
    off += (size_t)snprintf(text + off, sizeof text - off, "%s -> ",
                            label(&g->nodes[path[i]], buf, sizeof buf));
  if (off < sizeof text)
    snprintf(text + off, sizeof text - off, "%s", label(&g->nodes[cur], buf, sizeof buf));
  so__errorf("job '%s': the declared tasks wait for each other in a cycle (each waits for the "
             "next): %s",
             job, text);
  free(pos);
  free(path);
}

int so__graph_seal(so__graph *g, const char *job, so__graph_release_fn release, void *arg) {
  if (g->sealed)
    return 0;
  g->sealed = 1;
  for (size_t i = 0; i < g->n; i++) {
    so__gnode *n = &g->nodes[i];
    if (n->nafter && !(n->waits = calloc(n->nafter, sizeof *n->waits)))
      return SO_ENOMEM;
    for (size_t k = 0; k < n->nafter; k++) {
      size_t d = find_name(g, n->after[k]);
      if (d == SIZE_MAX) {
        char buf[32];
        so__errorf("job '%s': task '%s' waits for '%s', which no task has", job,
                   label(n, buf, sizeof buf), n->after[k]);
        return SO_EINVAL;
      }
      n->waits[k] = d;
      int rc = add_dependent(&g->nodes[d], i);
      if (rc)
        return rc;
      g->nodes[i].nwait++;
    }
  }
  /* Kahn's walk over copies of the counts: whatever it cannot reach lies on or behind a cycle. */
  size_t *cnt = malloc((g->n + 1) * sizeof *cnt), *todo = malloc((g->n + 1) * sizeof *todo);
  unsigned char *left = malloc(g->n + 1);
  if (!cnt || !todo || !left) {
    free(cnt);
    free(todo);
    free(left);
    return SO_ENOMEM;
  }
  size_t head = 0, tail = 0;
  for (size_t i = 0; i < g->n; i++) {
    cnt[i] = g->nodes[i].nwait;
    left[i] = 1;
    if (!cnt[i])
      todo[tail++] = i;
  }
  while (head < tail) {
    size_t i = todo[head++];
    left[i] = 0;
    for (size_t k = 0; k < g->nodes[i].ndeps; k++)
      if (--cnt[g->nodes[i].deps[k]] == 0)
        todo[tail++] = g->nodes[i].deps[k];
  }
  int rc = 0;
  if (tail < g->n) {
    report_cycle(g, job, left);
    rc = SO_EINVAL;
  }
  free(cnt);
  free(todo);
  free(left);
  for (size_t i = 0; !rc && i < g->n; i++)
    if (g->nodes[i].nwait == 0)
      rc = release_node(g, &g->nodes[i], release, arg);
  return rc;
}

int so__graph_done(so__graph *g, uint64_t id, int ok, so__graph_release_fn release, void *arg) {
  size_t idx = find_id(g, id);
  if (idx == SIZE_MAX)
    return 0;
  if (!ok) {
    g->nodes[idx].state = G_FAILED;
    return fail_dependents(g, idx);
  }
  g->nodes[idx].state = G_OK;
  for (size_t k = 0; k < g->nodes[idx].ndeps; k++) {
    so__gnode *d = &g->nodes[g->nodes[idx].deps[k]];
    if (d->state == G_WAIT && --d->nwait == 0) {
      int rc = release_node(g, d, release, arg);
      if (rc)
        return rc;
    }
  }
  return 0;
}

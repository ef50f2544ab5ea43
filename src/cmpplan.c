/* The comparison's configurations from the allocation's shape (see cmpplan.h). */
#include "cmpplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "scaleout/scaleout.h"

const char *so__placement_name(so__placement p) {
  switch (p) {
  case SO_PLACE_PACKED: return "packed";
  case SO_PLACE_SPREAD: return "spread";
  default: return "whole";
  }
}

void so__cmp_plan_free(so__cmp_plan *plan) {
  if (!plan)
    return;
  for (int i = 0; i < plan->npoints; i++)
    free(plan->points[i].per_node);
  free(plan->points);
  plan->points = NULL;
  plan->npoints = 0;
}

/* The placement follows from the layout, so two equal layouts can never carry two names. */
static so__placement placement_of(const int *per_node, int nodes) {
  if (nodes == 1)
    return SO_PLACE_PACKED;
  for (int i = 0; i < nodes; i++)
    if (per_node[i] != 1)
      return SO_PLACE_WHOLE;
  return SO_PLACE_SPREAD;
}

/* Adds the layout per_node[0..nodes) (copied) to the plan in series, or joins series into the
 * point that already has this layout. The caller sized points for every point it can add. */
static int add_point(so__cmp_plan *plan, const int *per_node, int nodes, unsigned series) {
  int workers = 0;
  for (int i = 0; i < nodes; i++)
    workers += per_node[i];
  for (int i = 0; i < plan->npoints; i++) {
    so__cmp_point *p = &plan->points[i];
    if (p->nodes == nodes && memcmp(p->per_node, per_node, (size_t)nodes * sizeof *per_node) == 0) {
      p->series |= series;
      return 0;
    }
  }
  int *copy = malloc((size_t)nodes * sizeof *copy);
  if (!copy)
    return SO_ENOMEM;
  memcpy(copy, per_node, (size_t)nodes * sizeof *copy);
  plan->points[plan->npoints++] = (so__cmp_point){
      .workers = workers, .nodes = nodes, .placement = placement_of(per_node, nodes),
      .series = series, .per_node = copy};
  return 0;
}

static int by_size(const void *a, const void *b) {
  const so__cmp_point *p = a, *q = b;
  if (p->workers != q->workers)
    return p->workers < q->workers ? -1 : 1;
  return (int)p->placement - (int)q->placement;
}

/* How many points a doubling series up to top has: 1, 2, 4, ... below top, then top. */
static int series_len(int top) {
  int n = 1;
  for (long k = 1; k < top; k *= 2)
    n++;
  return n;
}

int so__cmp_plan_make(int nodes, int cores, const int *slots, so__cmp_plan *out, char *err,
                      size_t errlen) {
  memset(out, 0, sizeof *out);
  if (nodes < 1) {
    so__seterr(err, errlen, "the allocation has %d nodes: a comparison needs at least one", nodes);
    return SO_EINVAL;
  }
  if (nodes > SO_CMP_MAX_NODES) {
    so__seterr(err, errlen, "the allocation has %d nodes, more than the %d a comparison plans",
               nodes, SO_CMP_MAX_NODES);
    return SO_EINVAL;
  }
  long long total = 0;
  for (int i = 0; i < nodes; i++) {
    int s = slots ? slots[i] : cores;
    total += s;
    if (s < 1 || s > SO_CMP_MAX_SLOTS) {
      if (slots)
        so__seterr(err, errlen, "node %d of the allocation has %d slots: each needs 1 to %d", i + 1,
                   s, SO_CMP_MAX_SLOTS);
      else
        so__seterr(err, errlen, "%d cores per node: a comparison needs 1 to %d", s,
                   SO_CMP_MAX_SLOTS);
      return SO_EINVAL;
    }
  }
  /* The whole allocation's worker count (and the master beside it) must fit an int. */
  if (total > 1000000000LL) {
    so__seterr(err, errlen, "the allocation has %lld slots, more than a comparison plans", total);
    return SO_EINVAL;
  }
  int *layout = malloc((size_t)nodes * sizeof *layout);
  int top_up = slots ? slots[0] : cores;
  /* Both series plus the whole allocation; joined duplicates only leave room unused. */
  int room = series_len(top_up) + series_len(nodes) + 1;
  out->points = calloc((size_t)room, sizeof *out->points);
  out->nnodes = nodes;
  if (!layout || !out->points) {
    free(layout);
    free(out->points);
    out->points = NULL;
    return SO_ENOMEM;
  }
  int rc = 0;
  /* Scale-up: the doubling counts below the first node's slots, then the slots themselves. */
  for (long w = 1; rc == 0; w *= 2) {
    layout[0] = (int)(w < top_up ? w : top_up);
    rc = add_point(out, layout, 1, SO_SERIES_UP);
    if (layout[0] == top_up)
      break;
  }
  /* Scale-out: one worker on each of the first 1, 2, 4, ... nodes, then on all of them. */
  for (long k = 1; rc == 0; k *= 2) {
    int used = (int)(k < nodes ? k : nodes);
    for (int i = 0; i < used; i++)
      layout[i] = 1;
    rc = add_point(out, layout, used, SO_SERIES_OUT);
    if (used == nodes)
      break;
  }
  if (rc == 0) {
    for (int i = 0; i < nodes; i++)
      layout[i] = slots ? slots[i] : cores;
    rc = add_point(out, layout, nodes, SO_SERIES_WHOLE);
  }
  free(layout);
  if (rc != 0) {
    so__cmp_plan_free(out);
    return rc;
  }
  qsort(out->points, (size_t)out->npoints, sizeof *out->points, by_size);
  return 0;
}

int so__cmp_point_hosts(const so__cmp_point *pt, const char *const *names, char *buf, size_t len) {
  size_t used = 0;
  for (int i = 0; i < pt->nodes; i++) {
    int n = snprintf(buf + used, len - used, "%s%s:%d", i ? "," : "", names[i],
                     pt->per_node[i] + (i == 0));
    if (n < 0 || (size_t)n >= len - used) {
      if (len)
        buf[0] = '\0';
      return SO_EINVAL;
    }
    used += (size_t)n;
  }
  return 0;
}

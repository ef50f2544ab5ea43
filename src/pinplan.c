/* The pinning decision of one rank: launcher binding kept, our plan inside the region, or none. */
#include "pinplan.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "error.h"

/* OS PU indexes past this are refused as text rather than allocated as a huge bitmap. */
#define SO_PIN_MAX_PU 65535

/*
 * Parses a cpuset list strictly ("0-3,6"): hwloc_bitmap_list_sscanf takes "0-" as every PU from
 * 0 on and "3-1" or "abc," as something, where a user who typed them means something else.
 * Returns 0 or SO_EINVAL (set then holds nothing useful).
 */
static int parse_list(const char *text, hwloc_bitmap_t set) {
  hwloc_bitmap_zero(set);
  const char *p = text;
  if (!*p)
    return SO_EINVAL;
  for (;;) {
    char *end;
    if (!isdigit((unsigned char)*p))
      return SO_EINVAL;
    unsigned long lo = strtoul(p, &end, 10), hi = lo;
    p = end;
    if (*p == '-') {
      if (!isdigit((unsigned char)*++p))
        return SO_EINVAL;
      hi = strtoul(p, &end, 10);
      p = end;
    }
    if (lo > hi || hi > SO_PIN_MAX_PU)
      return SO_EINVAL;
    if (hwloc_bitmap_set_range(set, (unsigned)lo, (int)hi) != 0)
      return SO_ENOMEM;
    if (*p == '\0')
      return 0;
    if (*p++ != ',')
      return SO_EINVAL;
  }
}

/* Whether every known started set is the same set. */
static int started_alike(const so__pin_input *in) {
  for (int i = 1; i < in->nlocal; i++) {
    hwloc_const_cpuset_t a = in->started[0], b = in->started[i];
    if ((a == NULL) != (b == NULL) || (a && !hwloc_bitmap_isequal(a, b)))
      return 0;
  }
  return 1;
}

/*
 * Narrows region to cores [offset, offset + count) of it (count 0: the rest), counting the cores
 * that meet the region in logical order (PUs on machines without Core objects). Returns 0 or
 * SO_EINVAL with err set.
 */
static int narrow_to_cores(hwloc_topology_t topo, hwloc_cpuset_t region, int offset, int count,
                           char *err, size_t errlen) {
  char list[128] = "";
  so__bind_list(region, list, sizeof list);
  if (offset < 0 || count < 0) {
    so__seterr(err, errlen, "the core %s %d is negative", offset < 0 ? "offset" : "count",
               offset < 0 ? offset : count);
    return SO_EINVAL;
  }
  int depth = hwloc_get_type_or_below_depth(topo, HWLOC_OBJ_CORE);
  int total = hwloc_get_nbobjs_by_depth(topo, depth);
  hwloc_cpuset_t keep = hwloc_bitmap_alloc();
  if (!keep)
    return SO_ENOMEM;
  int ncores = 0;
  for (int i = 0; i < total; i++) {
    hwloc_obj_t obj = hwloc_get_obj_by_depth(topo, depth, (unsigned)i);
    if (!obj || !obj->cpuset || !hwloc_bitmap_intersects(obj->cpuset, region))
      continue;
    if (ncores >= offset && (count == 0 || ncores < offset + count))
      hwloc_bitmap_or(keep, keep, obj->cpuset);
    ncores++;
  }
  int rc = 0;
  if (offset >= ncores) {
    so__seterr(err, errlen, "the core offset %d is past the %d core%s of the CPUs %s", offset,
               ncores, ncores == 1 ? "" : "s", list);
    rc = SO_EINVAL;
  } else if (count > 0 && offset + count > ncores) {
    so__seterr(err, errlen, "the core offset %d and count %d need %d cores but the CPUs %s have %d",
               offset, count, offset + count, list, ncores);
    rc = SO_EINVAL;
  } else {
    hwloc_bitmap_and(region, region, keep);
  }
  hwloc_bitmap_free(keep);
  return rc;
}

/* The region the node's workers are planned in: the common started set (the allowed set when
 * unknown or when the ranks were started on different sets), narrowed by the cpuset text and the
 * core offset and count. */
static int make_region(const so__pin_input *in, int alike, hwloc_cpuset_t region, char *err,
                       size_t errlen) {
  hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(in->topo);
  if (hwloc_bitmap_copy(region, allowed) != 0)
    return SO_ENOMEM;
  if (alike && in->started[0])
    hwloc_bitmap_and(region, region, in->started[0]);
  if (in->cpuset) {
    hwloc_bitmap_t want = hwloc_bitmap_alloc();
    if (!want)
      return SO_ENOMEM;
    int rc = parse_list(in->cpuset, want);
    if (rc == SO_EINVAL) {
      so__seterr(err, errlen, "the cpuset '%s' is not a list of CPU numbers such as 0-3,6",
                 in->cpuset);
    } else if (rc == 0 && !hwloc_bitmap_isincluded(want, region)) {
      char list[128] = "";
      so__bind_list(region, list, sizeof list);
      so__seterr(err, errlen, "the cpuset '%s' reaches outside the CPUs this run may use (%s)",
                 in->cpuset, list);
      rc = SO_EINVAL;
    } else if (rc == 0) {
      hwloc_bitmap_copy(region, want);
    }
    hwloc_bitmap_free(want);
    if (rc)
      return rc;
  }
  if (in->core_offset == 0 && in->core_count == 0)
    return 0;
  return narrow_to_cores(in->topo, region, in->core_offset, in->core_count, err, errlen);
}

int so__pin_region(const so__pin_input *in, hwloc_const_cpuset_t started, hwloc_cpuset_t region,
                   char *err, size_t errlen) {
  if (!in || !in->topo || !region)
    return SO_EINVAL;
  so__pin_input one = *in;
  hwloc_const_cpuset_t first[1] = {started};
  one.started = first;
  one.nlocal = 1;
  return make_region(&one, 1, region, err, errlen);
}

int so__pin_decide(const so__pin_input *in, so__pin_decision *out) {
  if (!out)
    return SO_EINVAL;
  memset(out, 0, sizeof *out);
  out->worker = -1;
  if (!in || !in->topo || !in->started || in->nlocal < 1 || in->me < 0 || in->me >= in->nlocal ||
      in->master >= in->nlocal) {
    so__seterr(out->err, sizeof out->err, "the pinning decision was given bad arguments");
    return SO_EINVAL;
  }
  out->set = hwloc_bitmap_alloc();
  hwloc_cpuset_t region = hwloc_bitmap_alloc();
  if (!out->set || !region) {
    hwloc_bitmap_free(region);
    so__pin_decision_free(out);
    return SO_ENOMEM;
  }
  int here = in->master >= 0;
  out->nworkers = in->nlocal - here;
  if (in->me != in->master)
    out->worker = in->me - (here && in->master < in->me);
  int alike = started_alike(in);

  /* Every rank checks the region, the master too, so the node agrees on a bad one. The cpuset
   * text is checked even when the launcher's binding wins (against the allowed set then): it is
   * wrong wherever it runs. */
  int rc = make_region(in, alike, region, out->err, sizeof out->err);
  if (rc && (alike || in->cpuset))
    goto fail;
  out->err[0] = '\0';
  rc = 0;
  int asked = in->cpuset || in->core_offset || in->core_count;
  so__bind_plan plan;
  memset(&plan, 0, sizeof plan);
  if (!alike) {
    out->kind = SO_PIN_LAUNCHER;
    if (asked)
      so__seterr(out->warn, sizeof out->warn, "the launcher bound each rank to its own CPUs, so "
                 "that binding is kept and the cpuset, core offset and count are not applied");
  } else if (!in->started[0]) {
    out->kind = SO_PIN_NONE;
  } else if (out->nworkers > 0) {
    /* A plan is made under --bind none too: it applies nothing, but warns of oversubscription
     * alike. */
    rc = so__bind_plan_make(in->topo, region, in->pol, out->nworkers, &plan, out->warn,
                            sizeof out->warn);
    if (rc) {
      so__seterr(out->err, sizeof out->err, "no plan for %d workers could be made (%s)",
                 out->nworkers, so_strerror(rc));
      goto fail;
    }
    out->kind = in->pol == SO_BIND_NONE ? SO_PIN_NONE : SO_PIN_PLAN;
  }
  if (in->me == in->master)
    out->kind = SO_PIN_MASTER;
  else if (out->kind == SO_PIN_PLAN)
    hwloc_bitmap_copy(out->set, plan.sets[out->worker]);
  else if (in->started[in->me])
    hwloc_bitmap_copy(out->set, in->started[in->me]);
  so__bind_plan_free(&plan);
  hwloc_bitmap_free(region);
  return 0;

fail:
  hwloc_bitmap_free(region);
  hwloc_bitmap_free(out->set);
  out->set = NULL;
  return rc;
}

void so__pin_decision_free(so__pin_decision *d) {
  if (!d)
    return;
  hwloc_bitmap_free(d->set);
  d->set = NULL;
}

const char *so__pin_kind_name(so__pin_kind kind) {
  switch (kind) {
  case SO_PIN_PLAN: return "scaleout";
  case SO_PIN_LAUNCHER: return "launcher";
  default: return "none";
  }
}

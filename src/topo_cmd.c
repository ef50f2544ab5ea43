/* `scaleout topo`: prints the topology, the allowed cpuset, our binding and a worker binding plan. */
#include "topo_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bind.h"
#include "error.h"
#include "params.h"

/* A plan prints one line per worker; a million lines is already more than anyone reads. */
#define TOPO_MAX_WORKERS (1 << 20)

enum { TOPO_OK = 0, TOPO_FAILED = 1, TOPO_USAGE = 2 };

typedef struct topo_opts {
  int workers; /* 0: one per core of the region */
  so_bind_policy pol;
  const char *synthetic;
  const char *cpuset;
  int help;
} topo_opts;

static void usage(FILE *out) {
  fputs("usage: scaleout topo [-n|--workers N] [--bind core|pu|numa|package|none]\n"
        "                     [--synthetic DESC] [--cpuset LIST] [--help]\n"
        "\n"
        "Shows the machine as hwloc sees it and where N workers would be bound.\n"
        "Worker numbers start at 1: rank 0 is the master.\n"
        "\n"
        "  -n, --workers N    workers to plan (default: one per core of the region)\n"
        "  --bind POLICY      core (default: worker i on the i-th core), pu, numa, package,\n"
        "                     or none (every worker may run anywhere in the region)\n"
        "  --synthetic DESC   an hwloc synthetic topology instead of this machine,\n"
        "                     e.g. \"pack:2 core:4 pu:2\"\n"
        "  --cpuset LIST      restrict the region to these PUs (OS indexes, e.g. 0-3,8)\n"
        "  -h, --help         show this help\n",
        out);
}

/*
 * Whether arg is the option name, alone ("--bind", value in the next argument) or with its value
 * attached ("--bind=pu"; for one-letter options "-n4"). *attached is the attached value or NULL.
 */
static int is_option(const char *arg, const char *name, const char **attached) {
  size_t len = strlen(name);
  if (strncmp(arg, name, len) != 0)
    return 0;
  if (arg[len] == '\0') {
    *attached = NULL;
    return 1;
  }
  int short_opt = len == 2 && name[0] == '-' && name[1] != '-';
  if (arg[len] == '=' && !short_opt) {
    *attached = arg + len + 1;
    return 1;
  }
  if (short_opt) {
    *attached = arg + len;
    return 1;
  }
  return 0;
}

/* The option's value: attached, or the next argument (consumed). NULL, after printing, if none. */
static const char *option_value(int argc, char **argv, int *i, const char *attached) {
  if (attached)
    return attached;
  if (*i + 1 >= argc) {
    so__errorf("option '%s' needs a value", argv[*i]);
    return NULL;
  }
  return argv[++*i];
}

/* Messages are worded and quoted as run's (options.c), so both commands speak alike. */
static int parse_workers(const char *text, int *out) {
  int64_t v;
  if (so__parse_int(text, &v) != 0 || v < 1 || v > TOPO_MAX_WORKERS) {
    so__errorf("--workers expects a whole number from 1 to %d, not '%s'", TOPO_MAX_WORKERS, text);
    return TOPO_USAGE;
  }
  *out = (int)v;
  return TOPO_OK;
}

static int parse_args(int argc, char **argv, topo_opts *o) {
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i], *att = NULL, *val;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      o->help = 1;
      return TOPO_OK;
    } else if (is_option(arg, "--workers", &att) || is_option(arg, "-n", &att)) {
      if (!(val = option_value(argc, argv, &i, att)))
        return TOPO_USAGE;
      if (parse_workers(val, &o->workers) != TOPO_OK)
        return TOPO_USAGE;
    } else if (is_option(arg, "--bind", &att)) {
      if (!(val = option_value(argc, argv, &i, att)))
        return TOPO_USAGE;
      if (so__bind_policy_parse(val, &o->pol) != 0) {
        so__errorf("--bind must be core, pu, numa, package or none, not '%s'", val);
        return TOPO_USAGE;
      }
    } else if (is_option(arg, "--synthetic", &att)) {
      if (!(o->synthetic = option_value(argc, argv, &i, att)))
        return TOPO_USAGE;
    } else if (is_option(arg, "--cpuset", &att)) {
      if (!(o->cpuset = option_value(argc, argv, &i, att)))
        return TOPO_USAGE;
    } else if (arg[0] == '-') {
      so__errorf("unknown option '%s' (see scaleout topo --help)", arg);
      return TOPO_USAGE;
    } else {
      so__errorf("topo takes no arguments, not '%s' (see scaleout topo --help)", arg);
      return TOPO_USAGE;
    }
  }
  return TOPO_OK;
}

/* Whether text is a strict CPU list ("0-3,8", "5-"): hwloc's own parser accepts trailing junk
 * ("0-3x" reads as 0-3) and reversed ranges, which would silently plan on the wrong PUs. */
static int cpulist_wellformed(const char *text) {
  const char *p = text;
  do {
    if (!isdigit((unsigned char)*p))
      return 0;
    errno = 0;
    char *end;
    unsigned long lo = strtoul(p, &end, 10);
    if (errno != 0 || lo > INT_MAX)
      return 0;
    p = end;
    if (*p == '-') {
      p++;
      if (isdigit((unsigned char)*p)) {
        unsigned long hi = strtoul(p, &end, 10);
        if (errno != 0 || hi > INT_MAX || hi < lo)
          return 0;
        p = end;
      }
    }
  } while (*p == ',' && *++p != '\0');
  return *p == '\0' && p[-1] != ',';
}

/* Reads --cpuset into *region and checks it can hold a worker. Prints and returns TOPO_USAGE. */
static int parse_region(hwloc_topology_t topo, const char *text, hwloc_bitmap_t *region) {
  if (text[0] == '\0') {
    so__errorf("--cpuset is empty; give PUs by OS index, such as 0-3,8");
    return TOPO_USAGE;
  }
  if (!cpulist_wellformed(text)) {
    so__errorf("--cpuset expects a CPU list such as 0-3,8, not '%s'", text);
    return TOPO_USAGE;
  }
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (!set || hwloc_bitmap_list_sscanf(set, text) != 0) {
    hwloc_bitmap_free(set);
    so__errorf("cannot read --cpuset '%s'", text);
    return TOPO_FAILED;
  }
  if (!hwloc_bitmap_intersects(set, hwloc_topology_get_allowed_cpuset(topo))) {
    char allowed[256];
    so__bind_list(hwloc_topology_get_allowed_cpuset(topo), allowed, sizeof allowed);
    so__errorf("--cpuset '%s' shares no PU with the allowed cpuset %s", text, allowed);
    hwloc_bitmap_free(set);
    return TOPO_USAGE;
  }
  *region = set;
  return TOPO_OK;
}

/* Prints a cpuset as a list, marking the (unlikely) case of a list too long for the buffer. */
static void print_list(FILE *out, hwloc_const_bitmap_t set) {
  char buf[1024];
  if (so__bind_list(set, buf, sizeof buf) != 0)
    fprintf(out, "%s...", buf);
  else
    fputs(buf[0] ? buf : "(none)", out);
}

/* NUMA nodes hang off the tree as memory children, possibly behind memory-side caches. */
static void print_memory(FILE *out, hwloc_obj_t obj, int indent) {
  for (hwloc_obj_t m = obj->memory_first_child; m; m = m->next_sibling) {
    if (m->type != HWLOC_OBJ_NUMANODE) {
      print_memory(out, m, indent);
      continue;
    }
    fprintf(out, "%*sNUMANode L#%u (P#%u, %" PRIu64 " MB, PUs ", indent * 2, "", m->logical_index,
            m->os_index, (uint64_t)(m->attr ? m->attr->numanode.local_memory >> 20 : 0));
    print_list(out, m->cpuset);
    fputs(")\n", out);
  }
}

/* One line per object down to cores; a core's PUs share its line to keep big machines short. */
/* The topology shows the whole machine; PUs this process may not use (outside its cgroup or
 * allocation) say so. */
static const char *pu_note(hwloc_topology_t topo, hwloc_obj_t pu) {
  return hwloc_bitmap_isset(hwloc_topology_get_allowed_cpuset(topo), pu->os_index)
             ? ""
             : ", not allowed";
}

static void print_tree(FILE *out, hwloc_topology_t topo, hwloc_obj_t obj, int indent) {
  char type[64];
  hwloc_obj_type_snprintf(type, sizeof type, obj, 0);
  fprintf(out, "%*s%s L#%u", indent * 2, "", type, obj->logical_index);
  if (obj->type == HWLOC_OBJ_PU) {
    fprintf(out, " (P#%u%s)\n", obj->os_index, pu_note(topo, obj));
    return;
  }
  if (obj->type == HWLOC_OBJ_CORE) {
    const char *sep = ":";
    for (hwloc_obj_t c = obj->first_child; c; c = c->next_sibling)
      if (c->type == HWLOC_OBJ_PU) {
        fprintf(out, "%s PU L#%u (P#%u%s)", sep, c->logical_index, c->os_index,
                pu_note(topo, c));
        sep = ",";
      }
    fputc('\n', out);
    return;
  }
  if (obj->type == HWLOC_OBJ_PACKAGE && obj->os_index != HWLOC_UNKNOWN_INDEX)
    fprintf(out, " (P#%u, PUs ", obj->os_index);
  else
    fputs(" (PUs ", out);
  print_list(out, obj->cpuset);
  fputs(")\n", out);
  print_memory(out, obj, indent + 1);
  for (hwloc_obj_t c = obj->first_child; c; c = c->next_sibling)
    print_tree(out, topo, c, indent + 1);
}

static void print_count(FILE *out, hwloc_topology_t topo, hwloc_obj_type_t type, const char *one,
                        const char *many, const char *sep) {
  int n = hwloc_get_nbobjs_by_type(topo, type);
  fprintf(out, "%d %s%s", n, n == 1 ? one : many, sep);
}

/* After a cpuset: how many cores and PUs it holds, as " (1 core, 1 PU)". */
static void print_size(FILE *out, hwloc_topology_t topo, hwloc_const_cpuset_t set) {
  int cores = so__bind_count(topo, set, SO_BIND_CORE), pus = hwloc_bitmap_weight(set);
  if (cores >= 0 && pus >= 0)
    fprintf(out, " (%d %s, %d %s)", cores, so__bind_noun(HWLOC_OBJ_CORE, cores != 1), pus,
            so__bind_noun(HWLOC_OBJ_PU, pus != 1));
}

static void print_machine(FILE *out, hwloc_topology_t topo, hwloc_const_cpuset_t cur,
                          const topo_opts *o) {
  char host[256] = "unknown";
  if (gethostname(host, sizeof host) != 0)
    strcpy(host, "unknown");
  host[sizeof host - 1] = '\0';
  fprintf(out, "host: %s\n", host);
  if (o->synthetic)
    fprintf(out, "topology: synthetic \"%s\": ", o->synthetic);
  else
    fputs("topology: this machine: ", out);
  print_count(out, topo, HWLOC_OBJ_PACKAGE, "package", "packages", ", ");
  print_count(out, topo, HWLOC_OBJ_NUMANODE, "NUMA node", "NUMA nodes", ", ");
  print_count(out, topo, HWLOC_OBJ_CORE, "core", "cores", ", ");
  print_count(out, topo, HWLOC_OBJ_PU, "PU", "PUs", "\n");
  print_tree(out, topo, hwloc_get_root_obj(topo), 1);

  /* The counts above are the whole machine's; a cgroup or batch allocation may allow less. */
  hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(topo);
  fputs("allowed cpuset: ", out);
  print_list(out, allowed);
  print_size(out, topo, allowed);
  if (!hwloc_bitmap_isequal(allowed, hwloc_get_root_obj(topo)->cpuset))
    fputs(": a cgroup or batch allocation limits this process", out);
  fputc('\n', out);
  if (o->synthetic) {
    fputs("current binding: not applicable (synthetic topology)\n", out);
    return;
  }
  fputs("current binding: ", out);
  if (cur) {
    print_list(out, cur);
    print_size(out, topo, cur);
  } else {
    fputs("unknown (the OS did not tell)", out);
  }
  /* PUs by their OS index (P#, as in the cpusets), cores by hwloc's logical index (L#). */
  int pu, core;
  so__bind_where(topo, &pu, &core);
  if (pu >= 0 && core >= 0)
    fprintf(out, ", running on PU P#%d (core L#%d)", pu, core);
  else if (pu >= 0)
    fprintf(out, ", running on PU P#%d", pu);
  fputc('\n', out);
}

/* Names the object a worker's set came from, as "core L#2". */
static void print_worker(FILE *out, hwloc_topology_t topo, so_bind_policy pol, int worker,
                         hwloc_const_cpuset_t set) {
  fprintf(out, "  worker %d -> ", worker);
  hwloc_obj_t obj = so__bind_object(topo, pol, set);
  if (pol == SO_BIND_NONE)
    fputs("unbound", out);
  else if (obj)
    fprintf(out, "%s L#%u", so__bind_noun(obj->type, 0), obj->logical_index);
  else
    fputs("cpuset", out); /* no single object holds the set; not expected from a plan */
  fputs(hwloc_bitmap_weight(set) == 1 ? " (PU " : " (PUs ", out);
  print_list(out, set);
  fputs(")\n", out);
}

static int print_plan(FILE *out, hwloc_topology_t topo, hwloc_const_cpuset_t region,
                      const topo_opts *o) {
  int n = o->workers;
  if (n == 0) {
    n = so__bind_count(topo, region, SO_BIND_CORE);
    if (n < 1) {
      so__errorf("cannot count the cores of the region: %s", so_strerror(n < 0 ? n : SO_EHWLOC));
      return TOPO_FAILED;
    }
  }
  so__bind_plan plan;
  char warn[256];
  int rc = so__bind_plan_make(topo, region, o->pol, n, &plan, warn, sizeof warn);
  if (rc != 0) {
    so__errorf("cannot plan %d workers with --bind %s: %s", n, so__bind_policy_name(o->pol),
               so_strerror(rc));
    return rc == SO_EINVAL ? TOPO_USAGE : TOPO_FAILED;
  }
  hwloc_obj_type_t counted = HWLOC_OBJ_PU;
  if (o->pol != SO_BIND_NONE && plan.n > 0) {
    hwloc_obj_t first = so__bind_object(topo, o->pol, plan.sets[0]);
    if (first)
      counted = first->type;
  }
  fprintf(out, "plan: %d worker%s, --bind %s, %d %s in the region%s\n", plan.n,
          plan.n == 1 ? "" : "s", so__bind_policy_name(o->pol), plan.nobjs,
          so__bind_noun(counted, plan.nobjs != 1),
          o->workers == 0 ? " (one worker per core by default)" : "");
  for (int i = 0; i < plan.n; i++)
    print_worker(out, topo, o->pol, i + 1, plan.sets[i]);
  if (plan.oversubscribed)
    fprintf(out, "warning: %s\n", warn);
  so__bind_plan_free(&plan);
  return TOPO_OK;
}

int so__topo_main(int argc, char **argv, FILE *out) {
  topo_opts o = {.workers = 0, .pol = SO_BIND_CORE};
  int rc = parse_args(argc, argv, &o);
  if (rc != TOPO_OK)
    return rc;
  if (o.help) {
    usage(out);
    return fflush(out) == 0 ? TOPO_OK : TOPO_FAILED;
  }

  hwloc_topology_t topo;
  if (so__bind_topology_load(&topo, o.synthetic) != 0) {
    if (o.synthetic) {
      so__errorf("--synthetic expects a topology hwloc understands (such as 'pack:2 core:4 "
                 "pu:2'), not '%s'", o.synthetic);
      return TOPO_USAGE;
    }
    so__errorf("cannot load this machine's topology with hwloc");
    return TOPO_FAILED;
  }
  hwloc_bitmap_t region = NULL, cur = NULL;
  if (o.cpuset && (rc = parse_region(topo, o.cpuset, &region)) != TOPO_OK)
    goto done;
  /* This process's binding (taskset, a launcher's) is where `run` would plan its workers. */
  if (!o.synthetic && (cur = hwloc_bitmap_alloc()) && so__bind_get(topo, cur) != 0) {
    hwloc_bitmap_free(cur);
    cur = NULL;
  }

  print_machine(out, topo, cur, &o);
  if (region) {
    fputs("region (--cpuset): ", out);
    hwloc_bitmap_and(region, region, hwloc_topology_get_allowed_cpuset(topo));
    print_list(out, region);
    fputc('\n', out);
  } else if (cur) {
    fputs("region (current binding): ", out);
    print_list(out, cur);
    fputc('\n', out);
  }
  rc = print_plan(out, topo, region ? region : cur, &o);
  if (rc == TOPO_OK && (fflush(out) != 0 || ferror(out))) {
    so__errorf("cannot write the topology report: %s", strerror(errno));
    rc = TOPO_FAILED;
  }

done:
  hwloc_bitmap_free(region);
  hwloc_bitmap_free(cur);
  hwloc_topology_destroy(topo);
  return rc;
}

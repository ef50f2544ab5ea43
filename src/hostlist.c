/* Host lists of a direct run over several machines, parsed and checked before mpirun starts. */
#include "hostlist.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scaleout/errors.h"

void so__hostlist_free(so__hostlist *hl) {
  for (int i = 0; hl->hosts && i < hl->n; i++)
    free(hl->hosts[i].name);
  free(hl->hosts);
  memset(hl, 0, sizeof *hl);
}

/* Host names and addresses as Open MPI and ssh take them: letters, digits, '.', '-', '_'
 * (no ':' in a name: it would read as a slot count on mpirun's --host). */
static int name_ok(const char *s, size_t len) {
  if (len == 0 || len > 255 || s[0] == '-')
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
      return 0;
  return 1;
}

/* Adds slots to host name (a host named again gets the sum, as Open MPI counts it). */
static int add_host(so__hostlist *hl, const char *name, size_t len, int slots) {
  for (int i = 0; i < hl->n; i++)
    if (strlen(hl->hosts[i].name) == len && strncmp(hl->hosts[i].name, name, len) == 0) {
      hl->hosts[i].slots += slots;
      hl->slots += slots;
      return 0;
    }
  if ((hl->n & (hl->n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow by doubling */
    void *p = realloc(hl->hosts, (size_t)(hl->n ? 2 * hl->n : 1) * sizeof *hl->hosts);
    if (!p)
      return SO_ENOMEM;
    hl->hosts = p;
  }
  char *copy = strndup(name, len);
  if (!copy)
    return SO_ENOMEM;
  hl->hosts[hl->n].name = copy;
  hl->hosts[hl->n].slots = slots;
  hl->n++;
  hl->slots += slots;
  return 0;
}

/* A slot count: a whole number from 1 to SO_HOST_MAX_SLOTS, digits only. Returns it or -1. */
static int parse_slots(const char *s, size_t len) {
  if (len == 0 || len > 6)
    return -1;
  int v = 0;
  for (size_t i = 0; i < len; i++) {
    if (!isdigit((unsigned char)s[i]))
      return -1;
    v = 10 * v + (s[i] - '0');
  }
  return v >= 1 && v <= SO_HOST_MAX_SLOTS ? v : -1;
}

int so__hostlist_parse_hosts(const char *text, so__hostlist *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!text || !*text) {
    snprintf(err, errlen, "--hosts needs a list of hosts (a,b:2,c: a name each, ':N' for N slots)");
    return SO_EINVAL;
  }
  for (const char *p = text;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    const char *colon = memchr(p, ':', len);
    size_t nlen = colon ? (size_t)(colon - p) : len;
    int slots = 1;
    if (nlen == 0) {
      snprintf(err, errlen, "--hosts '%s' has an empty host name (a,b:2,c: a name each)", text);
      return SO_EINVAL;
    }
    if (!name_ok(p, nlen)) {
      snprintf(err, errlen, "--hosts: '%.*s' is not a host name (letters, digits, '.', '-', '_')",
               (int)nlen, p);
      return SO_EINVAL;
    }
    if (colon && (slots = parse_slots(colon + 1, len - nlen - 1)) < 0) {
      snprintf(err, errlen, "--hosts: the slots of '%.*s' must be a whole number from 1 to %d, "
                            "not '%.*s'", (int)nlen, p, SO_HOST_MAX_SLOTS,
               (int)(len - nlen - 1), colon + 1);
      return SO_EINVAL;
    }
    int rc = add_host(out, p, nlen, slots);
    if (rc)
      return rc;
    if (!comma)
      break;
    p = comma + 1;
  }
  return 0;
}

/* One word of a hostfile line after the host: slots=N or max_slots=N (Open MPI also accepts
 * "max-slots"). Returns 0, or SO_EINVAL with the sentence in err. */
static int hostfile_word(const char *w, size_t len, const char *where, int *slots, int *max,
                         char *err, size_t errlen) {
  const char *eq = memchr(w, '=', len);
  size_t klen = eq ? (size_t)(eq - w) : len;
  int *to = NULL;
  if (eq && klen == 5 && strncmp(w, "slots", 5) == 0)
    to = slots;
  else if (eq && klen == 9 && (strncmp(w, "max_slots", 9) == 0 || strncmp(w, "max-slots", 9) == 0))
    to = max;
  if (!to) {
    snprintf(err, errlen, "%s: '%.*s' is not understood (a line is HOST [slots=N] [max_slots=N])",
             where, (int)len, w);
    return SO_EINVAL;
  }
  if ((*to = parse_slots(eq + 1, len - klen - 1)) < 0) {
    snprintf(err, errlen, "%s: %.*s must be a whole number from 1 to %d, not '%.*s'", where,
             (int)klen, w, SO_HOST_MAX_SLOTS, (int)(len - klen - 1), eq + 1);
    return SO_EINVAL;
  }
  return 0;
}

int so__hostlist_parse_text(const char *text, const char *origin, int default_slots,
                            so__hostlist *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  int line = 0;
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    const char *hash = memchr(p, '#', len);
    if (hash)
      len = (size_t)(hash - p);
    line++;
    char where[300];
    snprintf(where, sizeof where, "hostfile '%.200s' line %d", origin, line);
    const char *host = NULL;
    size_t hlen = 0;
    int slots = 0, max = 0, rc = 0;
    for (size_t i = 0; i < len && !rc;) {
      if (isspace((unsigned char)p[i])) {
        i++;
        continue;
      }
      size_t j = i;
      while (j < len && !isspace((unsigned char)p[j]))
        j++;
      if (!host) {
        host = p + i;
        hlen = j - i;
        if (!name_ok(host, hlen)) {
          snprintf(err, errlen, "%s: '%.*s' is not a host name (letters, digits, '.', '-', '_')",
                   where, (int)hlen, host);
          return SO_EINVAL;
        }
      } else {
        rc = hostfile_word(p + i, j - i, where, &slots, &max, err, errlen);
      }
      i = j;
    }
    if (rc)
      return rc;
    if (host) {
      if (slots && max && slots > max) {
        snprintf(err, errlen, "%s: slots=%d is more than max_slots=%d", where, slots, max);
        return SO_EINVAL;
      }
      rc = add_host(out, host, hlen, slots ? slots : max ? max : default_slots);
      if (rc)
        return rc;
    }
    if (!nl)
      break;
    p = nl + 1;
  }
  if (out->n == 0) {
    snprintf(err, errlen, "hostfile '%.200s' names no host (a line is HOST [slots=N])", origin);
    return SO_EINVAL;
  }
  return 0;
}

int so__hostlist_parse_file(const char *path, int default_slots, so__hostlist *out, char *err,
                            size_t errlen) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "re");
  if (!f) {
    snprintf(err, errlen, "cannot read the hostfile '%s': %s", path, strerror(errno));
    return SO_EINVAL;
  }
  /* A hostfile is short: read it whole (up to 16 MiB, far beyond any cluster's). */
  size_t cap = 4096, have = 0;
  char *text = malloc(cap);
  int rc = 0;
  while (text) {
    if (have + 1 == cap) {
      char *t = cap < (16u << 20) ? realloc(text, cap * 2) : NULL;
      if (!t) {
        rc = cap < (16u << 20) ? SO_ENOMEM : SO_EINVAL;
        break;
      }
      text = t;
      cap *= 2;
    }
    size_t r = fread(text + have, 1, cap - 1 - have, f);
    have += r;
    if (r == 0)
      break;
  }
  if (text && ferror(f) && !rc) {
    snprintf(err, errlen, "cannot read the hostfile '%s': %s", path, strerror(errno));
    rc = SO_EINVAL;
  } else if (rc == SO_EINVAL) {
    snprintf(err, errlen, "the hostfile '%s' is larger than 16 MiB", path);
  }
  fclose(f);
  if (!text)
    return SO_ENOMEM;
  text[have] = 0;
  if (!rc && memchr(text, 0, have)) {
    snprintf(err, errlen, "the hostfile '%s' is not text (it holds a NUL byte)", path);
    rc = SO_EINVAL;
  }
  if (!rc)
    rc = so__hostlist_parse_text(text, path, default_slots, out, err, errlen);
  free(text);
  return rc;
}

/* True when the address is loopback or one of this machine's interfaces' addresses. */
static int address_is_local(const struct sockaddr *sa, struct ifaddrs *ifs) {
  if (sa->sa_family == AF_INET) {
    const struct in_addr *a = &((const struct sockaddr_in *)sa)->sin_addr;
    if ((ntohl(a->s_addr) >> 24) == 127)
      return 1;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
      if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
          memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof *a) == 0)
        return 1;
  } else if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a))
      return 1;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
      if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 &&
          memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, a, sizeof *a) == 0)
        return 1;
  }
  return 0;
}

int so__hostlist_is_local(const char *name) {
  char self[256];
  if (strcmp(name, "localhost") == 0)
    return 1;
  if (gethostname(self, sizeof self) == 0) {
    self[sizeof self - 1] = 0;
    size_t a = strcspn(self, "."), b = strcspn(name, ".");
    /* "n1" and "n1.cluster" are the same machine; "n1.a" and "n1.b" need not be. */
    if (strcmp(self, name) == 0 ||
        (a == b && strncmp(self, name, a) == 0 && (!self[a] || !name[b])))
      return 1;
  }
  /* An address, or a name the resolver (the hosts file first) turns into one of ours. */
  struct ifaddrs *ifs = NULL;
  if (getifaddrs(&ifs) != 0)
    ifs = NULL;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int local = 0;
  if (getaddrinfo(name, NULL, &hints, &res) == 0) {
    for (struct addrinfo *r = res; r && !local; r = r->ai_next)
      local = address_is_local(r->ai_addr, ifs);
    freeaddrinfo(res);
  }
  if (ifs)
    freeifaddrs(ifs);
  return local;
}

int so__hostlist_local_first(so__hostlist *hl, int (*is_local)(const char *name)) {
  for (int i = 0; i < hl->n; i++)
    if (is_local(hl->hosts[i].name)) {
      so__host h = hl->hosts[i];
      memmove(hl->hosts + 1, hl->hosts, (size_t)i * sizeof *hl->hosts);
      hl->hosts[0] = h;
      return 1;
    }
  return 0;
}

int so__hostlist_format(const so__hostlist *hl, char *buf, size_t len) {
  size_t off = 0;
  if (len)
    buf[0] = 0;
  for (int i = 0; i < hl->n; i++) {
    int w = snprintf(buf + off, len - off, "%s%s:%d", i ? "," : "", hl->hosts[i].name,
                     hl->hosts[i].slots);
    if (w < 0 || (size_t)w >= len - off)
      return -1;
    off += (size_t)w;
  }
  return 0;
}

long so__hostlist_slurm_tasks(const char *text) {
  if (!text || !*text)
    return -1;
  long sum = 0;
  for (const char *p = text;;) {
    char *end;
    if (!isdigit((unsigned char)*p))
      return -1;
    long tasks = strtol(p, &end, 10), times = 1;
    p = end;
    if (strncmp(p, "(x", 2) == 0) {
      if (!isdigit((unsigned char)p[2]))
        return -1;
      times = strtol(p + 2, &end, 10);
      if (*end != ')')
        return -1;
      p = end + 1;
    }
    if (tasks > 1000000 || times > 1000000)
      return -1;
    sum += tasks * times;
    if (sum > 100000000)
      return -1;
    if (!*p)
      return sum;
    if (*p++ != ',')
      return -1;
  }
}

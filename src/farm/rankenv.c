/* Which environment variables make a process take itself for a rank of this MPI job. */
#define _GNU_SOURCE /* environ */
#include "rankenv.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* NAME equals word (entry is NAME=value or NAME). */
static int named(const char *entry, const char *word) {
  size_t n = strlen(word);
  return strncmp(entry, word, n) == 0 && (entry[n] == '=' || entry[n] == 0);
}

int so__rankenv_is_launcher_var(const char *e) {
  if (starts(e, "PMIX_"))
    return !starts(e, "PMIX_MCA_");
  if (starts(e, "PMI_"))
    return 1;
  static const char *const prefixes[] = {"OMPI_COMM_WORLD_", "OMPI_APP_CTX_", "OMPI_MCA_orte_",
                                         "OMPI_MCA_ess_"};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
    if (starts(e, prefixes[i]))
      return 1;
  static const char *const names[] = {"OMPI_UNIVERSE_SIZE", "OMPI_NUM_APP_CTX",
                                      "OMPI_FIRST_RANKS", "OMPI_ARGV", "OMPI_COMMAND",
                                      "OMPI_FILE_LOCATION", "OMPI_MCA_ess", "OMPI_MCA_pmix",
                                      "OMPI_MCA_initial_wdir",
                                      "OMPI_MCA_shmem_RUNTIME_QUERY_hint"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (named(e, names[i]))
      return 1;
  return 0;
}

int so__rankenv_scrub(void) {
  int removed = 0;
  /* unsetenv changes environ under us: start over after each removal. */
  for (int again = 1; again;) {
    again = 0;
    for (char **e = environ; e && *e; e++) {
      if (!so__rankenv_is_launcher_var(*e))
        continue;
      const char *eq = strchr(*e, '=');
      size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
      char name[256];
      if (n == 0 || n >= sizeof name)
        continue;
      memcpy(name, *e, n);
      name[n] = 0;
      if (unsetenv(name) == 0) {
        removed++;
        again = 1;
        break;
      }
    }
  }
  return removed;
}

/* Host lists of a direct run over several machines: --hosts, hostfiles, Slurm's task counts, and
 * putting this machine first. */
#include <string.h>
#include <unistd.h>

#include "hostlist.h"
#include "scaleout/errors.h"
#include "so_test.h"

static char err[512];

static const char *fmt(const so__hostlist *hl) {
  static char buf[512];
  if (so__hostlist_format(hl, buf, sizeof buf) != 0)
    return "<too long>";
  return buf;
}

/* Open MPI's --host meaning: a bare name is 1 slot, ':N' is N, a name given twice gets the sum,
 * and the order of first appearance stays. */
static void test_hosts(void) {
  so__hostlist hl;
  CU_ASSERT_EQUAL(so__hostlist_parse_hosts("a,b:2,c,a:3", &hl, err, sizeof err), 0);
  CU_ASSERT_EQUAL(hl.n, 3);
  CU_ASSERT_EQUAL(hl.slots, 7);
  CU_ASSERT_STRING_EQUAL(fmt(&hl), "a:4,b:2,c:1");
  so__hostlist_free(&hl);
  CU_ASSERT_EQUAL(so__hostlist_parse_hosts("n-1.cluster_x:65536", &hl, err, sizeof err), 0);
  CU_ASSERT_EQUAL(hl.slots, 65536);
  so__hostlist_free(&hl);
}

static void test_hosts_bad(void) {
  static const char *const bad[] = {"", ",", "a,", ",a", "a,,b", ":2", "a:", "a:0", "a:-1",
                                    "a:1.5", "a:65537", "a:2:3", "a b", "-a", "a;b", NULL};
  for (const char *const *b = bad; *b; b++) {
    so__hostlist hl;
    err[0] = 0;
    int rc = so__hostlist_parse_hosts(*b, &hl, err, sizeof err);
    if (rc != SO_EINVAL || !err[0])
      fprintf(stderr, "accepted --hosts '%s'\n", *b);
    CU_ASSERT_EQUAL(rc, SO_EINVAL);
    CU_ASSERT(err[0] != 0);
    so__hostlist_free(&hl);
  }
}

/* Hostfile lines: slots=, max_slots= (slots defaults to it), neither (the default given), comments
 * and blank lines, and a host on two lines. */
static void test_hostfile(void) {
  so__hostlist hl;
  const char *text = "# the cluster\n"
                     "n1 slots=2\n"
                     "\n"
                     "   n2   max_slots=3   # a comment\n"
                     "n3\n"
                     "n4 slots=1 max-slots=4\n"
                     "n1 slots=1";
  CU_ASSERT_EQUAL_FATAL(so__hostlist_parse_text(text, "f", 8, &hl, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(fmt(&hl), "n1:3,n2:3,n3:8,n4:1");
  CU_ASSERT_EQUAL(hl.slots, 15);
  so__hostlist_free(&hl);
}

/* Each bad hostfile is refused with a sentence naming the file and, for a bad line, its number. */
static void test_hostfile_bad(void) {
  static const struct {
    const char *text, *says;
  } bad[] = {{"", "names no host"},
             {"# only a comment\n\n", "names no host"},
             {"n1 slots=2\nn2 slots=0\n", "line 2: slots must be a whole number"},
             {"n1 slots=x\n", "line 1: slots must be"},
             {"n1 slots=\n", "line 1: slots must be"},
             {"n1 cpus=2\n", "line 1: 'cpus=2' is not understood"},
             {"n1 2\n", "line 1: '2' is not understood"},
             {"n1 slots=4 max_slots=2\n", "slots=4 is more than max_slots=2"},
             {"n$1 slots=2\n", "'n$1' is not a host name"},
             {NULL, NULL}};
  for (int i = 0; bad[i].text; i++) {
    so__hostlist hl;
    err[0] = 0;
    CU_ASSERT_EQUAL(so__hostlist_parse_text(bad[i].text, "hf", 2, &hl, err, sizeof err), SO_EINVAL);
    if (!strstr(err, bad[i].says) || !strstr(err, "hostfile 'hf'"))
      fprintf(stderr, "hostfile %d: got '%s', wanted '%s'\n", i, err, bad[i].says);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].says));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "hostfile 'hf'"));
    so__hostlist_free(&hl);
  }
  so__hostlist hl;
  CU_ASSERT_EQUAL(so__hostlist_parse_file("/nonexistent/hosts", 2, &hl, err, sizeof err), SO_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read the hostfile '/nonexistent/hosts'"));
  so__hostlist_free(&hl);
}

static int is_c(const char *name) { return strcmp(name, "c") == 0; }

/* This machine goes first, the others keep their order; a list without it stays as it is. */
static void test_local_first(void) {
  so__hostlist hl;
  CU_ASSERT_EQUAL(so__hostlist_parse_hosts("a:2,b,c:3,d", &hl, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__hostlist_local_first(&hl, is_c), 1);
  CU_ASSERT_STRING_EQUAL(fmt(&hl), "c:3,a:2,b:1,d:1");
  so__hostlist_free(&hl);
  CU_ASSERT_EQUAL(so__hostlist_parse_hosts("a,b", &hl, err, sizeof err), 0);
  CU_ASSERT_EQUAL(so__hostlist_local_first(&hl, is_c), 0);
  CU_ASSERT_STRING_EQUAL(fmt(&hl), "a:1,b:1");
  so__hostlist_free(&hl);
}

/* This machine by name, by its name without a domain, as localhost and by loopback address; a
 * name that differs only after the first dot is another machine. */
static void test_is_local(void) {
  char self[256], name[300];
  CU_ASSERT_FATAL(gethostname(self, sizeof self) == 0);
  self[strcspn(self, ".")] = 0;
  CU_ASSERT(so__hostlist_is_local(self));
  snprintf(name, sizeof name, "%s.some.domain", self);
  CU_ASSERT(so__hostlist_is_local(name));
  CU_ASSERT(so__hostlist_is_local("localhost"));
  CU_ASSERT(so__hostlist_is_local("127.0.0.1"));
  snprintf(name, sizeof name, "%sx", self);
  CU_ASSERT(!so__hostlist_is_local(name));
  CU_ASSERT(!so__hostlist_is_local("192.0.2.1")); /* TEST-NET-1: nobody's address */
}

/* SLURM_TASKS_PER_NODE's form: counts, "N(xM)" repeats, commas. */
static void test_slurm_tasks(void) {
  CU_ASSERT_EQUAL(so__hostlist_slurm_tasks("4"), 4);
  CU_ASSERT_EQUAL(so__hostlist_slurm_tasks("2(x3),1"), 7);
  CU_ASSERT_EQUAL(so__hostlist_slurm_tasks("3,2(x2)"), 7);
  CU_ASSERT_EQUAL(so__hostlist_slurm_tasks("1(x2),4(x2),2"), 12);
  static const char *const bad[] = {"", "x", "2(x", "2(x)", "2(3)", "2,", ",2", "2 ,3", "-1",
                                    "2(x3)4", NULL};
  for (const char *const *b = bad; *b; b++) {
    if (so__hostlist_slurm_tasks(*b) != -1)
      fprintf(stderr, "accepted SLURM_TASKS_PER_NODE '%s'\n", *b);
    CU_ASSERT_EQUAL(so__hostlist_slurm_tasks(*b), -1);
  }
  CU_ASSERT_EQUAL(so__hostlist_slurm_tasks(NULL), -1);
}

int main(void) {
  static const so_test_case cases[] = {{"hosts", test_hosts},
                                       {"hosts bad", test_hosts_bad},
                                       {"hostfile", test_hostfile},
                                       {"hostfile bad", test_hostfile_bad},
                                       {"local first", test_local_first},
                                       {"is local", test_is_local},
                                       {"slurm tasks", test_slurm_tasks},
                                       {NULL, NULL}};
  return so_test_run("hostlist", cases);
}

/* A small runner shared by the CUnit test programs: register suites, run, print CUnit's summary. */
#ifndef SO_TEST_H
#define SO_TEST_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct so_test_case {
  const char *name;
  void (*fn)(void);
} so_test_case;

/* Runs the named suite of cases (terminated by {NULL, NULL}) and returns the process exit status:
 * 0 only when every test ran and passed. */
static inline int so_test_run(const char *suite_name, const so_test_case *cases) {
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 2;
  CU_pSuite suite = CU_add_suite(suite_name, NULL, NULL);
  if (!suite)
    return 2;
  for (const so_test_case *c = cases; c->name; c++)
    if (!CU_add_test(suite, c->name, c->fn))
      return 2;
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures();
  unsigned ran = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  printf("\n");
  return (failures == 0 && ran > 0) ? 0 : 1;
}

#endif

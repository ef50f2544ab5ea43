/* Job plugins for test_plugin, one source built three ways (tests/CMakeLists.txt): FIX_GOOD two
 * usable jobs, one with a table of an older minor version; FIX_DUP a job named like one of
 * FIX_GOOD's; FIX_TWICE two jobs of one name. No callback is ever called: the loader only reads
 * the tables. */
#include <stddef.h>

#include "scaleout/job.h"

#if defined(FIX_GOOD)
static const so_job fix_a = {SO_JOB_VERSION, .name = "fix_a", .summary = "fixture a"};
/* An older minor version's table ends at fini: flags lies beyond it and must read as 0. */
static const so_job fix_b = {.abi = SO_API_MAJOR,
                             .size = (uint32_t)(offsetof(so_job, fini) + sizeof(void (*)(void))),
                             .name = "fix_b",
                             .summary = "fixture b, a short table",
                             .flags = SO_JOB_TAKES_ARGS};
SO_PLUGIN(&fix_a, &fix_b);
#elif defined(FIX_DUP)
static const so_job dup_a = {SO_JOB_VERSION, .name = "fix_a", .summary = "a second fix_a"};
SO_PLUGIN(&dup_a);
#elif defined(FIX_TWICE)
static const so_job one = {SO_JOB_VERSION, .name = "fix_c", .summary = "first"};
static const so_job same1 = {SO_JOB_VERSION, .name = "same", .summary = "first same"};
static const so_job same2 = {SO_JOB_VERSION, .name = "same", .summary = "second same"};
SO_PLUGIN(&one, &same1, &same2);
#else
#error "build with FIX_GOOD, FIX_DUP or FIX_TWICE"
#endif

/* The cmd job: the command task farm (shell commands from a file, or a template over arguments),
 * built from the farm library in src/farm/. */
#include "farm.h"

static const so_param_def cmd_params[] = {
    {"tasks", SO_PARAM_STRING, "", "file of shell commands, one per line ('-': standard input)", 1, 0},
    {"command", SO_PARAM_STRING, "", "command template with {} {.} {/} {//} {#} {%}", 1, 0},
    {"args", SO_PARAM_STRING, "", "file of arguments for --command, one per line", 1, 0},
    {"joblog", SO_PARAM_STRING, "", "GNU parallel joblog of finished commands", 1, 0},
    {"resume", SO_PARAM_FLAG, NULL, "skip commands the joblog has (succeeded or failed)", 1, 0},
    {"resume-failed", SO_PARAM_FLAG, NULL, "skip only commands the joblog has as succeeded", 1, 0},
    {"wait-joblog", SO_PARAM_FLAG, NULL, "wait for another run that owns the joblog to end, instead of refusing", 1, 0},
    {"force", SO_PARAM_FLAG, NULL, "resume even though the task source changed", 1, 0},
    {"results", SO_PARAM_STRING, "", "directory for each command's stdout, stderr and status", 1, 0},
    {"tag", SO_PARAM_FLAG, NULL, "prefix output lines with the argument (or command) and a tab", 1, 0},
    {"timeout", SO_PARAM_STRING, "", "kill a command after SECONDS or P% of the median runtime", 1, 0},
    {"halt", SO_PARAM_STRING, "", "now|soon,fail=N|fail=P%: stop early on failures", 1, 0},
    {"extlog", SO_PARAM_STRING, "", "per-command accounting (times, CPU, peak RSS) as TSV", 1, 0},
    {"progress", SO_PARAM_FLAG, NULL, "show progress on stderr even when it is not a terminal", 1, 0},
    {"joblog-sync", SO_PARAM_DOUBLE, "1", "seconds a logged line may wait for fdatasync (0: none)", 0, 3600},
    {"kill-grace", SO_PARAM_DOUBLE, "3", "seconds from SIGTERM to SIGKILL for a killed command", 0.001, 3600},
    {NULL, 0, NULL, NULL, 0, 0}};

static int cmd_init(so_ctx *ctx) {
  return so_ctx_role(ctx) == SO_ROLE_MASTER ? so__farm_master_init(ctx) : so__farm_worker_init(ctx);
}

static void cmd_fini(so_ctx *ctx) {
  if (so_ctx_role(ctx) == SO_ROLE_MASTER)
    so__farm_master_fini(ctx);
  else
    so__farm_worker_fini(ctx);
}

const so_job so_job_cmd = {
    SO_JOB_VERSION,
    .name = "cmd",
    .summary = "run shell commands (a file of them, or a template over arguments) like GNU parallel",
    .params = cmd_params,
    .init = cmd_init,
    .next = so__farm_next,
    .merge = so__farm_merge,
    .finish = so__farm_finish,
    .fini = cmd_fini,
    .start = so__farm_start,
    .progress = so__farm_progress,
    .cancel = so__farm_cancel,
    .notice = so__farm_notice,
    .exit = {.usage = SO_FARM_EXIT_USAGE,
            .failure = SO_FARM_EXIT_FAILURE,
            .stopped = SO_FARM_EXIT_SIGNAL},
    .flags = SO_JOB_KEEP_TASKS | SO_JOB_FEW_TASKS_OK | SO_JOB_TAKES_ARGS | SO_JOB_OWNS_STDOUT,
    /* Commands mostly wait: a stop signal lets running ones finish for up to 10 s. */
    .options = "--grace 10",
};

#!/usr/bin/env bash
# --retries N runs a failed task up to N times in all (GNU parallel's meaning), reruns on another
# worker when there is one; --halt stops a run early.
#
# Usage: retries_halt.sh       (ctest runs it as farm.retries_halt; direct runs, 1 or 2 workers)
# Tasks write "start K" / "end K" lines to a side file, so the test knows which ran and finished.
# Expects:
#   - -n 2 --retries 2, six tasks that fail on the first worker they meet and succeed on any
#     other: exit 0; each ran twice, on two different workers; extlog Attempts 2 and Worker the
#     second one; the joblog's last line for each task is a success
#   - -n 1 --retries 2, a task that fails once: rerun on the only worker, exit 0, Attempts 2
#   - --retries 2, a task that always fails (exit 4): 2 runs, exit 1, Attempts 2, Exitval 4; and
#     GNU parallel --retries 2 (when installed) runs the same task as often
#   - --retries 1: a failing task runs once (no rerun), as in GNU parallel
#   - --halt now,fail=1 (2 workers): task 1 fails after 0.5 s while a 30 s task runs: exactly two
#     tasks ever started, the other one is killed (never ends, no process left), exit 1, JSON
#     failed 1 and killed 1, the run ends long before 30 s
#   - --halt soon,fail=1: the same with 2 s tasks: the running one finishes and is logged as a
#     success, no third task starts, exit 1, JSON killed 0
#   - --halt soon,fail=3 (1 worker, odd tasks fail): tasks 1-5 start, no more; exit 3
#   - --halt soon,fail=25% of 20 tasks (1-4 succeed, the rest fail): 25% of 20 is 5 failures, as
#     GNU parallel counts it, so tasks 1-9 start, no more; exit 5 (the number of failed tasks)
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" halt

# between WHAT LOW HIGH: one check that the last run took between LOW and HIGH seconds.
between() {
  if awk -v e="$elapsed" -v lo="$2" -v hi="$3" 'BEGIN { exit !(e >= lo && e < hi) }'; then
    pass "$1: the run took ${elapsed}s (between $2 and $3 s)"
  else
    fail "$1: the run took ${elapsed}s, expected between $2 and $3 s"
  fi
}

# Helpers of this script's pycheck programs (tests/farm/lib.sh runs them).
pylib=$(
  cat <<'EOF'
def joblog_lines(path):
    """Task lines in file order: (seq, exitval, signal)."""
    out = []
    for line in open(path, "rb").read().decode(errors="surrogateescape").split("\n")[1:]:
        f = line.split("\t", 8)
        if len(f) == 9 and f[0].isdigit():
            out.append((int(f[0]), int(f[6]), int(f[7])))
    return out

def read_extlog(path):
    cols = ("Seq Host Worker Attempts Starttime Wall User Sys MaxRSS_KB Exitval Signal "
            "TimedOut Command").split()
    rows = {}
    for line in open(path, "rb").read().decode(errors="surrogateescape").split("\n"):
        f = line.split("\t", len(cols) - 1)
        if len(f) == len(cols) and f[0].isdigit():
            rows[int(f[0])] = dict(zip(cols, f))
    return rows

def side(path):
    """(started, ended): the task numbers with a start / end line in the side file."""
    started, ended = [], []
    try:
        lines = open(path).read().split("\n")
    except OSError:
        lines = []
    for line in lines:
        f = line.split()
        if len(f) >= 2 and f[0] in ("start", "end"):
            (started if f[0] == "start" else ended).append(int(f[1]))
    return sorted(started), sorted(ended)
EOF
)

# task SIDE K SECONDS STATUS [long]: a task command that logs its start and end to SIDE, sleeps,
# and exits with STATUS; "long" also puts the mark in its environment (it may be killed).
task() {
  local m=
  [[ -z ${5:-} ]] || m="export SO_FARM_TEST_MARK=$mark; "
  echo "${m}echo start $2 >>$1; sleep $3; echo end $2 >>$1; exit $4"
}

# ---------------------------------------------------------------------------------------------
echo "- --retries 2 with 2 workers: the rerun goes to the other worker"
cat >"$tmp/flaky.sh" <<EOF
#!/bin/sh
# Fails on the first worker this task runs on, succeeds on any other.
first=$tmp/first.\$SCALEOUT_TASK_ID
echo "\$SCALEOUT_WORKER" >>$tmp/runs.\$SCALEOUT_TASK_ID
if [ ! -e "\$first" ]; then echo "\$SCALEOUT_WORKER" >"\$first"; exit 1; fi
[ "\$(cat "\$first")" != "\$SCALEOUT_WORKER" ]
EOF
for ((k = 1; k <= 6; k++)); do echo "sh $tmp/flaky.sh $k"; done >"$tmp/flaky.tasks"
run flaky 60 "$SCALEOUT" run --tasks "$tmp/flaky.tasks" -n 2 --retries 2 \
  --joblog "$tmp/flaky.log" --extlog "$tmp/flaky.ext"
expect "exit status" "$rc" 0
pycheck "$tmp" "$tmp/flaky.log" "$tmp/flaky.ext" <<'EOF'
d, log, ext = sys.argv[1:4]
el = read_extlog(ext)
jl = joblog_lines(log)
for k in range(1, 7):
    try:
        runs = open(os.path.join(d, f"runs.{k}")).read().split()
    except OSError:
        runs = []
    check(len(runs) == 2 and runs[0] != runs[1],
          f"task {k}: ran twice, on two different workers (workers in order: {runs})")
    e = el.get(k, {})
    check(e.get("Attempts") == "2", f"task {k}: extlog Attempts 2 (got {e.get('Attempts')!r})")
    check(len(runs) == 2 and e.get("Worker") == runs[1],
          f"task {k}: extlog Worker is the worker of the successful run (got {e.get('Worker')!r}, runs {runs})")
    mine = [l for l in jl if l[0] == k]
    check(mine and mine[-1][1:] == (0, 0), f"task {k}: its last joblog line is a success ({mine})")
EOF

echo "- --retries 2 with 1 worker: the rerun goes to the same worker"
echo "mkdir $tmp/once 2>/dev/null && exit 1; exit 0" >"$tmp/once.tasks"
run once 60 "$SCALEOUT" run --tasks "$tmp/once.tasks" -n 1 --retries 2 --extlog "$tmp/once.ext"
expect "exit status" "$rc" 0
pycheck "$tmp/once.ext" <<'EOF'
e = read_extlog(sys.argv[1]).get(1, {})
check(e.get("Attempts") == "2", f"extlog Attempts 2 (got {e.get('Attempts')!r})")
EOF

echo "- --retries 2 and a task that always fails: two runs in all, as GNU parallel makes"
printf '%s\n' "echo run >>$tmp/always; exit 4" "true" >"$tmp/always.tasks"
run always 60 "$SCALEOUT" run --tasks "$tmp/always.tasks" -n 2 --retries 2 \
  --joblog "$tmp/always.log" --extlog "$tmp/always.ext"
expect "exit status (1 failed)" "$rc" 1
expect "runs of the failing task" "$(grep -c run "$tmp/always" 2>/dev/null || echo 0)" 2
pycheck "$tmp/always.log" "$tmp/always.ext" <<'EOF'
e = read_extlog(sys.argv[2]).get(1, {})
check(e.get("Attempts") == "2", f"extlog Attempts 2 (got {e.get('Attempts')!r})")
mine = [l for l in joblog_lines(sys.argv[1]) if l[0] == 1]
check(mine and mine[-1][1:] == (4, 0), f"the last joblog line of task 1 has Exitval 4 ({mine})")
check(not [l for l in mine if l[1:] == (0, 0)], "task 1 has no success line")
EOF
if command -v parallel >/dev/null; then
  rm -f "$tmp/always"
  run always-gnu 60 env HOME="$tmp" parallel --retries 2 ::: "echo run >>$tmp/always; exit 4"
  expect "GNU parallel --retries 2: runs of the failing task" \
    "$(grep -c run "$tmp/always" 2>/dev/null || echo 0)" 2
fi

echo "- --retries 1: a failing task runs once"
rm -f "$tmp/always"
run always1 60 "$SCALEOUT" run --tasks "$tmp/always.tasks" -n 2 --retries 1
expect "exit status (1 failed)" "$rc" 1
expect "runs of the failing task" "$(grep -c run "$tmp/always" 2>/dev/null || echo 0)" 1

# ---------------------------------------------------------------------------------------------
echo "- --halt now,fail=1: the failure kills the running task, nothing more starts"
{
  task "$tmp/now.side" 1 0.5 7
  for ((k = 2; k <= 10; k++)); do task "$tmp/now.side" "$k" 30 0 long; done
} >"$tmp/now.tasks"
run now 60 "$SCALEOUT" run --tasks "$tmp/now.tasks" -n 2 --halt now,fail=1 \
  --joblog "$tmp/now.log" --json "$tmp/now.json"
expect "exit status (1 failed)" "$rc" 1
between "now" 0.5 15
no_leftovers "now"
pycheck "$tmp/now.side" "$tmp/now.log" <<'EOF'
started, ended = side(sys.argv[1])
check(len(started) == 2 and 1 in started, f"exactly two tasks started, task 1 among them (started {started})")
check(ended == [1], f"only task 1 ended; the other was killed (ended {ended})")
jl = joblog_lines(sys.argv[2])
check([l for l in jl if l[0] == 1 and l[1] == 7], f"joblog: task 1 with Exitval 7 ({jl})")
EOF
expect "json failed" "$(json "$tmp/now.json" 'd["answer"]["failed"]')" 1
expect "json killed" "$(json "$tmp/now.json" 'd["answer"]["killed"]')" 1
expect "json succeeded" "$(json "$tmp/now.json" 'd["answer"]["succeeded"]')" 0

echo "- --halt soon,fail=1: the running task finishes, nothing more starts"
{
  task "$tmp/soon.side" 1 0.5 7
  for ((k = 2; k <= 10; k++)); do task "$tmp/soon.side" "$k" 2 0 long; done
} >"$tmp/soon.tasks"
run soon 60 "$SCALEOUT" run --tasks "$tmp/soon.tasks" -n 2 --halt soon,fail=1 \
  --joblog "$tmp/soon.log" --json "$tmp/soon.json"
expect "exit status (1 failed)" "$rc" 1
between "soon" 1.9 15
no_leftovers "soon"
pycheck "$tmp/soon.side" "$tmp/soon.log" <<'EOF'
started, ended = side(sys.argv[1])
check(len(started) == 2 and 1 in started, f"exactly two tasks started, task 1 among them (started {started})")
check(ended == started, f"both ran to their end (started {started}, ended {ended})")
other = [k for k in started if k != 1]
jl = joblog_lines(sys.argv[2])
check(other and [l for l in jl if l[0] == other[0] and l[1:] == (0, 0)],
      f"joblog: the task that finished after the failure is a success ({jl})")
EOF
expect "json failed" "$(json "$tmp/soon.json" 'd["answer"]["failed"]')" 1
expect "json succeeded" "$(json "$tmp/soon.json" 'd["answer"]["succeeded"]')" 1
expect "json killed" "$(json "$tmp/soon.json" 'd["answer"]["killed"]')" 0

echo "- --halt soon,fail=3: stops after the third failure"
for ((k = 1; k <= 12; k++)); do task "$tmp/n3.side" "$k" 0.3 $((k % 2)); done >"$tmp/n3.tasks"
run n3 60 "$SCALEOUT" run --tasks "$tmp/n3.tasks" -n 1 --threads 1 --halt soon,fail=3 \
  --json "$tmp/n3.json"
expect "exit status (3 failed)" "$rc" 3
pycheck "$tmp/n3.side" <<'EOF'
started, ended = side(sys.argv[1])
check(started == [1, 2, 3, 4, 5], f"tasks 1-5 started and no more (started {started})")
EOF
expect "json failed" "$(json "$tmp/n3.json" 'd["answer"]["failed"]')" 3

echo "- --halt soon,fail=25%: 25% of 20 tasks is 5 failures"
for ((k = 1; k <= 20; k++)); do task "$tmp/pct.side" "$k" 0.25 $((k >= 5)); done >"$tmp/pct.tasks"
run pct 60 "$SCALEOUT" run --tasks "$tmp/pct.tasks" -n 1 --threads 1 --halt soon,fail=25% \
  --json "$tmp/pct.json"
expect "exit status (5 failed)" "$rc" 5
pycheck "$tmp/pct.side" <<'EOF'
started, ended = side(sys.argv[1])
check(started == list(range(1, 10)), f"tasks 1-9 started and no more (started {started})")
EOF
expect "json failed" "$(json "$tmp/pct.json" 'd["answer"]["failed"]')" 5

finish

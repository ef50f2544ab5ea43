#!/usr/bin/env bash
# --timeout kills a task's whole process group (TERM, grace, KILL) and leaves no process behind.
#
# Usage: timeouts.sh           (ctest runs it as farm.timeouts; direct runs, 1 or 2 workers)
# Each task that should time out records its process group, then starts `sh -c 'sleep & sleep'`
# with a mark in its environment, so the test finds every process it left via /proc.
# Expects:
#   - --timeout 1, a task whose group obeys SIGTERM and one whose group ignores it: both killed
#     (status "timeout", extlog TimedOut set, joblog Signal 15 and 9), the first about 1 s in,
#     the second after a grace period (at most --grace's default 10 s); the quick tasks beside
#     them succeed; exit 2;
#     afterwards no process of those groups and no marked process is left
#   - --timeout 300%: after six 0.3 s tasks, a 30 s task is killed about 1 s in; the tasks
#     before and after it succeed; exit 1
#   - --timeout 200%, twelve tasks of 0.5 s with every 4th 3 s (-n 1 --threads 2): tasks 4, 8
#     and 12 are killed at about 1 s (0.8-2.2 s), Exitval -1 Signal 15, the others succeed,
#     exit 3 (GNU parallel's figures for the same tasks are printed alongside)
#   - --timeout 200% with 2 workers: a 100 s task started before any other finished is killed
#     once three 0.3 s tasks on the other worker set the limit (0.7-4 s in), exit 1, nothing left
#   - --timeout 1 --retries 2: a task that always hangs runs twice (extlog Attempts 2), exit 1
#   - every run ends far sooner than its sleeps would
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" timeouts

# in_groups FILES...: "PID COMMAND" for each live process whose process group is one of the
# numbers in FILES (the groups the tasks recorded).
in_groups() {
  python3 - "$@" <<'EOF'
import os, sys
groups = set()
for p in sys.argv[1:]:
    try:
        groups.add(open(p).read().strip())
    except OSError:
        pass
groups.discard("")
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        stat = open(f"/proc/{d}/stat", "rb").read()
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] == b"Z" or fields[2].decode() not in groups:
            continue
        cmd = open(f"/proc/{d}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        continue
    print(d, "pgid", fields[2].decode(), cmd[:120])
EOF
}
# leftovers GROUPFILES...: what no_leftovers waits for here: the marked processes and any still
# in the recorded process groups.
leftovers() {
  marked
  in_groups "$@"
}

# faster_than WHAT SECONDS: one check that the last run took less than SECONDS.
faster_than() {
  if awk -v e="$elapsed" -v s="$2" 'BEGIN { exit !(e < s) }'; then
    pass "$1: the run took ${elapsed}s (< $2 s)"
  else
    fail "$1: the run took ${elapsed}s, expected < $2 s"
  fi
}

# Helpers of this script's pycheck programs (tests/farm/lib.sh runs them).
pylib=$(
  cat <<'EOF'
def read_joblog(path):
    rows = {}
    for line in open(path, "rb").read().decode(errors="surrogateescape").split("\n")[1:]:
        f = line.split("\t", 8)
        if len(f) == 9 and f[0].isdigit():
            rows[int(f[0])] = {"runtime": f[3].strip(), "exitval": f[6], "signal": f[7]}
    return rows

def read_extlog(path):
    cols = ("Seq Host Worker Attempts Starttime Wall User Sys MaxRSS_KB Exitval Signal "
            "TimedOut Command").split()
    rows = {}
    for line in open(path, "rb").read().decode(errors="surrogateescape").split("\n"):
        f = line.split("\t", len(cols) - 1)
        if len(f) == len(cols) and f[0].isdigit():
            rows[int(f[0])] = dict(zip(cols, f))
    return rows

def status(d, seq):
    try:
        return open(os.path.join(d, str(seq // 1000), str(seq), "status")).read().strip()
    except OSError as e:
        return f"<{e.strerror}>"

def truthy(v):
    return v.strip().lower() in ("1", "yes", "true")
EOF
)

# hang SEQ [IGNORE_TERM]: a task command that records its process group in $tmp/pgid.SEQ and
# then waits 100 s in two sleeps of a child shell (one in the background), with the mark.
hang() {
  local ign=
  [[ -z ${2:-} ]] || ign="trap '' TERM; "
  echo "ps -o pgid= -p \$\$ | tr -d ' ' >$tmp/pgid.$1; export SO_FARM_TEST_MARK=$mark; ${ign}sh -c '${ign//\'/\"}sleep 100 & sleep 100'"
}
echo "timeouts: mark $mark"

echo "- --timeout 1: a group that obeys SIGTERM, one that ignores it, quick tasks"
{
  hang 1
  hang 2 ignore
  echo "echo quick-3"
  echo "sleep 0.2; echo quick-4"
} >"$tmp/abs.tasks"
sed "s/^/    /" "$tmp/abs.tasks"
run abs 60 "$SCALEOUT" run --tasks "$tmp/abs.tasks" -n 2 --timeout 1 \
  --joblog "$tmp/abs.log" --extlog "$tmp/abs.ext" --results "$tmp/abs.res" --json "$tmp/abs.json"
expect "exit status (2 timed out)" "$rc" 2
faster_than "timeouts" 20
no_leftovers "after the run" "$tmp/pgid.1" "$tmp/pgid.2"
pycheck "$tmp/abs.log" "$tmp/abs.ext" "$tmp/abs.res" <<'EOF'
log, ext, res = sys.argv[1:4]
jl, el = read_joblog(log), read_extlog(ext)
for seq in (1, 2):
    check(status(res, seq) == "timeout", f"task {seq}: status 'timeout' (got {status(res, seq)!r})")
    e = el.get(seq, {})
    check(truthy(e.get("TimedOut", "")), f"task {seq}: extlog TimedOut set (got {e.get('TimedOut')!r})")
    j = jl.get(seq, {})
    check(j and not (j["exitval"] == "0" and j["signal"] == "0"), f"task {seq}: joblog line is not a success ({j})")
j1, j2 = jl.get(1, {}), jl.get(2, {})
check(j1.get("signal") == "15", f"task 1 (obeys TERM): joblog Signal 15 (got {j1.get('signal')!r})")
check(j2.get("signal") == "9", f"task 2 (ignores TERM): joblog Signal 9 (got {j2.get('signal')!r})")
w1 = float(el.get(1, {}).get("Wall", "nan"))
w2 = float(el.get(2, {}).get("Wall", "nan"))
check(0.9 <= w1 <= 2.5, f"task 1: killed about 1 s in (Wall {w1})")
check(1.5 <= w2 <= 13.5, f"task 2: killed after the 1 s timeout and a grace period of at most 10 s (Wall {w2})")
for seq in (3, 4):
    check(status(res, seq) == "exit 0", f"task {seq}: status 'exit 0' (got {status(res, seq)!r})")
    check(not truthy(el.get(seq, {}).get("TimedOut", "1")), f"task {seq}: extlog TimedOut not set ({el.get(seq, {}).get('TimedOut')!r})")
EOF

echo "- --timeout 300%: a task far above the median is killed"
{
  for ((i = 1; i <= 6; i++)); do echo "sleep 0.3; echo t$i"; done
  hang 7
  echo "sleep 0.3; echo t8"
} >"$tmp/pct.tasks"
run pct 60 "$SCALEOUT" run --tasks "$tmp/pct.tasks" -n 1 --threads 1 --timeout 300% \
  --joblog "$tmp/pct.log" --extlog "$tmp/pct.ext" --results "$tmp/pct.res"
expect "exit status (1 timed out)" "$rc" 1
faster_than "300% of a 0.3 s median" 20
no_leftovers "after the run" "$tmp/pgid.7"
pycheck "$tmp/pct.log" "$tmp/pct.ext" "$tmp/pct.res" <<'EOF'
log, ext, res = sys.argv[1:4]
el = read_extlog(ext)
check(status(res, 7) == "timeout", f"task 7: status 'timeout' (got {status(res, 7)!r})")
w = float(el.get(7, {}).get("Wall", "nan"))
check(0.8 <= w <= 3.0, f"task 7: killed at about 3 x 0.3 s (Wall {w})")
ok = [s for s in (1, 2, 3, 4, 5, 6, 8) if status(res, s) == "exit 0"]
check(len(ok) == 7, f"tasks 1-6 and 8 (0.3 s each) succeed (succeeded: {ok})")
EOF

echo "- --timeout 200%, the issue's 12 tasks: 0.5 s, every 4th 3 s (GNU parallel kills task 4 at ~1.2 s)"
for ((i = 1; i <= 12; i++)); do
  if ((i % 4)); then echo "sleep 0.5"; else echo "sleep 3"; fi
done >"$tmp/med.tasks"
run med 60 "$SCALEOUT" run --tasks "$tmp/med.tasks" -n 1 --threads 2 --timeout 200% \
  --joblog "$tmp/med.log" --extlog "$tmp/med.ext"
expect "exit status (3 timed out)" "$rc" 3
pycheck "$tmp/med.log" "$tmp/med.ext" <<'EOF'
jl, el = read_joblog(sys.argv[1]), read_extlog(sys.argv[2])
for s in (4, 8, 12):
    w = float(jl.get(s, {}).get("runtime", "nan"))
    # Task 4 starts with no limit yet (fewer than 3 finished), and is killed once the median
    # (0.5 s) of the three before it sets the limit to 1 s; before, it ran its 3 s.
    check(0.8 <= w <= 2.2, f"task {s} (sleep 3): killed at about 2 x 0.5 s, well before 3 s (JobRuntime {w})")
    check((jl.get(s, {}).get("exitval"), jl.get(s, {}).get("signal")) == ("-1", "15"),
          f"task {s}: joblog Exitval -1, Signal 15 ({jl.get(s)})")
ok = [s for s in range(1, 13) if s % 4 and jl.get(s, {}).get("exitval") == "0"]
check(len(ok) == 9, f"the nine 0.5 s tasks succeed (succeeded: {ok})")
EOF
if command -v parallel >/dev/null; then
  stdin=$tmp/med.tasks run med-gnu 60 env HOME="$tmp" parallel -j2 --timeout 200% \
    --joblog "$tmp/med-gnu.log"
  pycheck "$tmp/med-gnu.log" <<'EOF'
jl = read_joblog(sys.argv[1])
print("note|  GNU parallel -j2 on the same tasks: " + ", ".join(
    f"task {s} {jl[s]['runtime']} s exit {jl[s]['exitval']}" for s in (4, 8, 12) if s in jl))
EOF
fi

echo "- --timeout 200%: a command already running when the median appears is killed then"
{
  hang 1
  for ((i = 2; i <= 7; i++)); do echo "sleep 0.3"; done
} >"$tmp/move.tasks"
run move 60 "$SCALEOUT" run --tasks "$tmp/move.tasks" -n 2 --threads 1 --timeout 200% \
  --joblog "$tmp/move.log" --extlog "$tmp/move.ext"
expect "exit status (1 timed out)" "$rc" 1
faster_than "a 100 s task under a 0.6 s limit" 20
no_leftovers "after the run" "$tmp/pgid.1"
pycheck "$tmp/move.log" "$tmp/move.ext" <<'EOF'
jl, el = read_joblog(sys.argv[1]), read_extlog(sys.argv[2])
w = float(jl.get(1, {}).get("runtime", "nan"))
# Task 1 runs from the start on one worker with no limit; the other worker's third 0.3 s task
# ends at about 0.9 s and sets the limit to 0.6 s, which task 1 has passed: it is killed then.
check(0.7 <= w <= 4.0, f"task 1: killed soon after the third 0.3 s task ended (JobRuntime {w})")
check(truthy(el.get(1, {}).get("TimedOut", "")), f"task 1: extlog TimedOut set ({el.get(1, {}).get('TimedOut')!r})")
ok = [s for s in range(2, 8) if jl.get(s, {}).get("exitval") == "0"]
check(len(ok) == 6, f"tasks 2-7 (0.3 s) succeed (succeeded: {ok})")
EOF

echo "- --timeout 1 --retries 2: a task that always hangs is tried twice"
echo "echo attempt >>$tmp/attempts; $(hang 1)" >"$tmp/retry.tasks"
run retry 60 "$SCALEOUT" run --tasks "$tmp/retry.tasks" -n 2 --timeout 1 --retries 2 \
  --extlog "$tmp/retry.ext" --results "$tmp/retry.res"
expect "exit status (1 failed)" "$rc" 1
faster_than "two 1 s attempts" 20
expect "attempts made" "$(grep -c attempt "$tmp/attempts" 2>/dev/null || echo 0)" 2
no_leftovers "after the run" "$tmp/pgid.1"
pycheck "$tmp/retry.ext" "$tmp/retry.res" <<'EOF'
el = read_extlog(sys.argv[1])
e = el.get(1, {})
check(e.get("Attempts") == "2", f"extlog Attempts 2 (got {e.get('Attempts')!r})")
check(truthy(e.get("TimedOut", "")), f"extlog TimedOut set (got {e.get('TimedOut')!r})")
check(status(sys.argv[2], 1) == "timeout", f"status 'timeout' (got {status(sys.argv[2], 1)!r})")
EOF

finish

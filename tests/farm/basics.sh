#!/usr/bin/env bash
# The command farm's everyday contract: joblog, --results, --tag, the task environment, whole
# output lines, exit statuses, and a stop signal (exit 102) followed by a --resume that completes.
#
# Usage: basics.sh             (ctest runs it as farm.basics.np3: 2 workers, direct and under
#                               mpirun -n 3)
# Expects:
#   - a task file with comments and blank lines: exit 0; the joblog is GNU parallel's (header, one
#     nine-field line per task, Seq 1..N in source order, %.3f start times, %10.3f runtimes,
#     Command = the line) and holds a task's line while the run still goes on; stdout holds every
#     line the tasks printed, whole (tasks printing a line in pieces, a 200 kB line), a last line
#     without '\n' as it is (no newline added), and nothing else; SCALEOUT_TASK_ID = Seq,
#     SCALEOUT_WORKER a worker rank, SCALEOUT_HOST the host name, SCALEOUT_CPUS the task's own
#     Cpus_allowed_list, one cpuset per worker; --json tasks/succeeded/failed/skipped/killed
#   - commands do not see the launcher's per-rank variables (PMIX_RANK, OMPI_COMM_WORLD_SIZE,
#     OMPI_MCA_orte_hnp_uri) and a command that is itself an MPI program (a nested
#     `scaleout run pi`, direct and under mpirun) runs: exit 0 and its answer
#   - --results DIR/<seq/1000>/<seq>/{stdout,stderr,status}: "exit N", "signal N", buckets at 1000
#   - --tag: "ARG<TAB>line" in template mode, "COMMAND<TAB>line" for a task file; a flag (--tag,
#     --resume) right before an option (-n 2) is parsed as a flag
#   - exit status = failed tasks (1..100), 101 above 100, 103 for a bad option value
#   - SIGTERM, SIGINT, SIGUSR1 to a direct run and SIGTERM to the master rank under mpirun: exit
#     102; tasks past --grace are killed (no process left); --resume then exits 0, and between the
#     two runs every task printed its line once and has one success line in the joblog
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" basics

# wait_marked_cmd PATTERN SECONDS: waits until a marked process's command line matches PATTERN.
wait_marked_cmd() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    grep -qE -- "$1" <<<"$(marked)" && return 0
    sleep 0.05
  done
  return 1
}

# Helpers of this script's pycheck programs (tests/farm/lib.sh runs them).
pylib=$(
  cat <<'EOF'
HEADER = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"

def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()

def text(b):
    return b.decode("utf-8", "surrogateescape")

def read_joblog(path):
    """(lines, rows): the raw lines (str) and, per task line, a dict of its nine fields with
    seq/exitval/signal as int; a NUL in Command reads as a newline (GNU parallel's escape)."""
    data = text(read_bytes(path))
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    else:
        lines.append("<no final newline>")
    rows = []
    for line in lines:
        if line == HEADER:
            continue
        f = line.split("\t", 8)
        if len(f) != 9:
            rows.append({"bad": line})
            continue
        try:
            rows.append({"seq": int(f[0]), "host": f[1], "start": f[2], "runtime": f[3],
                         "send": f[4], "receive": f[5], "exitval": int(f[6]),
                         "signal": int(f[7]), "command": f[8].replace("\0", "\n"), "raw": line})
        except ValueError:
            rows.append({"bad": line})
    return lines, rows

def success(r):
    return "bad" not in r and r["exitval"] == 0 and r["signal"] == 0

def read_extlog(path):
    cols = ("Seq Host Worker Attempts Starttime Wall User Sys MaxRSS_KB Exitval Signal "
            "TimedOut Command").split()
    rows = []
    for line in text(read_bytes(path)).split("\n"):
        if not line or line.startswith("Seq\t"):
            continue
        f = line.split("\t", len(cols) - 1)
        rows.append(dict(zip(cols, f)) if len(f) == len(cols) else {"bad": line})
    return rows
EOF
)

workers=2
host=$(hostname)
echo "farm basics: $workers workers, host $host, mark $mark"

# ---------------------------------------------------------------------------------------------
echo "- a task file: joblog, environment, whole output lines, --json"
tasks=$tmp/basic.tasks
{
  echo "# a comment line, skipped"
  echo
  echo "   # an indented comment"
  for k in 1 2 3 4 5 6 7 8; do
    # shellcheck disable=SC2016 # expanded by the task's shell
    echo 'echo "env '"$k"' $SCALEOUT_TASK_ID|$SCALEOUT_WORKER|$SCALEOUT_HOST|$SCALEOUT_CPUS|$(grep Cpus_allowed_list /proc/self/status | cut -f2)"'
    echo "  "
  done
  for k in 9 10 11 12 13 14; do
    echo "for i in 1 2 3 4 5 6 7 8; do printf 'w$k-%s.' \$i; sleep 0.02; done; echo end"
  done
  # shellcheck disable=SC2028 # the backslashes are for the task's shell
  echo "head -c 200000 /dev/zero | tr '\\0' x; echo"
  echo "printf 'no-newline-16'"
  # shellcheck disable=SC2028
  echo "printf 'two-17\\nlines-17\\n'"
  echo "sleep 0.3; echo slow-18"
} >"$tasks"
ntasks=18
run basic 90 "$SCALEOUT" run --tasks "$tasks" -n "$workers" --threads 3 \
  --joblog "$tmp/basic.log" --json "$tmp/basic.json"
expect "exit status" "$rc" 0
pycheck "$tasks" "$tmp/basic.log" "$tmp/basic.out" "$ntasks" "$workers" "$host" <<'EOF'
src, log, out, n, nw, host = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
cmds = [l for l in text(read_bytes(src)).split("\n")
        if l.strip(" \t") and not l.strip(" \t").startswith("#")]
check(len(cmds) == n, f"task file holds {n} commands (test setup)")
lines, rows = read_joblog(log)
check(lines and lines[0] == HEADER, f"joblog header is GNU parallel's: {lines[0] if lines else '<empty>'!r}")
check(lines and lines[-1] != "<no final newline>", "joblog ends with a newline")
bad = [r["bad"] for r in rows if "bad" in r]
check(not bad, f"every joblog line has nine fields ({len(bad)} do not: {bad[:2]!r})")
rows = [r for r in rows if "bad" not in r]
seqs = sorted(r["seq"] for r in rows)
check(seqs == list(range(1, n + 1)), f"joblog Seqs are 1..{n}, once each (got {seqs})")
wrong = [r["seq"] for r in rows if 1 <= r["seq"] <= n and r["command"] != cmds[r["seq"] - 1]]
check(not wrong, f"Command of Seq k is the k-th command of the file (wrong for {wrong})")
now = __import__("time").time()
bad_start = [r["start"] for r in rows
             if not re.fullmatch(r"\d+\.\d{3}", r["start"]) or not now - 300 < float(r["start"]) <= now]
check(not bad_start, f"Starttime is epoch seconds printed %.3f, within the last 5 min ({bad_start[:3]})")
bad_rt = [r["runtime"] for r in rows
          if not re.fullmatch(r" *\d+\.\d{3}", r["runtime"]) or len(r["runtime"]) < 10]
check(not bad_rt, f"JobRuntime is printed %10.3f ({bad_rt[:3]!r})")
slow = [r for r in rows if r["seq"] == 18]
check(slow and 0.25 <= float(slow[0]["runtime"]) < 5, f"JobRuntime of 'sleep 0.3' is about 0.3 s ({slow[0]['runtime'] if slow else '-'})")
bad_num = [r["raw"] for r in rows if not re.fullmatch(r"-?\d+", r["send"]) or not re.fullmatch(r"-?\d+", r["receive"])]
check(not bad_num, f"Send and Receive are integers ({bad_num[:2]!r})")
check(all(r["exitval"] == 0 and r["signal"] == 0 for r in rows), "Exitval and Signal are 0 for every task")
check(all(r["host"] and "\t" not in r["host"] for r in rows), "Host is filled in")

# stdout: exactly the lines the tasks printed, each whole, nothing else. The task that prints no
# newline gets none added (byte for byte, as GNU parallel): its text runs into whatever came next,
# so it is taken out before the output is split into lines.
got = text(read_bytes(out))
check(got.count("no-newline-16") == 1 and "no-newline-16\n" not in got,
      "a last line without a newline is printed once, with no newline added")
got = got.replace("no-newline-16", "", 1).split("\n")
check(got[-1] == "", "stdout ends with a newline")
got = got[:-1] if got and got[-1] == "" else got
env_lines = [l for l in got if l.startswith("env ")]
other = sorted(l for l in got if not l.startswith("env "))
want = sorted([f"w{k}-1.w{k}-2.w{k}-3.w{k}-4.w{k}-5.w{k}-6.w{k}-7.w{k}-8.end" for k in range(9, 15)]
              + ["x" * 200000, "two-17", "lines-17", "slow-18"])
def show(l):
    # A long line as its length and the places where its text changes.
    if len(l) <= 60:
        return l
    cuts = [i for i in range(1, len(l)) if l[i].isalpha() != l[i - 1].isalpha() or (l[i] == "x") != (l[i - 1] == "x")]
    return f"<{len(l)} chars, text changes at {cuts[:4]}: {l[:20]}...>"
missing = [show(w) for w in want if w not in other]
extra = [show(l) for l in other if l not in want]
check(not missing and not extra and len(other) == len(want),
      f"stdout holds every task line whole and once, nothing mixed (missing {missing}, unexpected {extra})")
pos = got.index("two-17") if "two-17" in got else -1
check(pos >= 0 and pos + 1 < len(got) and got[pos + 1] == "lines-17",
      "a task's lines stay together and in order (two-17 then lines-17)")

# The environment: 8 lines "env K ID|WORKER|HOST|CPUS|ALLOWED", checked together.
check(len(env_lines) == 8, f"8 environment lines on stdout (got {len(env_lines)})")
problems = {"form": [], "id": [], "worker": [], "host": [], "cpus": []}
cpus_by_worker = {}
for l in env_lines:
    m = re.fullmatch(r"env (\d+) (.*)\|(.*)\|(.*)\|(.*)\|(.*)", l)
    if not m:
        problems["form"].append(l)
        continue
    k, tid, w, h, cpus, allowed = m.groups()
    if tid != k:
        problems["id"].append(f"task {k}: {tid!r}")
    if not (w.isdigit() and 1 <= int(w) <= nw):
        problems["worker"].append(f"task {k}: {w!r}")
    if not (h == host or h.split(".")[0] == host.split(".")[0]):
        problems["host"].append(f"task {k}: {h!r}")
    if re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", cpus) is None or cpus != allowed:
        problems["cpus"].append(f"task {k}: {cpus!r}, allowed {allowed!r}")
    cpus_by_worker.setdefault(w, set()).add(cpus)
check(not problems["form"], f"environment lines are well formed {problems['form']}")
check(not problems["id"], f"SCALEOUT_TASK_ID is the task's Seq {problems['id']}")
check(not problems["worker"], f"SCALEOUT_WORKER is a worker rank 1..{nw} {problems['worker']}")
check(not problems["host"], f"SCALEOUT_HOST is the host name {host!r} {problems['host']}")
check(not problems["cpus"], f"SCALEOUT_CPUS is a cpuset list, the task's own Cpus_allowed_list {problems['cpus']}")
check(all(len(s) == 1 for s in cpus_by_worker.values()), f"one cpuset per worker: {cpus_by_worker}")
sets = [next(iter(s)) for s in cpus_by_worker.values() if len(s) == 1]
check(len(set(sets)) == len(sets), f"workers have distinct cpusets: {cpus_by_worker}")
EOF
expect "json tasks" "$(json "$tmp/basic.json" 'd["answer"]["tasks"]')" "$ntasks"
expect "json succeeded" "$(json "$tmp/basic.json" 'd["answer"]["succeeded"]')" "$ntasks"
expect "json failed" "$(json "$tmp/basic.json" 'd["answer"]["failed"]')" 0
expect "json skipped" "$(json "$tmp/basic.json" 'd["answer"]["skipped"]')" 0
expect "json killed" "$(json "$tmp/basic.json" 'd["answer"]["killed"]')" 0
[[ ! -e $tmp/basic.log.shards ]] || echo "        note: $tmp/basic.log.shards still exists after the run"

# ---------------------------------------------------------------------------------------------
echo "- a command that is an MPI program starts on its own (no launcher variables inherited)"
nested="$SCALEOUT run pi -n 1 --samples 1e6 --tasks 4 -q"
printf '%s\n' 'echo "vars [${PMIX_RANK-}|${OMPI_COMM_WORLD_SIZE-}|${OMPI_MCA_orte_hnp_uri-}]"' \
  "$nested" >"$tmp/nested.tasks"
for launch in direct mpirun; do
  if [[ $launch == direct ]]; then
    run "nested.$launch" 120 "$SCALEOUT" run --tasks "$tmp/nested.tasks" -n "$workers" -q
  else
    run "nested.$launch" 120 mpirun -n $((workers + 1)) "$SCALEOUT" run --tasks "$tmp/nested.tasks" -q
  fi
  expect "$launch: exit status" "$rc" 0
  expect "$launch: launcher variables seen by a command" \
    "$(grep -a '^vars ' "$tmp/nested.$launch.out" || echo '<missing>')" "vars [||]"
  if grep -aq '^pi = 3\.1' "$tmp/nested.$launch.out"; then
    pass "$launch: a nested scaleout run answered"
  else
    fail "$launch: no answer from the nested scaleout run; stderr: $(head -c 300 "$tmp/nested.$launch.err")"
  fi
done

# ---------------------------------------------------------------------------------------------
echo "- the joblog is written as tasks finish, not at the end"
printf '%s\n' "echo quick" "sleep 4; echo slow" >"$tmp/live.tasks"
start live "$SCALEOUT" run --tasks "$tmp/live.tasks" -n 1 --threads 2 --joblog "$tmp/live.log"
seen=no
for ((i = 0; i < 70; i++)); do # up to 3.5 s, while "sleep 4" keeps the run going
  if [[ -f $tmp/live.log ]] && grep -aq $'^1\t' "$tmp/live.log"; then
    alive "$bg_pid" && seen=yes
    break
  fi
  sleep 0.05
done
wait_bg live 30
expect "the finished task's line is in the joblog while the run goes on" "$seen" yes
expect "exit status" "$rc" 0

# ---------------------------------------------------------------------------------------------
echo "- --results DIR/<seq/1000>/<seq>/{stdout,stderr,status}"
printf '%s\n' "echo out-1; echo err-1 >&2" "printf 'no newline'" "echo three; exit 3" \
  "kill -KILL \$\$" "echo multi; echo line; exit 0" >"$tmp/res.tasks"
run res 60 "$SCALEOUT" run --tasks "$tmp/res.tasks" -n "$workers" --results "$tmp/res" \
  --joblog "$tmp/res.log" --json "$tmp/res.json"
expect "exit status (2 failed tasks)" "$rc" 2
pycheck "$tmp/res" "$tmp/res.log" <<'EOF'
d, log = sys.argv[1], sys.argv[2]
want = {1: (b"out-1\n", b"err-1\n", "exit 0"), 2: (b"no newline", b"", "exit 0"),
        3: (b"three\n", b"", "exit 3"), 4: (b"", b"", "signal 9"),
        5: (b"multi\nline\n", b"", "exit 0")}
for seq, (o, e, s) in want.items():
    p = os.path.join(d, "0", str(seq))
    for name, val in (("stdout", o), ("stderr", e)):
        try:
            got = read_bytes(os.path.join(p, name))
        except OSError as x:
            got = f"<{x.strerror}>"
        check(got == val, f"task {seq}: {p}/{name} = {val!r} (got {got!r})")
    try:
        st = text(read_bytes(os.path.join(p, "status"))).rstrip("\n")
    except OSError as x:
        st = f"<{x.strerror}>"
    check(st == s, f"task {seq}: status = {s!r} (got {st!r})")
lines, rows = read_joblog(log)
by = {r["seq"]: r for r in rows if "bad" not in r}
check(3 in by and by[3]["exitval"] == 3 and by[3]["signal"] == 0, f"joblog task 3: Exitval 3, Signal 0 ({by.get(3, {}).get('raw')!r})")
check(4 in by and by[4]["signal"] == 9, f"joblog task 4: Signal 9 ({by.get(4, {}).get('raw')!r})")
EOF
expect "json failed" "$(json "$tmp/res.json" 'd["answer"]["failed"]')" 2
expect "json succeeded" "$(json "$tmp/res.json" 'd["answer"]["succeeded"]')" 3

for ((i = 0; i < 1001; i++)); do echo ":"; done >"$tmp/res1001.tasks"
run res1001 120 "$SCALEOUT" run --tasks "$tmp/res1001.tasks" -n "$workers" --threads 2 \
  --results "$tmp/res1001"
expect "1001 tasks: exit status" "$rc" 0
pycheck "$tmp/res1001" <<'EOF'
d = sys.argv[1]
for seq in (1, 999, 1000, 1001):
    p = os.path.join(d, str(seq // 1000), str(seq), "status")
    check(os.path.isfile(p), f"{p} exists")
check(not os.path.exists(os.path.join(d, "0", "1000")), "no 0/1000 (Seq 1000 is in bucket 1)")
n = sum(1 for root, dirs, files in os.walk(d) if "status" in files)
check(n == 1001, f"1001 status files (got {n})")
EOF

# ---------------------------------------------------------------------------------------------
echo "- --tag"
run tag1 60 "$SCALEOUT" run --command 'echo A{}; echo B{}' -n "$workers" --tag ::: x 'y z'
expect "template mode: exit status" "$rc" 0
expect "template mode: lines" "$(LC_ALL=C sort "$tmp/tag1.out" | tr '\t\n' '>|')" \
  "x>Ax|x>Bx|y z>Ay z|y z>By z|"
printf '%s\n' "echo one; echo two" "printf 'three\\n'" >"$tmp/tag2.tasks"
run tag2 60 "$SCALEOUT" run --tasks "$tmp/tag2.tasks" -n "$workers" --tag
expect "task file: exit status" "$rc" 0
expect "task file: lines" "$(LC_ALL=C sort "$tmp/tag2.out" | tr '\t\n' '>|')" \
  "echo one; echo two>one|echo one; echo two>two|printf 'three\\n'>three|"
# A flag right before an option must not take the option for its value.
run tagfirst 60 "$SCALEOUT" run --tasks "$tmp/tag2.tasks" --tag -n "$workers"
expect "--tag -n $workers (a flag before an option): exit status" "$rc" 0
run resumefirst 60 "$SCALEOUT" run --tasks "$tmp/tag2.tasks" --resume -n "$workers" \
  --joblog "$tmp/resumefirst.log"
expect "--resume -n $workers (a flag before an option): exit status" "$rc" 0

# ---------------------------------------------------------------------------------------------
echo "- exit statuses"
{ for ((i = 0; i < 100; i++)); do echo false; done; echo true; } >"$tmp/f100.tasks"
run f100 120 "$SCALEOUT" run --tasks "$tmp/f100.tasks" -n "$workers" --threads 2
expect "100 failed tasks: exit status" "$rc" 100
{ for ((i = 0; i < 101; i++)); do echo "exit 1"; done; echo true; } >"$tmp/f101.tasks"
run f101 120 "$SCALEOUT" run --tasks "$tmp/f101.tasks" -n "$workers" --threads 2
expect "101 failed tasks: exit status" "$rc" 101
printf '%s\n' true false true "exit 42" >"$tmp/f2.tasks"
run f2 60 "$SCALEOUT" run --tasks "$tmp/f2.tasks" -n "$workers"
expect "2 failed tasks (one exits 42): exit status" "$rc" 2
run badopt 60 "$SCALEOUT" run --tasks "$tmp/f2.tasks" -n "$workers" --timeout abc
expect "--timeout abc: exit status" "$rc" 103
expect "--timeout abc: one error line" "$(grep -c '^scaleout: error: ' "$tmp/badopt.err" || true)" 1
run badhalt 60 "$SCALEOUT" run --tasks "$tmp/f2.tasks" -n "$workers" --halt sometimes
expect "--halt sometimes: exit status" "$rc" 103

# ---------------------------------------------------------------------------------------------
# stop_and_resume TAG SIGNAL LAUNCH: 24 tasks of 0.5 s on 2 workers x 2 threads; SIGNAL once a
# few tasks ran, to the scaleout process (LAUNCH direct) or to rank 0 (LAUNCH mpirun); then
# --resume. Each task prints its name; between the two runs each name must appear once.
stop_and_resume() {
  local tag=$1 sig=$2 launch=$3 i target n
  local -a cmd=("$SCALEOUT" run --tasks "$tmp/$tag.tasks" --threads 2 --joblog "$tmp/$tag.log")
  for ((i = 1; i <= 24; i++)); do echo "sleep 0.5; echo done-$i"; done >"$tmp/$tag.tasks"
  echo "- SIG$sig to $([[ $launch == direct ]] && echo "a direct run" || echo "rank 0 under mpirun -n 3"), then --resume"
  if [[ $launch == direct ]]; then
    start "$tag" "${cmd[@]}" -n "$workers"
  else
    start "$tag" mpirun -n $((workers + 1)) "${cmd[@]}"
  fi
  # Under mpirun, find rank 0 first: the /proc scan can take seconds on a loaded machine, and
  # done after the wait below it let every task finish before the signal came.
  target=$bg_pid
  if [[ $launch != direct ]]; then
    target=
    for ((i = 0; i < 200 && ${#target} == 0; i++)); do
      target=$(rank_pid "$bg_pid" 0)
      [[ -n $target ]] || sleep 0.1
    done
    if [[ -z $target ]]; then
      fail "$tag: no rank 0 found among mpirun's children"
      target=$bg_pid
    fi
  fi
  # Wait until some tasks have finished (their lines are in the log) but not all.
  for ((i = 0; i < 200; i++)); do
    n=$(grep -ac $'^[0-9]' "$tmp/$tag.log" 2>/dev/null || true)
    ((${n:-0} < 4)) || break
    sleep 0.05
  done
  echo "  ($n tasks logged; kill -$sig $target)"
  kill "-$sig" "$target" 2>/dev/null || true
  wait_bg "$tag" 40
  expect "$tag: exit status after SIG$sig" "$rc" 102
  if awk -v w="$waited" 'BEGIN { exit !(w < 12) }'; then
    pass "$tag: ended ${waited}s after the signal (tasks are 0.5 s, grace 10 s)"
  else
    fail "$tag: ended ${waited}s after the signal; running tasks take 0.5 s"
  fi
  no_leftovers "$tag"
  if [[ $launch == direct ]]; then
    run "$tag.resume" 90 "${cmd[@]}" -n "$workers" --resume
  else
    run "$tag.resume" 90 mpirun -n $((workers + 1)) "${cmd[@]}" --resume
  fi
  expect "$tag: --resume exit status" "$rc" 0
  pycheck "$tmp/$tag.log" "$tmp/$tag.out" "$tmp/$tag.resume.out" 24 "$tag" <<'EOF'
log, out1, out2, n, tag = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
lines, rows = read_joblog(log)
first = text(read_bytes(out1)).split("\n")
second = text(read_bytes(out2)).split("\n")
done1 = [l for l in first if l.startswith("done-")]
done2 = [l for l in second if l.startswith("done-")]
note(f"{tag}: {len(done1)} tasks ran before the signal, {len(done2)} in the resumed run")
check(0 < len(done1) < n, f"{tag}: the signal stopped the run part way ({len(done1)} of {n} ran)")
names = sorted(done1 + done2)
check(names == sorted(f"done-{i}" for i in range(1, n + 1)),
      f"{tag}: between both runs every task printed once (dupes {sorted(set(x for x in names if names.count(x) > 1))}, "
      f"missing {sorted(set(f'done-{i}' for i in range(1, n + 1)) - set(names))})")
succ = sorted(r["seq"] for r in rows if success(r))
check(succ == list(range(1, n + 1)), f"{tag}: final joblog has one success line per task ({len(succ)} success lines)")
EOF
}
stop_and_resume sigterm TERM direct
stop_and_resume sigint INT direct
stop_and_resume sigusr1 USR1 direct
stop_and_resume mpi_sigterm TERM mpirun

# ---------------------------------------------------------------------------------------------
echo "- --grace: a task still running when the grace period ends is killed, and rerun by --resume"
# Task 1 takes 60 s the first time (it leaves a file), then is quick; tasks 2..6 are quick.
{
  echo "export SO_FARM_TEST_MARK=$mark; if [ -e $tmp/grace.first ]; then echo done-1; else touch $tmp/grace.first; sleep 60; echo done-1; fi"
  for ((i = 2; i <= 6; i++)); do echo "sleep 0.2; echo done-$i"; done
} >"$tmp/grace.tasks"
gcmd=("$SCALEOUT" run --tasks "$tmp/grace.tasks" -n "$workers" --grace 1 --joblog "$tmp/grace.log")
start grace "${gcmd[@]}"
if wait_marked_cmd '^[0-9]+ sleep 60' 30; then
  sleep 0.3
  kill -TERM "$bg_pid" 2>/dev/null || true
  wait_bg grace 40
  expect "grace: exit status after SIGTERM" "$rc" 102
  if awk -v w="$waited" 'BEGIN { exit !(w < 8) }'; then
    pass "grace: ended ${waited}s after SIGTERM (--grace 1)"
  else
    fail "grace: ended ${waited}s after SIGTERM with --grace 1"
  fi
  no_leftovers "grace"
  if grep -aq $'^1\t' "$tmp/grace.log" 2>/dev/null; then
    fail "grace: the task killed at the end of the grace period has a joblog line: $(grep -a $'^1\t' "$tmp/grace.log" | tr '\t' ' ')"
  else
    pass "grace: the killed task has no joblog line (it did not finish)"
  fi
  run grace.resume 60 "${gcmd[@]}" --resume
  expect "grace: --resume exit status" "$rc" 0
  expect "grace: --resume reran the killed task" "$(grep -c '^done-1$' "$tmp/grace.resume.out" || true)" 1
  pycheck "$tmp/grace.log" <<'EOF'
lines, rows = read_joblog(sys.argv[1])
succ = sorted(r["seq"] for r in rows if success(r))
check(succ == [1, 2, 3, 4, 5, 6], f"grace: final joblog has one success per task (success Seqs {succ})")
EOF
else
  fail "grace: the 60 s task never started"
  wait_bg grace 1
fi

finish

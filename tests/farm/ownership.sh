#!/usr/bin/env bash
# One run owns a joblog, for as long as any process of it lives (issue 8, items 1 and 2).
#
# Usage: ownership.sh   (ctest: farm.ownership; direct runs, -n 1 and -n 2)
# Part 1, concurrent runs: while a run A of 12 commands (each waits for a gate file, then appends
# to a side file) owns the joblog, a second fresh run and a --resume are both refused at once
# (exit 103 within 15 s, mpirun's start-up on a loaded machine; before, they waited 30 s and then
# ran beside A) with a sentence naming A's pid and host; A is undisturbed (its shards were not
# removed: exit 0, 12 success lines, each command once). A --resume --wait-joblog started beside
# A says it waits and is still running when the gate opens; then it runs nothing (12 skipped).
# Part 2, kill -9 of a shepherd whose commands run `sleep 60` then append to the side file: within
# 5 s no process of the run is left (the sleeps die with their shepherd: the worker kills the
# shepherd's session), the run exits 104, and --resume (now with quick commands) runs each
# command exactly once.
# Part 3, under mpirun -n 3, kill -9 of a worker and then at once of its shepherd (still in its
# drain), so nobody is left to kill the `sleep`:
# the orphans keep their share of the joblog's lock (inherited from the shepherd), so --resume is
# refused naming the owner; once the orphans are gone (killed here), --resume runs the rest and
# no command ran twice.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" ownership
host=$(hostname)
t_script=$SECONDS

# successes LOG: the number of success lines in the joblog LOG.
successes() { awk -F'\t' 'NR > 1 && $7 == 0 && $8 == 0' "$1" | wc -l | tr -d ' '; }

# shepherds: "PID WORKER_PID" of each marked shepherd process.
shepherds() {
  local pid rest
  while read -r pid rest; do
    if [[ $rest == *__shepherd* ]]; then
      echo "$pid $(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null)"
    fi
  done < <(marked)
}

# wait_for WHAT SECONDS TEST...: waits until TEST succeeds; fails WHAT if it never does.
wait_for() {
  local what=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 20; i++)); do
    if "$@"; then return 0; fi
    sleep 0.05
  done
  fail "$what: not within ${secs}s"
  return 1
}
has_lines() { [[ -s $1 ]]; }
# session_sleeps SID: the pids of the marked `sleep 60` processes in session SID.
session_sleeps() {
  local pid rest
  while read -r pid rest; do
    [[ $rest == "sleep 60" ]] || continue
    [[ $(awk '{ print $6 }' "/proc/$pid/stat" 2>/dev/null) == "$1" ]] && echo "$pid"
  done < <(marked)
}

# ---------------------------------------------------------------------------------------------
echo "- concurrent runs on one joblog"
d=$tmp/conc
mkdir "$d"
# A's commands wait for the gate file, so A owns the joblog until the script opens the gate.
for ((k = 1; k <= 12; k++)); do
  echo "echo $k >>$d/started; until test -e $d/gate; do sleep 0.05; done; echo $k >>$d/side"
done >"$d/tasks"
farm=("$SCALEOUT" run -n 1 --tasks "$d/tasks" --joblog "$d/log" -q)
start A "${farm[@]}"
wait_for "run A starts its commands" 30 has_lines "$d/started" || true
run B 30 "${farm[@]}"
expect "a second fresh run: exit status" "$rc" 103
if awk -v e="$elapsed" 'BEGIN { exit !(e < 15) }'; then
  pass "a second fresh run is refused at once (${elapsed}s)"
else
  fail "a second fresh run took ${elapsed}s to be refused"
fi
if grep -Eq "the joblog is in use by the run of pid [0-9]+ on $host" "$tmp/B.err"; then
  pass "the refusal names the owner: $(grep -Eo 'pid [0-9]+ on [^,]+' "$tmp/B.err" | head -1)"
else
  fail "the refusal does not name the owner's pid and host: $(head -c 300 "$tmp/B.err")"
fi
run R 30 "${farm[@]}" --resume
expect "a --resume beside it: exit status" "$rc" 103
if grep -q "reading it anyway" "$tmp/R.err"; then
  fail "the --resume read a locked shard anyway"
else
  pass "the --resume did not read a locked shard anyway"
fi
bg_a=$bg_pid
# Not -q: the sentence saying it waits is the check.
start W "$SCALEOUT" run -n 1 --tasks "$d/tasks" --joblog "$d/log" --resume --wait-joblog \
  --json "$tmp/W.json"
w_pid=$bg_pid
waiting() { grep -qs "waiting for the run of pid [0-9]* on $host" "$tmp/W.err"; }
if wait_for "--resume --wait-joblog says it waits" 20 waiting; then
  pass "--resume --wait-joblog waits: $(grep -o 'waiting for the run of pid [0-9]* on [^,]*' "$tmp/W.err")"
fi
alive "$w_pid" && pass "--resume --wait-joblog is still waiting while A runs" ||
  fail "--resume --wait-joblog ended while A still ran"
# The waiting run's processes (parent, mpirun, master, worker) sleep while they wait: a worker
# that spun in MPI_Bcast until the master had the joblog took a whole core.
waiting_cpu() {
  python3 - "$mark" <<'EOF'
import os, sys, time
want = b"SO_FARM_TEST_MARK=" + sys.argv[1].encode()
def ticks():
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if want not in open(f"/proc/{d}/environ", "rb").read().split(b"\0"):
                continue
            if b"--wait-joblog" not in open(f"/proc/{d}/cmdline", "rb").read():
                continue
            st = open(f"/proc/{d}/stat", "rb").read()
            f = st[st.rindex(b")") + 2:].split()
            total += int(f[11]) + int(f[12])
        except (OSError, ValueError, IndexError):
            continue
    return total
t0, c0 = time.monotonic(), ticks()
time.sleep(2)
t1, c1 = time.monotonic(), ticks()
print(f"{(c1 - c0) / os.sysconf('SC_CLK_TCK') / (t1 - t0):.2f}")
EOF
}
wcpu=$(waiting_cpu)
if awk -v c="$wcpu" 'BEGIN { exit !(c < 0.3) }'; then
  pass "--resume --wait-joblog: its processes use ${wcpu} of a CPU while they wait"
else
  fail "--resume --wait-joblog: its processes use ${wcpu} of a CPU while they wait (a rank spins)"
fi
touch "$d/gate"
bg_pid=$bg_a
wait_bg A 60
expect "run A: exit status (its shards untouched)" "$rc" 0
expect "run A: success lines in the joblog" "$(successes "$d/log")" 12
bg_pid=$w_pid
wait_bg W 60
expect "--resume --wait-joblog: exit status" "$rc" 0
expect "--resume --wait-joblog: skipped" "$(json "$tmp/W.json" 'd["answer"]["skipped"]')" 12
expect "joblog and side file: each command once" "$(complete "$d/log" "$d/side" 12)" ok
expect "joblog: success lines after both" "$(successes "$d/log")" 12
no_leftovers "concurrent runs"

# ---------------------------------------------------------------------------------------------
echo "- kill -9 of a shepherd whose commands run sleep 60"
d=$tmp/shep
mkdir "$d"
for ((k = 1; k <= 4; k++)); do
  echo "test -e $d/quick || sleep 60; echo $k >>$d/side"
done >"$d/tasks"
# One worker, two commands at once: both are the killed shepherd's.
farm=("$SCALEOUT" run -n 1 --threads 2 --tasks "$d/tasks" --joblog "$d/log" -q)
start S "${farm[@]}"
has_two_sleeps() { [[ $(marked | grep -c ' sleep 60$') -ge 2 ]]; }
if wait_for "the commands start" 30 has_two_sleeps; then
  read -r spid wpid < <(shepherds | head -1)
  victims=$(session_sleeps "$spid" | tr '\n' ' ')
  kill -KILL "$spid" 2>/dev/null || true
  t_kill=$EPOCHREALTIME
  echo "  (killed shepherd $spid of worker $wpid; its sleeps: $victims)"
  gone() { for p in $victims; do ! alive "$p" || return 1; done; }
  [[ -n $victims ]] || fail "found no sleep of shepherd $spid"
  wait_for "the killed shepherd's sleeps die" 5 gone &&
    pass "the killed shepherd's commands died with it ($(awk -v a="$t_kill" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s)"
fi
wait_bg S 20
expect "the run whose shepherd was killed: exit status (within 20 s)" "$rc" 104
no_leftovers "after the shepherd's kill"
touch "$d/quick"
run S2 60 "${farm[@]}" --resume
expect "--resume after the kill: exit status" "$rc" 0
expect "joblog and side file: each command once" "$(complete "$d/log" "$d/side" 4)" ok

# ---------------------------------------------------------------------------------------------
echo "- kill -9 of a shepherd and its worker at once: the orphans keep the joblog"
d=$tmp/orph
mkdir "$d"
for ((k = 1; k <= 2; k++)); do
  echo "test -e $d/quick || sleep 60; echo $k >>$d/side"
done >"$d/tasks"
farm=("$SCALEOUT" run -n 2 --tasks "$d/tasks" --joblog "$d/log" -q)
# Under the user's own mpirun: a direct run's parent adopts orphans (a subreaper) and ends them,
# and here nothing may.
start O mpirun -n 3 "$SCALEOUT" run --tasks "$d/tasks" --joblog "$d/log" -q
if wait_for "the commands start" 20 has_two_sleeps; then
  read -r spid wpid < <(shepherds | head -1)
  # The worker first: its shepherd then drains for 1 s before killing its commands, and dies of
  # the second kill meanwhile, so nobody is left to kill them.
  kill -KILL "$wpid" 2>/dev/null || true
  kill -KILL "$spid" 2>/dev/null || true
  echo "  (killed worker $wpid, then its shepherd $spid)"
fi
wait_bg O 60
orphans=$(marked | awk '$2 == "sleep" && $3 == "60" { print $1 }' | tr '\n' ' ')
if [[ -n $orphans ]]; then
  pass "an orphaned command outlived its shepherd and worker (pids $orphans)"
else
  fail "no orphaned command to test with"
fi
touch "$d/quick"
run O2 30 "${farm[@]}" --resume
expect "--resume beside the orphans: exit status" "$rc" 103
if grep -Eq "in use by the run of pid [0-9]+ on $host" "$tmp/O2.err"; then
  pass "--resume beside the orphans is refused, naming the owner"
else
  fail "--resume beside the orphans: $(head -c 300 "$tmp/O2.err")"
fi
for p in $orphans; do kill -KILL "$p" 2>/dev/null || true; done
no_leftovers "orphans killed"
run O3 60 "${farm[@]}" --resume
expect "--resume once the orphans are gone: exit status" "$rc" 0
expect "joblog and side file: each command once" "$(complete "$d/log" "$d/side" 2)" ok

echo "(the script took $((SECONDS - t_script)) s)"
finish

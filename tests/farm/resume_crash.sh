#!/usr/bin/env bash
# --resume semantics, and crash safety: after kill -9 of mpirun, of the master rank, of a worker
# rank or of a worker's shepherd at a random moment, --resume completes the run with nothing lost
# or run twice.
#
# Usage: resume_crash.sh [ITERATIONS] [SEED]
#        (ctest runs it as farm.resume_crash.np3: mpirun -n 3, i.e. a master and 2 workers)
# Part 1, direct runs: a run where tasks 2 and 5 fail (exit 2, the sidecar JOBLOG.source
# written); --resume on it runs nothing (6 skipped); --resume-failed reruns tasks 2 and 5 only,
# which now succeed; --resume on a joblog that does not exist yet runs everything.
# Part 2, ITERATIONS (default 16, four of each kind) crash rounds (a round whose run ended
# before the kill is repeated), taking turns killing mpirun, rank 0, a random worker rank (ranks found by
# OMPI_COMM_WORLD_RANK among mpirun's children) and the shepherd of a random worker rank (its
# child running __shepherd) with SIGKILL after a random 0.3-2.0 s, in a run of 60 tasks
# `sh -c "sleep 0.05..0.20; echo K >> SIDE"` (2 threads each; the nested shell is what a killed
# shepherd would leave behind), every 8th one `sleep 1.5` so that some
# outlive the shepherd's 1 s drain (and, for a killed shepherd, must die with it instead of
# writing SIDE beside the resume); then --resume, alternately under mpirun -n 3 and directly
# with -n 2.
# Expects, each round: the killed run ends within 30 s and leaves no process behind within 15 s
# (processes of the old run writing on would make any resume unsafe); the first --resume exits
# 0; the final joblog has exactly one success line for each of the 60 tasks; SIDE holds each
# task exactly once (nothing lost, no successful task run twice). SEED (default random, printed)
# makes the kill moments and task lengths repeatable.
set -euo pipefail

iterations=${1:-16}
seed=${2:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$seed
ntasks=60
# Crash rounds stop being started after this many seconds of the script, inside CTest's 300 s.
budget=230

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" crash

# lines FILE: the number of lines in FILE, 0 when it does not exist.
lines() { if [[ -f $1 ]]; then grep -c '' "$1" || true; else echo 0; fi; }

# shepherd_of PID: the pid of the shepherd process PID (a worker rank) started; empty if none yet.
shepherd_of() {
  python3 - "$1" <<'EOF'
import os, sys
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        stat = open(f"/proc/{d}/stat", "rb").read()
        if stat[stat.rindex(b")") + 2:].split()[1].decode() != sys.argv[1]:
            continue
        if b"__shepherd" in open(f"/proc/{d}/cmdline", "rb").read():
            print(d)
            break
    except (OSError, IndexError):
        continue
EOF
}

echo "resume and crash safety: seed $seed, $iterations crash rounds, mark $mark"

# ---------------------------------------------------------------------------------------------
echo "- --resume and --resume-failed (direct, 2 workers)"
for ((k = 1; k <= 6; k++)); do
  if ((k == 2 || k == 5)); then
    echo "echo run >>$tmp/r.$k; test -e $tmp/fixed"
  else
    echo "echo run >>$tmp/r.$k"
  fi
done >"$tmp/rs.tasks"
rs=("$SCALEOUT" run --tasks "$tmp/rs.tasks" -n 2 --joblog "$tmp/rs.log")
run rs1 60 "${rs[@]}" --json "$tmp/rs1.json"
expect "first run: exit status (tasks 2 and 5 fail)" "$rc" 2
if [[ -s $tmp/rs.log.source ]]; then
  pass "the task-source fingerprint $tmp/rs.log.source exists"
else
  fail "no task-source fingerprint $tmp/rs.log.source"
fi
touch "$tmp/fixed"
run rs2 60 "${rs[@]}" --resume --json "$tmp/rs2.json"
expect "--resume: exit status" "$rc" 0
expect "--resume: runs per task (nothing reran)" "$(for k in 1 2 3 4 5 6; do lines "$tmp/r.$k"; done | tr '\n' ' ')" "1 1 1 1 1 1 "
expect "--resume: json skipped" "$(json "$tmp/rs2.json" 'd["answer"]["skipped"]')" 6
run rs3 60 "${rs[@]}" --resume-failed --json "$tmp/rs3.json"
expect "--resume-failed: exit status" "$rc" 0
expect "--resume-failed: runs per task (2 and 5 reran)" "$(for k in 1 2 3 4 5 6; do lines "$tmp/r.$k"; done | tr '\n' ' ')" "1 2 1 1 2 1 "
expect "--resume-failed: json skipped" "$(json "$tmp/rs3.json" 'd["answer"]["skipped"]')" 4
expect "--resume-failed: json succeeded" "$(json "$tmp/rs3.json" 'd["answer"]["succeeded"]')" 2
expect "joblog: tasks with a success line" \
  "$(awk -F'\t' 'NR > 1 && $7 == 0 && $8 == 0 { print $1 }' "$tmp/rs.log" | sort -n | tr '\n' ' ')" \
  "1 2 3 4 5 6 "
run rs4 60 "$SCALEOUT" run --tasks "$tmp/rs.tasks" -n 2 --joblog "$tmp/fresh.log" --resume
expect "--resume without a joblog yet: exit status" "$rc" 0
expect "--resume without a joblog yet: runs per task (all ran)" "$(for k in 1 2 3 4 5 6; do lines "$tmp/r.$k"; done | tr '\n' ' ')" "2 3 2 2 3 2 "

# ---------------------------------------------------------------------------------------------
# A round whose run ended before its kill moment does not count; up to 10 extra rounds make up.
kinds=(mpirun master worker shepherd)
killed_mid_run=0
for ((it = 1; killed_mid_run < iterations && it <= iterations + 10; it++)); do
  out_of_time "crash rounds $((killed_mid_run + 1)) to $iterations" && break
  kind=${kinds[killed_mid_run % 4]}
  d=$tmp/c$it
  mkdir "$d"
  for ((k = 1; k <= ntasks; k++)); do
    nap=0.$((5 + RANDOM % 16))
    ((k % 8)) || nap=1.5
    # A nested shell, as a command running a script has: its `echo` outlives the outer shell
    # unless the whole session dies with a killed shepherd, and would then write SIDE a second
    # time beside the resume.
    printf 'export SO_FARM_TEST_MARK=%s; sh -c "sleep %s; echo %d >>%s/side"\n' "$mark" "$nap" "$k" "$d"
  done >"$d/tasks"
  delay=$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + 1.7 * r / 32767 }')
  wrank=$((1 + RANDOM % 2))
  farm=("$SCALEOUT" run --tasks "$d/tasks" --threads 2 --joblog "$d/log" -q)
  echo "- round $it: kill -9 of $kind$([[ $kind == worker || $kind == shepherd ]] && echo " (rank $wrank)") ${delay}s after the start"
  start "c$it" mpirun -n 3 "${farm[@]}"
  sleep "$delay"
  target=
  case $kind in
    mpirun) target=$bg_pid ;;
    master | worker | shepherd)
      r=0
      [[ $kind == master ]] || r=$wrank
      for ((i = 0; i < 100; i++)); do
        target=$(rank_pid "$bg_pid" "$r")
        [[ $kind != shepherd || -z $target ]] || target=$(shepherd_of "$target")
        if [[ -n $target ]] || ! alive "$bg_pid"; then break; fi
        sleep 0.05
      done
      ;;
  esac
  if ! alive "$bg_pid"; then
    echo "  (the run had already finished; nothing to kill)"
  elif [[ -z $target ]]; then
    fail "round $it: found no rank process to kill among mpirun's children"
  else
    killed_mid_run=$((killed_mid_run + 1))
    {
      kill -KILL "$target" || true
      echo "  (killed pid $target; $(grep -c . "$d/side" || echo 0) tasks had run)"
    } 2>/dev/null
  fi
  t_kill=$EPOCHREALTIME
  wait_bg "c$it" 30 >/dev/null
  if ((rc == 124)); then
    fail "round $it: the run was still going 30 s after kill -9 of $kind"
  else
    echo "  (the killed run ended $(awk -v a="$t_kill" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s later, exit $rc)"
  fi
  left=
  for ((i = 0; i < 150; i++)); do
    left=$(marked)
    [[ -n $left ]] || break
    sleep 0.1
  done
  if [[ -n $left ]]; then
    fail "round $it: 15 s after kill -9 of $kind, processes of the old run are still alive: $(tr '\n' ';' <<<"$left")"
    kill_marked
    sleep 0.5
  fi
  if ((it % 2)); then
    run "c$it.resume" 90 mpirun -n 3 "${farm[@]}" --resume
  else
    run "c$it.resume" 90 "${farm[@]}" -n 2 --resume
  fi
  expect "round $it: --resume exit status" "$rc" 0
  for ((extra = 1; extra <= 2 && rc != 0; extra++)); do
    run "c$it.resume$extra" 90 mpirun -n 3 "${farm[@]}" --resume
    echo "  (resume number $((extra + 1)): exit $rc)"
  done
  expect "round $it ($kind): final joblog and side file" "$(complete "$d/log" "$d/side" "$ntasks")" ok
done
if ((killed_mid_run >= iterations)); then
  pass "$killed_mid_run crash rounds killed a process of a running run"
elif [[ -n $skipped ]]; then
  echo "  ($killed_mid_run of $iterations crash rounds ran before the budget was spent)"
else
  fail "only $killed_mid_run of $iterations crash rounds killed a process of a running run"
fi

finish

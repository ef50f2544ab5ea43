#!/usr/bin/env bash
# cluster/slurm/farm.sbatch through sbatch on the local Slurm (fixture slurm): a farm of 12
# commands on 2 nodes (3 workers), each `echo start K >> SIDE; sleep 1; echo end K >> SIDE`, so
# SIDE counts every run of every command whatever the joblog says. Three ways a farm job stops
# before it is done:
#   cancel:  scancel mid-run, then the same sbatch line again: a new job finds the joblog;
#   requeue: scontrol requeue mid-run: the same job runs again with SLURM_RESTART_COUNT 1 (this
#            case starts the ranks with mpirun inside the allocation, SO_LAUNCHER=mpirun, the
#            others with srun --mpi=pmix, the script's default);
#   usr1:    scancel --signal=USR1 --batch (what #SBATCH --signal=B:USR1@N does before the time
#            limit): the batch shell passes it on and the farm stops cleanly.
#
# Usage: slurm_farm.sh [cancel] [requeue] [usr1]   (default all; ctest: cluster.slurm_farm)
# Expects: cancel and requeue end COMPLETED (0:0) having resumed (the output says so, and the
# last run ran only the commands not logged as succeeded before), every command ended exactly
# once in SIDE (no success ran twice; a command the stop killed, logged as failed by a signal,
# ran again) and the joblog holds a success line for each, one only. usr1 ends FAILED with exit
# code 102:0 (the farm's "stopped"), the output shows the signal passed on to the master and the
# farm's stop, every command that started also ended (none was killed), the joblog is whole (a
# line per ended command, 9 fields each, no seq twice) and short of the 12; submitted again it
# completes the rest, again with no command ending twice.
# The requeued job is made eligible at once (scontrol update StartTime=now): Slurm would hold it
# for its credentials' lifetime, 120 s. About 80 s in all.
set -euo pipefail

# shellcheck source=batch_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/batch_lib.sh"
budget=150
ntasks=12
cases=("$@")
((${#cases[@]})) || cases=(cancel requeue usr1)
farm=$src/cluster/slurm/farm.sbatch
sbopts=(-N 2 --ntasks-per-node=2 -t 5)

# make_tasks DIR: the commands, in DIR/tasks; they write DIR/side.
make_tasks() {
  mkdir -p "$1"
  for ((k = 1; k <= ntasks; k++)); do
    printf 'echo start %d >>%s/side; sleep 1; echo end %d >>%s/side\n' "$k" "$1" "$k" "$1"
  done >"$1/tasks"
}
# count WHAT DIR: lines "WHAT K" in DIR/side.
count() {
  local n
  n=$(grep -c "^$1 " "$2/side" 2>/dev/null) || true
  echo "${n:-0}"
}
# logged DIR: commands in the joblog (lines past the header).
logged() { tail -n +2 "$1/tasks.joblog" 2>/dev/null | grep -c . || true; }
# wait_ends DIR N SECONDS: until N commands have ended.
wait_ends() {
  local deadline=$((SECONDS + $3))
  while (($(count end "$1") < $2)); do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# check_once DIR: every command ended exactly once (no success ran again) and the joblog has
# each command once, succeeded; says how many were started again after being cut short.
check_once() {
  local d=$1 twice missing
  twice=$(grep '^end ' "$d/side" | sort | uniq -d | paste -sd, -)
  missing=$(for ((k = 1; k <= ntasks; k++)); do grep -qx "end $k" "$d/side" || echo "$k"; done |
    paste -sd, -)
  expect "commands that ended twice" "${twice:-none}" none
  expect "commands that never ended" "${missing:-none}" none
  [[ -z $twice$missing ]] || echo "  side: $(paste -sd' ' "$d/side")"
  echo "  ($(($(count start "$d") - ntasks)) commands cut short by the stop ran again)"
  local ok="NR > 1 && \$7 == 0 && \$8 == 0 { print \$1 }"
  expect "joblog: commands logged as succeeded (exit 0, no signal)" \
    "$(awk -F'\t' "$ok" "$d/tasks.joblog" | sort -un | grep -c . || true)" "$ntasks"
  expect "joblog: commands logged as succeeded twice" \
    "$(awk -F'\t' "$ok" "$d/tasks.joblog" | sort -n | uniq -d | grep -c . || true)" 0
  echo "  ($(($(logged "$d") - ntasks)) joblog lines of commands killed by the stop and run again)"
}

# mid_run DIR JOB: waits until 3 commands of JOB have ended; fails (and cancels) if it does not
# get that far, or if the farm had already finished, which would prove nothing.
mid_run() {
  if ! wait_ends "$1" 3 60; then
    fail "job $2: 3 commands did not end within 60 s (state $(job_field "$2" JobState))"
    show_output "farm-$2.out"
    slurm scancel "$2" || true
    return 1
  fi
  return 0
}

case_cancel() {
  local d=$tmp/cancel j1 j2 st before second
  make_tasks "$d"
  j1=$(submit "$farm" "${sbopts[@]}" -- "$d/tasks")
  echo "- cancel: job $j1, scancel once 3 commands ended, then submitted again"
  mid_run "$d" "$j1" || return 0
  slurm scancel "$j1"
  st=$(wait_done "$j1" 60) || true
  expect "first job's final state" "$st" CANCELLED
  j2=$(submit "$farm" "${sbopts[@]}" -- "$d/tasks")
  st=$(wait_done "$j2" 90) || true
  second=$(json "farm-$j2-0.json" 'd["answer"]["succeeded"]')
  [[ $second =~ ^[0-9]+$ ]] && before=$((ntasks - second)) || before="<unknown>"
  expect "second job $j2's final state" "$st" COMPLETED
  [[ $st == COMPLETED ]] || show_output "farm-$j2.out"
  expect "exit code" "$(job_field "$j2" ExitCode)" 0:0
  grep -q "^farm: job $j2 (restart 0): resuming from $d/tasks.joblog" "farm-$j2.out" &&
    pass "farm-$j2.out says it resumed" || { fail "farm-$j2.out does not say it resumed"; show_output "farm-$j2.out"; }
  if [[ $before != "<unknown>" ]] && ((before >= 3 && before < ntasks)); then
    pass "the first job logged $before commands, the second ran the other $second"
  else
    fail "the first job logged $before of $ntasks commands (by the second's report): not mid-run"
  fi
  check_once "$d"
}

case_requeue() {
  local d=$tmp/requeue j st
  make_tasks "$d"
  j=$(SO_LAUNCHER=mpirun submit "$farm" "${sbopts[@]}" -- "$d/tasks")
  echo "- requeue: job $j (ranks started by mpirun), scontrol requeue once 3 commands ended"
  mid_run "$d" "$j" || return 0
  slurm scontrol requeue "$j"
  # Slurm holds a requeued job until its old credentials expire (CredExpire, 120 s): once it is
  # pending again, make it eligible at once, as an administrator may.
  st=$(wait_state "$j" 60 PENDING) || true
  slurm scontrol update JobId="$j" StartTime=now || true
  st=$(wait_done "$j" 90) || true
  expect "final state" "$st" COMPLETED
  expect "restarts" "$(job_field "$j" Restarts)" 1
  expect "exit code" "$(job_field "$j" ExitCode)" 0:0
  expect "launcher, both runs" "$(grep -c '^farm: 4 ranks on 2 nodes (.*) through mpirun -n 4' "farm-$j.out")" 2
  grep -q "^farm: job $j (restart 1): resuming from $d/tasks.joblog" "farm-$j.out" &&
    pass "farm-$j.out says the restart resumed" ||
    { fail "farm-$j.out does not say the restart resumed"; show_output "farm-$j.out"; }
  local second
  second=$(json "farm-$j-1.json" 'd["answer"]["succeeded"]')
  if [[ $second =~ ^[0-9]+$ ]] && ((ntasks - second >= 3 && second > 0)); then
    pass "the first run logged $((ntasks - second)) commands, the restart ran the other $second"
  else
    fail "the restart's report (farm-$j-1.json) says $second commands succeeded: not mid-run"
  fi
  check_once "$d"
}

case_usr1() {
  local d=$tmp/usr1 j j2 st n
  make_tasks "$d"
  j=$(submit "$farm" "${sbopts[@]}" -- "$d/tasks")
  echo "- usr1: job $j, scancel --signal=USR1 --batch once 3 commands ended"
  mid_run "$d" "$j" || return 0
  slurm scancel --signal=USR1 --batch "$j"
  st=$(wait_done "$j" 60) || true
  expect "final state" "$st" FAILED
  expect "exit code (the farm's stopped status)" "$(job_field "$j" ExitCode)" 102:0
  local o=farm-$j.out
  grep -q "^farm: USR1 received: passing it to the farm's master" "$o" && pass "the batch shell passed USR1 to the master" ||
    fail "$o: no sign of USR1 reaching the batch shell"
  grep -q '^stopped by SIGUSR1 before every task ran' "$o" && pass "the farm stopped on SIGUSR1" ||
    { fail "$o: the farm did not report a stop by SIGUSR1"; show_output "$o"; }
  expect "commands started but not ended (killed)" $(($(count start "$d") - $(count end "$d"))) 0
  n=$(logged "$d")
  expect "joblog: a line per ended command" "$n" "$(count end "$d")"
  expect "joblog: lines of 9 fields" \
    "$(tail -n +2 "$d/tasks.joblog" | awk -F'\t' 'NF == 9' | grep -c . || true)" "$n"
  expect "joblog: seqs logged twice" \
    "$(tail -n +2 "$d/tasks.joblog" | cut -f1 | sort | uniq -d | grep -c . || true)" 0
  ((n < ntasks)) && pass "stopped before the end ($n of $ntasks logged)" ||
    fail "all $ntasks were logged: the stop came too late to test anything"
  j2=$(submit "$farm" "${sbopts[@]}" -- "$d/tasks")
  st=$(wait_done "$j2" 90) || true
  expect "submitted again: job $j2's final state" "$st" COMPLETED
  check_once "$d"
}

for c in "${cases[@]}"; do
  [[ $c == cancel || $c == requeue || $c == usr1 ]] || { echo "unknown case '$c'" >&2; exit 2; }
  out_of_time "case $c" && break
  "case_$c"
done
echo "(${SECONDS}s)"
finish

#!/usr/bin/env bash
# kill -9 of mpirun or of the top-level process, then an immediate --resume (issue 8, item 4):
# the resume waits for every leftover of the killed run (--wait-joblog) instead of running beside
# it or failing on vanished shards, and between both runs each command succeeded exactly once.
#
# Usage: kill_resume.sh [TRIALS] [SEED]   (ctest: farm.kill_resume.np3)
# TRIALS (default 4) rounds, alternately killing mpirun (a run started as mpirun -n 3) and the
# top-level process of a direct run (-n 2), with SIGKILL a random 0-1 s after the first command
# wrote its line, in a run of 40
# commands `sleep 0.05..0.20; echo K >> SIDE` (2 threads per worker); right after the kill (no
# waiting for its processes) `--resume --wait-joblog` as a direct run. Expects each round: the
# resume exits 0 within 90 s; once no process of either run is left, the joblog has exactly one
# success line per command and SIDE holds each exactly once, counted from SIDE, which the
# commands write themselves. Before the joblog had an owner, the immediate resume ran beside the
# leftovers (duplicate successes in 14 of 17 trials) or failed ("cannot open the joblog shard").
# SEED (default random, printed) makes the kill moments and command lengths repeatable.
set -euo pipefail

trials=${1:-4}
seed=${2:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$seed
ntasks=40
budget=200 # seconds of the script after which no new round starts (CTest allows 300)

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" killres
echo "kill -9 then an immediate --resume: seed $seed, $trials rounds, mark $mark"

done_rounds=0
for ((it = 1; it <= trials; it++)); do
  out_of_time "rounds $it to $trials" && break
  kind=$([[ $((it % 2)) == 1 ]] && echo mpirun || echo top-level)
  d=$tmp/k$it
  mkdir "$d"
  for ((k = 1; k <= ntasks; k++)); do
    printf 'sleep 0.%02d; echo %d >>%s/side\n' $((5 + RANDOM % 16)) "$k" "$d"
  done >"$d/tasks"
  delay=$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 1.0 * r / 32767 }')
  farm=("$SCALEOUT" run --tasks "$d/tasks" --threads 2 --joblog "$d/log" -q)
  echo "- round $it: kill -9 of $kind ${delay}s after its first command ended"
  if [[ $kind == mpirun ]]; then
    start "k$it" mpirun -n 3 "${farm[@]}"
  else
    start "k$it" "${farm[@]}" -n 2
  fi
  # The delay counts from the first command's line: start-up on a loaded machine takes seconds.
  for ((i = 0; i < 400; i++)); do
    [[ ! -s $d/side ]] || break
    sleep 0.05
  done
  sleep "$delay"
  {
    if alive "$bg_pid"; then
      kill -KILL "$bg_pid" || true
      echo "  (killed pid $bg_pid; $(grep -c '' "$d/side") commands had written their line)"
    else
      echo "  (the run had already ended)"
    fi
  } 2>/dev/null
  # (bash reports the killed job after the next command: kept off stderr, as wait_bg does)
  { run "k$it.resume" 90 "${farm[@]}" -n 2 --resume --wait-joblog; } 2>/dev/null
  expect "round $it ($kind): the immediate --resume --wait-joblog exits" "$rc" 0
  if grep -q "cannot open the joblog shard\|reading it anyway" "$tmp/k$it.resume.err"; then
    fail "round $it: the resume raced the killed run's shards: $(grep -m1 shard "$tmp/k$it.resume.err")"
  fi
  wait_bg "k$it" 30 >/dev/null
  no_leftovers "round $it"
  expect "round $it ($kind): joblog and side file" "$(complete "$d/log" "$d/side" "$ntasks")" ok
  done_rounds=$((done_rounds + 1))
done
echo "($done_rounds rounds in $SECONDS s)"
finish

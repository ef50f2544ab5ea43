#!/usr/bin/env bash
# As many long tasks as workers: each worker runs one, and the run takes one task's time.
#
# Usage: balance.sh      (ctest runs it as mpi.balance.np3: 1 master + 2 workers)
# Expects: `sleep --ms 1500 --tasks 2` on 2 workers: exit 0, each worker 1 task, the run's wall
# time (JSON wall_seconds) under 2.6 s (one task is 1.5 s; two in a row on one worker, the old
# behaviour, 3 s); the same with --prefetch 0; `sleep --ms 600 --tasks 3` on 3 workers: one each.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# check_one_each TAG WORKERS LIMIT: exit 0, every worker ran exactly one task, wall under LIMIT s.
check_one_each() {
  local tag=$1 workers=$2 limit=$3 f="$tmp/$1.json"
  expect "$tag: exit status" "$rc" 0
  expect "$tag: tasks per worker" "$(json "$f" '[w["tasks"] for w in d["workers"]]')" \
    "$(python3 -c "print([1] * $workers)")"
  local wall
  wall=$(json "$f" 'd["wall_seconds"]')
  if [[ $wall != "<"* ]] && awk -v w="$wall" -v l="$limit" 'BEGIN { exit !(w < l) }'; then
    pass "$tag: the run took $wall s (< $limit s)"
  else
    fail "$tag: the run took $wall s, not under $limit s"
  fi
}

echo "- two 1.5 s tasks on two workers"
start=$(date +%s.%N)
run two 120 mpirun -n 3 "$SCALEOUT" run sleep --ms 1500 --tasks 2 -q --json "$tmp/two.json"
echo "  (the whole command took $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }') s)"
check_one_each two 2 2.6

echo "- the same with --prefetch 0"
run none 120 mpirun -n 3 "$SCALEOUT" run sleep --ms 1500 --tasks 2 --prefetch 0 -q \
  --json "$tmp/none.json"
check_one_each none 2 2.6

echo "- three 0.6 s tasks on three workers"
run three 120 mpirun -n 4 "$SCALEOUT" run sleep --ms 600 --tasks 3 -q --json "$tmp/three.json"
check_one_each three 3 1.1

finish

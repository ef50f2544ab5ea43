#!/usr/bin/env bash
# Under mpirun at RANKS ranks, the primes job counts right: 664579 primes below 10^7.
#
# Usage: primes.sh RANKS      (RANKS-1 workers; ctest runs it as mpi.primes.npRANKS)
# Expects: exit 0; JSON answer.primes 664579 for [0,1e7), 606028 for [1e7,2e7) in 7 uneven
# tasks, 25 for [0,100); one JSON worker entry per worker rank; per-worker tasks sum to "tasks".
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
ranks=${1:?usage: primes.sh RANKS}

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# check_run TAG EXPECTED_PRIMES EXPECTED_TASKS: the checks every run here gets.
check_run() {
  local tag=$1 primes=$2 tasks=$3 f="$tmp/$1.json"
  expect "exit status" "$rc" 0
  expect "answer.primes" "$(json "$f" 'd["answer"]["primes"]')" "$primes"
  expect "tasks" "$(json "$f" 'd["tasks"]')" "$tasks"
  expect "failed" "$(json "$f" 'd["failed"]')" 0
  expect "config.workers" "$(json "$f" 'd["config"]["workers"]')" $((ranks - 1))
  expect "worker entries" "$(json "$f" 'len(d["workers"])')" $((ranks - 1))
  expect "worker ranks" "$(json "$f" 'sorted(w["rank"] for w in d["workers"])')" \
    "$(python3 -c "print(list(range(1, $ranks)))")"
  expect "sum of per-worker tasks" "$(json "$f" 'sum(w["tasks"] for w in d["workers"])')" "$tasks"
}

echo "primes at $ranks ranks ($((ranks - 1)) workers)"

# Options come before job parameters, the order `scaleout run JOB [options] [job parameters]` shows.
run below1e7 90 mpirun -n "$ranks" "$SCALEOUT" run primes --json "$tmp/below1e7.json" --to 1e7
check_run below1e7 664579 1000
if grep -Eq '^[[:space:]]*primes = 664579[[:space:]]*$' "$tmp/below1e7.out"; then
  pass "summary prints 'primes = 664579'"
else
  fail "summary has no 'primes = 664579' line"
fi

run upper 90 mpirun -n "$ranks" "$SCALEOUT" run primes --json "$tmp/upper.json" \
  --from 1e7 --to 2e7 --tasks 7
check_run upper 606028 7

run small 60 mpirun -n "$ranks" "$SCALEOUT" run primes --json "$tmp/small.json" \
  --from 0 --to 100 --tasks 10
check_run small 25 10

finish

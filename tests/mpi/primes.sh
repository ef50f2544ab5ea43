#!/usr/bin/env bash
# Under mpirun at RANKS ranks, the primes job counts right: 664579 primes below 10^7.
#
# Usage: primes.sh RANKS      (RANKS-1 workers; ctest runs it as mpi.primes.npRANKS)
# Expects: exit 0; JSON answer.primes 664579 for [0,1e7), 606028 for [1e7,2e7) in 7 uneven
# tasks, 25 for [0,100), 664579 for [0,1e7) in 1e6 tasks, Python's sieve's count for
# [12345,2e7) in 999983 tasks; one JSON worker entry per worker rank; per-worker tasks sum to
# "tasks". At 3 ranks also [0,1e9) in 1e3 and 1e6 tasks, the latter in under twice the former's
# wall time + 1.5 s.
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

# Fine-grained tasks share each worker's sieved window: exact at 10 numbers a task, and over an
# uneven split whose tasks straddle the windows, against an independent sieve in Python.
run fine 90 mpirun -n "$ranks" "$SCALEOUT" run primes --json "$tmp/fine.json" \
  --to 1e7 --tasks 1e6
check_run fine 664579 1000000
uneven=$(python3 -c 'n = 20000000
s = bytearray([1]) * n
s[0] = s[1] = 0
for i in range(2, int(n ** 0.5) + 1):
    if s[i]:
        s[i * i::i] = bytes(len(range(i * i, n, i)))
print(sum(s[12345:]))')
run uneven 90 mpirun -n "$ranks" "$SCALEOUT" run primes --json "$tmp/uneven.json" \
  --from 12345 --to 2e7 --tasks 999983
check_run uneven "$uneven" 999983

if ((ranks == 3)); then
  # Many small tasks cost about what few large ones do (before, every task walked all the base
  # primes: --tasks 1e6 over 1e9 took 15 times as long as --tasks 1e3).
  run coarse 180 mpirun -n 3 "$SCALEOUT" run primes --json "$tmp/coarse.json" --tasks 1e3
  check_run coarse 50847534 1000
  run finer 180 mpirun -n 3 "$SCALEOUT" run primes --json "$tmp/finer.json" --tasks 1e6
  check_run finer 50847534 1000000
  t1=$(json "$tmp/coarse.json" 'd["wall_seconds"]')
  t2=$(json "$tmp/finer.json" 'd["wall_seconds"]')
  if awk -v a="$t1" -v b="$t2" 'BEGIN { exit !(b < 2 * a + 1.5) }'; then
    pass "primes below 1e9: $t2 s in 1e6 tasks, $t1 s in 1e3 tasks (under 2 x + 1.5 s)"
  else
    fail "primes below 1e9: $t2 s in 1e6 tasks against $t1 s in 1e3 tasks"
  fi
fi

finish

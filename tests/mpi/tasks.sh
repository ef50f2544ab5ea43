#!/usr/bin/env bash
# Under mpirun at RANKS ranks, the task-parallel jobs give the serial reference's answer:
# squarecube (two task types side by side) and dishes (a two-stage pipeline with a bounded rack).
#
# Usage: tasks.sh RANKS      (RANKS-1 workers; ctest runs it as mpi.tasks.npRANKS)
# Expects: exit 0 and the answer lines of so_serial (the serial runner) for each run; squarecube's
# sums equal the closed forms; per-type task counts in the JSON; dishes: every dish out once, the
# rack (stage "dry") never above its capacity, and full often enough to hold the washers back.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
: "${SO_SERIAL:?SO_SERIAL must name the serial runner (tests/CMakeLists.txt sets it)}"
ranks=${1:?usage: tasks.sh RANKS}

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# same_answer TAG JOB PARAMS...: the run's answer lines (before the summary's blank line) are the
# serial runner's.
same_answer() {
  local tag=$1 job=$2
  shift 2
  "$SO_SERIAL" "$job" "$@" >"$tmp/$tag.serial" 2>"$tmp/$tag.serial.err" || true
  sed '/^$/q' "$tmp/$tag.out" | sed '/^$/d' >"$tmp/$tag.answer"
  if [[ -s $tmp/$tag.serial ]] && cmp -s "$tmp/$tag.serial" "$tmp/$tag.answer"; then
    pass "$tag: answer equals the serial reference's ($(wc -l <"$tmp/$tag.serial") lines)"
  else
    fail "$tag: answer differs from the serial reference's"
    diff "$tmp/$tag.serial" "$tmp/$tag.answer" | sed -n '1,10s/^/    /p' || true
  fi
}

echo "task-parallel jobs at $ranks ranks ($((ranks - 1)) workers)"

run sq 60 mpirun -n "$ranks" "$SCALEOUT" run squarecube --json "$tmp/sq.json" --from 1 --to 2000
expect "squarecube exit status" "$rc" 0
same_answer sq squarecube --from 1 --to 2000
# Closed forms: n(n+1)(2n+1)/6 and (n(n+1)/2)^2.
expect "sum_squares" "$(json "$tmp/sq.json" 'd["answer"]["sum_squares"]')" 2668667000
expect "sum_cubes" "$(json "$tmp/sq.json" 'd["answer"]["sum_cubes"]')" 4004001000000
expect "tasks per type" "$(json "$tmp/sq.json" '[(t["name"], t["tasks"]) for t in d["types"]]')" \
  '[["square", 2000], ["cube", 2000]]'

run sqlist 60 mpirun -n "$ranks" "$SCALEOUT" run squarecube --from 5 --to 30 --list
expect "squarecube --list exit status" "$rc" 0
same_answer sqlist squarecube --from 5 --to 30 --list
if grep -q '^cubes = 125 216 343 .* 27000$' "$tmp/sqlist.out"; then
  pass "the cubes are listed in order"
else
  fail "no 'cubes = 125 216 343 ... 27000' line"
fi

run dishes 90 mpirun -n "$ranks" "$SCALEOUT" run dishes --json "$tmp/dishes.json" --dishes 60 \
  --wash-ms 2 --dry-ms 5 --rack 2
expect "dishes exit status" "$rc" 0
same_answer dishes dishes --dishes 60 --wash-ms 2 --dry-ms 5 --rack 2
expect "dishes out, missing, twice" \
  "$(json "$tmp/dishes.json" '[d["answer"][k] for k in ("dishes", "missing", "twice")]')" \
  '[60, 0, 0]'
expect "rack capacity" "$(json "$tmp/dishes.json" 'd["stages"][1]["capacity"]')" 2
expect "rack never above its capacity" \
  "$(json "$tmp/dishes.json" 'd["stages"][1]["max_occupancy"] <= 2')" true
# Drying takes 2.5 times as long as washing: with two workers the rack fills and holds washers.
expect "the rack held the washers back" "$(json "$tmp/dishes.json" 'd["stages"][1]["held"] > 0')" true
if grep -Eq "^stage dry +capacity 2, at most [12] in flight; held 'wash' back [1-9][0-9]* times" \
  "$tmp/dishes.out"; then
  pass "the summary's stage line shows the rack holding 'wash' back"
else
  fail "no stage line for 'dry' saying it held 'wash' back"
  grep '^stage' "$tmp/dishes.out" | sed 's/^/    /' || true
fi

finish

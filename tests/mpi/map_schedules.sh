#!/usr/bin/env bash
# Data-parallel maps under mpirun: every schedule kind gives the same answer as the serial
# reference, cuts the input as the schedule says, and bad schedules are refused on every rank.
#
# Usage: map_schedules.sh      (ctest runs it as mpi.map_schedules.np3)
# Runs `run pi --samples 2e6 --tasks 97 --seed 5` and `run primes --to 3e6 --tasks 97` under
# mpirun -n 3 (2 workers) with --schedule static, static,4, dynamic,3, guided,2 and auto, and
# once directly with -n 1 as the reference. Expects: exit 0; answer.hits (pi) and answer.primes
# the same as the reference's (primes: 216816); the report's task count is the schedule's chunk
# count: 2 for static and static,4 (one task per worker), 33 for dynamic,3 (ceil(97/3)), 7 for
# guided,2 (49 24 12 6 3 2 1: ceil(remaining/2), never below 2 but for the last item). Then
# `--schedule bogus` and `--schedule dynamic,0` under mpirun -n 3: exit 2, one error line from
# the whole run, in 30 s.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
budget=240

declare -A chunks=([static]=2 [static,4]=2 [dynamic,3]=33 [guided,2]=7)
for job in pi primes; do
  if [[ $job == pi ]]; then
    params=(--samples 2e6 --tasks 97 --seed 5) key=hits
  else
    params=(--to 3e6 --tasks 97) key=primes
  fi
  echo "$job ${params[*]}: every schedule at 3 ranks against the serial reference"
  run "$job-ref" 60 "$SCALEOUT" run "$job" -n 1 -q --json "$tmp/$job-ref.json" "${params[@]}"
  expect "$job reference: exit status" "$rc" 0
  want=$(json "$tmp/$job-ref.json" "d['answer']['$key']")
  [[ $job == primes ]] && expect "primes below 3e6" "$want" 216816
  for sched in static static,4 dynamic,3 guided,2 auto; do
    out_of_time "$job --schedule $sched" && break
    tag=$job-${sched/,/_}
    run "$tag" 60 mpirun -n 3 "$SCALEOUT" run "$job" --schedule "$sched" -q --json "$tmp/$tag.json" \
      "${params[@]}"
    expect "$tag: exit status" "$rc" 0
    expect "$tag: answer.$key" "$(json "$tmp/$tag.json" "d['answer']['$key']")" "$want"
    if [[ -n ${chunks[$sched]:-} ]]; then
      expect "$tag: tasks" "$(json "$tmp/$tag.json" 'd["tasks"]')" "${chunks[$sched]}"
    fi
  done
done

echo "bad schedules under mpirun -n 3"
for bad in bogus dynamic,0; do
  out_of_time "--schedule $bad" && break
  start=$SECONDS
  run "bad-${bad/,/_}" 30 mpirun -n 3 "$SCALEOUT" run pi --schedule "$bad"
  expect "--schedule $bad: exit status" "$rc" 2
  expect "--schedule $bad: error lines" "$(grep -c '^scaleout: error:' "$tmp/bad-${bad/,/_}.err")" 1
  grep -q "schedule '$bad'" "$tmp/bad-${bad/,/_}.err" && pass "--schedule $bad: the message names it" ||
    fail "--schedule $bad: the message does not name '$bad'"
  echo "  (took $((SECONDS - start)) s)"
done
finish

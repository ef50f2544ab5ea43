#!/usr/bin/env bash
# --threads T runs up to T run() tasks at once on each worker, for any job: concurrency counted by
# the job itself, not inferred from timings.
#
# Usage: threads.sh            (ctest runs it as mpi.threads.np3)
# Runs under mpirun -n 3 (2 workers):
#   `run sleep --tasks 6T --ms 300 --threads T` for T = 1, 4, 16. The sleep job counts the tasks
#   inside run() on each worker with an atomic counter and answers the most it saw at once
#   (answer.concurrency). Expects: exit 0, every task merged, concurrency exactly T (at least T:
#   the threads were used; at most T: never more tasks than threads).
#   `run pi --samples 2e7 --seed 7 --threads T` for T = 1, 2 and 4. Expects: exit 0 and the same
#   bits of answer.pi and answer.hits as with T = 1.
# And one direct run (no mpirun): `run sleep -n 2 --threads 4`, concurrency 4.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

echo "threads: tasks at once per worker with --threads, at 2 workers"
for t in 1 4 16; do
  tag=sleep$t
  tasks=$((6 * t))
  run "$tag" 120 mpirun -n 3 "$SCALEOUT" run sleep --threads "$t" --json "$tmp/$tag.json" \
    --tasks "$tasks" --ms 300
  expect "$tag: exit status" "$rc" 0
  expect "$tag: answer.tasks" "$(json "$tmp/$tag.json" 'd["answer"]["tasks"]')" "$tasks"
  expect "$tag: answer.concurrency (most tasks at once on one worker)" \
    "$(json "$tmp/$tag.json" 'd["answer"]["concurrency"]')" "$t"
done

run direct 120 "$SCALEOUT" run sleep -n 2 --threads 4 --json "$tmp/direct.json" --tasks 24 --ms 300
expect "direct run, --threads 4: exit status" "$rc" 0
expect "direct run, --threads 4: answer.concurrency" "$(json "$tmp/direct.json" 'd["answer"]["concurrency"]')" 4

# pi's tasks are pure functions of the seed and their id: threads change nothing in the answer.
for t in 1 2 4; do
  tag=pi$t
  run "$tag" 120 mpirun -n 3 "$SCALEOUT" run pi --threads "$t" --json "$tmp/$tag.json" \
    --samples 2e7 --seed 7
  expect "$tag: exit status" "$rc" 0
done
ref_pi=$(json "$tmp/pi1.json" 'repr(d["answer"]["pi"])')
ref_hits=$(json "$tmp/pi1.json" 'd["answer"]["hits"]')
echo "  reference (--threads 1): pi = $ref_pi, hits = $ref_hits"
for t in 2 4; do
  expect "pi$t: answer.pi, bit for bit" "$(json "$tmp/pi$t.json" 'repr(d["answer"]["pi"])')" "$ref_pi"
  expect "pi$t: answer.hits" "$(json "$tmp/pi$t.json" 'd["answer"]["hits"]')" "$ref_hits"
done
finish

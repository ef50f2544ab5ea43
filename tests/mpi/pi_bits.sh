#!/usr/bin/env bash
# pi with a fixed seed gives the same bits whatever the worker count and however it is launched.
#
# Usage: pi_bits.sh            (ctest runs it as mpi.pi_bits.np2-5)
# Runs `run pi --samples 2e7 --seed 12345` under mpirun at 2, 3, 4 and 5 ranks, and directly
# (no mpirun, workers spawned by scaleout) with -n 1 and -n 3.
# Expects: every run exits 0; the JSON text of answer.pi is printed with %.17g and is the same
# bytes in all six runs, as are answer.hits, which is 15707600 as before pi became a map job;
# answer.samples is 20000000; pi is within 0.01 of pi.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# raw_answer FILE KEY: the characters of answer.KEY exactly as written in the JSON file, so the
# comparison is of the printed bytes, not of whatever a parser makes of them.
raw_answer() {
  python3 -c 'import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"\"answer\"\s*:\s*\{[^{}]*?\"" + sys.argv[2] + r"\"\s*:\s*([^,}\s]+)", text)
print(m.group(1) if m else "<missing>")' "$1" "$2" 2>/dev/null || echo "<unreadable>"
}

# Options come before job parameters, the order `scaleout run JOB [options] [job parameters]` shows.
params=(--samples 2e7 --seed 12345)
echo "pi bits: scaleout run pi ${params[*]} at several worker counts and launch modes"

tags=()
for ranks in 2 3 4 5; do
  tag=mpirun$ranks
  run "$tag" 45 mpirun -n "$ranks" "$SCALEOUT" run pi --json "$tmp/$tag.json" "${params[@]}"
  expect "$tag: exit status" "$rc" 0
  expect "$tag: config.workers" "$(json "$tmp/$tag.json" 'd["config"]["workers"]')" $((ranks - 1))
  tags+=("$tag")
done
for workers in 1 3; do
  tag=direct$workers
  run "$tag" 45 "$SCALEOUT" run pi -n "$workers" --json "$tmp/$tag.json" "${params[@]}"
  expect "$tag: exit status" "$rc" 0
  expect "$tag: config.workers" "$(json "$tmp/$tag.json" 'd["config"]["workers"]')" "$workers"
  tags+=("$tag")
done

# The reference is the first run that wrote an answer, so one broken run does not hide the rest.
first=${tags[0]}
for tag in "${tags[@]}"; do
  if [[ $(raw_answer "$tmp/$tag.json" pi) != "<"* ]]; then
    first=$tag
    break
  fi
done
ref_pi=$(raw_answer "$tmp/$first.json" pi)
ref_hits=$(raw_answer "$tmp/$first.json" hits)
echo "  reference ($first): pi = $ref_pi, hits = $ref_hits"

# The reference must itself be sound before the others are compared with it.
if python3 -c 'import math, sys; v = float(sys.argv[1]); sys.exit(0 if "%.17g" % v == sys.argv[1] else 1)' \
  "$ref_pi" 2>/dev/null; then
  pass "pi is written with %.17g ($ref_pi)"
else
  fail "pi '$ref_pi' is not a %.17g rendering of a double"
fi
if python3 -c 'import math, sys; sys.exit(0 if abs(float(sys.argv[1]) - math.pi) < 0.01 else 1)' \
  "$ref_pi" 2>/dev/null; then
  pass "pi is within 0.01 of 3.14159..."
else
  fail "pi '$ref_pi' is not within 0.01 of 3.14159..."
fi
expect "$first: answer.samples" "$(json "$tmp/$first.json" 'd["answer"]["samples"]')" 20000000
# The same streams as pi before it became a map job (7dd1102's pi.c summed over its 1000 tasks
# gives these hits), so a rewrite cannot change the bits unnoticed.
expect "$first: answer.hits as before the map rewrite" "$ref_hits" 15707600

for tag in "${tags[@]}"; do
  [[ $tag != "$first" ]] || continue
  expect "$tag: answer.pi bytes" "$(raw_answer "$tmp/$tag.json" pi)" "$ref_pi"
  expect "$tag: answer.hits" "$(raw_answer "$tmp/$tag.json" hits)" "$ref_hits"
done

finish

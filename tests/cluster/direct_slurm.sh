#!/usr/bin/env bash
# A direct `scaleout run` inside a batch script of 2 nodes x 2 tasks on the local Slurm (fixture
# slurm: cluster soslurm): it runs mpirun over the allocation's nodes and tasks by itself.
#
# Usage: direct_slurm.sh      (ctest runs it as cluster.direct_slurm, FIXTURES_REQUIRED slurm)
# Expects, in one batch job that ends COMPLETED:
#   - primes below 1e7 = 664579, exit 0, 3 workers (4 tasks less the master's) on both nodes,
#     and no warning (the master on the batch node reaches the parent's sockets)
#   - one failed command of three in a farm: exit status 1, as on one machine
#   - -n 5 (6 ranks for 4 tasks): refused with exit 2 and a sentence naming the allocation's
#     tasks, before mpirun starts
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=slurm_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm_lib.sh"
skip_unless_possible
[[ -d $state ]] || { fail "no local Slurm '$name' is up (cluster.slurm_up sets it up)"; finish; exit 1; }

# The script and its outputs live in $tmp, on the file system every emulated node shares.
cat >"$tmp/direct.sh" <<EOT
#!/bin/bash
"$SCALEOUT" run primes --to 1e7 --json "$tmp/primes.json" >"$tmp/primes.out" 2>"$tmp/primes.err"
echo "primes exit \$?"
"$SCALEOUT" run -q --command 'test {} != 2' ::: 1 2 3 >"$tmp/farm.out" 2>"$tmp/farm.err"
echo "farm exit \$?"
"$SCALEOUT" run pi -q -n 5 >"$tmp/many.out" 2>"$tmp/many.err"
echo "many exit \$?"
EOT
run sbatch 30 "${in_slurm[@]}" sbatch --parsable -N2 --ntasks-per-node=2 -o "$tmp/direct-%j.out" \
  "$tmp/direct.sh"
expect "sbatch exit status" "$rc" 0
job=$(cut -d';' -f1 "$tmp/sbatch.out")
expect "job $job final state" "$(wait_done "$job" 180)" COMPLETED
sed -n 's/^/  job: /p' "$tmp/direct-$job.out" 2>/dev/null || true

expect "primes: exit status" "$(sed -n 's/^primes exit //p' "$tmp/direct-$job.out")" 0
expect "primes below 1e7" "$(json "$tmp/primes.json" 'd["answer"]["primes"]')" 664579
expect "primes: workers (4 tasks less the master's)" "$(json "$tmp/primes.json" 'len(d["workers"])')" 3
expect "primes: workers' hosts" \
  "$(json "$tmp/primes.json" '",".join(sorted(set(w["host"] for w in d["workers"])))')" \
  "$name-n1,$name-n2"
expect "primes: stderr lines" "$(wc -l <"$tmp/primes.err")" 0
expect "farm, one of three commands failed: exit status" \
  "$(sed -n 's/^farm exit //p' "$tmp/direct-$job.out")" 1
expect "-n 5 on 4 tasks: exit status" "$(sed -n 's/^many exit //p' "$tmp/direct-$job.out")" 2
grep -q "need 6 ranks, more than the 4 of the Slurm allocation's tasks" "$tmp/many.err" &&
  pass "-n 5 on 4 tasks: says so" || fail "-n 5 on 4 tasks: stderr was: $(cat "$tmp/many.err")"

finish

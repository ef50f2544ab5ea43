#!/usr/bin/env bash
# scaleout's report across the emulated cluster: the workers grouped by node, the node count, the
# batch job's id from the master's environment, and each node's workers planned on that node's
# own cores (the ranks of a node decide their binding together, from MPI_COMM_TYPE_SHARED).
#
# Usage: nodes_report.sh [--name NAME]
#   NAME: a cluster that cluster/emu/up brought up (default $SO_EMU_NAME, else soemu, the CTest
#   fixture's: ctest runs this as cluster.nodes_report with FIXTURES_REQUIRED emu). SCALEOUT names
#   the scaleout binary. Skipped (exit 77) where this machine cannot make namespaces.
# Expects: mpirun on NAME-n1, 2 ranks per node over the 3 nodes (--bind-to none, so every rank
#   starts with the whole machine), SLURM_JOB_ID=4245 in the master's environment, primes below
#   1e7 in 100 tasks: exit 0, 664579 primes; the totals line says "on 5 workers (3 nodes)" and
#   ends "; Slurm job 4245"; one line per node NAME-n1..n3; JSON node_count 3, nodes in that
#   order with 1, 2, 2 workers (ranks [1], [2, 3], [4, 5]), each node's tasks the sum of its
#   workers', all nodes' the run's 100; batch_job 4245; every worker bound by scaleout, the
#   workers of one node on different cpusets, and the i-th worker of every node on the same
#   cpuset (each node plans from its own start, not as one machine of 5 workers).
#   Then an MPMD command line, one part per node: the master alone on NAME-n1, NAME-n2's two
#   ranks started under `taskset -c 1`, NAME-n3's as before: 4 workers on 3 nodes, NAME-n1 listed
#   first as the master's node with no worker (its node line marked "(master)"); NAME-n2's two
#   workers both planned on CPU 1, the only one that node was given, while NAME-n3's get the
#   cpusets they got in the first run. Needs 2 CPUs or more.
set -euo pipefail
usage="usage: nodes_report.sh [--name NAME]"
name=
while (($#)); do
  case $1 in
    --name) (($# >= 2)) || { echo "nodes_report.sh: --name needs a value; $usage" >&2; exit 2; }
            name=$2; shift 2 ;;
    -h | --help) echo "$usage"; exit 0 ;;
    *) echo "nodes_report.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
  esac
done
: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
export SO_SOURCE_DIR=${SO_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
src=$SO_SOURCE_DIR
# shellcheck source=../lib.sh
source "$src/tests/lib.sh"
# shellcheck source=emu_env.sh
source "$src/tests/cluster/emu_env.sh"
name=${name:-$cluster}
dir=/run/scaleout-emu/$name
[[ -r $dir/hostfile ]] || { echo "nodes_report.sh: cluster '$name' is not up (no $dir/hostfile)" >&2; exit 1; }

echo "- primes across the 3 nodes of $name, 2 ranks each"
# The report lands in the shared /tmp ($tmp), which every emulated node sees.
run primes 120 "$emu/exec" --name "$name" "$name-n1" env SLURM_JOB_ID=4245 \
  mpirun -n 6 --hostfile "$dir/hostfile" --map-by ppr:2:node --bind-to none \
  "$SCALEOUT" run primes --to 1e7 --tasks 100 --json "$tmp/r.json"
expect "exit status" "$rc" 0
expect "answer" "$(json "$tmp/r.json" 'd["answer"]["primes"]')" 664579
totals=$(grep -E '^primes: ' "$tmp/primes.out" || echo "<missing>")
expect "totals line: workers and nodes" "$(grep -c ' on 5 workers (3 nodes) in ' <<<"$totals" || true)" 1
expect "totals line: the batch job" "$(grep -cE '; Slurm job 4245$' <<<"$totals" || true)" 1
expect "node lines" "$(grep -E '^node ' "$tmp/primes.out" | awk '{ print $2 }' | paste -sd' ')" \
  "$name-n1 $name-n2 $name-n3"

echo "- the JSON report"
expect "node_count" "$(json "$tmp/r.json" 'd["node_count"]')" 3
expect "nodes: host, workers, ranks" \
  "$(json "$tmp/r.json" '[[n["host"], n["workers"], n["ranks"]] for n in d["nodes"]]')" \
  "[[\"$name-n1\", 1, [1]], [\"$name-n2\", 2, [2, 3]], [\"$name-n3\", 2, [4, 5]]]"
expect "nodes: tasks are their workers' sums" \
  "$(json "$tmp/r.json" 'all(n["tasks"] == sum(w["tasks"] for w in d["workers"] if w["host"] == n["host"]) for n in d["nodes"])')" \
  true
expect "nodes: tasks add up to the run's" "$(json "$tmp/r.json" 'sum(n["tasks"] for n in d["nodes"])')" 100
expect "batch_job" "$(json "$tmp/r.json" 'd["batch_job"]')" '{"scheduler": "slurm", "id": "4245"}'

echo "- binding planned per node"
expect "every worker bound by scaleout" \
  "$(json "$tmp/r.json" 'sorted(set(w["bound_by"] for w in d["workers"]))')" '["scaleout"]'
# The cpusets of each node's workers in rank order, e.g. [["0"], ["0", "1"], ["0", "1"]].
sets='[[w["cpuset"] for w in d["workers"] if w["host"] == n["host"]] for n in d["nodes"]]'
expect "workers of one node on different cpusets" \
  "$(json "$tmp/r.json" "all(len(set(s)) == len(s) for s in $sets)")" true
expect "the i-th worker of every node on the same cpuset" \
  "$(json "$tmp/r.json" "all(len(set(s[i] for s in $sets if len(s) > i)) == 1 for i in range(2))")" true
echo "  cpusets by node: $(json "$tmp/r.json" "$sets")"

echo "- the master alone on $name-n1, $name-n2 started on CPU 1 only"
if (($(nproc --all) < 2)); then
  echo "  (not run: this machine has one CPU, so no node can be given fewer than the others)"
else
  part=("$SCALEOUT" run primes --to 1e7 --tasks 100 --json "$tmp/m.json")
  run mpmd 120 "$emu/exec" --name "$name" "$name-n1" mpirun --bind-to none \
    -n 1 --host "$name-n1:1" "${part[@]}" : -n 2 --host "$name-n2:2" taskset -c 1 "${part[@]}" \
    : -n 2 --host "$name-n3:2" "${part[@]}"
  expect "mpmd: exit status" "$rc" 0
  expect "mpmd: answer" "$(json "$tmp/m.json" 'd["answer"]["primes"]')" 664579
  totals=$(grep -E '^primes: ' "$tmp/mpmd.out" || echo "<missing>")
  expect "mpmd: totals line" "$(grep -c ' on 4 workers (3 nodes) in ' <<<"$totals" || true)" 1
  expect "mpmd: the master's node line" \
    "$(grep -cE "^node $name-n1 +0 workers +0 tasks .*  \(master\)\$" "$tmp/mpmd.out" || true)" 1
  expect "mpmd: nodes: host, workers, master" \
    "$(json "$tmp/m.json" '[[n["host"], n["workers"], n["master"]] for n in d["nodes"]]')" \
    "[[\"$name-n1\", 0, true], [\"$name-n2\", 2, false], [\"$name-n3\", 2, false]]"
  expect "mpmd: $name-n2's workers on CPU 1, by scaleout" \
    "$(json "$tmp/m.json" '[[w["cpuset"], w["bound_by"]] for w in d["workers"] if w["host"].endswith("-n2")]')" \
    '[["1", "scaleout"], ["1", "scaleout"]]'
  expect "mpmd: $name-n3's workers where they were in the first run" \
    "$(json "$tmp/m.json" "${sets}[2]")" "$(json "$tmp/r.json" "${sets}[2]")"
  echo "  cpusets by node: $(json "$tmp/m.json" "$sets")"
fi

finish

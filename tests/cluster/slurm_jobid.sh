#!/usr/bin/env bash
# The Slurm job id in scaleout's report and default output names, under a real Slurm: two batch
# jobs submitted into one directory each run mandelbrot through srun --mpi=pmix on 2 nodes and
# keep their own image, and each report names its job and both nodes.
#
# Usage: slurm_jobid.sh [--name NAME]
#   NAME: a local Slurm that cluster/slurm-local/up brought up (default soslurm, the CTest
#   fixture's: ctest runs this as cluster.slurm_jobid with FIXTURES_REQUIRED slurm).
# Expects: both jobs (sbatch -N2 -n3, 64x48 image) end COMPLETED; the directory then holds
#   mandelbrot-ID.pgm for each job id and no mandelbrot.pgm, the two images byte-equal; each
#   job's output has the totals line "on 2 workers (2 nodes)" ending "; Slurm job ID"; its JSON
#   (report-ID.json) has batch_job {"scheduler": "slurm", "id": "ID"}, node_count 2, two of the
#   cluster's nodes holding the 2 workers and the master, and params.out mandelbrot-ID.pgm.
set -euo pipefail
usage="usage: slurm_jobid.sh [--name NAME]"
want_name=
while (($#)); do
  case $1 in
    --name) (($# >= 2)) || { echo "slurm_jobid.sh: --name needs a value; $usage" >&2; exit 2; }
            want_name=$2; shift 2 ;;
    -h | --help) echo "$usage"; exit 0 ;;
    *) echo "slurm_jobid.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
  esac
done
: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
export SO_SOURCE_DIR=${SO_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=slurm_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm_lib.sh"
if [[ -n $want_name ]]; then
  name=$want_name
  state=/run/scaleout-emu/$name/slurm
  in_slurm=("$sl/exec" --name "$name")
fi
skip_unless_possible
[[ -d $state ]] || { fail "no local Slurm '$name' is up (cluster.slurm_up sets it up)"; finish; exit 1; }

# The directory both jobs start in, on the file system every emulated node shares.
work=$tmp/work
mkdir -p "$work"
cat >"$tmp/job.sh" <<EOT
#!/bin/sh
exec srun --mpi=pmix "$SCALEOUT" run mandelbrot --width 64 --height 48 --iterations 200 \\
  --json "report-\$SLURM_JOB_ID.json"
EOT

ids=()
for k in 1 2; do
  run "sbatch$k" 30 "${in_slurm[@]}" sbatch --parsable -N2 -n3 -D "$work" -o "$work/out-%j.txt" \
    "$tmp/job.sh"
  expect "sbatch $k exit status" "$rc" 0
  ids+=("$(cut -d';' -f1 "$tmp/sbatch$k.out")")
done
for id in "${ids[@]}"; do
  expect "job $id final state" "$(wait_done "$id" 120)" COMPLETED
done

expect "images in the directory" "$(cd "$work" && ls -- *.pgm 2>/dev/null | paste -sd' ')" \
  "$(printf 'mandelbrot-%s.pgm\n' "${ids[@]}" | sort | paste -sd' ')"
if cmp -s "$work/mandelbrot-${ids[0]}.pgm" "$work/mandelbrot-${ids[1]}.pgm"; then
  pass "the two jobs' images are the same picture"
else
  fail "the two jobs' images differ (or one is missing)"
fi
for id in "${ids[@]}"; do
  totals=$(grep -E '^mandelbrot: ' "$work/out-$id.txt" 2>/dev/null || echo "<missing>")
  echo "  job $id: $totals"
  expect "job $id: totals line, 2 nodes and the job" \
    "$(grep -cE " on 2 workers \(2 nodes\) in .*; Slurm job $id\$" <<<"$totals" || true)" 1
  r=$work/report-$id.json
  expect "job $id: JSON batch_job" "$(json "$r" 'd["batch_job"]')" \
    "{\"scheduler\": \"slurm\", \"id\": \"$id\"}"
  expect "job $id: JSON node_count" "$(json "$r" 'd["node_count"]')" 2
  # Slurm places the 3 tasks as it sees fit: the master's node counts whether a worker shares it.
  expect "job $id: JSON nodes, 2 of the cluster's, with the 2 workers and the master" \
    "$(json "$r" "len(set(n['host'] for n in d['nodes'])) == 2 and all(n['host'].startswith('$name-n') for n in d['nodes']) and sum(n['workers'] for n in d['nodes']) == 2 and sum(n['master'] for n in d['nodes']) == 1")" \
    true
  expect "job $id: JSON params out" "$(json "$r" 'd["params"]["out"]')" "mandelbrot-$id.pgm"
done

finish

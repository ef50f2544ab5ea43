#!/usr/bin/env bash
# The batch job's id in a run's report and default output names: a run inside a Slurm job
# (SLURM_JOB_ID) or a PBS job (PBS_JOBID) says so in its summary and JSON, and its default
# output file carries the id, so two jobs started in one directory keep their files apart.
#
# Usage: batch_job.sh      (ctest runs it as cli.batch_job; needs SCALEOUT)
# Expects, for mandelbrot 64x48 on 1 worker in a fresh directory:
#   - no batch job: mandelbrot.pgm written; no "job" on the totals line; JSON batch_job null,
#     node_count 1 and one node (this host, 1 worker, every task, the master's)
#   - SLURM_JOB_ID=4242: mandelbrot-4242.pgm written (and no mandelbrot.pgm), the same bytes as
#     outside; the totals line ends "; Slurm job 4242"; JSON batch_job {"scheduler": "slurm",
#     "id": "4242"}, answer image and params out mandelbrot-4242.pgm; run mandelbrot --help shows
#     that default; --out mine.pgm is kept as given
#   - PBS_JOBID=77.pbs-server: mandelbrot-77.pgm; "; PBS job 77.pbs-server"; scheduler "pbs"
#   - both set: Slurm's
#   - the same under mpirun -n 3 (the master's environment names the job)
set -euo pipefail
usage="usage: batch_job.sh  (with SCALEOUT set to the scaleout binary)"
[[ $# -eq 0 ]] || { echo "$usage" >&2; exit 2; }
[[ -n ${SCALEOUT:-} && -x $SCALEOUT ]] || { echo "batch_job.sh: SCALEOUT is not an executable; $usage" >&2; exit 2; }

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
export TMPDIR=$tmp
small=(--width 64 --height 48 --iterations 200)
# Whatever batch job the test itself runs in is not the one under test, nor are the allocation's
# nodes (a direct run inside a Slurm allocation spans them).
clean=(env -u SLURM_JOB_ID -u PBS_JOBID -u SLURM_JOB_NUM_NODES -u SLURM_NNODES -u SLURM_STEP_ID)

# in_dir NAME CMD...: runs CMD in the fresh directory $tmp/NAME (run's output in $tmp/NAME.out).
in_dir() {
  local name=$1
  shift
  mkdir -p "$tmp/$name"
  cd "$tmp/$name"
  run "$name" 120 "$@"
  cd "$tmp"
}
totals() { grep -E '^mandelbrot: ' "$tmp/$1.out" || echo "<missing>"; }
files() { (cd "$tmp/$1" && ls -- *.pgm 2>/dev/null | tr '\n' ' ' | sed 's/ $//') || true; }

echo "- outside a batch job"
in_dir plain "${clean[@]}" "$SCALEOUT" run mandelbrot -n 1 "${small[@]}" --json "$tmp/plain.json"
expect "plain: exit status" "$rc" 0
expect "plain: files written" "$(files plain)" "mandelbrot.pgm"
expect "plain: totals line names no job" "$(totals plain | grep -c ' job ' || true)" 0
expect "plain: JSON batch_job" "$(json "$tmp/plain.json" 'd["batch_job"]')" null
expect "plain: JSON node_count" "$(json "$tmp/plain.json" 'd["node_count"]')" 1
expect "plain: JSON the node, the master's too" \
  "$(json "$tmp/plain.json" '[(n["host"], n["workers"], n["ranks"], n["tasks"], n["master"]) for n in d["nodes"]]')" \
  "$(python3 -c 'import json, socket; print(json.dumps([[socket.gethostname()[:63], 1, [1], 48, True]]))')"
expect "plain: totals line counts one node" "$(totals plain | grep -c ' on 1 worker (1 node) in ' || true)" 1

echo "- inside Slurm job 4242"
in_dir slurm "${clean[@]}" SLURM_JOB_ID=4242 "$SCALEOUT" run mandelbrot -n 1 "${small[@]}" \
  --json "$tmp/slurm.json"
expect "slurm: exit status" "$rc" 0
expect "slurm: files written" "$(files slurm)" "mandelbrot-4242.pgm"
if cmp -s "$tmp/plain/mandelbrot.pgm" "$tmp/slurm/mandelbrot-4242.pgm"; then
  pass "slurm: the image is the same as outside"
else
  fail "slurm: the image differs from the one written outside"
fi
expect "slurm: totals line ends with the job" "$(totals slurm | grep -cE '; Slurm job 4242$' || true)" 1
expect "slurm: JSON batch_job" "$(json "$tmp/slurm.json" 'd["batch_job"]')" \
  '{"scheduler": "slurm", "id": "4242"}'
expect "slurm: JSON answer image" "$(json "$tmp/slurm.json" 'd["answer"]["image"]')" mandelbrot-4242.pgm
expect "slurm: JSON params out" "$(json "$tmp/slurm.json" 'd["params"]["out"]')" mandelbrot-4242.pgm
in_dir help "${clean[@]}" SLURM_JOB_ID=4242 "$SCALEOUT" run mandelbrot --help
expect "slurm: run mandelbrot --help shows the default" \
  "$(grep -cE -e '--out FILE .*\(default mandelbrot-4242\.pgm\)' "$tmp/help.out" || true)" 1
in_dir given "${clean[@]}" SLURM_JOB_ID=4242 "$SCALEOUT" run mandelbrot -n 1 "${small[@]}" --out mine.pgm
expect "slurm: a name given is kept" "$(files given)" "mine.pgm"

echo "- inside PBS job 77.pbs-server, and inside both"
in_dir pbs "${clean[@]}" PBS_JOBID=77.pbs-server "$SCALEOUT" run mandelbrot -n 1 "${small[@]}" \
  --json "$tmp/pbs.json"
expect "pbs: exit status" "$rc" 0
expect "pbs: files written" "$(files pbs)" "mandelbrot-77.pgm"
expect "pbs: totals line ends with the job" "$(totals pbs | grep -cE '; PBS job 77\.pbs-server$' || true)" 1
expect "pbs: JSON batch_job" "$(json "$tmp/pbs.json" 'd["batch_job"]')" \
  '{"scheduler": "pbs", "id": "77.pbs-server"}'
in_dir both "${clean[@]}" PBS_JOBID=77.pbs-server SLURM_JOB_ID=4243 "$SCALEOUT" run mandelbrot -n 1 \
  "${small[@]}"
expect "both: Slurm's id wins" "$(files both)" "mandelbrot-4243.pgm"

echo "- under mpirun -n 3 inside Slurm job 4244"
in_dir mpirun "${clean[@]}" SLURM_JOB_ID=4244 mpirun -n 3 "$SCALEOUT" run mandelbrot "${small[@]}" \
  --json "$tmp/mpirun.json"
expect "mpirun: exit status" "$rc" 0
expect "mpirun: files written" "$(files mpirun)" "mandelbrot-4244.pgm"
expect "mpirun: JSON batch_job id" "$(json "$tmp/mpirun.json" 'd["batch_job"]["id"]')" 4244
expect "mpirun: JSON node_count" "$(json "$tmp/mpirun.json" 'd["node_count"]')" 1
expect "mpirun: JSON the node's workers" "$(json "$tmp/mpirun.json" 'd["nodes"][0]["workers"]')" 2

finish

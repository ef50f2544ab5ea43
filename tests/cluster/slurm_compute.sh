#!/usr/bin/env bash
# cluster/slurm/compute-mpirun.sbatch and compute-srun.sbatch through sbatch on the local Slurm
# (fixture slurm: cluster soslurm, 2 emulated nodes of 2 CPUs): both submitted at once, as a user
# would, with 2 nodes and 2 tasks a node, to count the primes below 1e7.
#
# Usage: slurm_compute.sh   (ctest: cluster.slurm_compute; SCALEOUT names the scaleout binary)
# Expects for each: the final state COMPLETED with exit code 0:0 (polled with scontrol), the
# output file scaleout-JOBID.out with the answer 664579, and the report scaleout-JOBID.json with
# that answer, 3 workers on the job's 2 nodes (their host names), and the binding Slurm's launcher
# chose kept: srun's --cpu-bind=cores gives each rank its own core (bound by `launcher`), mpirun's
# --bind-to none leaves the ranks the allocation's cpuset and scaleout pins the workers inside
# it (bound by `scaleout`).
set -euo pipefail

# shellcheck source=batch_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/batch_lib.sh"
budget=100

declare -A id
for v in mpirun srun; do
  id[$v]=$(submit "$src/cluster/slurm/compute-$v.sbatch" -N 2 --ntasks-per-node=2 -t 5 \
    -- primes --to 1e7) || { fail "sbatch of compute-$v.sbatch"; finish; }
  echo "submitted compute-$v.sbatch: job ${id[$v]}"
done

for v in mpirun srun; do
  j=${id[$v]}
  echo "- compute-$v.sbatch, job $j"
  if ! state=$(wait_done "$j" $((budget - SECONDS > 10 ? budget - SECONDS : 10))); then
    fail "job $j did not end in time (state $state)"
    slurm scancel "$j" || true
    continue
  fi
  expect "final state" "$state" COMPLETED
  expect "exit code" "$(job_field "$j" ExitCode)" 0:0
  out=scaleout-$j.out rep=scaleout-$j.json
  if grep -q '^primes = 664579$' "$out" 2>/dev/null; then
    pass "$out says primes = 664579"
  else
    fail "$out does not say primes = 664579"
    show_output "$out"
  fi
  expect "report's answer" "$(json "$rep" 'd["answer"]["primes"]')" 664579
  expect "workers" "$(json "$rep" 'len(d["workers"])')" 3
  nodes=$(slurm scontrol show hostnames "$(job_field "$j" NodeList)" | sort | paste -sd' ')
  expect "allocated nodes" "$(wc -w <<<"$nodes")" 2
  expect "workers' hosts" "$(json "$rep" '" ".join(sorted({w["host"] for w in d["workers"]}))')" \
    "$nodes"
  want=$([[ $v == srun ]] && echo launcher || echo scaleout)
  expect "bound by" "$(json "$rep" '" ".join(sorted({w["bound_by"] for w in d["workers"]}))')" \
    "$want"
done
finish

#!/usr/bin/env bash
# Jobs on the local Slurm (cluster.slurm_srun, fixture slurm): an MPI program started by
# srun --mpi=pmix on 2 nodes, and batch jobs through sbatch whose end states are polled.
#
# Usage: slurm_srun.sh          (ctest runs it with cluster soslurm up, from cluster.slurm_up)
# Expects: `srun --mpi=pmix -N2 -n2` runs tests/cluster/mpi_hosts.c's 2 ranks, one on each of 2
# distinct nodes, and their MPI_Allreduce gives 1; `srun --mpi=pmix -N2 -n3 scaleout run primes`
# counts 664579 primes below 1e7 with workers on both nodes; a trivial sbatch script (srun hostname on 2
# nodes) ends COMPLETED with exit code 0:0 and its output names both nodes; a script that exits 3
# ends FAILED with exit code 3:0; finished jobs stay visible in squeue.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=slurm_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm_lib.sh"
skip_unless_possible
[[ -d $state ]] || { fail "no local Slurm '$name' is up (cluster.slurm_up sets it up)"; finish; exit 1; }

# The program lives in $tmp, on the file system every emulated node shares.
run mpicc 60 mpicc -o "$tmp/mpi_hosts" "$(dirname "${BASH_SOURCE[0]}")/mpi_hosts.c"
expect "mpicc exit status" "$rc" 0

run srun 120 "${in_slurm[@]}" srun --mpi=pmix -N2 -n2 "$tmp/mpi_hosts"
expect "srun --mpi=pmix exit status" "$rc" 0
sed -n 's/^/  srun: /p' "$tmp/srun.out"
expect "ranks reporting" "$(grep -c '^rank [01] of 2 on ' "$tmp/srun.out")" 2
expect "distinct hosts" "$(awk '/^rank/ {print $6}' "$tmp/srun.out" | sort -u | wc -l)" 2
expect "hosts are the cluster's nodes" \
  "$(awk '/^rank/ {print $6}' "$tmp/srun.out" | sort -u | paste -sd,)" "$name-n1,$name-n2"
expect "allreduce sum on every rank" "$(awk '/^rank/ {print $8}' "$tmp/srun.out" | sort -u)" 1

# scaleout itself as the MPI program: 3 ranks (the master and a worker on the first node, a
# worker on the second) count the primes below 1e7 and its report names both nodes.
run primes 180 "${in_slurm[@]}" srun --mpi=pmix -N2 -n3 "$SCALEOUT" run primes --to 1e7 \
  --json "$tmp/primes.json"
expect "srun scaleout run primes exit status" "$rc" 0
expect "primes below 1e7" "$(json "$tmp/primes.json" 'd["answer"]["primes"]')" 664579
expect "workers' hosts in the report" \
  "$(json "$tmp/primes.json" '",".join(sorted(set(w["host"] for w in d["workers"])))')" \
  "$name-n1,$name-n2"

# sbatch: the state is polled with scontrol, since the first job after start-up may wait for the
# scheduler and there is no accounting database for sacct.
cat >"$tmp/ok.sh" <<'EOT'
#!/bin/sh
srun hostname
EOT
cat >"$tmp/bad.sh" <<'EOT'
#!/bin/sh
echo failing on purpose
exit 3
EOT
run sbatch_ok 30 "${in_slurm[@]}" sbatch --parsable -N2 -o "$tmp/ok-%j.out" "$tmp/ok.sh"
ok=$(cut -d';' -f1 "$tmp/sbatch_ok.out")
expect "sbatch ok.sh exit status" "$rc" 0
run sbatch_bad 30 "${in_slurm[@]}" sbatch --parsable -N1 -o "$tmp/bad-%j.out" "$tmp/bad.sh"
bad=$(cut -d';' -f1 "$tmp/sbatch_bad.out")
expect "sbatch bad.sh exit status" "$rc" 0

expect "ok.sh job $ok final state" "$(wait_done "$ok" 90)" COMPLETED
expect "ok.sh exit code" "$(slurm scontrol show job "$ok" | sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p')" 0:0
expect "ok.sh output hosts" "$(sort -u "$tmp/ok-$ok.out" 2>/dev/null | paste -sd,)" "$name-n1,$name-n2"
expect "bad.sh job $bad final state" "$(wait_done "$bad" 90)" FAILED
expect "bad.sh exit code" "$(slurm scontrol show job "$bad" | sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p')" 3:0
# MinJobAge keeps finished jobs listed, so scripts can read their end state after the fact.
run squeue 30 "${in_slurm[@]}" squeue -h -t all -j "$ok,$bad" -o '%i %T'
expect "finished jobs still in squeue" "$(sort "$tmp/squeue.out" | paste -sd,)" \
  "$(printf '%s COMPLETED\n%s FAILED\n' "$ok" "$bad" | sort | paste -sd,)"

finish

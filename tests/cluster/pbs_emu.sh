#!/usr/bin/env bash
# cluster/pbs/compute.pbs and cluster/ssh/hostfile.example across two nodes of the emulated
# cluster soemu (fixture emu), where Open MPI's rsh agent (cluster/emu/agent, in the node's
# environment) stands in for ssh: the PBS template run on soemu-n1 as PBS would run it, with a
# node file naming soemu-n1 and soemu-n2 twice each, and the hostfile example with its node names
# made soemu-n1 and soemu-n2 (2 slots each) under a plain mpirun without -n.
#
# Usage: pbs_emu.sh   (ctest: cluster.pbs_emu; SCALEOUT names the scaleout binary)
# Expects each to exit 0 with primes below 1e6 = 78498 from 3 workers on both nodes' host names.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=emu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/emu_env.sh"
[[ -r $SO_EMU_DIR/env ]] || { echo "the emulated cluster '$cluster' is not up (fixture emu)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
n1=${nodes[0]} n2=${nodes[1]}

# check TAG JSON: the run's exit status, answer, workers and their hosts.
check() {
  expect "exit status" "$rc" 0
  expect "primes below 1e6" "$(json "$2" 'd["answer"]["primes"]')" 78498
  expect "workers" "$(json "$2" 'len(d["workers"])')" 3
  expect "workers' hosts" "$(json "$2" '" ".join(sorted({w["host"] for w in d["workers"]}))')" \
    "$n1 $n2"
}

echo "- compute.pbs on $n1, the node file naming $n1 and $n2 twice each"
printf '%s\n' "$n1" "$n1" "$n2" "$n2" >"$tmp/nodes"
run pbs 120 "$emu/exec" --name "$cluster" "$n1" env PBS_NODEFILE="$tmp/nodes" PBS_JOBID=88.emu \
  PBS_O_WORKDIR="$tmp" bash "$SO_SOURCE_DIR/cluster/pbs/compute.pbs" primes --to 1e6
check pbs "$tmp/scaleout-88.json"
expect "says what it runs" "$(head -1 "$tmp/pbs.out")" \
  "compute.pbs: job 88, 4 ranks on 2 nodes: primes --to 1e6"

echo "- hostfile.example as $n1 and $n2 with 2 slots each, mpirun without -n"
sed -e "s/^node1 slots=[0-9]*/$n1 slots=2/" -e "s/^node2 slots=[0-9]*/$n2 slots=2/" \
  "$SO_SOURCE_DIR/cluster/ssh/hostfile.example" >"$tmp/hosts"
run ssh 120 "$emu/exec" --name "$cluster" "$n1" mpirun --hostfile "$tmp/hosts" --bind-to none \
  "$SCALEOUT" run primes --to 1e6 --json "$tmp/hostfile.json"
check ssh "$tmp/hostfile.json"
finish

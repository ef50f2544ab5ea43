#!/usr/bin/env bash
# cluster/slurm-local/up on an emulated cluster that is already up uses it as it is, and
# cluster/slurm-local/down then leaves it up (cluster.slurm_reuse; its own 1-node cluster).
#
# Usage: slurm_reuse.sh          (ctest runs it as cluster.slurm_reuse)
# Expects: up with a --nodes other than the cluster's is refused with one line and makes nothing;
# up without --nodes runs a job on the existing node; down exits 0 and the emulated cluster still
# runs commands on its node, with nothing of the local Slurm left; cluster/emu/down ends it.
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=slurm_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm_lib.sh"
skip_unless_possible

# A name of its own (SO_SLURM_NAME with an r, so two checkouts stay apart as for the fixture).
name=${name:0:19}r
state=/run/scaleout-emu/$name/slurm
emu=$SO_SOURCE_DIR/cluster/emu
[[ ! -d /run/scaleout-emu/$name ]] || "$sl/down" --name "$name" >/dev/null 2>&1 ||
  "$emu/down" --name "$name" >/dev/null 2>&1 || true

run emu_up 120 "$emu/up" --name "$name" --nodes 1
expect "cluster/emu/up exit status" "$rc" 0

run wrong 60 "$sl/up" --name "$name" --nodes 2
expect "up --nodes 2 on a 1-node cluster: stderr" "$(cat "$tmp/wrong.err")" \
  "slurm-local/up: error: the emulated cluster '$name' is up with a node count of 1, not 2; bring it down or drop --nodes"
[[ ! -e $state ]] && pass "nothing of a local Slurm made" || fail "$state made"

run up 120 "$sl/up" --name "$name"
expect "up on the existing cluster: exit status" "$rc" 0
expect "up brought up no emulated cluster" "$(grep -c 'emulated cluster .* up' "$tmp/up.out")" 0
run srun 60 "$sl/exec" --name "$name" srun -N1 hostname
expect "srun hostname" "$(cat "$tmp/srun.out")" "$name-n1"

run down 120 "$sl/down" --name "$name"
expect "down exit status" "$rc" 0
[[ ! -e $state ]] && pass "no $state" || fail "$state left"
run still 30 "$emu/exec" --name "$name" "$name-n1" hostname
expect "the emulated cluster after down" "$(cat "$tmp/still.out")" "$name-n1"
left=$(pgrep -f "/run/scaleout-emu/$name/slurm" | paste -sd' ' || true)
expect "processes of the local Slurm left" "${left:-none}" none

run emu_down 120 "$emu/down" --name "$name"
expect "cluster/emu/down exit status" "$rc" 0

finish

#!/usr/bin/env bash
# What cluster/slurm-local/up, exec and down share: their names, the common --name option, where
# a local Slurm keeps its files, and how to run a command inside one of its emulated nodes.
# Source it after `set -euo pipefail` and after setting $prog (the script's name for messages).

sl_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
emu_bin=$sl_dir/../emu

say() { printf '%s: %s\n' "$prog" "$*"; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

# sl_check_name NAME: the emulated cluster's rule (the name becomes host, namespace and file
# names, and Slurm's ClusterName, which Slurm lowercases).
sl_check_name() {
  [[ $1 =~ ^[a-z][a-z0-9]{0,19}$ ]] ||
    die "bad cluster name '$1': a lowercase letter, then up to 19 lowercase letters or digits"
}

# sl_paths NAME: sets the cluster's paths. The emulated cluster's state directory is emu's
# (SO_EMU_DIR); the local Slurm keeps everything of its own in the slurm directory inside it.
# shellcheck disable=SC2034 # the scripts that source this use them
sl_paths() {
  name=$1
  emu_state=/run/scaleout-emu/$name
  state=$emu_state/slurm
  conf=$state/etc/slurm.conf
  head=$name-n1
}

# sl_node NODE CMD...: runs CMD inside emulated node NODE (its namespaces, emu's env, cwd kept).
sl_node() {
  local node=$1
  shift
  "$emu_bin/exec" --name "$name" "$node" "$@"
}

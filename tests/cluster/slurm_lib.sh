#!/usr/bin/env bash
# What the local Slurm tests share: the fixture's cluster, its commands, and the skip when this
# machine cannot make one. Source it after ../lib.sh.

: "${SO_SOURCE_DIR:?SO_SOURCE_DIR must name the source tree (tests/CMakeLists.txt sets it)}"

# The fixture's cluster: its own name, so it never meets the emulated cluster of the emu fixture.
# SO_SLURM_NAME overrides it, so that two checkouts on one machine can run these tests at once
# (each brings down a cluster of its name left up by an earlier run).
name=${SO_SLURM_NAME:-soslurm}
nodes=2
sl=$SO_SOURCE_DIR/cluster/slurm-local
state=/run/scaleout-emu/$name/slurm

# skip_unless_possible: exits 77 (skipped), saying why, where no local Slurm can be made here.
skip_unless_possible() {
  local why=
  if ((EUID != 0)); then
    why="not root: the local Slurm needs network namespaces and root daemons"
  elif ! command -v unshare >/dev/null 2>&1 || ! unshare -n true 2>/dev/null; then
    why="this machine cannot create network namespaces (unshare -n failed)"
  elif [[ ! -x $SO_SOURCE_DIR/cluster/emu/up ]]; then
    why="no cluster/emu/up in $SO_SOURCE_DIR"
  fi
  if [[ -n $why ]]; then
    echo "skipped: $why"
    exit 77
  fi
}

# slurm CMD...: a client inside the fixture's cluster (cluster/slurm-local/exec); lib.sh's run
# takes "${in_slurm[@]}" CMD... instead, since timeout cannot run a function.
in_slurm=("$sl/exec" --name "$name")
slurm() { "${in_slurm[@]}" "$@"; }

# job_state ID: the job's state as scontrol shows it (no accounting database here).
job_state() {
  slurm scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n 1
}
# wait_job ID SECONDS: polls until the job has ended (the first job after start-up can wait a few
# seconds for the scheduler, so sbatch --wait is not relied on); prints the final state.
wait_job() {
  local id=$1 deadline=$((SECONDS + $2)) st
  while :; do
    st=$(job_state "$id")
    case $st in
      PENDING | RUNNING | CONFIGURING | COMPLETING | SUSPENDED | '') ;;
      *) echo "$st"; return 0 ;;
    esac
    if ((SECONDS >= deadline)); then echo "still ${st:-unknown} after ${2}s"; return 0; fi
    sleep 0.5
  done
}

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

# job_field ID FIELD: FIELD (JobState, ExitCode, Restarts...) of `scontrol show job`, or "<gone>"
# (no accounting database here: a finished job stays visible for MinJobAge).
job_field() {
  local line
  line=$(slurm scontrol -o show job "$1" 2>/dev/null) || { echo "<gone>"; return; }
  sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$line"
}
job_state() { job_field "$1" JobState; }

# wait_state ID SECONDS STATE...: polls until the job is in one of STATEs (the first job after
# start-up can wait a few seconds for the scheduler, so sbatch --wait is not relied on); prints
# the state it reached (or its last one when time ran out) and returns 1 on time out.
wait_state() {
  local id=$1 secs=$2 st want
  shift 2
  local deadline=$((SECONDS + secs))
  while :; do
    st=$(job_state "$id")
    for want in "$@"; do
      [[ $st == "$want" ]] && { echo "$st"; return 0; }
    done
    ((SECONDS < deadline)) || { echo "$st"; return 1; }
    sleep 0.5
  done
}

# wait_done ID SECONDS: waits for a final state (anything but pending, running and the like).
wait_done() {
  wait_state "$1" "$2" COMPLETED FAILED CANCELLED TIMEOUT NODE_FAIL OUT_OF_MEMORY BOOT_FAIL \
    DEADLINE PREEMPTED
}

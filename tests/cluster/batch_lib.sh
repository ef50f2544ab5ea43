#!/usr/bin/env bash
# Helpers the tests of cluster/slurm/'s batch scripts share, on top of ../lib.sh (sourced here):
# Slurm clients run against the local Slurm of the `slurm` fixture, submitting, and polling a
# job's state with scontrol (never `sbatch --wait`: the first job after start-up can wait a
# while for the scheduler). Source it after `set -euo pipefail`; the working directory becomes
# $tmp, which the jobs write into (the emulated nodes share /tmp with this machine).
#
# Environment: SCALEOUT (the binary), SO_SOURCE_DIR (the repository; default from this file),
# SO_SLURM_NAME (the local Slurm, default soslurm: the fixture's).

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
src=${SO_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
slurm_name=${SO_SLURM_NAME:-soslurm}
# shellcheck source=../lib.sh
source "$src/tests/lib.sh"

if ((EUID != 0)) || ! command -v unshare >/dev/null; then
  echo "skipped: the local Slurm runs in network namespaces, which need root and unshare"
  exit 77
fi
if [[ ! -r /run/scaleout-emu/$slurm_name/slurm/etc/slurm.conf ]]; then
  echo "no local Slurm '$slurm_name' is up: run this through ctest (fixture slurm), or start one" \
       "with cluster/slurm-local/up --name $slurm_name" >&2
  exit 1
fi
# The jobs take the submitting environment (sbatch's default --export=ALL): Open MPI as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$tmp"

# sx CMD...: a Slurm client (or any command) on the local Slurm's head node, cwd kept.
sx() { "$src/cluster/slurm-local/exec" --name "$slurm_name" "$@"; }

# submit SCRIPT [SBATCH OPTIONS...] -- [SCRIPT ARGUMENTS...]: prints the job id.
submit() {
  local script=$1 opts=()
  shift
  while (($#)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
  (($#)) && shift
  sx sbatch --parsable "${opts[@]}" "$script" "$@" | cut -d';' -f1
}

# job_field ID FIELD: FIELD (JobState, ExitCode, Restarts...) of `scontrol show job`, or "<gone>".
job_field() {
  local line
  line=$(sx scontrol -o show job "$1" 2>/dev/null) || { echo "<gone>"; return; }
  sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$line"
}

# wait_state ID SECONDS STATE...: polls until the job is in one of STATEs; prints the state it
# reached (or its last one when time ran out) and returns 1 on time out.
wait_state() {
  local id=$1 secs=$2 st
  shift 2
  local deadline=$((SECONDS + secs))
  while :; do
    st=$(job_field "$id" JobState)
    local want
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

# wait_file_lines FILE N SECONDS: waits until FILE has at least N lines.
wait_file_lines() {
  local deadline=$((SECONDS + $3))
  while (($(grep -c '' "$1" 2>/dev/null || echo 0) < $2)); do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# show_output FILE: the job's output file, indented, when a check failed and it helps to see it.
show_output() {
  [[ -r $1 ]] && sed -n "1,60s/^/  | /p" "$1"
  return 0
}

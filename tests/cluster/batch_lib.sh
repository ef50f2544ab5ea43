#!/usr/bin/env bash
# Helpers the tests of cluster/slurm/'s batch scripts share, on top of ../lib.sh (sourced here):
# Slurm clients run against the local Slurm of the `slurm` fixture, submitting, and polling a
# job's state with scontrol (never `sbatch --wait`: the first job after start-up can wait a
# while for the scheduler). Source it after `set -euo pipefail`; the working directory becomes
# $tmp, which the jobs write into (the emulated nodes share /tmp with this machine).
#
# Environment: SCALEOUT (the binary), SO_SOURCE_DIR (the repository; default from this file),
# SO_SLURM_NAME (the local Slurm, default soslurm: the fixture's). The cluster, the skip, the
# client (slurm CMD...) and the job-state polling come from slurm_lib.sh.

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
src=${SO_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SO_SOURCE_DIR=$src
# shellcheck source=../lib.sh
source "$src/tests/lib.sh"
# shellcheck source=slurm_lib.sh
source "$src/tests/cluster/slurm_lib.sh"
skip_unless_possible
if [[ ! -r $state/etc/slurm.conf ]]; then
  echo "no local Slurm '$name' is up: run this through ctest (fixture slurm), or start one" \
       "with cluster/slurm-local/up --name $name" >&2
  exit 1
fi
# The jobs take the submitting environment (sbatch's default --export=ALL): Open MPI as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$tmp"

# submit SCRIPT [SBATCH OPTIONS...] -- [SCRIPT ARGUMENTS...]: prints the job id.
submit() {
  local script=$1 opts=()
  shift
  while (($#)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
  (($#)) && shift
  slurm sbatch --parsable "${opts[@]}" "$script" "$@" | cut -d';' -f1
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

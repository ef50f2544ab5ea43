#!/usr/bin/env bash
# cluster/pbs/compute.pbs and cluster/ssh/hostfile.example without a PBS server: the template run
# as PBS would run it, with a node file written here (PBS_NODEFILE), once with a stand-in mpirun
# that records what it was given and once with the real one (the node file naming localhost, so
# no ssh is needed), and its refusals of a missing or too short node file.
#
# Usage: pbs_template.sh   (ctest: cluster.pbs_template; SCALEOUT names the scaleout binary)
# Expects: the stand-in sees -n <slots> --hostfile <node file> and the job with --json named after
# the job id's number; the real run of primes below 1e6 writes 78498 with 2 workers into
# PBS_O_WORKDIR/scaleout-<id>.json, from the arguments or from SO_JOB; the hostfile example, its
# names replaced by localhost, gives the same answer; bad node files exit 2 with one line.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
src=${SO_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
pbs=$src/cluster/pbs/compute.pbs
# shellcheck source=../lib.sh
source "$src/tests/lib.sh"
if ((EUID == 0)); then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1

mkdir -p "$tmp/work" "$tmp/bin"
printf 'localhost\nlocalhost\nlocalhost\n' >"$tmp/nodes"
# The stand-in mpirun writes its arguments one a line, and its working directory.
cat >"$tmp/bin/mpirun" <<EOF
#!/bin/bash
printf '%s\n' "\$@" >"$tmp/mpirun.args"
pwd >"$tmp/mpirun.cwd"
EOF
chmod +x "$tmp/bin/mpirun"

echo "- stand-in mpirun (the template run as a program, as PBS runs it)"
run stand 30 env PBS_NODEFILE="$tmp/nodes" PBS_JOBID=4711.server PBS_O_WORKDIR="$tmp/work" \
  SCALEOUT_MPIRUN="$tmp/bin/mpirun" "$pbs" primes --to 1e6
expect "exit status" "$rc" 0
want="-n 3 --hostfile $tmp/nodes --bind-to none $SCALEOUT run primes --to 1e6 --json scaleout-4711.json"
expect "mpirun's arguments" "$(paste -sd' ' "$tmp/mpirun.args" 2>/dev/null || echo '<missing>')" "$want"
expect "mpirun's directory" "$(cat "$tmp/mpirun.cwd" 2>/dev/null || echo '<missing>')" "$tmp/work"

echo "- the real mpirun, the node file naming localhost 3 times"
run real 120 env PBS_NODEFILE="$tmp/nodes" PBS_JOBID=4712.server PBS_O_WORKDIR="$tmp/work" \
  bash "$pbs" primes --to 1e6
expect "exit status" "$rc" 0
expect "says what it runs" "$(head -1 "$tmp/real.out")" \
  "compute.pbs: job 4712, 3 ranks on 1 nodes: primes --to 1e6"
j=$tmp/work/scaleout-4712.json
expect "primes below 1e6" "$(json "$j" 'd["answer"]["primes"]')" 78498
expect "workers" "$(json "$j" 'len(d["workers"])')" 2

echo "- the job from SO_JOB (qsub -v), as PBS Pro passes it"
run sojob 120 env PBS_NODEFILE="$tmp/nodes" PBS_JOBID=4713 PBS_O_WORKDIR="$tmp/work" \
  SO_JOB="primes --to 1e5" bash "$pbs"
expect "exit status" "$rc" 0
expect "primes below 1e5" "$(json "$tmp/work/scaleout-4713.json" 'd["answer"]["primes"]')" 9592

echo "- cluster/ssh/hostfile.example, its first node named localhost (the comments kept)"
# Open MPI refuses one host on two lines with slots=, so the other nodes are left out.
awk '/^#/ || !seen++ { sub(/^node[0-9]+ /, "localhost "); print }' \
  "$src/cluster/ssh/hostfile.example" >"$tmp/hosts"
run ssh 120 env -C "$tmp/work" mpirun --hostfile "$tmp/hosts" -n 3 --bind-to none \
  "$SCALEOUT" run primes --to 1e6 --json hostfile.json
expect "exit status" "$rc" 0
expect "primes below 1e6" "$(json "$tmp/work/hostfile.json" 'd["answer"]["primes"]')" 78498

echo "- the batch scripts can be run as programs"
for f in "$src"/cluster/slurm/*.sbatch "$pbs"; do
  [[ -x $f ]] && pass "${f#"$src"/} is executable" || fail "${f#"$src"/} is not executable"
done

echo "- bad input"
# refused TAG WHAT MESSAGE-PART ENV...: the template exits 2 with one line on stderr holding it.
refused() {
  local tag=$1 what=$2 part=$3
  shift 3
  run "$tag" 30 env "$@" PBS_O_WORKDIR="$tmp/work" SCALEOUT_MPIRUN="$tmp/bin/mpirun" bash "$pbs"
  local lines
  lines=$(grep -c '' "$tmp/$tag.err" || true)
  if ((rc == 2)) && ((lines == 1)) && grep -q -- "$part" "$tmp/$tag.err"; then
    pass "$what: exit 2, one line"
  else
    fail "$what: exit $rc, $lines lines on stderr, expected exit 2 and one line with '$part'"
  fi
}
refused nofile "no PBS_NODEFILE" "PBS_NODEFILE is not set" -u PBS_NODEFILE
refused unread "a missing node file" "cannot be read" PBS_NODEFILE="$tmp/none"
printf 'localhost\n' >"$tmp/one"
refused short "one slot" "has 1 slot lines" PBS_NODEFILE="$tmp/one"
refused noprog "no scaleout program" "not executable" PBS_NODEFILE="$tmp/nodes" SCALEOUT="$tmp/none"
finish

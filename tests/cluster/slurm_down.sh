#!/usr/bin/env bash
# The local Slurm fixture's teardown (cluster.slurm_down): cluster/slurm-local/down ends cluster
# soslurm, with a job still running on both nodes, and nothing of it is left.
#
# Usage: slurm_down.sh          (ctest runs it last for fixture slurm)
# Expects: down exits 0; the daemons named in the pid files, the running job's slurmstepd and task
# processes, and every process inside the cluster's nodes are gone; no file under
# /run/scaleout-emu/soslurm, no network namespace soslurm-*; a second down is refused with one
# error line.
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=slurm_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm_lib.sh"
skip_unless_possible
[[ -d $state ]] || { fail "no local Slurm '$name' is up (cluster.slurm_up sets it up)"; finish; exit 1; }

# What has to go: the daemons' pids, and every process inside the nodes, found by their network
# namespaces, once a job runs a task on both nodes.
pids=()
for f in "$state"/run/*.pid "$state/munge/munged.pid"; do pids+=("$(cat "$f")"); done
# The nodes' network namespaces as inode numbers (readlink gives net:[INODE]).
nets=()
for ((i = 1; i <= nodes; i++)); do
  net=$("$SO_SOURCE_DIR/cluster/emu/exec" --name "$name" "$name-n$i" readlink /proc/self/ns/net)
  net=${net#"net:["} && nets+=("${net%"]"}")
done
# running PID: the process exists and is not a zombie (which only waits for its parent to reap it).
running() {
  local line
  read -r line 2>/dev/null <"/proc/$1/stat" || return 1
  line=${line##*) }
  [[ ${line%% *} != Z ]]
}
# in_nodes: the pids of every process in one of the nodes' network namespaces (one stat for all:
# a fork per process takes seconds on a loaded machine).
in_nodes() {
  local ino path n pid
  while read -r ino path; do
    pid=${path#/proc/} pid=${pid%%/*}
    for n in "${nets[@]}"; do [[ $ino == "$n" ]] && running "$pid" && echo "$pid"; done
  done < <(stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null)
}

run sbatch 30 "${in_slurm[@]}" sbatch --parsable -N2 -o /dev/null --wrap "srun sleep 617"
job=$(cut -d';' -f1 "$tmp/sbatch.out")
deadline=$((SECONDS + 60))
while [[ $(job_state "$job") != RUNNING ]] && ((SECONDS < deadline)); do sleep 0.5; done
expect "job $job state before down" "$(job_state "$job")" RUNNING
# Wait for the task on both nodes, so down has a slurmstepd and a task to end on each.
tasks=0
while ((SECONDS < deadline)); do
  tasks=0
  for p in $(in_nodes); do
    # srun gives the task its program's full path: /usr/bin/sleep 617.
    [[ $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) =~ ^(/usr/bin/)?sleep\ 617\ $ ]] && tasks=$((tasks + 1))
  done
  ((tasks >= nodes)) && break
  sleep 0.5
done
expect "job tasks running in the nodes before down" "$tasks" "$nodes"
mapfile -t before < <(in_nodes)
echo "  processes in the nodes before down: ${#before[@]}"

run down 120 "$sl/down" --name "$name"
expect "down exit status" "$rc" 0
sed -n 's/^/  down: /p' "$tmp/down.out"

mapfile -t left < <(
  for p in "${pids[@]}" "${before[@]}"; do running "$p" && echo "$p"; done
  in_nodes
)
mapfile -t left < <(printf '%s\n' "${left[@]}" | sed '/^$/d' | sort -un)
if ((${#left[@]} == 0)); then
  pass "none of the ${#pids[@]} daemons and ${#before[@]} processes in the nodes is left"
else
  for p in "${left[@]}"; do
    fail "left running: pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
  done
fi
[[ ! -e /run/scaleout-emu/$name ]] && pass "no /run/scaleout-emu/$name" ||
  fail "left: $(find "/run/scaleout-emu/$name" 2>/dev/null | head -n 5 | paste -sd' ')"
ns=$(ip netns list 2>/dev/null | awk -v n="$name-" 'index($1, n) == 1 {print $1}' | paste -sd' ')
expect "network namespaces $name-*" "${ns:-none}" none

run again 30 "$sl/down" --name "$name"
((rc != 0)) && [[ $(wc -l <"$tmp/again.err") == 1 ]] && pass "second down refused: $(cat "$tmp/again.err")" ||
  fail "second down: exit $rc, stderr: $(cat "$tmp/again.err")"

finish

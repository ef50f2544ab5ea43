#!/usr/bin/env bash
# The local Slurm fixture's set-up (cluster.slurm_up): brings up cluster soslurm, 2 nodes, with
# cluster/slurm-local/up and checks it is what the other tests need.
#
# Usage: slurm_up.sh          (ctest runs it as cluster.slurm_up; cluster.slurm_down ends it)
# Expects: bad command lines refused with one error line and nothing made; up exits 0 and every
# node is idle in sinfo as soon as it returns; the private munge socket answers; slurm.conf holds
# the private paths, the per-node TmpFS and cgroup.conf cgroup/v1; a second up of the same name is
# refused and leaves the cluster working; exec refuses a missing command and an unknown cluster.
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=slurm_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm_lib.sh"
skip_unless_possible

# refused WHAT CMD...: CMD exits non-zero with exactly one line on stderr, "slurm-local/...: error:".
refused() {
  local what=$1
  shift
  run refused 30 "$@"
  local lines first
  lines=$(wc -l <"$tmp/refused.err")
  first=$(head -n 1 "$tmp/refused.err")
  if ((rc != 0 && rc != 124)) && ((lines == 1)) && [[ $first == slurm-local/*": error: "* ]]; then
    pass "$what refused: $first"
  else
    fail "$what: exit $rc, stderr: $(head -c 300 "$tmp/refused.err")"
  fi
}

# A cluster left by an interrupted earlier run would make up refuse: take it down first.
if [[ -d $state ]]; then
  echo "note: a local Slurm '$name' was left up; bringing it down first"
  "$sl/down" --name "$name" || true
elif [[ -d /run/scaleout-emu/$name ]]; then
  echo "note: an emulated cluster '$name' was left up; bringing it down first"
  "$SO_SOURCE_DIR/cluster/emu/down" --name "$name" || true
fi

refused "up --nodes 0" "$sl/up" --name "$name" --nodes 0
refused "up --name Bad!" "$sl/up" --name 'Bad!'
refused "up --frob" "$sl/up" --frob
[[ ! -e /run/scaleout-emu/$name ]] && pass "nothing made by refused command lines" ||
  fail "refused command lines left /run/scaleout-emu/$name"
refused "exec before up" "$sl/exec" --name "$name" sinfo

run up 240 "$sl/up" --name "$name" --nodes "$nodes"
expect "up exit status" "$rc" 0
sed -n 's/^/  up: /p' "$tmp/up.out"
if ((rc != 0)); then
  finish
  exit 1
fi

# Every node idle the moment up returns: up's promise to the tests that follow.
run sinfo 30 "${in_slurm[@]}" sinfo -h -N -o '%N %T'
expect "sinfo exit status" "$rc" 0
for ((i = 1; i <= nodes; i++)); do
  st=$(awk -v n="$name-n$i" '$1 == n {print $2}' "$tmp/sinfo.out" | sort -u)
  expect "$name-n$i state right after up" "${st:-<missing>}" idle
done
expect "nodes in sinfo" "$(awk '{print $1}' "$tmp/sinfo.out" | sort -u | wc -l)" "$nodes"

# munge with its own key and socket: a credential made through the private socket decodes there.
sock=$state/munge/munge.socket
run munge 30 "${in_slurm[@]}" sh -c "munge -S '$sock' -n | unmunge -S '$sock'"
expect "munge through $sock" "$(sed -n 's/^STATUS: *//p' "$tmp/munge.out")" "Success (0)"

conf=$state/etc/slurm.conf
expect "slurm.conf AuthInfo" "$(sed -n 's/^AuthInfo=//p' "$conf")" "socket=$sock"
expect "slurm.conf TmpFS (the node-local directory)" "$(sed -n 's/^TmpFS=//p' "$conf")" \
  "/run/scaleout-emu/$name/local"
expect "slurm.conf MinJobAge" "$(sed -n 's/^MinJobAge=//p' "$conf")" 600
expect "cgroup.conf" "$(cat "$state/etc/cgroup.conf")" "CgroupPlugin=cgroup/v1"
# Each slurmd runs in its own node: the host name its node sees is its own.
for ((i = 1; i <= nodes; i++)); do
  pid=$(cat "$state/run/slurmd-$name-n$i.pid" 2>/dev/null || echo none)
  uts=$(nsenter -t "$pid" -u hostname 2>/dev/null || echo "<unreadable>")
  expect "host name seen by slurmd of $name-n$i (pid $pid)" "$uts" "$name-n$i"
done

refused "second up of $name" "$sl/up" --name "$name" --nodes "$nodes"
run sinfo2 30 "${in_slurm[@]}" sinfo -h -N -t idle -o '%N'
expect "idle nodes after the refused second up" "$(sort -u "$tmp/sinfo2.out" | wc -l)" "$nodes"
refused "exec without a command" "$sl/exec" --name "$name"
refused "exec on an unknown cluster" "$sl/exec" --name nosuchslurm sinfo

finish

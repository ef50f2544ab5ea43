#!/usr/bin/env bash
# CTest fixture clean-up cluster.emu_down (FIXTURES_CLEANUP emu): tears down the emulated cluster
# soemu with cluster/emu/down and checks on its own that nothing is left: processes running in
# the nodes (one of them ignoring SIGTERM) and the processes up started are gone, and so are the
# network namespaces, the mounts under the state directory, hosts entries and the state
# directory itself. down on a cluster that is not up says so and fails.
#
# Usage: emu_down.sh         (ctest runs it as cluster.emu_down, after the tests on soemu)
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=emu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/emu_env.sh"

if [[ ! -e $SO_EMU_DIR/nodes ]]; then
  fail "cluster $cluster is not up (did cluster.emu_up fail?)"
  [[ ! -e $SO_EMU_DIR && ! -e /run/netns/$cluster-n1 ]] || "$emu/down" --name "$cluster" || true
  finish
  exit 1
fi

# Processes inside the nodes, as a test left behind might: a plain one and one that ignores
# SIGTERM; both write their pid first. They run in their own sessions, so only down ends them.
setsid "$emu/exec" "$cluster-n2" sh -c 'echo $$ >"$1"; exec sleep 300' sh "$tmp/pid2" \
  </dev/null >/dev/null 2>&1 &
setsid "$emu/exec" "$cluster-n3" sh -c 'trap "" TERM; echo $$ >"$1"; while :; do sleep 1; done' sh \
  "$tmp/pid3" </dev/null >/dev/null 2>&1 &
disown -a
for _ in $(seq 100); do
  [[ -s $tmp/pid2 && -s $tmp/pid3 ]] && break
  sleep 0.1
done
mapfile -t inside < <(cat "$tmp/pid2" "$tmp/pid3" 2>/dev/null)
expect "processes started inside $cluster-n2 and $cluster-n3" "${#inside[@]}" 2
mapfile -t started < <(cut -d' ' -f1 "$SO_EMU_DIR/pids")
((${#started[@]})) && pass "up recorded the pids it started: ${started[*]}" ||
  fail "$SO_EMU_DIR/pids lists no process"

# A killed rank's shared-memory segment, named after its node (Open MPI's vader), and one of
# another machine whose name merely contains the node's: down removes the first only.
seg=/dev/shm/vader_segment.$cluster-n2.0.5eed0001.1 other=/dev/shm/vader_segment.x$cluster-n2.0.5eed0001.1
: >"$seg"
: >"$other"

SECONDS=0
run down 60 "$emu/down" --name "$cluster"
sed 's/^/  /' "$tmp/down.out"
expect "down's exit status" "$rc" 0
echo "  (down took ${SECONDS} s)"

gone() { # PID: true when no such process is left (a zombie waiting for its parent has ended)
  local st
  read -r st 2>/dev/null <"/proc/$1/stat" || return 0
  [[ ${st##*) } == Z* ]]
}
for pid in "${inside[@]}" "${started[@]}"; do
  gone "$pid" && pass "process $pid is gone" || fail "process $pid ($(cat "/proc/$pid/comm")) is left"
done
left=$(ip netns list | grep -E "^$cluster-(n[0-9]+|sw)( |$)" || true)
expect "network namespaces of $cluster (with their veth links and bridge)" "${left:-none}" none
left=$(find /run/netns -maxdepth 1 -name "$cluster-*" -printf '%f\n' 2>/dev/null)
expect "files in /run/netns" "${left:-none}" none
left=$(awk -v d="$SO_EMU_DIR" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo)
expect "mounts under $SO_EMU_DIR" "${left:-none}" none
left=$(grep -E "[[:space:]]$cluster-" /etc/hosts || true)
expect "entries for $cluster in /etc/hosts" "${left:-none}" none
[[ -e $SO_EMU_DIR ]] && fail "$SO_EMU_DIR is left" || pass "$SO_EMU_DIR is removed"
left=$(find /dev/shm -maxdepth 1 -name "vader_segment.$cluster-n*" -printf '%f ' 2>/dev/null)
expect "shared-memory segments named after the nodes" "${left:-none}" none
[[ -e $other ]] && pass "another host's segment is kept" || fail "$other was removed"
rm -f "$other"

run again 60 "$emu/down" --name "$cluster"
if ((rc == 1)) && grep -q "is not up" "$tmp/again.err"; then
  pass "down again: $(cat "$tmp/again.err")"
else
  fail "down again: status $rc, stderr '$(cat "$tmp/again.err")'; expected 1 and 'is not up'"
fi

finish

#!/usr/bin/env bash
# A direct run over the emulated cluster's 3 nodes (fixture emu: cluster soemu), started on the
# first node as a user would: `scaleout run JOB --hostfile $SO_EMU_DIR/hostfile`.
#
# Usage: direct_hosts.sh      (ctest runs it as cluster.direct_hosts, FIXTURES_REQUIRED emu)
#   SO_EMU_NAME names another cluster that is up (default the fixture's soemu), SO_EMU_EXEC
#   its cluster/emu/exec. Skipped (77) where no namespaces can be made (emu_env.sh).
# Expects:
#   - primes below 1e7 = 664579 with --hostfile, exit 0, workers on 3 distinct hosts in the JSON,
#     5 workers (6 slots less the master's); nothing on stderr (ranks on other nodes cannot
#     reach the parent's sockets, and must not warn about it)
#   - --hosts with this node last: the same answer over 3 hosts (rank 0 still runs here: the
#     verdict arrives)
#   - the variables ranks elsewhere need reach them (-x): farm commands on every node see the
#     caller's LD_LIBRARY_PATH and SCALEOUT_JOB_PATH, though the agent passes no environment
#   - a failing run: one failed command of ten gives the farm's status 1, as on one machine; from
#     a node that is not among the hosts too (the status is then mpirun's)
#   - SIGTERM to the parent while tasks run on all three nodes: exit 4 (stopped) within 15 s
#     (the tasks left would take 30 s), the summary
#     says the answer is partial, and within 15 s no process of the run is left on any node; the
#     same from a node that is not among the hosts (mpirun ends the ranks, no summary)
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=emu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/emu_env.sh"
# A cluster of one's own while developing: SO_EMU_NAME (and SO_EMU_EXEC, its exec script).
name=${SO_EMU_NAME:-$cluster}
SO_EMU_DIR=/run/scaleout-emu/$name
emu_exec=("${SO_EMU_EXEC:-$emu/exec}" --name "$name")
if [[ ! -r $SO_EMU_DIR/hostfile ]]; then
  fail "cluster $name is not up (no $SO_EMU_DIR/hostfile; the fixture cluster.emu_up brings it up)"
  finish
  exit 1
fi
n1=$name-n1 n2=$name-n2 n3=$name-n3
# Output files on the shared file system: TMPDIR inside a node is its local disk.
out=$tmp/shared
mkdir -p "$out"

echo "- primes over the hostfile's 3 nodes, from $n1"
run primes 120 "${emu_exec[@]}" "$n1" "$SCALEOUT" run primes --to 1e7 \
  --hostfile "$SO_EMU_DIR/hostfile" --json "$out/primes.json"
expect "primes: exit status" "$rc" 0
expect "primes: answer" "$(sed -n 's/^primes = //p' "$tmp/primes.out")" 664579
expect "primes: hosts in the JSON's workers" \
  "$(json "$out/primes.json" "sorted(set(w['host'] for w in d['workers']))")" \
  "[\"$n1\", \"$n2\", \"$n3\"]"
expect "primes: workers (6 slots less the master's)" "$(json "$out/primes.json" "len(d['workers'])")" 5
expect "primes: stderr lines" "$(wc -l <"$tmp/primes.err")" 0

echo "- --hosts with this node last"
run hosts 120 "${emu_exec[@]}" "$n1" "$SCALEOUT" run primes --to 1e7 \
  --hosts "$n2,$n3:2,$n1:2" --json "$out/hosts.json"
expect "hosts: exit status" "$rc" 0
expect "hosts: answer" "$(sed -n 's/^primes = //p' "$tmp/hosts.out")" 664579
expect "hosts: workers on 3 hosts" \
  "$(json "$out/hosts.json" "len(set(w['host'] for w in d['workers']))")" 3

echo "- the environment reaches ranks on other nodes"
run env 120 env LD_LIBRARY_PATH=/so-marker-ld SCALEOUT_JOB_PATH=/so-marker-jobs \
  "${emu_exec[@]}" "$n1" "$SCALEOUT" run -q --hostfile "$SO_EMU_DIR/hostfile" \
  --command 'echo {} $(hostname) ${LD_LIBRARY_PATH:-none} ${SCALEOUT_JOB_PATH:-none}' ::: $(seq 12)
expect "env: exit status" "$rc" 0
expect "env: commands that ran" "$(grep -c . "$tmp/env.out")" 12
expect "env: nodes the commands ran on" "$(awk '{print $2}' "$tmp/env.out" | sort -u | wc -l)" 3
expect "env: commands without LD_LIBRARY_PATH" "$(grep -vc 'so-marker-ld' "$tmp/env.out")" 0
expect "env: commands without SCALEOUT_JOB_PATH" "$(grep -vc '/so-marker-jobs$' "$tmp/env.out")" 0

echo "- a failing run"
failing=(--command 'sleep 0.1; test {} != 4' ::: $(seq 10))
run fail1 120 "${emu_exec[@]}" "$n1" "$SCALEOUT" run -q -n 1 "${failing[@]}"
expect "one failed command on one node: exit status" "$rc" 1
run failn 120 "${emu_exec[@]}" "$n1" "$SCALEOUT" run -q --hostfile "$SO_EMU_DIR/hostfile" "${failing[@]}"
expect "one failed command over 3 nodes: exit status" "$rc" 1
run faillogin 120 "${emu_exec[@]}" "$n1" "$SCALEOUT" run -q --hosts "$n2:2,$n3:2" "${failing[@]}"
expect "from a node not among the hosts: exit status (mpirun's)" "$rc" 1

# stopped TAG ARGS...: a sleep run over the hosts ARGS name, from the first node, gets SIGTERM
# once its ranks are up and tasks run; it must exit 4 and leave no process of the run on any node.
stopped() {
  local tag=$1
  shift
  # The parent's pid, from the shell that becomes it; the ranks' command lines name $mark.
  mark=$out/$tag-$$.json
  "${emu_exec[@]}" "$n1" bash -c 'echo $$ >"$0"; exec "$@"' "$out/$tag.pid" \
    "$SCALEOUT" run sleep --tasks 400 --ms 300 --json "$mark" "$@" \
    >"$tmp/$tag.out" 2>"$tmp/$tag.err" &
  local waiter=$! i
  for ((i = 0; i < 600; i++)); do
    (($(ranks_of_run "$tag" | wc -l) >= $ranks)) && break
    sleep 0.1
  done
  sleep 2 # the workers' first tasks start
  echo "  $tag: $(ranks_of_run "$tag" | wc -l) processes of the run, SIGTERM to the parent"
  kill -TERM "$(cat "$out/$tag.pid")"
  local t0=$SECONDS
  rc=0
  wait "$waiter" || rc=$?
  local took=$((SECONDS - t0))
  expect "$tag: exit status" "$rc" 4
  # The tasks left would take 30 s more: the run must end well before.
  ((took <= 15)) && pass "$tag: the parent exited $took s after the signal" ||
    fail "$tag: the parent exited $took s after the signal (the run went on)"
  for ((i = 0; i < 150; i++)); do
    [[ -z $(ranks_of_run "$tag") ]] && break
    sleep 0.1
  done
  local left
  left=$(ranks_of_run "$tag" | tr '\n' ' ')
  if [[ -z $left ]]; then
    pass "$tag: no process of the run left on any node, $((SECONDS - t0)) s after the signal"
  else
    fail "$tag: processes left: $left"
    kill -9 $left 2>/dev/null || true
  fi
}
# ranks_of_run TAG: the processes whose command line names $mark (mpirun and the ranks), less
# the parent; they share this machine's process ids whichever node they run on.
ranks_of_run() {
  local p
  for p in $(grep -l -F -- "$mark" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    [[ $p != "$(cat "$out/$1.pid" 2>/dev/null)" ]] && grep -qa 'scaleout' "/proc/$p/cmdline" &&
      echo "$p"
  done 2>/dev/null || true
}

echo "- SIGTERM to the parent stops every node's ranks"
ranks=6
stopped stop --hostfile "$SO_EMU_DIR/hostfile"
grep -q 'stopped by SIGTERM' "$tmp/stop.out" && pass "stop: the summary says the answer is partial" ||
  fail "stop: stdout/stderr were: $(tail -c 300 "$tmp/stop.out") $(tail -c 300 "$tmp/stop.err")"
ranks=4
stopped stoplogin --hosts "$n2:2,$n3:2"
grep -q 'not one of the run.s hosts: mpirun ended the ranks' "$tmp/stoplogin.err" &&
  pass "stoplogin: says mpirun ended the ranks" || fail "stoplogin: stderr was: $(cat "$tmp/stoplogin.err")"

finish

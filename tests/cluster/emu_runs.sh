#!/usr/bin/env bash
# scaleout on the 3 nodes of an emulated cluster (cluster/emu/up), under a user's own mpirun
# started on the first node: primes and pi across the nodes give the answers of a single-node
# run and the report names every node; a command farm logs each command once, with the host it
# really ran on; ranks on one node talk over shared memory. That last one is checked two ways:
# while the 3-node run lives, the node holding two ranks has Open MPI's shared-memory segments
# (vader_segment.HOST.*) in /dev/shm, and the others have none; and two ranks on one node run
# with shared memory as their only transport (--mca btl self,vader), which two ranks on two nodes
# cannot (the control that shows the restriction bites). Then the farm's joblog across nodes
# (docs/clusters.md): on the shared file system, a master killed mid-run and --resume run each
# command exactly once; on node-local disks the run stops at once, saying why.
#
# Usage: tests/cluster/emu_runs.sh
#   Environment: SCALEOUT (the program), SO_SOURCE_DIR (the repository), SO_EMU_NAME (the
#   cluster, default soemu: CTest's fixture emu brings it up). Prints one line per check and
#   "N passed, M failed"; exits 77 (skipped) where namespaces cannot be made (not root, no
#   unshare), 1 when a check failed or the cluster is not up.
set -euo pipefail

if ((EUID != 0)) || ! command -v unshare >/dev/null 2>&1; then
  echo "skipped: the emulated cluster needs root and unshare to make its namespaces"
  exit 77
fi
: "${SCALEOUT:?SCALEOUT must name the scaleout program}"
: "${SO_SOURCE_DIR:?SO_SOURCE_DIR must name the repository}"
name=${SO_EMU_NAME:-soemu}
dir=/run/scaleout-emu/$name
if [[ ! -f $dir/hostfile ]]; then
  echo "emu_runs.sh: error: the emulated cluster '$name' is not up (no $dir/hostfile);" \
    "bring it up with cluster/emu/up --name $name" >&2
  exit 1
fi
source "$SO_SOURCE_DIR/tests/lib.sh"
budget=240
hostfile=$dir/hostfile
mapfile -t nodes < <(awk 'NF {print $1}' "$hostfile")
if ((${#nodes[@]} != 3)); then
  echo "emu_runs.sh: error: cluster '$name' has ${#nodes[@]} nodes, the checks need 3" >&2
  exit 1
fi
n1=${nodes[0]} n2=${nodes[1]} n3=${nodes[2]}
# Everything the nodes write goes to the shared file system (/tmp is shared by every node).
chmod 755 "$tmp"

# on1 CMD...: CMD on node 1, as a user logged in there would type it.
on1=("$SO_SOURCE_DIR/cluster/emu/exec" --name "$name" "$n1")
# across ARGS...: scaleout ARGS as 4 ranks placed one per node in turn (rank 0, the master, on
# n1, which also holds worker 3), started by mpirun on n1.
across=("${on1[@]}" mpirun --hostfile "$hostfile" -n 4 --map-by node "$SCALEOUT")
# hosts_of JSON: the sorted distinct hosts of the report's workers, space-separated.
hosts_of() { json "$1" "' '.join(sorted(set(w['host'] for w in d['workers'])))"; }
want_hosts=$(printf '%s\n' "$n1" "$n2" "$n3" | sort | paste -sd' ')

echo "# primes across 3 nodes and on one"
run one 120 "$SCALEOUT" run primes --to 3e6 --tasks 300 -n 2 -q --json "$tmp/one.json"
expect "single-node run's exit status" "$rc" 0
# While the run lives, the node holding two ranks (n1: the master and worker 3) has Open MPI's
# shared-memory transport (the vader BTL) map one segment per local rank in /dev/shm, named
# vader_segment.HOST.JOBID.LOCALRANK after the node's host name; /dev/shm is shared by the
# emulated nodes, so it is watched from here. The nodes holding one rank have no local peer and
# map none.
# Segments left by earlier runs that were killed (Open MPI removes them only at a clean end)
# are listed first and not counted.
ls /dev/shm 2>/dev/null | grep '^vader_segment\.' >"$tmp/shm.before" || true
( while :; do ls /dev/shm 2>/dev/null | grep '^vader_segment\.' || true; sleep 0.05; done ) \
  >"$tmp/shm.seen" &
watcher=$!
run across 180 "${across[@]}" run primes --to 3e6 --tasks 300 -q --json "$tmp/across.json"
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
expect "3-node run's exit status" "$rc" 0
expect "workers' hosts across the nodes" "$(hosts_of "$tmp/across.json")" "$want_hosts"
expect "workers in the 3-node report" "$(json "$tmp/across.json" "len(d['workers'])")" 3
count=$(json "$tmp/one.json" "d['answer']['primes']")
expect "single-node count below 3e6" "$count" 216816
expect "3-node count" "$(json "$tmp/across.json" "d['answer']['primes']")" "$count"

echo "# ranks on one node talk over shared memory"
# Other runs on this machine map segments of their own, under other host names: only this
# cluster's nodes count.
seen=$(sort -u "$tmp/shm.seen" | { grep -vxF -f "$tmp/shm.before" || true; } |
  sed -n "s/^vader_segment\.\($name-n[0-9]*\)\..*/\1/p" |
  sort | uniq -c | awk '{print $2 "=" $1}' | paste -sd' ')
expect "nodes with vader segments during the 3-node run (host=segments)" "$seen" "$n1=2"
# The same pair of ranks on one node, with shared memory as the only transport besides self:
# the run works (and gives the same bits as a single-node run). Across two nodes the same
# restriction leaves the ranks no way to reach each other, which shows the restriction bites.
run pione 120 "$SCALEOUT" run pi --samples 2e7 --seed 7 -n 2 -q --json "$tmp/pione.json"
expect "single-node pi's exit status" "$rc" 0
run vader 120 "${on1[@]}" mpirun --host "$n2:2" -n 2 --mca btl self,vader \
  "$SCALEOUT" run pi --samples 2e7 --seed 7 -q --json "$tmp/vader.json"
expect "2 ranks on $n2 with --mca btl self,vader: exit status" "$rc" 0
expect "their host" "$(hosts_of "$tmp/vader.json")" "$n2"
expect "their pi" "$(json "$tmp/vader.json" "repr(d['answer']['pi'])")" \
  "$(json "$tmp/pione.json" "repr(d['answer']['pi'])")"
run apart 120 "${on1[@]}" mpirun --host "$n2,$n3" -n 2 --mca btl self,vader \
  "$SCALEOUT" run pi --samples 2e7 --seed 7 -q
if ((rc != 0 && rc != 124 && rc != 137)); then
  pass "2 ranks on $n2 and $n3 with --mca btl self,vader are refused (exit $rc)"
else
  fail "2 ranks on $n2 and $n3 with --mca btl self,vader: exit $rc, expected a refusal"
fi

echo "# pi across 3 nodes gives the same bits"
run piacross 180 "${across[@]}" run pi --samples 2e7 --seed 7 -q --json "$tmp/piacross.json"
expect "3-node pi's exit status" "$rc" 0
expect "workers' hosts" "$(hosts_of "$tmp/piacross.json")" "$want_hosts"
for field in pi hits samples; do
  expect "3-node $field" "$(json "$tmp/piacross.json" "repr(d['answer']['$field'])")" \
    "$(json "$tmp/pione.json" "repr(d['answer']['$field'])")"
done

echo "# a command farm across 3 nodes"
# Each command records the host it ran on (the node's own UTS name) in a file of its own; the
# joblog must name that host in its Host column, or ":" for the master's node (as GNU parallel
# writes ":" for its own machine), and hold every command exactly once.
mkdir -p "$tmp/farm"
chmod 777 "$tmp/farm"
ncmd=24
run farm 180 "${across[@]}" run --command "hostname > $tmp/farm/{}.host; sleep 0.2" \
  --joblog "$tmp/farm.log" -q ::: $(seq 1 "$ncmd")
expect "farm's exit status" "$rc" 0
python3 - "$tmp/farm.log" "$tmp/farm" "$ncmd" "$n1" >"$tmp/farm.check" <<'EOF' || true
import collections, os, sys
log, where, n, master = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rows = [l.rstrip("\n").split("\t") for l in open(log)][1:]
seqs = collections.Counter(int(r[0]) for r in rows)
print("lines", len(rows))
print("once", sorted(seqs) == list(range(1, n + 1)) and set(seqs.values()) == {1})
wrong, ran = [], set()
for r in rows:
    host = open(os.path.join(where, r[0] + ".host")).read().strip()
    ran.add(host)
    if r[1] != (":" if host == master else host):
        wrong.append(f"{r[0]}:{r[1]}!={host}")
print("wrong", " ".join(wrong) or "none")
print("hosts", len(ran))
EOF
field() { sed -n "s/^$1 //p" "$tmp/farm.check"; }
expect "joblog lines" "$(field lines)" "$ncmd"
expect "every command logged exactly once" "$(field once)" True
expect "Host columns that differ from the host the command ran on" "$(field wrong)" none
expect "distinct hosts the commands ran on" "$(field hosts)" 3

echo "# the farm's joblog across nodes: a killed master, then --resume"
# On the shared file system every shard is where the next master looks: stopped (SIGSTOP) once
# two commands have finished, so results pile up in the workers' shards instead of reaching it,
# then killed, the master leaves a log without them; --resume merges the shards of all three
# nodes and runs each command exactly once in all, counted from the files the commands append
# to themselves.
mkdir -p "$tmp/ran"
chmod 777 "$tmp/ran"
kcmd="sleep 1; hostname >> $tmp/ran/{}"
nk=12
( "${across[@]}" run --command "$kcmd" --joblog "$tmp/kill.log" -q ::: $(seq 1 "$nk") \
    >"$tmp/kill.out" 2>&1 || true ) &
first=$!
for _ in $(seq 600); do
  (($(ls "$tmp/ran" | wc -l) >= 2)) && break
  sleep 0.1
done
# The master: the scaleout process of rank 0 whose command line names this joblog.
master=
for p in $(pgrep -f -- "--joblog $tmp/kill.log" || true); do
  [[ $(cat "/proc/$p/comm" 2>/dev/null) == scaleout ]] &&
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=0 && master=$p
done
if [[ -n $master ]]; then
  kill -STOP "$master"
  sleep 2.5
  kill -KILL "$master"
  pass "master (pid $master) stopped after 2 commands, killed 2.5 s later"
else
  fail "the master of the farm run was not found"
  sed -n '1,10s/^/  first run: /p' "$tmp/kill.out"
fi
wait "$first" || true
before=$( (cat "$tmp"/ran/* 2>/dev/null || true) | wc -l)
logged=$(($(grep -c '' "$tmp/kill.log" 2>/dev/null || echo 1) - 1))
echo "  ($before commands had run, $logged in the joblog)"
run resume 180 "${across[@]}" run --command "$kcmd" --joblog "$tmp/kill.log" --resume \
  --wait-joblog -q ::: $(seq 1 "$nk")
expect "--resume's exit status" "$rc" 0
runs=$(for i in $(seq 1 "$nk"); do grep -c '' "$tmp/ran/$i" 2>/dev/null || echo 0; done |
  sort | uniq -c | awk '{print $2 "x" $1}' | paste -sd' ')
expect "runs per command over both runs (runs x commands)" "$runs" "1x$nk"
expect "commands in the joblog" "$(tail -n +2 "$tmp/kill.log" | cut -f1 | sort -un | wc -l)" "$nk"
# A joblog on a node-local disk (the same path, a different directory on each node): only the
# master makes the shard directory, on its own node, so the workers elsewhere cannot open their
# shards and the run stops at once with the runner's status, saying why (docs/clusters.md).
local=$dir/local/emu_runs.$$
for n in "$n1" "$n2" "$n3"; do
  "${on1[@]:0:3}" "$n" mkdir -p "$local"
done
run nodelocal 180 "${across[@]}" run --command true --joblog "$local/farm.log" -q ::: 1 2 3
expect "a joblog on node-local disks: exit status" "$rc" 104
if grep -q "cannot open the joblog shard $local/farm.log.shards/" "$tmp/nodelocal.err"; then
  pass "it says the shard cannot be opened"
else
  fail "no 'cannot open the joblog shard' line on stderr"
fi
for n in "$n1" "$n2" "$n3"; do
  "${on1[@]:0:3}" "$n" rm -rf "$local"
done

finish

#!/usr/bin/env bash
# `scaleout topo` plans where `run` would, and bindings are reported and warned about alike.
#
# Usage: topo.sh      (ctest runs it as cli.topo)
# Expects:
#   - `taskset -c 1 scaleout topo`: the plan has 1 worker, on PU 1 (as `run` would place it);
#     `taskset -c 0 scaleout topo -n 2`: both workers on PU 0, with the oversubscription warning
#   - in a cpuset cgroup of PU 1 (root with a writable cgroup v1 cpuset, else skipped): the
#     machine's own counts, the allowed cpuset with "a cgroup or batch allocation limits", PU 0
#     marked "not allowed", a 1-worker plan on PU 1
#   - a run's summary names the core by logical index and the PU by OS index (core L#, PU P#)
#   - more workers than PUs warns under every --bind policy (core, pu, numa, package, none);
#     as many workers as PUs under --bind numa does not
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

pus=$(nproc --all)
# has FILE REGEX WHAT: a check that FILE has a line matching REGEX.
has() { grep -Eq -- "$2" "$1" && pass "$3" || fail "$3: no line matching '$2' in: $(head -c 600 "$1")"; }
hasnt() { grep -Eq -- "$2" "$1" && fail "$3: found '$2'" || pass "$3"; }

if ((pus >= 2)) && taskset -c 1 true 2>/dev/null; then
  echo "- topo under taskset"
  run ts1 30 taskset -c 1 "$SCALEOUT" topo
  expect "taskset -c 1 topo: exit status" "$rc" 0
  has "$tmp/ts1.out" '^current binding: 1 ' "taskset -c 1 topo: current binding 1"
  has "$tmp/ts1.out" '^plan: 1 worker,' "taskset -c 1 topo: a plan of 1 worker"
  has "$tmp/ts1.out" '^  worker 1 -> .*\(PU 1\)$' "taskset -c 1 topo: worker 1 on PU 1"
  hasnt "$tmp/ts1.out" '^  worker 2 ' "taskset -c 1 topo: no worker 2"
  run ts0 30 taskset -c 0 "$SCALEOUT" topo -n 2
  expect "taskset -c 0 topo -n 2: exit status" "$rc" 0
  has "$tmp/ts0.out" '^  worker 2 -> .*\(PU 0\)$' "taskset -c 0 topo -n 2: worker 2 on PU 0"
  has "$tmp/ts0.out" '^warning: 2 workers but only 1 ' "taskset -c 0 topo -n 2: warns"

  cg=/sys/fs/cgroup/cpuset
  if ((EUID == 0)) && [[ -w $cg ]] && mkdir "$cg/scaleout_test_$$" 2>/dev/null; then
    echo "- topo in a cpuset cgroup of PU 1"
    dir=$cg/scaleout_test_$$
    cleanup_cg() { rmdir "$dir" 2>/dev/null || true; }
    trap 'cleanup_cg; rm -rf "$tmp"' EXIT
    if echo 1 >"$dir/cpuset.cpus" && cat "$cg/cpuset.mems" >"$dir/cpuset.mems"; then
      # The shell moves itself into the cgroup and becomes topo; the cgroup is empty afterwards.
      run cg 30 sh -c 'echo $$ > "$1/tasks" && exec "$2" topo' sh "$dir" "$SCALEOUT"
      expect "cgroup topo: exit status" "$rc" 0
      has "$tmp/cg.out" "^topology: this machine: .* $pus PUs$" "cgroup topo: the machine's $pus PUs"
      has "$tmp/cg.out" '^allowed cpuset: 1 \(1 core, 1 PU\): a cgroup or batch allocation limits' \
        "cgroup topo: the allowed cpuset and why"
      has "$tmp/cg.out" 'P#0, not allowed' "cgroup topo: PU 0 marked not allowed"
      has "$tmp/cg.out" '^plan: 1 worker,' "cgroup topo: a plan of 1 worker"
      has "$tmp/cg.out" '^  worker 1 -> .*\(PU 1\)$' "cgroup topo: worker 1 on PU 1"
    else
      echo "  (skipped: cannot set up the cgroup)"
    fi
    cleanup_cg
  else
    echo "- (cgroup case skipped: needs root and a writable cgroup v1 cpuset hierarchy)"
  fi
else
  echo "- (taskset cases skipped: need 2 PUs and taskset)"
fi

echo "- the summary names core and PU by their indexes' kinds"
run where 120 "$SCALEOUT" run noop --tasks 100 -n 1
expect "noop -n 1: exit status" "$rc" 0
has "$tmp/where.out" 'core L#[0-9]+, PU P#[0-9]+$' "summary: 'core L#n, PU P#m'"

echo "- more workers than PUs warns under every policy"
for pol in core pu numa package none; do
  run "over-$pol" 120 "$SCALEOUT" run noop --tasks 100 -n $((pus + 2)) --bind "$pol"
  expect "--bind $pol -n $((pus + 2)): exit status" "$rc" 0
  has "$tmp/over-$pol.err" "warning: $((pus + 2)) workers but only" "--bind $pol: warns"
done
run numa-fit 120 "$SCALEOUT" run noop --tasks 100 -n "$pus" --bind numa
expect "--bind numa -n $pus: exit status" "$rc" 0
hasnt "$tmp/numa-fit.err" 'warning' "--bind numa -n $pus: no warning"

finish

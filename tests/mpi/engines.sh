#!/usr/bin/env bash
# so_run as a library: called several times in one process and as two engines at once, each
# worker's binding checked with hwloc inside its tasks; set-up failures on one rank agreed by all.
#
# Usage: engines.sh     (ctest runs it as mpi.engines.np3-4; SO_BUILD_DIR names the build)
# Runs tests/mpi/engines.c (built as mpi_engines) under `mpirun --bind-to none`, so scaleout's own
# plan applies: `twice` and the failure modes with 3 ranks, `halves` with 4 (two engines of a
# master and a worker, core offsets 0 and 1). Needs 2 cores for the binding modes (skipped with a
# note on fewer). Expects exit 0 and every "ok" line the program prints, no "FAIL" line:
# twice 3 runs x 3 ranks x 3 checks + 3 x 2 worker checks = 33, halves 4 + 2 + 3 = 9 (one per
# engine rank, one per engine master, three on rank 0), badset 3, badinit 3.
set -euo pipefail

: "${SO_BUILD_DIR:?SO_BUILD_DIR must name the build directory (tests/CMakeLists.txt sets it)}"

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

prog=$SO_BUILD_DIR/tests/mpi_engines

# mode TAG NP OKS SECS: runs the program's mode TAG on NP ranks, passing each of its check lines
# on, and expects OKS "ok" lines, no FAIL line and exit 0 within SECS seconds.
mode() {
  local tag=$1 np=$2 oks=$3 secs=$4 start=$SECONDS
  run "$tag" "$secs" mpirun --bind-to none -n "$np" "$prog" "$tag"
  echo "  ($tag took $((SECONDS - start)) s)"
  local line
  while IFS= read -r line; do
    case $line in
      "  ok"*) pass "${line#  ok    }" ;;
      "  FAIL"*) fail "${line#  FAIL  }" ;;
    esac
  done <"$tmp/$tag.out"
  expect "$tag: exit status" "$rc" 0
  expect "$tag: ok lines" "$(grep -c '^  ok' "$tmp/$tag.out" || true)" "$oks"
}

cores=$(hwloc-calc -N core "$(hwloc-bind --get)" 2>/dev/null || echo 0)
echo "engines: $cores cores in this process's cpuset"
if ((cores >= 2)); then
  mode twice 3 33 120
  mode halves 4 9 120
else
  echo "  skip  twice and halves need 2 cores; this machine offers $cores"
fi
mode badset 3 3 60
grep -q "the cpuset '4096' reaches outside the CPUs" "$tmp/badset.err" &&
  pass "badset: the error names the cpuset" || fail "badset: no error naming the cpuset on stderr"
expect "badset: error lines" "$(grep -c 'error:' "$tmp/badset.err" || true)" 1
mode badinit 3 3 60
finish

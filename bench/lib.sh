#!/usr/bin/env bash
# What the benchmark scripts share. Source it from the repository's top folder, after
# `set -euo pipefail`; it sets build and scaleout, lets Open MPI run as root and oversubscribed,
# and makes $tmp (removed on exit).

build=${SO_BUILD_DIR:-build}

# find_exe PATHS...: the first of PATHS that is an executable file; status 1 when none is.
find_exe() {
  local f
  for f; do [[ -n $f && -x $f ]] && { echo "$f"; return 0; }; done
  return 1
}
scaleout=$(find_exe "${SCALEOUT:-}" "$build/scaleout" "$build/src/scaleout") || scaleout=

if ((EUID == 0)); then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# calc EXPR: awk's value of EXPR (bash has no floating point).
calc() { awk "BEGIN { printf \"%s\", $1 }"; }

# stat max|min|median VALUES...: that statistic of the values (median of an even count: the
# mean of the middle two).
stat() {
  local how=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v how="$how" '{ v[NR] = $1 }
    END {
      if (how == "min") x = v[1]
      else if (how == "max") x = v[NR]
      else x = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.9g", x
    }'
}

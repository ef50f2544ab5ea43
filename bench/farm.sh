#!/usr/bin/env bash
# Measures the command farm against xargs -P and GNU parallel on many tiny commands, in one run.
#
# Usage: bench/farm.sh [--repeat N] [--tasks N] [--jobs J] [--strict]
#
#   --repeat N   runs of each tool (default 3, taking turns); the table shows the median run
#   --tasks N    commands (default 2000), each the line `true`
#   --jobs J     commands at once (default 2): scaleout -n J, xargs -P J, parallel -j J
#   --strict     exit 1 unless every tool ran and scaleout met both targets
#
# The same task file (N lines `true`) goes through
#   scaleout run --tasks FILE -n J --joblog LOG -q     (the joblog on, as a real run has it)
#   xargs -d '\n' -n 1 -P J sh -c < FILE               (each line run as `sh -c LINE`)
#   parallel -j J --will-cite < FILE                   (GNU parallel, each line a command)
# Each figure is the wall time of the whole command, start-up included, as a user waits for it;
# commands/s is N over that time. scaleout's own figure (--json wall_seconds, first request to
# last worker's end) is shown beside it, to tell start-up cost from dispatch cost. Targets: scaleout >= 90% of xargs's commands/s and >= 3x GNU
# parallel's. Every run is listed under the table; a run that fails (non-zero exit, or a joblog
# without N lines) is reported, not counted. Needs a build (scripts/setup installs parallel).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

repeat=3 tasks=2000 jobs=2 strict=0
while (($# > 0)); do
  case $1 in
    --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
    --tasks) tasks=${2:?--tasks needs a value}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a value}; shift 2 ;;
    --strict) strict=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0"; exit 0 ;;
    *) echo "farm.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in repeat tasks jobs; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "farm.sh: error: --$v must be a whole number >= 1" >&2; exit 2; }
done

# shellcheck source=lib.sh
source bench/lib.sh
limit=600 # seconds any single run may take
for ((i = 0; i < tasks; i++)); do echo true; done >"$tmp/tasks"

# once NAME CHECK CMD...: runs CMD once (stdin: the task file) unless NAME already failed; adds
# its wall time to NAME_runs, or the reason it failed to NAME_err. CHECK is a function run after
# a successful run that returns non-zero (with a reason on stdout) when the run did not do it all.
once() {
  local name=$1 check=$2 t0 t1 why
  shift 2
  local -n runs=${name}_runs
  local -n err=${name}_err
  [[ -z $err ]] || return 0
  rm -f "$tmp/joblog"
  t0=$EPOCHREALTIME
  if ! timeout -k 10 "$limit" "$@" <"$tmp/tasks" >"$tmp/out" 2>"$tmp/err"; then
    err="$* failed: $(grep -m1 . "$tmp/err" || echo "non-zero exit status")"
    return 0
  fi
  t1=$EPOCHREALTIME
  if ! why=$("$check"); then
    err="$*: $why"
    return 0
  fi
  runs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
  if [[ $name == so ]]; then
    inner+=("$(python3 -c 'import json, sys; print("%.4f" % json.load(open(sys.argv[1]))["wall_seconds"])' \
      "$tmp/report.json" 2>/dev/null || echo "?")")
  fi
}
# Checks that a run did all the commands (called through once).
# shellcheck disable=SC2317
all_ok() { return 0; }
# shellcheck disable=SC2317
joblog_complete() {
  local n
  n=$(awk -F'\t' 'NR > 1 && $7 == 0 && $8 == 0' "$tmp/joblog" 2>/dev/null | wc -l)
  ((n == tasks)) || { echo "the joblog has $n successful lines, not $tasks"; return 1; }
}

# shellcheck disable=SC2034 # NAME_runs and NAME_err are read through name references
so_runs=() so_err='' xargs_runs=() xargs_err='' par_runs=() par_err='' inner=()
# shellcheck disable=SC2034
[[ -n $scaleout ]] || so_err="scaleout not built ($build/scaleout); run scripts/setup"
# shellcheck disable=SC2034
command -v parallel >/dev/null || par_err="GNU parallel not installed (scripts/setup installs it)"
# The tools take turns, run after run, so that a slow spell of the machine does not fall on one
# tool's runs only.
for ((i = 0; i < repeat; i++)); do
  once so joblog_complete "$scaleout" run --tasks "$tmp/tasks" -n "$jobs" --joblog "$tmp/joblog" -q \
    --json "$tmp/report.json"
  once xargs all_ok xargs -d '\n' -n 1 -P "$jobs" sh -c
  once par all_ok parallel -j "$jobs" --will-cite
done

echo "command farm benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $tasks x 'true'," \
  "$jobs at once, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "each figure is the median of $repeat runs, wall time of the whole command (start-up included)"
echo

# figure NAME: the median wall time of NAME, empty when it did not run.
figure() {
  # shellcheck disable=SC2178
  local -n runs=${1}_runs
  local -n err=${1}_err
  if [[ -z $err && ${#runs[@]} -gt 0 ]]; then stat median "${runs[@]}"; fi
}
so=$(figure so) xa=$(figure xargs) pa=$(figure par)
rate() { if [[ -n $1 ]]; then awk -v n="$tasks" -v t="$1" 'BEGIN { printf "%.0f", n / t }'; else echo "-"; fi; }
row() { printf '%-44s %12s %12s\n' "$@"; }
row "tool" "wall (s)" "commands/s"
row "----" "--------" "----------"
row "scaleout run --tasks -n $jobs --joblog" "${so:--}" "$(rate "$so")"
if [[ -n $so ]]; then
  in=$(stat median "${inner[@]}")
  row "  its own report (the run, no start-up)" "$in" "$(rate "$in")"
fi
row "xargs -P $jobs (sh -c per line)" "${xa:--}" "$(rate "$xa")"
row "GNU parallel -j $jobs" "${pa:--}" "$(rate "$pa")"
echo

missed=0
# target WHAT OTHER FACTOR: scaleout's commands/s over OTHER's, against FACTOR.
target() {
  local what=$1 other=$2 factor=$3 ratio verdict
  if [[ -z $so || -z $other ]]; then
    printf '%-36s %-8s %-10s %s\n' "$what" "-" ">= $factor" "not run"
    missed=$((missed + 1))
    return
  fi
  ratio=$(awk -v s="$so" -v o="$other" 'BEGIN { printf "%.2f", o / s }')
  if awk -v r="$ratio" -v f="$factor" 'BEGIN { exit !(r >= f) }'; then verdict=met; else
    verdict=MISSED
    missed=$((missed + 1))
  fi
  printf '%-36s %-8s %-10s %s\n' "$what" "${ratio}x" ">= $factor" "$verdict"
}
printf '%-36s %-8s %-10s %s\n' "target (scaleout's commands/s)" "ratio" "target" "verdict"
target "scaleout vs xargs -P $jobs" "$xa" 0.90
target "scaleout vs GNU parallel -j $jobs" "$pa" 3.00

echo
echo "runs (wall seconds):"
for pair in so:scaleout xargs:xargs par:parallel; do
  declare -n r=${pair%%:*}_runs e=${pair%%:*}_err
  if [[ -n $e ]]; then echo "  ${pair#*:}: not run: $e"; else echo "  ${pair#*:}: ${r[*]}"; fi
  unset -n r e
done
[[ -n $so_err ]] || echo "  scaleout's report (--json wall_seconds): ${inner[*]}"

if ((strict && missed > 0)); then
  echo "farm.sh: $missed target(s) missed or not measured" >&2
  exit 1
fi
exit 0

#!/usr/bin/env bash
# Measures how much CPU the master uses while its workers run long tasks.
#
# Usage: bench/master_idle.sh [--repeat N] [--tasks N] [--ms MS] [--strict]
#
#   --repeat N   runs of each scaleout measurement (default 3)
#   --tasks N    sleep tasks per run (default 40)
#   --ms MS      length of each task in milliseconds (default 500); with 2 workers a run takes
#                tasks x ms / 2 (10 s by default)
#   --strict     exit 1 unless every measurement ran and every run met the target
#
# Rows:
#   1. direct run: `scaleout run sleep --tasks 40 --ms 500 -n 2 --json F`; scaleout starts the
#      master and 2 workers with mpirun as one MPI job (3 processes on this machine's cores).
#   2. the same under `mpirun -n 3` (1 master + 2 workers).
#   Both read master_cpu_share (the master process's CPU time over the run's wall time) and
#   wall_seconds from the JSON report. Target: master CPU < 5% of wall in EVERY run; the table
#   shows the median [min-max] of the runs and judges the worst.
#   3. the whole direct run as /usr/bin/time sees it: the parent process (which only waits for
#      mpirun) and everything it reaped, i.e. mpirun and, through mpirun, the master and the
#      workers: their CPU time (user + sys) over the run's lifetime, start-up included. No target;
#      shown so no process of a direct run is left out.
#   4. contrast, no target: a raw MPI master blocked in MPI_Recv while its one worker sleeps for
#      the same wall time (a 20-line program compiled here with mpicc, run with mpirun -n 2).
#      Open MPI's blocking receive polls, so expect ~100%.
#   5. tiny tasks on the same build, so the cost of sleeping shows if there is one:
#      `scaleout run noop -n 1 --tasks 2e7`, best (median) tasks/s; bench/dispatch.sh judges
#      this row against its 5 M tasks/s target, here it is only shown.
# Rows that cannot run say why; nothing is estimated. Default runtime: about 75 s.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

repeat=3 ntasks=40 ms=500 strict=0
while (($# > 0)); do
  case $1 in
    --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
    --tasks) ntasks=${2:?--tasks needs a value}; shift 2 ;;
    --ms) ms=${2:?--ms needs a value}; shift 2 ;;
    --strict) strict=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0"; exit 0 ;;
    *) echo "master_idle.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$repeat" "$ntasks" "$ms"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] ||
    { echo "master_idle.sh: error: --repeat, --tasks and --ms take whole numbers >= 1" >&2; exit 2; }
done
((ntasks >= 2)) || { echo "master_idle.sh: error: --tasks must be >= 2 (2 workers)" >&2; exit 2; }

# shellcheck source=lib.sh
source bench/lib.sh
limit=$((ntasks * ms / 1000 + 120)) # seconds any single run may take
json() { python3 -c 'import json, sys; print(float(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$@"; }

sleep_args=(sleep --tasks "$ntasks" --ms "$ms")
direct_share=() direct_wall=() parent_share=() mpirun_share=() mpirun_wall=() noop_rate=()
direct_err='' mpirun_err='' parent_err='' noop_err='' contrast_err=''
[[ -n $scaleout ]] || direct_err="scaleout not built ($build/scaleout); run scripts/setup"
mpirun_err=$direct_err noop_err=$direct_err
timer=(/usr/bin/time -f '%e %U %S' -o "$tmp/time")
[[ -x /usr/bin/time ]] || { parent_err="/usr/bin/time not installed (Debian: time)"; timer=(); }

# run_json ERRVAR CMD...: runs CMD (which writes $tmp/r.json); on failure sets ERRVAR.
# shellcheck disable=SC2034 # e is a name reference to the caller's ERRVAR
run_json() {
  local -n e=$1
  shift
  rm -f "$tmp/r.json"
  if ! timeout -k 10 "$limit" "$@" >/dev/null 2>"$tmp/err" || [[ ! -s $tmp/r.json ]]; then
    e="$* failed: $(grep -m1 . "$tmp/err" || echo "non-zero exit status or no report")"
    return 1
  fi
}

commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
if [[ $build == build ]] && ! git diff --quiet HEAD -- src include jobs bench 2>/dev/null; then
  commit+=" + uncommitted changes"
fi
echo "scaleout master idle benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
  "$(mpirun --version 2>/dev/null | head -n 1), commit $commit, build $build"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
echo "$repeat rounds of: direct run, mpirun run, tiny tasks; then the raw MPI contrast once"
echo

for ((i = 0; i < repeat; i++)); do
  if [[ -z $direct_err ]] && run_json direct_err "${timer[@]}" \
    "$scaleout" run "${sleep_args[@]}" -n 2 -q --json "$tmp/r.json"; then
    direct_share+=("$(json "$tmp/r.json" master_cpu_share)")
    direct_wall+=("$(json "$tmp/r.json" wall_seconds)")
    [[ -n $parent_err ]] || parent_share+=("$(awk '{ printf "%.6f", ($2 + $3) / $1 }' "$tmp/time")")
  fi
  if [[ -z $mpirun_err ]] && run_json mpirun_err mpirun -n 3 \
    "$scaleout" run "${sleep_args[@]}" -n 2 -q --json "$tmp/r.json"; then
    mpirun_share+=("$(json "$tmp/r.json" master_cpu_share)")
    mpirun_wall+=("$(json "$tmp/r.json" wall_seconds)")
  fi
  if [[ -z $noop_err ]] && run_json noop_err "$scaleout" run noop -n 1 --tasks 2e7 -q \
    --json "$tmp/r.json"; then
    noop_rate+=("$(json "$tmp/r.json" tasks_per_second)")
  fi
done
[[ -z $direct_err || -n $parent_err ]] || parent_err=$direct_err

# The contrast: a master blocked in MPI_Recv for as long as a run above takes.
contrast_secs=$(awk -v n="$ntasks" -v ms="$ms" 'BEGIN { printf "%.3f", n * ms / 2000 }')
contrast=
if ! command -v mpicc >/dev/null; then
  contrast_err="mpicc not found (Debian: libopenmpi-dev)"
else
  cat >"$tmp/recv.c" <<'EOF'
/* Rank 0 waits in MPI_Recv while rank 1 sleeps argv[1] seconds; prints rank 0's wall and CPU. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, x = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  double secs = atof(argv[1]);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 1) {
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
    MPI_Send(&x, 1, MPI_INT, 0, 1, MPI_COMM_WORLD);
  } else if (rank == 0) {
    double w = now(CLOCK_MONOTONIC), c = now(CLOCK_PROCESS_CPUTIME_ID);
    MPI_Recv(&x, 1, MPI_INT, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    printf("%.6f %.6f\n", now(CLOCK_MONOTONIC) - w, now(CLOCK_PROCESS_CPUTIME_ID) - c);
  }
  MPI_Finalize();
  return 0;
}
EOF
  if ! mpicc -O2 -o "$tmp/recv" "$tmp/recv.c" 2>"$tmp/err"; then
    contrast_err="mpicc failed: $(head -n 1 "$tmp/err")"
  elif ! out=$(timeout -k 10 "$limit" mpirun -n 2 "$tmp/recv" "$contrast_secs" 2>"$tmp/err"); then
    contrast_err="raw MPI_Recv program failed: $(grep -m1 . "$tmp/err" || echo "non-zero exit status")"
  else
    read -r contrast_wall contrast_cpu <<<"$out"
    contrast=$(awk -v w="$contrast_wall" -v c="$contrast_cpu" 'BEGIN { printf "%.6f", c / w }')
  fi
fi

missed=0
row() { printf '%-44s %-10s %-24s %-12s %s\n' "$@"; }
pct() { awk -v v="$1" 'BEGIN { printf "%.1f%%", 100 * v }'; }
# shares VALUES...: "6.9% [6.5-7.4%]" (median [min-max]), or "not run".
shares() {
  (($# > 0)) || { echo "not run"; return; }
  echo "$(pct "$(stat median "$@")") [$(pct "$(stat min "$@")" | tr -d %)-$(pct "$(stat max "$@")")]"
}
wall() {
  if (($# > 0)); then awk -v s="$(stat median "$@")" 'BEGIN { printf "%.2f s", s }'; else echo "-"; fi
}
# verdict VALUES...: judges the worst run against < 5%; counts a miss or a row that did not run.
verdict() {
  if (($# == 0)); then
    echo "not run"
  elif awk -v v="$(stat max "$@")" 'BEGIN { exit !(v < 0.05) }'; then
    echo met
    return
  else
    echo MISSED
  fi
  missed=$((missed + 1))
}
verdict "${direct_share[@]}" >"$tmp/v1"
verdict "${mpirun_share[@]}" >"$tmp/v2"

echo "master CPU share while tasks are long ($ntasks tasks x $ms ms, 2 workers)"
row "run" "wall" "CPU share: med [min-max]" "target" "verdict"
row "---" "----" "------------------------" "------" "-------"
row "direct: scaleout run sleep -n 2" "$(wall "${direct_wall[@]}")" \
  "$(shares "${direct_share[@]}")" "< 5% of wall" "$(cat "$tmp/v1")"
row "mpirun -n 3 scaleout run sleep" "$(wall "${mpirun_wall[@]}")" \
  "$(shares "${mpirun_share[@]}")" "< 5% of wall" "$(cat "$tmp/v2")"
row "  direct run, all its processes" "-" "$(shares "${parent_share[@]}")" "none" "-"
if [[ -n $contrast ]]; then
  row "  contrast: raw MPI master in MPI_Recv" "$(printf '%.2f s' "$contrast_wall")" \
    "$(pct "$contrast")" "none" "-"
else
  row "  contrast: raw MPI master in MPI_Recv" "-" "not run" "none" "-"
fi
echo
if ((${#noop_rate[@]} > 0)); then
  echo "tiny tasks, same build: scaleout run noop -n 1 --tasks 2e7:" \
    "$(awk -v b="$(stat max "${noop_rate[@]}")" -v m="$(stat median "${noop_rate[@]}")" \
      'BEGIN { printf "best %.2f M tasks/s (median %.2f)", b / 1e6, m / 1e6 }')" \
    "(bench/dispatch.sh target: >= 5 M tasks/s)"
else
  echo "tiny tasks: not run"
fi

echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runs, in order:"
list() { (($# < 2)) || echo "  $1:$(printf ' %.4f' "${@:2}")"; }
list "direct master_cpu_share" "${direct_share[@]}"
list "direct wall_seconds" "${direct_wall[@]}"
list "direct run, all processes' CPU / its lifetime" "${parent_share[@]}"
list "mpirun master_cpu_share" "${mpirun_share[@]}"
list "mpirun wall_seconds" "${mpirun_wall[@]}"
((${#noop_rate[@]} == 0)) || echo "  noop tasks/s:$(printf ' %.0f' "${noop_rate[@]}")"
[[ -z $contrast ]] || echo "  contrast: wall $contrast_wall s, CPU $contrast_cpu s"
printf '%s\n' "$direct_err" "$mpirun_err" "$parent_err" "$noop_err" "$contrast_err" |
  awk 'NF && !seen[$0]++ { print "  not run: " $0 }'

if ((strict && missed > 0)); then
  echo "master_idle.sh: $missed target(s) missed or not measured" >&2
  exit 1
fi
exit 0

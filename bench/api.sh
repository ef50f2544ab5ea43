#!/usr/bin/env bash
# Prints the figures of the Job API v2 (issue 9's "Benchmark") side by side, in one run.
#
# Usage: bench/api.sh [--repeat N] [--corpus-mb N]
#
#   --repeat N      rounds (default 3); each round runs every measurement once
#   --corpus-mb N   size of the wordcount corpus made in $TMPDIR (default 40)
#
# Rows (2 workers unless the row says otherwise; -n W starts W workers directly):
#   1. mandelbrot under --schedule static, dynamic and guided, on the upper half of the plane
#      (rows near the real axis cost the full 2,000 iterations a pixel, rows at the top a few):
#      static hands each worker one block, so the worker with the axis does most of the work;
#      dynamic and guided should be faster. Their checksums must agree. Under these three a
#      worker is handed its next chunk only when it has none (OpenMP's meaning); auto, the
#      engine's adaptive batching and prefetch, is shown beside them.
#   2. sleep (tasks that only wait) with --threads 1, 4 and 16 per worker: concurrency, about
#      T times faster with T threads.
#   3. pi with 1 and 2 workers and with 1 and 4 threads per worker: parallelism, about 2x with
#      2 workers on 2 cores and nothing more from threads past one per core.
#   4. wordcount -n 2 over a corpus of text files against
#      `cat FILES | LC_ALL=C tr -s '[:space:]' '\n' | LC_ALL=C sort | uniq -c`
#      (both timed whole, start-up included), and whether their counts are the same.
#   5. stream (the triad a = b + s*c, 3 x 32 MB arrays per worker) with 1 and 2 workers, in GB/s
#      from its answer: on one memory bus the second core adds little.
# Figures: the median of the rounds with [min-max]; for mandelbrot also the report's load
# imbalance (busiest worker's busy time over the mean: 1 is perfect, 2 is one worker idle); wall times are the report's wall_seconds
# (the run itself, not process start-up) except in row 4. Every run is listed under the table.
# It is not a test: nothing here fails on a slow figure, only on a run that fails. Needs a build
# (scripts/setup; SO_BUILD_DIR picks another build directory). About 3 minutes on 2 cores.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

repeat=3 corpus_mb=40
while (($# > 0)); do
  case $1 in
    --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
    --corpus-mb) corpus_mb=${2:?--corpus-mb needs a value}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0"; exit 0 ;;
    *) echo "api.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $repeat =~ ^[1-9][0-9]*$ ]] || { echo "api.sh: error: --repeat must be >= 1" >&2; exit 2; }
[[ $corpus_mb =~ ^[1-9][0-9]*$ ]] || { echo "api.sh: error: --corpus-mb must be >= 1" >&2; exit 2; }

# shellcheck source=lib.sh
source bench/lib.sh
[[ -n $scaleout ]] || { echo "api.sh: error: scaleout not built ($build/scaleout); run scripts/setup" >&2; exit 2; }
limit=600 # seconds any single run may take

# Measurements, by name: runs[NAME] holds one figure per run, err[NAME] the reason it stopped,
# label[NAME] the command.
declare -A runs=() err=() label=()
names=()

# measure NAME EXPR JOB ARGS...: one `scaleout run JOB --json F -q ARGS`, appending EXPR (a
# Python expression of the report d) to runs[NAME], or a reason to err[NAME] (after which NAME
# is not run again).
measure() {
  local name=$1 expr=$2 job=$3 v
  shift 3
  [[ -v label[$name] ]] || names+=("$name")
  label[$name]="scaleout run $job $*"
  [[ -z ${err[$name]:-} ]] || return 0
  rm -f "$tmp/report.json"
  if ! timeout -k 10 "$limit" "$scaleout" run "$job" --json "$tmp/report.json" -q "$@" \
    >"$tmp/out" 2>"$tmp/err"; then
    err[$name]="failed: $(grep -m1 . "$tmp/err" || echo "non-zero exit status")"
    return 0
  fi
  if ! v=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$tmp/report.json" "$expr" 2>/dev/null); then
    err[$name]="no $expr in the JSON report"
    return 0
  fi
  runs[$name]+="$v "
}

# imbalance NAME: the last run's load_imbalance (busiest worker's busy time over the mean), which
# the machine's load moves much less than the wall time, into imb[NAME].
declare -A imb=()
imbalance() {
  local v
  v=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["load_imbalance"])' \
    "$tmp/report.json" 2>/dev/null) || return 0
  imb[$1]+="$v "
}

# timed NAME CMD...: the seconds CMD (a shell function, which bounds its own time) takes,
# start-up included, appended to runs[NAME].
timed() {
  local name=$1 t0 t1
  shift
  [[ -v label[$name] ]] || names+=("$name")
  [[ -z ${err[$name]:-} ]] || return 0
  t0=$(date +%s%N)
  if ! "$@" 2>"$tmp/err"; then
    err[$name]="failed: $(grep -m1 . "$tmp/err" || echo "non-zero exit status")"
    return 0
  fi
  t1=$(date +%s%N)
  runs[$name]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }') "
}

# The corpus: files of about 1 MB of words drawn from a Zipf-like vocabulary of 50,000 words
# (word k about 1/k as often as the first), lines of 1 to 12 words, every file ending in a newline
# so `cat` joins no words across files.
corpus=$tmp/corpus
mkdir -p "$corpus"
awk -v files="$corpus_mb" -v dir="$corpus" 'BEGIN {
  srand(9); V = 50000
  for (k = 1; k <= V; k++) { h += 1 / k; cum[k] = h }
  for (k = 1; k <= V; k++) cum[k] /= h
  split("a b c d e f g h i j k l m n o p q r s t u v w x y z", L, " ")
  for (k = 1; k <= V; k++) { w = ""; x = k * 7919; do { w = w L[x % 26 + 1]; x = int(x / 26) } while (x > 0); word[k] = w }
  for (f = 0; f < files; f++) {
    path = sprintf("%s/part%03d.txt", dir, f); bytes = 0
    while (bytes < 1048576) {
      n = 1 + int(rand() * 12); line = ""
      for (i = 0; i < n; i++) {
        r = rand(); lo = 1; hi = V
        while (lo < hi) { mid = int((lo + hi) / 2); if (cum[mid] < r) lo = mid + 1; else hi = mid }
        line = line (i ? " " : "") word[lo]
      }
      print line > path; bytes += length(line) + 1
    }
    close(path)
  }
}'
files=("$corpus"/*.txt)
corpus_bytes=$(cat "${files[@]}" | wc -c)

wc_pipeline() {
  cat "${files[@]}" | LC_ALL=C tr -s '[:space:]' '\n' | LC_ALL=C sort | uniq -c >"$tmp/pipe.txt"
}
wc_scaleout() {
  timeout -k 10 "$limit" "$scaleout" run wordcount -n 2 -q --out "$tmp/wc.txt" ::: "${files[@]}" >/dev/null
}

commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
if [[ $build == build ]] && ! git diff --quiet HEAD -- src include jobs bench 2>/dev/null; then
  commit+=" + uncommitted changes"
fi
echo "scaleout API benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
  "$(mpirun --version 2>/dev/null | head -n 1), commit $commit, build $build"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
echo "$repeat rounds; each round runs every row once, in table order;" \
  "wordcount corpus: ${#files[@]} files, $corpus_bytes bytes"
echo

mb=(--width 1600 --height 1200 --iterations 2000 --region=-2,0.6,0,1.2 --out "$tmp/m.pgm")
declare -A sums=() # the distinct image checksums of each schedule's runs
for ((round = 0; round < repeat; round++)); do
  for s in static dynamic guided; do
    measure "mandel_$s" 'd["wall_seconds"]' mandelbrot -n 2 --schedule "$s" "${mb[@]}"
    c=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["answer"]["checksum"])' \
      "$tmp/report.json" 2>/dev/null) || c=
    [[ -z $c || " ${sums[$s]:-} " == *" $c "* ]] || sums[$s]+="$c "
    imbalance "mandel_$s"
  done
  measure mandel_auto 'd["wall_seconds"]' mandelbrot -n 2 --schedule auto "${mb[@]}"
  imbalance mandel_auto
  for t in 1 4 16; do
    measure "sleep_$t" 'd["wall_seconds"]' sleep -n 2 --threads "$t" --tasks 320 --ms 50
  done
  for w in 1 2; do
    for t in 1 4; do
      measure "pi_${w}_$t" 'd["wall_seconds"]' pi -n "$w" --threads "$t" --samples 5e8
    done
  done
  label[wc_pipe]="cat FILES | LC_ALL=C tr -s '[:space:]' '\\n' | LC_ALL=C sort | uniq -c"
  timed wc_pipe wc_pipeline
  label[wc_so]="scaleout run wordcount -n 2 -q --out F ::: FILES"
  timed wc_so wc_scaleout
  for w in 1 2; do
    measure "stream_$w" 'd["answer"]["gbps"]' stream -n "$w" --n 4e6 --passes 60
  done
done

# fig NAME STAT: the statistic of NAME's runs, empty where the measurement did not run.
fig() {
  [[ -z ${err[$1]:-} && -n ${runs[$1]:-} ]] || return 0
  # shellcheck disable=SC2086 # one word per run
  stat "$2" ${runs[$1]}
}

row() { printf '%-50s %-26s %s\n' "$@"; }
# show NAME UNIT: "2.44 s [2.40-2.61]", or why it did not run.
show() {
  if [[ -n ${err[$1]:-} ]]; then echo "not run: ${err[$1]}"
  elif [[ -z ${runs[$1]:-} ]]; then echo "not run"
  else awk -v m="$(fig "$1" median)" -v lo="$(fig "$1" min)" -v hi="$(fig "$1" max)" -v u="$2" \
    'BEGIN { printf "%.3g %s [%.3g-%.3g]", m, u, lo, hi }'; fi
}
# vs A B [INVERSE]: median(A) / median(B) as "x 1.23", or "-" (INVERSE: B / A).
vs() {
  local a b
  a=$(fig "$1" median) b=$(fig "$2" median)
  [[ -n $a && -n $b ]] || { echo "-"; return; }
  if [[ -n ${3:-} ]]; then calc "\"x \" $a / $b"; else calc "\"x \" $b / $a"; fi | awk '{ printf "%s %.2f", $1, $2 }'
}

row "measurement" "median [min-max]" "relative"
row "-----------" "----------------" "--------"
# imbs NAME: ", imbalance 1.85" (the median of NAME's runs), or nothing.
imbs() {
  # shellcheck disable=SC2086 # one word per run
  [[ -z ${imb[$1]:-} ]] || printf ', imbalance %.2f' "$(stat median ${imb[$1]})"
}
row "mandelbrot 1600x1200, 2000 it, --schedule static" "$(show mandel_static s)" "1 (speedup over static)$(imbs mandel_static)"
row "  --schedule dynamic" "$(show mandel_dynamic s)" "$(vs mandel_dynamic mandel_static)$(imbs mandel_dynamic)"
row "  --schedule guided" "$(show mandel_guided s)" "$(vs mandel_guided mandel_static)$(imbs mandel_guided)"
row "  --schedule auto" "$(show mandel_auto s)" \
  "$(vs mandel_auto mandel_static)$(imbs mandel_auto)"
row "sleep 320 x 50 ms, -n 2, --threads 1" "$(show sleep_1 s)" "1 (speedup over 1 thread)"
row "  --threads 4" "$(show sleep_4 s)" "$(vs sleep_4 sleep_1)"
row "  --threads 16" "$(show sleep_16 s)" "$(vs sleep_16 sleep_1)"
row "pi 5e8 samples, -n 1 --threads 1" "$(show pi_1_1 s)" "1 (speedup over -n 1, 1 thread)"
row "  -n 1 --threads 4" "$(show pi_1_4 s)" "$(vs pi_1_4 pi_1_1)"
row "  -n 2 --threads 1" "$(show pi_2_1 s)" "$(vs pi_2_1 pi_1_1)"
row "  -n 2 --threads 4" "$(show pi_2_4 s)" "$(vs pi_2_4 pi_1_1)"
row "wordcount ${#files[@]} files: sort | uniq -c" "$(show wc_pipe s)" "1 (speedup over the pipeline)"
row "  scaleout run wordcount -n 2" "$(show wc_so s)" "$(vs wc_so wc_pipe)"
row "stream triad 3 x 32 MB, -n 1, GB/s" "$(show stream_1 GB/s)" "1 (bandwidth over -n 1)"
row "  -n 2" "$(show stream_2 GB/s)" "$(vs stream_2 stream_1 inverse)"
echo

# The two wordcounts must agree byte for byte once the pipeline's lines (sorted by word) are
# sorted stably by count, most first: the job's own order.
if [[ -s $tmp/wc.txt && -s $tmp/pipe.txt ]]; then
  if LC_ALL=C sort -s -k1,1nr "$tmp/pipe.txt" | cmp -s - "$tmp/wc.txt"; then
    echo "wordcount: the same $(wc -l <"$tmp/wc.txt") lines as the pipeline (sorted by count, then word)"
  else
    echo "wordcount: DIFFERENT from the pipeline's counts"
  fi
fi
echo "mandelbrot checksums: static ${sums[static]:-?}, dynamic ${sums[dynamic]:-?}, guided ${sums[guided]:-?}"
echo
echo "Runs:"
for n in "${names[@]}"; do
  printf '  %-14s %s\n' "$n" "${label[$n]:-}"
  printf '  %-14s %s\n' "" "${runs[$n]:-}${err[$n]:-}"
done

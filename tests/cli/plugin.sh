#!/usr/bin/env bash
# Job plugins from an installed copy: the example is built against a temporary prefix, with the
# one-line cc command of the docs and with its own CMake file, then loaded and its answer checked;
# broken plugins are refused with one line and the bad-input status, also under mpirun.
#
# Usage: plugin.sh      (ctest runs it as cli.plugin; needs SO_BUILD_DIR and SO_SOURCE_DIR)
# Expects:
#   - cmake --install into $tmp/prefix; jobs/examples/hello_sum.c built with the one-line cc
#     command and with its CMake file (find_package, then pkg-config) gives a .so that needs
#     libscaleout.so.2 and carries no engine code of its own
#   - hello_sum --n 100000 gives sum = 333338333350000 (n(n+1)(2n+1)/6): through --job-lib at 2
#     and 3 workers (direct runs), through SCALEOUT_JOB_PATH from another directory, and under
#     mpirun -n 3 where every rank loads the file itself
#   - `scaleout jobs` marks the plugin's job with its file, `run --help` lists it; `run hello_sum
#     --help` shows its kind and parameters with types and ranges
#   - refused with exit 2, one "scaleout: error:" line naming the file, in under 5 s: a missing
#     file, a file that is not a shared object, a .so without the entry symbol, a plugin built for
#     API 3 (SO_API_MAJOR redefined), a job table of API 1, a job named like a built-in one, a
#     job the plugin lacks, an unreadable SCALEOUT_JOB_PATH directory
#   - under mpirun -n 3: a missing file on every rank, and one rank (rank 2, then rank 0) given a
#     plugin of the wrong version while the others load the good one: exit 2 within 30 s, the
#     refusal said once, no rank waiting in the run
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
: "${SO_BUILD_DIR:?SO_BUILD_DIR must name the build directory (tests/CMakeLists.txt sets it)}"
: "${SO_SOURCE_DIR:?SO_SOURCE_DIR must name the source directory (tests/CMakeLists.txt sets it)}"
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

want=333338333350000
prefix=$tmp/prefix
S=$prefix/bin/scaleout
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig

# took SINCE: seconds since the date +%s.%N stamp SINCE, two decimals.
took() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
# within WHAT SECONDS LIMIT: a check that SECONDS < LIMIT.
within() {
  if awk -v t="$2" -v l="$3" 'BEGIN { exit !(t < l) }'; then pass "$1 in $2 s (< $3 s)"; else
    fail "$1 took $2 s (limit $3 s)"; fi
}

echo "- install and build the example"
run install 120 cmake --install "$SO_BUILD_DIR" --prefix "$prefix"
expect "cmake --install into a temporary prefix: exit status" "$rc" 0
[[ -x $S ]] && pass "installed $S" || fail "no $S after the install"
# The docs' one-line command, word for word but for the paths.
run cc 120 bash -c "cc -shared -fPIC '$SO_SOURCE_DIR/jobs/examples/hello_sum.c' \$(pkg-config --cflags --libs scaleout) -o '$tmp/hello_sum.so'"
expect "one-line cc build: exit status" "$rc" 0
# Its CMake file, through find_package(scaleout 2) and, with that disabled, through pkg-config.
run cmake_cfg 120 cmake -S "$SO_SOURCE_DIR/jobs/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$prefix"
grep -q "hello_sum links scaleout::scaleout" "$tmp/cmake_cfg.out" &&
  pass "CMake found the package configuration" || fail "CMake: $(grep 'hello_sum links' "$tmp/cmake_cfg.out")"
run cmake_build 120 cmake --build "$tmp/ex"
expect "CMake build of jobs/examples (find_package): exit status" "$rc" 0
run cmake_pc 120 cmake -S "$SO_SOURCE_DIR/jobs/examples" -B "$tmp/expc" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_DISABLE_FIND_PACKAGE_scaleout=ON
grep -q "hello_sum links PkgConfig::SCALEOUT" "$tmp/cmake_pc.out" &&
  pass "CMake fell back to pkg-config" || fail "CMake: $(grep 'hello_sum links' "$tmp/cmake_pc.out")"
run cmake_pc_build 120 cmake --build "$tmp/expc"
expect "CMake build of jobs/examples (pkg_check_modules): exit status" "$rc" 0
# All three share the one engine of the binary that loads them rather than carry a copy of it.
for so in "$tmp/hello_sum.so" "$tmp/ex/hello_sum.so" "$tmp/expc/hello_sum.so"; do
  if readelf -d "$so" 2>/dev/null | grep -q 'NEEDED.*\[libscaleout\.so\.2\]' &&
    ! nm -D --defined-only "$so" 2>/dev/null | grep -q ' so_ctx_int$'; then
    pass "$so needs libscaleout.so.2 and defines no engine function"
  else
    fail "$so: $(readelf -d "$so" 2>&1 | grep NEEDED | tr -s ' ' | head -c 300)"
  fi
done

echo "- load and run it"
run direct2 120 "$S" run --job-lib "$tmp/hello_sum.so" hello_sum --n 100000 -n 2 -q --json "$tmp/d2.json" \
  --schedule static
expect "cc-built plugin, direct run -n 2, static: exit status" "$rc" 0
expect "cc-built plugin, direct run -n 2, static: sum" "$(json "$tmp/d2.json" 'd["answer"]["sum"]')" $want
run direct3 120 "$S" run --job-lib "$tmp/ex/hello_sum.so" hello_sum --n 100000 --schedule guided,7 -n 3 -q \
  --json "$tmp/d3.json"
expect "CMake-built plugin, direct run -n 3, guided,7: exit status" "$rc" 0
expect "CMake-built plugin, direct run -n 3, guided,7: sum" "$(json "$tmp/d3.json" 'd["answer"]["sum"]')" $want
run direct3pc 120 "$S" run --job-lib "$tmp/expc/hello_sum.so" hello_sum --n 100000 -n 3 -q \
  --json "$tmp/d3pc.json"
expect "CMake (pkg-config) plugin, direct run -n 3: sum" "$(json "$tmp/d3pc.json" 'd["answer"]["sum"]')" $want
mkdir -p "$tmp/lib" "$tmp/elsewhere" "$tmp/empty"
cp "$tmp/hello_sum.so" "$tmp/lib/"
run jobpath 120 env -C "$tmp/elsewhere" SCALEOUT_JOB_PATH="$tmp/empty::$tmp/lib" "$S" run hello_sum \
  --n 100000 -n 2 -q --json "$tmp/p.json"
expect "SCALEOUT_JOB_PATH, direct run -n 2: exit status" "$rc" 0
expect "SCALEOUT_JOB_PATH, direct run -n 2: sum" "$(json "$tmp/p.json" 'd["answer"]["sum"]')" $want
run mpi3 120 mpirun -n 3 "$S" run --job-lib "$tmp/hello_sum.so" hello_sum --n 100000 -q \
  --json "$tmp/m.json"
expect "mpirun -n 3 (every rank loads it): exit status" "$rc" 0
expect "mpirun -n 3: sum" "$(json "$tmp/m.json" 'd["answer"]["sum"]')" $want
expect "mpirun -n 3: workers" "$(json "$tmp/m.json" 'd["config"]["workers"]')" 2

echo "- listing and help"
run jobs 30 env SCALEOUT_JOB_PATH="$tmp/lib" "$S" jobs
grep -q "^hello_sum: .*\[plugin $tmp/lib/hello_sum.so\]$" "$tmp/jobs.out" &&
  pass "jobs with SCALEOUT_JOB_PATH marks hello_sum with its file" ||
  fail "jobs: $(grep hello_sum "$tmp/jobs.out" || echo 'no hello_sum line')"
grep -q "^pi: " "$tmp/jobs.out" && ! grep -q "^pi: .*plugin" "$tmp/jobs.out" &&
  pass "jobs: pi listed as built in" || fail "jobs: pi line: $(grep '^pi' "$tmp/jobs.out")"
run runhelp 30 env SCALEOUT_JOB_PATH="$tmp/lib" "$S" run --help
grep -q "^  hello_sum  example plugin" "$tmp/runhelp.out" &&
  pass "run --help with SCALEOUT_JOB_PATH lists hello_sum" || fail "run --help: no hello_sum line"
run jobslib 30 "$S" jobs --job-lib "$tmp/hello_sum.so"
grep -q "^hello_sum: .*\[plugin $tmp/hello_sum.so\]$" "$tmp/jobslib.out" &&
  pass "jobs --job-lib lists hello_sum" || fail "jobs --job-lib: $(head -c 300 "$tmp/jobslib.out")"
run help 30 "$S" run --job-lib "$tmp/hello_sum.so" hello_sum --help
for line in "from: $tmp/hello_sum.so" \
  "kind: data-parallel map over an index range, results reduced by sum; default schedule auto (--schedule)" \
  "  --n N                add the squares of 1 to n (default 1000)" \
  "                         integer, 1 to 3000000"; do
  grep -qxF -- "$line" "$tmp/help.out" && pass "run hello_sum --help: '$line'" ||
    fail "run hello_sum --help lacks '$line'"
done
run pihelp 30 "$S" run cmd --help
grep -qx "from: built in" "$tmp/pihelp.out" && grep -qx "kind: tasks that wait (asynchronous), --threads at once per worker" "$tmp/pihelp.out" &&
  pass "run cmd --help: built in, asynchronous kind" || fail "run cmd --help: $(head -c 400 "$tmp/pihelp.out")"

echo "- broken plugins"
inc=$(pkg-config --cflags scaleout)
build_bad() { # NAME: $tmp/NAME.so from the C text on standard input
  cat >"$tmp/$1.c"
  cc -shared -fPIC $inc "$tmp/$1.c" -o "$tmp/$1.so"
}
echo 'int not_the_entry = 1;' | build_bad nosym
build_bad v3 <<'C'
#include <scaleout/job.h>
static const so_job j = {SO_JOB_VERSION, .name = "v3job", .summary = "built for API 3"};
#undef SO_API_MAJOR
#define SO_API_MAJOR 3
SO_PLUGIN(&j);
C
build_bad oldjob <<'C'
#include <scaleout/job.h>
static const so_job j = {.abi = 1, .size = 64, .name = "oldjob", .summary = "a v1 table"};
SO_PLUGIN(&j);
C
build_bad clash <<'C'
#include <scaleout/job.h>
static const so_job j = {SO_JOB_VERSION, .name = "pi", .summary = "not the real pi"};
SO_PLUGIN(&j);
C
echo "not a library" >"$tmp/text.so"

# refused TAG PATTERN CMD...: exit 2 in under 5 s with one error line matching PATTERN.
refused() {
  local tag=$1 pattern=$2 t0
  shift 2
  t0=$(date +%s.%N)
  run "$tag" 30 "$@"
  expect "$tag: exit status" "$rc" 2
  within "$tag: refused" "$(took "$t0")" 5
  if [[ $(wc -l <"$tmp/$tag.err") == 1 ]] && grep -Eq "^scaleout: error: .*($pattern)" "$tmp/$tag.err"; then
    pass "$tag: one error line: $(cat "$tmp/$tag.err")"
  else
    fail "$tag: stderr was: $(head -c 400 "$tmp/$tag.err")"
  fi
}
refused missing "cannot load job plugin '$tmp/nope.so': No such file" \
  "$S" run --job-lib "$tmp/nope.so" hello_sum
refused text "'$tmp/text.so': not a shared object" "$S" run --job-lib "$tmp/text.so" hello_sum
refused nosym "'$tmp/nosym.so' has no entry symbol 'scaleout_plugin'" \
  "$S" run --job-lib "$tmp/nosym.so" hello_sum
refused v3 "'$tmp/v3.so' was built for job API 3.0, this scaleout runs API 2.0" \
  "$S" run --job-lib "$tmp/v3.so" v3job
refused oldjob "'$tmp/oldjob.so': job 'oldjob' was built for job API 1, but this engine runs jobs of API 2" \
  "$S" run --job-lib "$tmp/oldjob.so" oldjob
refused clash "'$tmp/clash.so': job 'pi' has the name of a built-in job" \
  "$S" run --job-lib "$tmp/clash.so" pi
refused notin "'$tmp/hello_sum.so' has no job 'other'; its jobs are: hello_sum" \
  "$S" run --job-lib "$tmp/hello_sum.so" other
refused baddir "cannot read the job plugin directory '$tmp/none'" \
  env SCALEOUT_JOB_PATH="$tmp/none" "$S" run hello_sum
refused jobsv3 "'$tmp/v3.so' was built for job API 3.0" "$S" jobs --job-lib "$tmp/v3.so"
# A built-in job needs no plugin, whatever SCALEOUT_JOB_PATH holds.
run builtin 120 env SCALEOUT_JOB_PATH="$tmp/none" "$S" run noop --tasks 10 -n 1 -q
expect "built-in job with a bad SCALEOUT_JOB_PATH: exit status" "$rc" 0

echo "- refused under mpirun -n 3, no rank left waiting"
# mpi_refused TAG PATTERN MPIRUN-ARGS...: exit 2 within 30 s, the refusal said once.
mpi_refused() {
  local tag=$1 pattern=$2 t0
  shift 2
  t0=$(date +%s.%N)
  run "$tag" 60 mpirun "$@"
  expect "$tag: exit status" "$rc" 2
  within "$tag: refused" "$(took "$t0")" 30
  local said
  said=$(grep -c "^scaleout: error: " "$tmp/$tag.err" || true)
  if [[ $said == 1 ]] && grep -Eq "^scaleout: error: .*($pattern)" "$tmp/$tag.err"; then
    pass "$tag: said once: $(grep '^scaleout: error: ' "$tmp/$tag.err")"
  else
    fail "$tag: $said error lines: $(grep -v '^[ -]' "$tmp/$tag.err" | head -c 400)"
  fi
  ! grep -qiE "backtrace|MPI_ABORT|signal [0-9]|Signal:" "$tmp/$tag.err" &&
    pass "$tag: no abort or signal trace" || fail "$tag: a trace: $(head -c 400 "$tmp/$tag.err")"
}
mpi_refused mpimissing "cannot load job plugin '$tmp/nope.so'" \
  -n 3 "$S" run --job-lib "$tmp/nope.so" hello_sum -q
# MPMD: ranks 0 and 1 load the good file, rank 2 one of another version (and the other way
# round): the ranks that loaded must not go on into the run.
mpi_refused mpirank2 "rank 2: job plugin '$tmp/v3.so' was built for job API 3.0" \
  -n 2 "$S" run --job-lib "$tmp/hello_sum.so" hello_sum --n 100000 -q : \
  -n 1 "$S" run --job-lib "$tmp/v3.so" hello_sum --n 100000 -q
mpi_refused mpirank0 "job plugin '$tmp/v3.so' was built for job API 3.0" \
  -n 1 "$S" run --job-lib "$tmp/v3.so" hello_sum --n 100000 -q : \
  -n 2 "$S" run --job-lib "$tmp/hello_sum.so" hello_sum --n 100000 -q

finish

#!/usr/bin/env bash
# A program embeds the engine through the installed public API only: tests/mpi/embed.c, compiled
# against a temporary install with the pkg-config line of docs/api.md, runs its own job with
# so_run on MPI_COMM_WORLD at 3 ranks, twice, and reads the answer with the report API.
#
# Usage: embed.sh      (ctest runs it as mpi.embed.np3; needs SO_BUILD_DIR and SO_SOURCE_DIR)
# Expects: cmake --install into $tmp/prefix; `cc embed.c $(pkg-config --cflags --libs scaleout)`
# builds it; the program needs libscaleout.so.2 and calls no internal so__ function; under
# mpirun -n 3 it exits 0 with "N passed, 0 failed" (its checks: parameter bad inputs, the sums of
# squares for n = 1000 and 200 read by name, so_report_exit, a job of API 1 refused on every rank,
# a shorter table run); the refusal is one stderr line naming the job and both versions, said
# once; its so_report_json line parses with answer.sum = 2646700 and exit_status = 4.
set -euo pipefail

: "${SO_BUILD_DIR:?SO_BUILD_DIR must name the build directory (tests/CMakeLists.txt sets it)}"
: "${SO_SOURCE_DIR:?SO_SOURCE_DIR must name the source directory (tests/CMakeLists.txt sets it)}"
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

prefix=$tmp/prefix
run install 120 cmake --install "$SO_BUILD_DIR" --prefix "$prefix"
expect "cmake --install into a temporary prefix: exit status" "$rc" 0
libdir=$(dirname "$(find "$prefix" -name libscaleout.so.2 | head -1)")
export PKG_CONFIG_PATH=$libdir/pkgconfig

# Only the installed headers are on the include path: nothing of src/ can be reached.
run cc 120 bash -c "cc -std=c11 -Wall -Wextra -Wno-unused-parameter -Werror '$SO_SOURCE_DIR/tests/mpi/embed.c' \
  \$(pkg-config --cflags --libs scaleout) -Wl,-rpath,'$libdir' -o '$tmp/embed'"
expect "cc embed.c \$(pkg-config --cflags --libs scaleout): exit status" "$rc" 0
if [[ ! -x $tmp/embed ]]; then
  finish
  exit 1
fi
needed=$(readelf -d "$tmp/embed" | sed -n 's/.*(NEEDED).*\[\(libscaleout[^]]*\)\]/\1/p')
expect "embed NEEDs" "${needed:-<missing>}" "libscaleout.so.2"
internal=$(nm -u "$tmp/embed" | awk '$2 ~ /^so__/ {print $2}' | head -3 | tr '\n' ' ')
public=$(nm -u "$tmp/embed" | awk '$2 ~ /^so_[a-z]/' | wc -l)
if [[ -z $internal ]] && ((public > 10)); then
  pass "embed calls $public public so_ functions and no internal so__ one"
else
  fail "embed calls internal functions: '${internal}' ($public public)"
fi

start=$(date +%s.%N)
run embed 120 mpirun -n 3 "$tmp/embed"
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
expect "mpirun -n 3 embed: exit status (${secs} s)" "$rc" 0
sed -n 's/^/  embed: /p' "$tmp/embed.out" | grep -v '^  embed: json:' || true
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/embed.out" || echo '<missing>')
[[ $summary =~ ^([0-9]+)\ passed,\ 0\ failed$ ]] && ((BASH_REMATCH[1] >= 25)) &&
  pass "embed's own checks: $summary" || fail "embed's own checks: $summary"

refusals=$(grep -c "^scaleout: error: job 'sumsq' was built for job API 1, but this engine runs jobs of API 2" "$tmp/embed.err" || true)
expect "refusal of the API 1 table, lines on stderr" "$refusals" 1
others=$(grep -v "was built for job API 1" "$tmp/embed.err" | grep -v '^sumsq\|^$' | head -3 || true)
[[ -z $others ]] && pass "nothing else on stderr" || fail "stderr also has: $others"

sed -n 's/^json: //p' "$tmp/embed.out" | head -1 >"$tmp/report.json"
expect "so_report_json: answer.sum" "$(json "$tmp/report.json" 'd["answer"]["sum"]')" 2646700
expect "so_report_json: exit_status" "$(json "$tmp/report.json" 'd["exit_status"]')" 4
expect "so_report_json: params.n as typed" "$(json "$tmp/report.json" 'd["params"]["n"]')" 2e2

# The CMake way of docs/api.md: find_package(scaleout 2) and the imported target.
mkdir -p "$tmp/cm"
cat >"$tmp/cm/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.18)
project(embed_cmake LANGUAGES C)
find_package(scaleout \${WANT} REQUIRED)
add_executable(embed "$SO_SOURCE_DIR/tests/mpi/embed.c")
target_link_libraries(embed PRIVATE scaleout::scaleout)
CMAKE
run cm_cfg 120 cmake -S "$tmp/cm" -B "$tmp/cm/b" -DWANT=2 -DCMAKE_PREFIX_PATH="$prefix"
run cm_build 120 cmake --build "$tmp/cm/b"
expect "find_package(scaleout 2) build: exit status" "$rc" 0
run embed_cm 120 mpirun -n 3 "$tmp/cm/b/embed"
expect "mpirun -n 3 of the CMake-built embed: exit status" "$rc" 0
resolved=$(ldd "$tmp/cm/b/embed" 2>/dev/null | awk '$1 == "libscaleout.so.2" {print $3}')
expect "the CMake-built embed loads" "$(readlink -f "${resolved:-/missing}")" \
  "$(readlink -f "$libdir/libscaleout.so.2")"
run cm_cfg3 120 cmake -S "$tmp/cm" -B "$tmp/cm/b3" -DWANT=3 -DCMAKE_PREFIX_PATH="$prefix"
if ((rc != 0)) && grep -q 'scaleoutConfig.cmake, version: 2.0.0' "$tmp/cm_cfg3.err"; then
  pass "find_package(scaleout 3) is refused by the installed 2.0.0"
else
  fail "find_package(scaleout 3): status $rc, $(grep -m1 -i version "$tmp/cm_cfg3.err")"
fi
finish

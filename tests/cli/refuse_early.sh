#!/usr/bin/env bash
# What the command line alone can refuse is refused at once: a direct run before mpirun starts any
# rank, a run under mpirun before any task runs.
#
# Usage: refuse_early.sh      (ctest runs it as cli.refuse_early)
# Expects, each with exit status 2, one "scaleout: error:" line and (direct runs) no mpirun
# started, which a spy standing in for mpirun (SCALEOUT_MPIRUN) would record:
#   - more workers than tasks (pi --tasks 100 -n 150; -n 40 --oversubscribe with 20), under 3 s
#   - an unwritable --json path (/nonexistent/x.json, a directory, a path through a file), under
#     3 s, with no file left behind and an existing report left as it was
#   - a job's own parameter check (primes --from 5 --to 5), under 3 s
#   - more than 8 workers per PU (taskset -c 0: -n 9), under 3 s; --oversubscribe starts them
#   - under mpirun -n 3, an unwritable --json path before the computation (pi of 1e12 samples
#     would take minutes): under 30 s
# And what stays allowed: no -n with fewer tasks than cores uses one worker per task; -n 5.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

real_mpirun=$(command -v mpirun)
spy=$tmp/mpirun-spy
# The spy notes its process id, which stays mpirun's after exec, so that should a check be missing
# the mpirun it let start and its ranks are ended by id at exit.
printf '#!/bin/sh\necho $$ >> "%s"\necho $$ >> "%s"\nexec "%s" "$@"\n' "$tmp/spied" "$tmp/all-spied" \
  "$real_mpirun" >"$spy"
chmod +x "$spy"
export SCALEOUT_MPIRUN=$spy
end_spied() {
  local pid
  for pid in $(cat "$tmp/all-spied" 2>/dev/null); do
    kill -9 $(ps -o pid= --ppid "$pid" 2>/dev/null) "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap end_spied EXIT

# refused TAG SECONDS PATTERN CMD...: a direct run refused with exit 2 within SECONDS, one error
# line matching PATTERN, and mpirun never started.
refused() {
  local tag=$1 limit=$2 pattern=$3
  shift 3
  rm -f "$tmp/spied"
  local t0 t1
  t0=$(date +%s.%N)
  # A short limit: should the check be missing, up to 150 ranks start, and not for long.
  run "$tag" 10 "$@"
  t1=$(date +%s.%N)
  local took
  took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  expect "$tag: exit status" "$rc" 2
  if awk -v t="$took" -v l="$limit" 'BEGIN { exit !(t < l) }'; then
    pass "$tag: refused in $took s (< $limit s)"
  else
    fail "$tag: refused after $took s"
  fi
  if [[ $(wc -l <"$tmp/$tag.err") == 1 ]] && grep -Eq "^scaleout: error: .*($pattern)" "$tmp/$tag.err"; then
    pass "$tag: one error line: $(cat "$tmp/$tag.err")"
  else
    fail "$tag: stderr was: $(head -c 400 "$tmp/$tag.err")"
  fi
  [[ ! -e $tmp/spied ]] && pass "$tag: mpirun was not started" || fail "$tag: mpirun was started"
}

echo "- more workers than tasks"
refused many 3 'only 100 tasks' "$SCALEOUT" run pi --tasks 100 --samples 1e6 -n 150
refused more 3 'only 20 tasks' "$SCALEOUT" run pi --tasks 20 -n 40 --oversubscribe

echo "- an unwritable --json path"
refused json 3 "/nonexistent/x.json': No such file" "$SCALEOUT" run pi --samples 1e6 --json /nonexistent/x.json
refused jsondir 3 "is a directory" "$SCALEOUT" run pi --samples 1e6 --json "$tmp"
: >"$tmp/plainfile"
refused jsonnotdir 3 "Not a directory" "$SCALEOUT" run pi --samples 1e6 --json "$tmp/plainfile/x.json"
# A writable path passes its check, and the run refused for another reason leaves no file.
refused jsonclean 3 'only 100 tasks' "$SCALEOUT" run pi --tasks 100 -n 150 --json "$tmp/new.json"
[[ ! -e $tmp/new.json ]] && pass "jsonclean: no report file left behind" ||
  fail "jsonclean: $tmp/new.json was left behind"
echo keep >"$tmp/old.json"
refused jsonkeep 3 'only 100 tasks' "$SCALEOUT" run pi --tasks 100 -n 150 --json "$tmp/old.json"
expect "jsonkeep: the existing report is left as it was" "$(cat "$tmp/old.json")" keep

echo "- the job's own parameter check"
refused param 3 'must be below --to' "$SCALEOUT" run primes --from 5 --to 5

if taskset -c 0 true 2>/dev/null; then
  echo "- more than 8 workers per PU (on PU 0 alone)"
  refused over 3 '9 workers on the 1 PU .* --oversubscribe' taskset -c 0 "$SCALEOUT" run noop \
    --tasks 100 -n 9
  run forced 120 taskset -c 0 "$SCALEOUT" run noop --tasks 100 -n 9 -q --oversubscribe \
    --json "$tmp/forced.json"
  expect "--oversubscribe -n 9 on 1 PU: exit status" "$rc" 0
  expect "--oversubscribe -n 9 on 1 PU: workers" "$(json "$tmp/forced.json" 'd["config"]["workers"]')" 9
fi

echo "- under mpirun, before any task runs"
t0=$(date +%s.%N)
run mpi 30 "$real_mpirun" -n 3 "$SCALEOUT" run pi --samples 1e12 --json /nonexistent/x.json
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
expect "mpirun -n 3, --json /nonexistent/x.json: exit status" "$rc" 2
if awk -v t="$took" 'BEGIN { exit !(t < 30) }'; then
  pass "mpirun -n 3, --json /nonexistent/x.json: refused in $took s (the run would take minutes)"
else
  fail "mpirun -n 3, --json /nonexistent/x.json: took $took s"
fi
grep -q "^scaleout: error: cannot write the JSON report '/nonexistent/x.json'" "$tmp/mpi.err" &&
  pass "mpirun: the error line" || fail "mpirun: stderr was: $(head -c 400 "$tmp/mpi.err")"

echo "- what stays allowed"
run onetask 120 "$SCALEOUT" run sleep --tasks 1 --ms 10 -q --json "$tmp/onetask.json"
expect "sleep --tasks 1 without -n: exit status" "$rc" 0
expect "sleep --tasks 1 without -n: workers" "$(json "$tmp/onetask.json" 'd["config"]["workers"]')" 1
run five 120 "$SCALEOUT" run noop --tasks 100 -n 5 -q
expect "noop -n 5: exit status" "$rc" 0

finish

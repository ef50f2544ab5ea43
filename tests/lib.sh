#!/usr/bin/env bash
# Helpers the test scripts share: counting checks, running a command under a time limit, reading
# the JSON report. Source it after `set -euo pipefail`; it makes $tmp (removed on exit).
# The scripts print one line per check and end with "N passed, M failed" (finish).

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "  ok    $*"; }
fail() { failed=$((failed + 1)); echo "  FAIL  $*"; }
# expect WHAT ACTUAL EXPECTED: equal strings pass; "<unreadable>"/"<missing>" never do.
expect() {
  if [[ $2 == "$3" && $2 != "<"* ]]; then pass "$1 = $3"; else fail "$1: got '$2', expected '$3'"; fi
}
# out_of_time WHAT: true once the script's own time budget ($budget seconds of $SECONDS, set by
# the script) is spent. Running out of time on a loaded machine says nothing about the code: the
# first call prints that WHAT was not run and why, and finish then ends the script as skipped.
skipped=
out_of_time() {
  ((SECONDS > budget)) || return 1
  if [[ -z $skipped ]]; then
    skipped="$1: not run, the script's ${budget}s budget is spent (after ${SECONDS}s)"
    echo "  SKIP  $skipped"
  fi
  return 0
}
# finish: the closing count. Status 1 when a check failed; otherwise 77 (CTest's
# SKIP_RETURN_CODE, see tests/CMakeLists.txt) when out_of_time cut the script short, else 0.
finish() {
  echo "$passed passed, $failed failed"
  ((failed == 0)) || return 1
  if [[ -n $skipped ]]; then
    echo "skipped: the script ran out of its time budget before every check ran"
    exit 77
  fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run TAG SECONDS CMD...: runs CMD under a time limit, output in $tmp/TAG.out and .err; sets rc.
run() {
  local tag=$1 secs=$2
  shift 2
  echo "\$ $*"
  rc=0
  timeout -k 10 "$secs" "$@" >"$tmp/$tag.out" 2>"$tmp/$tag.err" || rc=$?
  if ((rc != 0)); then
    ((rc != 124 && rc != 137)) || echo "  (killed after ${secs}s)"
    sed -n '1,20s/^/  stderr: /p' "$tmp/$tag.err"
  fi
}
# json FILE EXPR: the Python expression EXPR, with d the parsed JSON file; "<unreadable>" if not.
json() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (bool, dict, list)) or v is None else v)' "$1" "$2" \
    2>/dev/null || echo "<unreadable>"
}

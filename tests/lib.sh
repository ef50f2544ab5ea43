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
finish() { echo "$passed passed, $failed failed"; ((failed == 0)); }
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

#!/usr/bin/env bash
# The first command README.md gives a newcomer works as written.
#
# Usage: readme_first.sh       (ctest runs it as cli.readme_first)
# Takes the first line inside the first ```sh fenced block of $SO_SOURCE_DIR/README.md (today
# `scripts/setup && build/scaleout run pi`) and runs it with bash in the source directory.
# Expects: exit status 0 within 270 s and a `pi = 3.14...` answer line on stdout.
set -euo pipefail

: "${SO_SOURCE_DIR:?SO_SOURCE_DIR must name the source directory (tests/CMakeLists.txt sets it)}"

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "  ok    $*"; }
fail() { failed=$((failed + 1)); echo "  FAIL  $*"; }
finish() { echo "$passed passed, $failed failed"; ((failed == 0)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

readme=$SO_SOURCE_DIR/README.md
if [[ ! -f $readme ]]; then
  fail "no README.md in $SO_SOURCE_DIR"
  finish
fi

# First non-blank line after the first line that is exactly ```sh; a leading "$ " prompt is
# not part of the command.
cmd=$(awk '/^```sh[[:space:]]*$/ { inblock = 1; next }
           inblock && /^```/ { exit }
           inblock && NF { sub(/^[[:space:]]*\$[[:space:]]+/, ""); print; exit }' "$readme")
if [[ -z $cmd ]]; then
  fail "README.md has no command in a \`\`\`sh fenced block"
  finish
fi
pass "README's first command: $cmd"

# Running the suite from inside the suite would never end.
if [[ $cmd == *scripts/test* ]]; then
  fail "the first command runs scripts/test; expected the quick start (setup and a pi run)"
  finish
fi

echo "\$ cd $SO_SOURCE_DIR && $cmd"
rc=0
(cd "$SO_SOURCE_DIR" && timeout -k 10 270 bash -c "$cmd") >"$tmp/out" 2>"$tmp/err" || rc=$?
if ((rc == 0)); then
  pass "exit status 0"
else
  ((rc != 124 && rc != 137)) || echo "  (killed after 270 s)"
  fail "exit status $rc; last lines of its output:"
  tail -n 15 "$tmp/out" | sed 's/^/          out| /'
  tail -n 15 "$tmp/err" | sed 's/^/          err| /'
fi

if line=$(grep -E -m1 '^[[:space:]]*pi = ' "$tmp/out"); then
  if [[ $line =~ pi\ =\ 3\.14 ]]; then
    pass "answer line: ${line#"${line%%[![:space:]]*}"}"
  else
    fail "answer line is not pi = 3.14...: $line"
  fi
else
  fail "no 'pi = ' line on stdout"
fi

finish

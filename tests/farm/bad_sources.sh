#!/usr/bin/env bash
# Bad task sources fail fast and clearly; odd but valid ones (long lines, CR) work; empty ones
# are no error.
#
# Usage: bad_sources.sh        (ctest runs it as farm.bad_sources; direct runs, 1 worker, and
#                               one case under mpirun -n 2)
# Expects, for each bad source (a NUL byte, a 5 MiB line, a missing file, a directory, an
# unreadable file - run as nobody through setpriv, skipped with a reason when that is
# impossible -, a missing --args file, a NUL byte in an --args file, an empty --command, a
# --results path that is or is under a file, a source changed since the joblog was written and
# resumed without --force): exit status 103 within 20 s; stderr
# exactly one line, starting "scaleout: error: " and naming the file (or the line) where that
# applies; no crash or abort text; no task ran.
# Expects for each empty source (an empty task file, one of only comments and blanks, empty
# stdin for --tasks - and for --command, an empty --args file, ':::' with nothing after it):
# exit status 0 (GNU parallel's and xargs -r's; GNU parallel is run on the same source when it
# is installed and must agree), no error line, no task ran.
# Expects for the valid ones: a 1 MiB command line and a 4 MiB - 64 one run (the shell sees all
# of the line), as do a 100 kB line among 60 short ones and a 1 MiB --args argument; a CR before
# the newline stays part of the command or argument, as in GNU parallel (lines of only blanks
# and CR, and comments, are still skipped in a task file); a last line without '\n' runs;
# --tasks - reads stdin; a changed source resumed with --force runs.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" sources
limit=20
crash='MPI_ABORT|backtrace|Signal:|Segmentation fault|core dumped|Assertion|Sanitizer|Killed'

# run SECONDS CMD...: runs CMD under a time limit (stdin from $stdin or /dev/null), output in
# $tmp/out and $tmp/err; sets rc. A run that had to be killed leaves nothing behind.
run() {
  local secs=$1 pid rest
  shift
  rc=0
  # (bash's own "Killed" report of a hung run that timeout killed stays off stderr.)
  {
    timeout -k 5 "$secs" env SO_FARM_TEST_MARK="$mark" "$@" <"${stdin:-/dev/null}" \
      >"$tmp/out" 2>"$tmp/err" || rc=$?
  } 2>/dev/null
  if ((rc == 124 || rc == 137)); then
    sleep 1
    while read -r pid rest; do kill -KILL "$pid" 2>/dev/null || true; done < <(marked)
  fi
}

# error_checks WHAT STDERR_FILE PATTERN: the one-line error and no-crash checks; PATTERN is an
# extended regex the line must match (empty: none).
error_checks() {
  local what=$1 errfile=$2 pat=$3 n line
  if ((rc == 124 || rc == 137)); then
    fail "$what: still running after ${limit}s"
  fi
  if grep -aiqE "$crash" "$tmp/out" "$errfile"; then
    fail "$what: crash or abort text: $(grep -aihE -m1 "$crash" "$tmp/out" "$errfile")"
  else
    pass "$what: no crash text"
  fi
  n=$(grep -c '' "$errfile" || true)
  line=$(head -n 1 "$errfile")
  if [[ $n == 1 && $line == "scaleout: error: "* ]]; then
    pass "$what: one error line: $line"
  else
    fail "$what: $n stderr lines, expected one 'scaleout: error: ' line:"
    sed -n '1,8s/^/          | /p' "$errfile" | cut -c1-200
  fi
  if [[ -n $pat ]]; then
    if grep -aqE -e "$pat" <<<"$line"; then
      pass "$what: the error names '$pat'"
    else
      fail "$what: the error does not name '$pat'"
    fi
  fi
}

# bad WHAT PATTERN ARGS...: `scaleout run ARGS` must fail with 103 and one error line matching
# PATTERN; no task may have run (tasks of this script touch $tmp/ran).
bad() {
  local what=$1 pat=$2
  shift 2
  echo "\$ scaleout run $*" | cut -c1-160
  rm -f "$tmp/ran"
  run "$limit" "$SCALEOUT" run "$@"
  expect "$what: exit status" "$rc" 103
  error_checks "$what" "$tmp/err" "$pat"
  if [[ -e $tmp/ran ]]; then fail "$what: a task ran"; fi
}

# good WHAT ARGS...: `scaleout run ARGS` must exit 0 with nothing on stderr.
good() {
  local what=$1
  shift
  echo "\$ scaleout run $*" | cut -c1-160
  run "$limit" "$SCALEOUT" run "$@"
  expect "$what: exit status" "$rc" 0
  if ((rc != 0)); then sed -n '1,4s/^/          | /p' "$tmp/err" | cut -c1-200; fi
}

# nothing WHAT GNU_ARGS -- ARGS...: `scaleout run ARGS` on a source with no task must exit 0
# without an error line and run nothing; with GNU parallel installed, `parallel GNU_ARGS` on the
# same source must exit 0 too (the status scaleout copies). GNU_ARGS "none": GNU parallel has no
# such source.
nothing() {
  local what=$1 gnu=()
  shift
  while [[ $1 != -- ]]; do gnu+=("$1"); shift; done
  shift
  echo "\$ scaleout run $*" | cut -c1-160
  rm -f "$tmp/ran"
  run "$limit" "$SCALEOUT" run "$@"
  expect "$what: exit status" "$rc" 0
  if grep -aq '^scaleout: error' "$tmp/err"; then
    fail "$what: an error line: $(grep -a -m1 '^scaleout: error' "$tmp/err")"
  fi
  if [[ -e $tmp/ran ]]; then fail "$what: a task ran"; fi
  if [[ ${gnu[*]-} != none ]] && command -v parallel >/dev/null; then
    run "$limit" env HOME="$tmp" parallel ${gnu[@]+"${gnu[@]}"}
    expect "$what: GNU parallel's exit status on the same source" "$rc" 0
  fi
}

ran="touch $tmp/ran"
w=(-n 1)

echo "- sources that hold no task: nothing to do, as for GNU parallel and xargs -r"
: >"$tmp/empty.tasks"
nothing "empty file" -a "$tmp/empty.tasks" -- --tasks "$tmp/empty.tasks" "${w[@]}"
printf '# only\n\n   # comments\n\t\n  \n \r\n' >"$tmp/comments.tasks"
nothing "only comments and blanks" none -- --tasks "$tmp/comments.tasks" "${w[@]}"
stdin=/dev/null nothing "--tasks - with empty stdin" -- --tasks - "${w[@]}"
: >"$tmp/empty.args"
nothing "empty --args file" -a "$tmp/empty.args" "$ran {}" -- --command "$ran {}" --args "$tmp/empty.args" "${w[@]}"
nothing "::: with no argument after it" "$ran {}" ::: -- --command "$ran {}" "${w[@]}" :::
stdin=/dev/null nothing "--command with neither --args nor ::: and empty stdin" "$ran {}" -- \
  --command "$ran {}" "${w[@]}"

echo "- task files that hold something that is not text"
printf '%s\n' "$ran" >"$tmp/nul.tasks"
printf 'echo a\0b\n%s\n' "$ran" >>"$tmp/nul.tasks"
bad "a NUL byte on line 2" "line 2" --tasks "$tmp/nul.tasks" "${w[@]}"
python3 -c 'import sys; sys.stdout.write("touch " + sys.argv[1] + " #" + "x" * (5 << 20) + "\n")' \
  "$tmp/ran" >"$tmp/huge.tasks"
bad "a 5 MiB line (the limit is 4 MiB)" "huge.tasks" --tasks "$tmp/huge.tasks" "${w[@]}"

echo "- task files that cannot be read"
bad "missing file" "no-such-file" --tasks "$tmp/no-such-file" "${w[@]}"
mkdir "$tmp/adir"
bad "a directory" "adir" --tasks "$tmp/adir" "${w[@]}"
printf '%s\n' "$ran" >"$tmp/secret.tasks"
chmod 000 "$tmp/secret.tasks"
if ((EUID != 0)); then
  bad "unreadable file" "secret.tasks" --tasks "$tmp/secret.tasks" "${w[@]}"
elif command -v setpriv >/dev/null && id nobody >/dev/null 2>&1 &&
  setpriv --reuid=nobody --regid=nogroup --clear-groups "$SCALEOUT" --version >/dev/null 2>&1; then
  chmod 755 "$tmp"
  echo "\$ setpriv --reuid=nobody ... scaleout run --tasks $tmp/secret.tasks"
  rm -f "$tmp/ran"
  run "$limit" setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/tmp \
    "$SCALEOUT" run --tasks "$tmp/secret.tasks" "${w[@]}"
  expect "unreadable file (as nobody): exit status" "$rc" 103
  error_checks "unreadable file (as nobody)" "$tmp/err" "secret.tasks"
  chmod 700 "$tmp"
else
  echo "  skip  unreadable file: running as root (chmod 000 does not stop root) and cannot run" \
    "scaleout as nobody (setpriv missing, no user nobody, or the binary is not reachable)"
fi

echo "- stdin"
printf '%s\n' "echo from-stdin" >"$tmp/stdin.tasks"
stdin=$tmp/stdin.tasks good "--tasks - reads stdin" --tasks - "${w[@]}"
expect "--tasks -: output" "$(cat "$tmp/out")" from-stdin

echo "- template sources"
bad "missing --args file" "no-such-args" --command "$ran {}" --args "$tmp/no-such-args" "${w[@]}"
printf 'a\nb\0c\n' >"$tmp/nul.args"
bad "a NUL byte in an --args file" "nul.args" --command "$ran {}" --args "$tmp/nul.args" "${w[@]}"
bad "an empty --command" "" --command "" "${w[@]}" ::: a

echo "- output places"
printf "%s\n" "$ran" >"$tmp/one.tasks"
bad "--results naming a file" "one.tasks" --tasks "$tmp/one.tasks" --results "$tmp/one.tasks" "${w[@]}"
bad "--results under a file" "one.tasks/sub" --tasks "$tmp/one.tasks" \
  --results "$tmp/one.tasks/sub" "${w[@]}"

echo "- under mpirun -n 2: a missing task file"
echo "\$ mpirun -n 2 scaleout run --tasks $tmp/no-such-file"
run "$limit" mpirun -n 2 "$SCALEOUT" run --tasks "$tmp/no-such-file"
expect "mpirun, missing file: exit status" "$rc" 103
# mpirun frames each of its notices between lines of dashes; drop those frames.
awk '/^-------------------+$/ { inbox = !inbox; next } !inbox' "$tmp/err" >"$tmp/err.own"
error_checks "mpirun, missing file" "$tmp/err.own" "no-such-file"

echo "- long lines work (up to 4 MiB)"
# x='AAA...'; the shell must see the whole line: it writes the length of x.
for size in 1048576 $(((4 << 20) - 64)); do
  # shellcheck disable=SC2016 # $x is for the task's shell
  python3 -c 'import sys
n, out = int(sys.argv[1]), sys.argv[2]
head = "x=\x27"
tail = "\x27; printf %s \"$x\" | wc -c >" + out
a = n - len(head) - len(tail)
sys.stdout.write(head + "A" * a + tail + "\n")
open(out + ".want", "w").write(str(a))' "$size" "$tmp/len.$size" >"$tmp/long.$size.tasks"
  good "a $size-byte line" --tasks "$tmp/long.$size.tasks" "${w[@]}"
  expect "a $size-byte line: the shell saw all of it (length of x)" \
    "$(tr -d ' ' <"$tmp/len.$size" 2>/dev/null || echo '<missing>')" "$(cat "$tmp/len.$size.want")"
done
# One long command among many short ones: the tasks travel in batches, and a batch holding
# the long one must still arrive whole (three runs, as batching varies from run to run).
python3 -c 'import sys
lines = ["true %d" % i for i in range(60)]
lines[30] = "true " + "L" * 100000
sys.stdout.write("\n".join(lines) + "\n")' >"$tmp/mixed.tasks"
for i in 1 2 3; do
  good "a 100 kB line among 60 short ones, run $i (2 workers x 2 threads)" --tasks "$tmp/mixed.tasks" \
    -n 2 --threads 2
done
python3 -c 'import sys; sys.stdout.write("B" * (1 << 20) + "\n")' >"$tmp/long.args"
good "a 1 MiB --args argument" --command "printf %s {} | wc -c >$tmp/len.args" \
  --args "$tmp/long.args" "${w[@]}"
expect "a 1 MiB --args argument: length seen by the command" \
  "$(tr -d ' ' <"$tmp/len.args" 2>/dev/null || echo '<missing>')" 1048576

echo "- a CR before the newline is kept, as GNU parallel keeps it; a last line without a newline"
od_of() { od -An -c | tr -s ' \n' ' '; }
printf '# comment\r\n\r\necho a\r\n  # indented\r\necho b\r\nprintf "c\\n"' >"$tmp/crlf.tasks"
good "CRLF task file" --tasks "$tmp/crlf.tasks" "${w[@]}" --joblog "$tmp/crlf.log"
expect "CRLF: output (each CR kept, every command ran)" "$(LC_ALL=C sort "$tmp/out" | od_of)" \
  "$(printf 'a\r\nb\r\nc\n' | od_of)"
expect "CRLF: joblog commands as in the file, CR included" \
  "$(awk -F'\t' 'NR > 1 { print $9 }' "$tmp/crlf.log" | LC_ALL=C sort | od_of)" \
  "$(printf 'echo a\r\necho b\r\nprintf "c\\n"\n' | od_of)"
printf 'carriage\r\nplain\n\r\n' >"$tmp/cr.args"
good "CR in --args" --command 'printf "[%s]\n" {}' --args "$tmp/cr.args" "${w[@]}" -q
expect "CR in --args: each argument byte for byte" "$(LC_ALL=C sort "$tmp/out" | od_of)" \
  "$(printf '[\r]\n[carriage\r]\n[plain]\n' | od_of)"
if command -v parallel >/dev/null; then
  cp "$tmp/out" "$tmp/cr.ours"
  run "$limit" env HOME="$tmp" parallel -a "$tmp/cr.args" 'printf "[%s]\n" {}'
  expect "CR in --args: the same as GNU parallel -a" "$(LC_ALL=C sort "$tmp/out" | od_of)" \
    "$(LC_ALL=C sort "$tmp/cr.ours" | od_of)"
  run "$limit" env HOME="$tmp" parallel -a "$tmp/crlf.tasks"
  expect "CRLF task file: the same output as GNU parallel's (which also runs the comments)" \
    "$(LC_ALL=C sort "$tmp/out" | od_of)" "$(printf 'a\r\nb\r\nc\n' | od_of)"
fi

echo "- a source that changed since the joblog was written"
printf '%s\n' "echo one" "echo two" "echo three" >"$tmp/chg.tasks"
good "first run" --tasks "$tmp/chg.tasks" "${w[@]}" --joblog "$tmp/chg.log"
printf '%s\n' "echo one" "$ran" "echo three" >"$tmp/chg.tasks"
bad "changed line 2, --resume" "chg.tasks" --tasks "$tmp/chg.tasks" "${w[@]}" --joblog "$tmp/chg.log" --resume
good "changed line 2, --resume --force" --tasks "$tmp/chg.tasks" "${w[@]}" --joblog "$tmp/chg.log" \
  --resume --force

finish

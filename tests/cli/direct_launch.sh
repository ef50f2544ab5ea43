#!/usr/bin/env bash
# A direct run (`scaleout run` typed without a launcher) starts its ranks with mpirun and waits
# for them; what the waiting parent must do for the user.
#
# Usage: direct_launch.sh      (ctest runs it as cli.direct_launch)
# Expects:
#   - the run's exit status is the master's verdict: 0 for pi; 103 for the farm with a missing
#     task file; 2 for a bad parameter, each with the master's error sentence on stderr
#   - commands do not inherit SCALEOUT_DIRECT_RUN (the parent's private variable), and the private
#     directory is gone after the run
#   - no mpirun found (SCALEOUT_MPIRUN naming nothing): a sentence saying so, exit 1, nothing run
#   - a terminal on standard input: `--tasks -` reads the commands typed there (through `script`)
#   - Ctrl-C on that terminal: the graceful stop (exit 102, the running command finishes, the
#     one not started never runs)
#   - kill -9 of the parent: mpirun and every rank and command of the run end within 30 s
set -euo pipefail

# shellcheck source=../farm/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../farm/lib.sh" direct
export TMPDIR=$tmp/rundirs
mkdir -p "$TMPDIR"

echo "- the exit status is the master's verdict"
run pi 120 "$SCALEOUT" run pi -n 2 -q --samples 2000000
expect "pi: exit status" "$rc" 0
grep -q '^pi = 3\.1' "$tmp/pi.out" && pass "pi: answer on stdout" || fail "pi: no answer line"
run missing 60 "$SCALEOUT" run -n 2 --tasks "$tmp/nothing-here"
expect "farm, missing task file: exit status" "$rc" 103
grep -q "cannot open the file of commands" "$tmp/missing.err" &&
  pass "farm, missing task file: the master's sentence reaches stderr" ||
  fail "farm, missing task file: stderr was: $(head -c 300 "$tmp/missing.err")"
run badparam 60 "$SCALEOUT" run pi -n 2 --samples -5
expect "pi --samples -5: exit status" "$rc" 2

echo "- the parent's own variable and directory do not outlive it"
run env 60 "$SCALEOUT" run -n 1 -q --command 'env #{}' ::: 1
expect "env: exit status" "$rc" 0
if grep -q '^SCALEOUT_DIRECT_RUN=' "$tmp/env.out"; then
  fail "a command inherited SCALEOUT_DIRECT_RUN"
else
  pass "commands do not see SCALEOUT_DIRECT_RUN"
fi
expect "private run directories left in TMPDIR" "$(find "$TMPDIR" -mindepth 1 | wc -l)" 0

echo "- no mpirun"
run nompirun 30 env SCALEOUT_MPIRUN="$tmp/no-such-mpirun" \
  "$SCALEOUT" run pi -n 1
expect "no mpirun: exit status" "$rc" 1
grep -q "cannot find Open MPI's mpirun" "$tmp/nompirun.err" &&
  pass "no mpirun: says so" || fail "no mpirun: stderr was: $(head -c 300 "$tmp/nompirun.err")"

if command -v script >/dev/null; then
  echo "- a terminal on standard input (through script)"
  # script gives the command a pseudo-terminal; what we write to script's input is typed there.
  # script runs the command with $SHELL -c, and "exec" takes that shell out of the way: a
  # non-interactive dash would itself die of the Ctrl-C below. script -e passes on the exit status.
  ttyrc=0
  { sleep 1; printf 'echo typed-1\necho typed-2\n'; sleep 1; printf '\004'; sleep 2; } |
    SO_FARM_TEST_MARK="$mark" timeout -k 5 60 script -qfec \
      "exec $SCALEOUT run -q -n 1 --tasks -" /dev/null >"$tmp/tty.out" 2>&1 || ttyrc=$?
  out=$(tr -d '\r' <"$tmp/tty.out")
  if grep -qx 'typed-1' <<<"$out" && grep -qx 'typed-2' <<<"$out" && [[ $ttyrc == 0 ]]; then
    pass "tty: both typed commands ran, exit 0"
  else
    fail "tty: exit $ttyrc, output was: $(tail -c 400 <<<"$out")"
  fi

  echo "- Ctrl-C on the terminal stops the run gracefully"
  # Ctrl-C once the first command runs: one during start-up ends the run before any command
  # (cli.direct_stop checks that), which on a loaded machine can be well after 1.5 s.
  printf 'touch %s; sleep 2; echo first\nsleep 2; echo second\n' "$tmp/first.started" >"$tmp/two.tasks"
  ttyrc=0
  {
    for ((i = 0; i < 400; i++)); do [[ -e $tmp/first.started ]] && break; sleep 0.1; done
    sleep 0.3
    printf '\003'
    sleep 8
  } |
    SO_FARM_TEST_MARK="$mark" timeout -k 5 60 script -qfec \
      "exec $SCALEOUT run -n 1 --tasks $tmp/two.tasks" /dev/null >"$tmp/ctrlc.out" 2>&1 || ttyrc=$?
  out=$(tr -d '\r' <"$tmp/ctrlc.out")
  if [[ $ttyrc == 102 ]] && grep -qx 'first' <<<"$out" && ! grep -qx 'second' <<<"$out"; then
    pass "Ctrl-C: exit 102, the running command finished, the next never started"
  else
    fail "Ctrl-C: exit $ttyrc, output was: $(tail -c 600 <<<"$out")"
  fi
else
  echo "  (no 'script' command: terminal checks skipped)"
fi

echo "- kill -9 of the parent ends the run"
printf 'sleep 30\nsleep 30\nsleep 30\n' >"$tmp/long.tasks"
start long "$SCALEOUT" run -n 2 -q --tasks "$tmp/long.tasks"
for ((i = 0; i < 100; i++)); do
  [[ $(marked | grep -c 'sleep 30' || true) -ge 2 ]] && break
  sleep 0.1
done
kill -KILL "$bg_pid"
left=""
for ((i = 0; i < 300; i++)); do
  left=$(marked)
  [[ -z $left ]] && break
  sleep 0.1
done
if [[ -z $left ]]; then
  pass "nothing of the run is left $((i / 10)).$((i % 10)) s after the parent's kill -9"
else
  fail "still running 30 s after the parent's kill -9: $(tr '\n' ';' <<<"$left")"
fi

finish

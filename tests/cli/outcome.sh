#!/usr/bin/env bash
# What a run says about itself: its exit status, its summary's last line, its JSON report and its
# error lines, when tasks fail, when stdout is lost, when a signal stops it.
#
# Usage: outcome.sh      (ctest runs it as cli.outcome)
# Expects:
#   - noop --trace into a 64 KiB tmpfs (mounted here when root, else skipped): tasks fail, exit 3,
#     exactly 3 "task N failed" lines with the reason (No space left on device) and one line
#     counting the rest; the summary ends "... failed: the answer is incomplete"; the JSON has
#     complete false and failed = missing
#   - noop --trace /nonexistent/x on 2 workers: the first worker's error and one count line
#   - pi, jobs, help, version, run --help, run pi --help with stdout on /dev/full: exit 1 and one
#     line "cannot write ... standard output"; the farm's: 104
#   - a parameter with invalid UTF-8 (0xff): the JSON parses, the byte is U+FFFD
#   - pi with --grace 2 and SIGTERM 2 s after its ranks started: exit 4 within 60 s, the summary (even with -q)
#     says "stopped by SIGTERM ... partial", the JSON has stopped true, signal "SIGTERM"
set -euo pipefail

# shellcheck source=../farm/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../farm/lib.sh" outcome
export TMPDIR=$tmp/rundirs
mkdir -p "$TMPDIR"
mounted=
cleanup() {
  kill_marked || true
  [[ -z $mounted ]] || umount "$mounted" 2>/dev/null || true
  rm -rf "$tmp"
}

# lines FILE PATTERN: how many lines of FILE match the extended regex PATTERN.
lines() { grep -cE -e "$2" "$1" || true; }

echo "- failed tasks: exit 3, the first reasons, a count, the answer said incomplete"
if ((EUID == 0)) && mkdir -p "$tmp/small" && mount -t tmpfs -o size=64k tmpfs "$tmp/small"; then
  mounted=$tmp/small
  run full 120 "$SCALEOUT" run noop -n 2 --tasks 100000 --trace "$tmp/small/tr" --json "$tmp/full.json"
  expect "tasks fail: exit status" "$rc" 3
  expect "tasks fail: lines naming a failed task with its reason" \
    "$(lines "$tmp/full.err" "^scaleout: error: job 'noop': task [0-9]+ failed on rank [12]: cannot write the trace of task [0-9]+ to .*: No space left on device$")" 3
  expect "tasks fail: one line counting the rest" \
    "$(lines "$tmp/full.err" "^scaleout: error: job 'noop': [0-9]+ more tasks failed \(the first 3 are shown above\)$")" 1
  expect "tasks fail: nothing else on stderr" "$(grep -c '' "$tmp/full.err")" 4
  expect "tasks fail: the summary's last line" \
    "$(tail -n 1 "$tmp/full.out" | sed -E 's/[0-9]+/N/g')" "N of N tasks failed: the answer is incomplete"
  expect "tasks fail: JSON complete" "$(json "$tmp/full.json" 'd["complete"]')" false
  expect "tasks fail: JSON failed tasks are the missing ids" \
    "$(json "$tmp/full.json" 'd["failed"] == d["answer"]["missing"] > 0')" true
  umount "$mounted" && mounted=
else
  echo "  (skipped: mounting a 64 KiB tmpfs needs root)"
fi

echo "- a worker that cannot start: one error line and a count, not one line per worker"
run trace 120 "$SCALEOUT" run noop -n 2 --tasks 100 --trace /nonexistent/x
expect "unwritable --trace: exit status" "$rc" 1
expect "unwritable --trace: the first worker's error" \
  "$(lines "$tmp/trace.err" "^scaleout: error: job 'noop': cannot open trace file /nonexistent/x\.[12]: No such file or directory$")" 1
expect "unwritable --trace: a count of the others" \
  "$(lines "$tmp/trace.err" "^scaleout: error: job 'noop': 1 more worker failed too")" 1
expect "unwritable --trace: stderr lines" "$(grep -c '' "$tmp/trace.err")" 2

echo "- a lost answer (stdout on /dev/full) is an error"
for cmd in "run pi -n 2 --samples 1e6" "jobs" "--help" "--version" "run --help" "run pi --help"; do
  read -r -a words <<<"$cmd"
  rc=0
  timeout -k 10 120 env SO_FARM_TEST_MARK="$mark" "$SCALEOUT" "${words[@]}" >/dev/full 2>"$tmp/lost.err" || rc=$?
  expect "$cmd > /dev/full: exit status" "$rc" 1
  expect "$cmd > /dev/full: one line saying so" \
    "$(lines "$tmp/lost.err" '^scaleout: error: cannot write .*standard output: No space left on device$')/$(grep -c '' "$tmp/lost.err")" 1/1
done
rc=0
timeout -k 10 120 env SO_FARM_TEST_MARK="$mark" "$SCALEOUT" run -n 2 -q --command 'echo {}' ::: a b \
  >/dev/full 2>"$tmp/lost.err" || rc=$?
expect "farm > /dev/full: exit status (runner failure)" "$rc" 104

echo "- invalid UTF-8 in a parameter still gives JSON"
bad=$'x\xff'
run utf 120 "$SCALEOUT" run noop -n 2 -q --tasks 10 --trace "$tmp/t$bad" --json "$tmp/utf.json"
expect "invalid UTF-8: exit status" "$rc" 0
expect "invalid UTF-8: the byte is U+FFFD in the JSON" \
  "$(json "$tmp/utf.json" 'd["params"]["trace"].endswith("tx\ufffd")')" true

echo "- a stop signal: exit 4 and a partial answer said to be partial"
start sig env SO_FARM_TEST_MARK="$mark" "$SCALEOUT" run pi -n 2 -q --samples 1e11 --grace 2 --json "$tmp/sig.json"
t0=$EPOCHREALTIME
# The parent, mpirun (its command line holds ours), the master and 2 workers: all 5 started, and
# 2 s for the master to be running (a signal before that is the start-up path, not this check's).
for ((i = 0; i < 600; i++)); do
  (($(marked | grep -c " $SCALEOUT run pi") >= 5)) && break
  sleep 0.1
done
sleep 2
kill -TERM "$bg_pid"
rc=0
for ((i = 0; i < 600; i++)); do kill -0 "$bg_pid" 2>/dev/null || break; sleep 0.1; done
wait "$bg_pid" || rc=$?
took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
echo "  (ended ${took}s after the run started; SIGTERM 2 s after the ranks were up, grace 2 s)"
expect "SIGTERM: exit status" "$rc" 4
expect "SIGTERM: ended within 60 s" "$(awk -v t="$took" 'BEGIN { print (t < 60) }')" 1
expect "SIGTERM: the summary's last line (under -q)" \
  "$(tail -n 1 "$tmp/sig.out" | sed -E 's/[0-9]+/N/g')" "stopped by SIGTERM before every task ran: the answer is partial (N tasks ran)"
expect "SIGTERM: JSON stopped" "$(json "$tmp/sig.json" 'd["stopped"]')" true
expect "SIGTERM: JSON stop_reason" "$(json "$tmp/sig.json" 'd["stop_reason"]')" signal
expect "SIGTERM: JSON signal" "$(json "$tmp/sig.json" 'd["signal"]')" SIGTERM
expect "SIGTERM: JSON complete" "$(json "$tmp/sig.json" 'd["complete"]')" false

finish

#!/usr/bin/env bash
# How a direct run (`scaleout run` typed without a launcher) ends when it is told to, or when the
# process the user started, or its mpirun, dies.
#
# Usage: direct_stop.sh      (ctest runs it as cli.direct_stop)
# Expects:
#   - SIGTERM while 60 ranks are still starting ends the run within 10 s with exit 4 (stopped)
#   - `sleep --ms 30000 --grace 1`, SIGTERM: the run ends 1 s later (within 6 s), exit 4, the
#     partial answer on stdout; the same with SIGINT and SIGUSR1 and no --grace (0 s)
#   - none of these, nor a worker rank killed by SIGSEGV, puts Open MPI's notices on stderr (its
#     boxed banners, "[host:pid]" lines, lines naming mpirun or a rank)
#   - under the user's own mpirun, SIGUSR1 with --grace 1: the report with the partial answer,
#     then MPI_Abort ends the job within 8 s
#   - kill -9 of the top-level process: no command starts afterwards (counted from a side file
#     each command appends to) and the private TMPDIR is empty once the run is gone
#   - kill -9 of mpirun: the top-level exits 104, and no command starts afterwards
#   - SIGINT 0.05-0.25 s after a farm run's start: exit 102 and no banner, in each of 8 trials
set -euo pipefail

# shellcheck source=../farm/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../farm/lib.sh" direct-stop
export TMPDIR=$tmp/rundirs
mkdir -p "$TMPDIR"

# since T0: seconds from the EPOCHREALTIME T0 to now.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
# within X LO HI: true when LO <= X <= HI.
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }
# What Open MPI prints about a job's end: its boxed notices, "[host:pid]" lines (a crash
# backtrace, PMIx and ORTE errors) and the lines that name mpirun, ranks or MPI_ABORT. (The farm's
# summary, which also goes to stderr, is none of these.)
banner_re='^-{20,}$|^\[[^]]+:[0-9]+\]|Primary job|mpirun|mpiexec|MPI_ABORT|PMIX|ORTE|process rank'
# banners TAG: the lines of $tmp/TAG.err that come from Open MPI (scaleout's own lines may name
# mpirun).
banners() { grep -av '^scaleout: ' "$tmp/$1.err" | grep -aE "$banner_re" || true; }
# no_banner TAG: one check that $tmp/TAG.err holds none of Open MPI's notices.
no_banner() {
  local other
  other=$(banners "$1")
  if [[ -z $other ]]; then
    pass "$1: no Open MPI notice on stderr ($(wc -l <"$tmp/$1.err") lines in all)"
  else
    fail "$1: Open MPI's lines on stderr: $(head -c 400 <<<"$other" | tr '\n' '|')"
  fi
}
# mpirun_of PID: the pid of the mpirun (mpiexec) that the direct run PID started, or empty.
mpirun_of() { pgrep -P "$1" -f 'mpi(run|exec)' | head -n 1 || true; }
# lines FILE: its line count, 0 when it does not exist.
lines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }

echo "- a stop signal while the ranks are still starting"
# 60 workers are more than 8 per PU on a small machine: --oversubscribe lets them start anyway.
start startup "$SCALEOUT" run noop --tasks 1000 -n 60 -q --oversubscribe
sleep 1.5
t0=$EPOCHREALTIME
kill -TERM "$bg_pid" || true
wait_bg startup 90
took=$(since "$t0")
expect "SIGTERM during start-up: exit status" "$rc" 4
if within "$took" 0 10; then
  pass "SIGTERM during start-up ended the run after ${took} s"
else
  fail "SIGTERM during start-up: the run took ${took} s to end (at most 10 s wanted)"
fi
no_banner startup
no_leftovers "SIGTERM during start-up"
expect "private TMPDIR entries after the start-up stop" "$(find "$TMPDIR" -mindepth 1 | wc -l)" 0

echo "- the grace is kept for tasks that cannot be interrupted"
# stop_sleep TAG SIGNAL GRACE_ARGS...: sleep tasks of 30 s, the signal 3 s after the start (the
# ranks have started by then, even on a loaded machine: the master's warning says so).
stop_sleep() {
  local tag=$1 sig=$2
  shift 2
  start "$tag" "$SCALEOUT" run sleep --ms 30000 --tasks 2 -n 2 "$@"
  sleep 3
  t0=$EPOCHREALTIME
  kill "-$sig" "$bg_pid" || true
  wait_bg "$tag" 60
  took=$(since "$t0")
}
stop_sleep grace TERM --grace 1
expect "sleep --grace 1, SIGTERM: exit status" "$rc" 4
if grep -q 'running ones get 1 s to finish' "$tmp/grace.err" && within "$took" 0.9 6; then
  pass "sleep --grace 1: the run ended ${took} s after SIGTERM (1 s of grace, at most 6 s)"
else
  fail "sleep --grace 1: the run ended ${took} s after SIGTERM (1 to 6 s wanted); stderr: $(head -c 300 "$tmp/grace.err")"
fi
grep -q '^tasks = 0' "$tmp/grace.out" && pass "sleep --grace 1: the partial answer is printed" ||
  fail "sleep --grace 1: no answer on stdout: $(head -c 300 "$tmp/grace.out")"
no_banner grace
no_leftovers "sleep --grace 1"
for sig in INT USR1; do
  stop_sleep "sig$sig" "$sig"
  expect "sleep, SIG$sig without --grace: exit status" "$rc" 4
  if within "$took" 0 5; then
    pass "sleep, SIG$sig: the run ended ${took} s after the signal"
  else
    fail "sleep, SIG$sig: the run ended ${took} s after the signal (at most 5 s wanted)"
  fi
  no_banner "sig$sig"
done

echo "- under the user's own mpirun: the report, then MPI_Abort"
# mpirun passes SIGUSR1 on to every rank; the workers ignore it, the master stops.
mpirun_bin=$(command -v mpirun || command -v mpiexec)
start ownmpi "$mpirun_bin" -q -np 3 --host localhost:3 --bind-to none \
  "$SCALEOUT" run sleep --ms 30000 --tasks 2 --grace 1
sleep 3
t0=$EPOCHREALTIME
kill -USR1 "$bg_pid" || true
wait_bg ownmpi 60
took=$(since "$t0")
if grep -q 'running ones get 1 s to finish' "$tmp/ownmpi.err" && within "$took" 0.9 8; then
  pass "own mpirun, --grace 1: the job ended ${took} s after SIGUSR1 (exit $rc)"
else
  fail "own mpirun, --grace 1: the job ended ${took} s after SIGUSR1 (1 to 8 s wanted); stderr: $(head -c 300 "$tmp/ownmpi.err")"
fi
grep -q '^tasks = 0' "$tmp/ownmpi.out" && pass "own mpirun: the partial answer is printed" ||
  fail "own mpirun: no answer on stdout: $(head -c 300 "$tmp/ownmpi.out")"
no_leftovers "own mpirun, --grace 1"

echo "- a worker rank that crashes"
start crash "$SCALEOUT" run sleep --ms 30000 --tasks 2 -n 2
worker=""
for ((i = 0; i < 200; i++)); do
  [[ -z $worker ]] || break
  sleep 0.1
  mpirun=$(mpirun_of "$bg_pid")
  [[ -z $mpirun ]] || worker=$(rank_pid "$mpirun" 1)
done
sleep 1
[[ -z $worker ]] || kill -SEGV "$worker"
wait_bg crash 60
expect "a worker killed by SIGSEGV: exit status" "$rc" 1
grep -q 'signal 11' "$tmp/crash.err" && pass "a worker killed by SIGSEGV: the parent names the signal" ||
  fail "a worker killed by SIGSEGV: stderr was $(head -c 300 "$tmp/crash.err")"
no_banner crash
no_leftovers "a worker killed by SIGSEGV"

# Commands of 20 ms that append their number to a side file as they start.
for ((i = 1; i <= 5000; i++)); do echo "echo $i >>$tmp/side; sleep 0.02"; done >"$tmp/many.tasks"

# launches_after TAG WHAT: one check that $tmp/side did not grow after $counted (its count
# 0.3 s after the kill: a command told to start just before may still be on its way) while the
# run's processes go.
launches_after() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -n $(marked) ]] || break
    sleep 0.1
  done
  sleep 1
  local now
  now=$(lines "$tmp/side")
  if ((counted > 0 && now == counted)); then
    pass "$1: no command started after the kill ($counted started before)"
  else
    fail "$1: $counted commands started before the kill, $now in the end"
  fi
}

echo "- kill -9 of the top-level process"
rm -f "$tmp/side"
start topkill "$SCALEOUT" run -n 2 -q --tasks "$tmp/many.tasks"
for ((i = 0; i < 300; i++)); do (($(lines "$tmp/side") >= 20)) && break; sleep 0.1; done
kill -KILL "$bg_pid" || true
sleep 0.3
counted=$(lines "$tmp/side")
launches_after "kill -9 of the top-level"
wait_bg topkill 5
no_leftovers "kill -9 of the top-level"
left=$(find "$TMPDIR" -mindepth 1 -maxdepth 1)
expect "entries left in the private TMPDIR after kill -9 of the top-level" "$(wc -w <<<"$left")" 0

echo "- kill -9 of mpirun"
rm -f "$tmp/side"
start mpikill "$SCALEOUT" run -n 2 -q --tasks "$tmp/many.tasks"
for ((i = 0; i < 300; i++)); do (($(lines "$tmp/side") >= 20)) && break; sleep 0.1; done
mpirun=$(mpirun_of "$bg_pid")
t0=$EPOCHREALTIME
[[ -z $mpirun ]] || kill -KILL "$mpirun"
sleep 0.3
counted=$(lines "$tmp/side")
wait_bg mpikill 30
echo "  (the top-level exited $(since "$t0") s after mpirun's kill)"
expect "kill -9 of mpirun: the top-level's exit status" "$rc" 104
launches_after "kill -9 of mpirun"
no_banner mpikill
no_leftovers "kill -9 of mpirun"

echo "- SIGINT right after the start"
codes=()
for ((k = 0; k < 8; k++)); do
  start early "$SCALEOUT" run -n 1 --command 'sleep 1; echo {}' ::: a b
  # 0.05-0.25 s: earlier, the signal would find env(1) still about to exec scaleout.
  sleep "$(printf '0.%02d' $((5 + RANDOM % 21)))"
  kill -INT "$bg_pid" || true
  wait_bg early 60
  codes+=("$rc")
  other=$(banners early)
  [[ -z $other ]] || { codes+=("(banner)"); echo "        banner: $(head -c 300 <<<"$other" | tr '\n' '|')"; }
done
expect "exit statuses of 8 runs given SIGINT 0.05-0.25 s after the start" "${codes[*]}" \
  "102 102 102 102 102 102 102 102"

finish

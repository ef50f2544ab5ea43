#!/usr/bin/env bash
# Bad command lines fail fast and cleanly: usage status, one error line naming the problem.
#
# Usage: bad_input.sh          (ctest runs it as cli.bad_input)
# Expects, for each bad command line run directly: exit status 2 (1 or 2 where noted); stderr
# exactly one line, starting "scaleout: error: " and mentioning the offending word; no
# MPI_ABORT, backtrace, "Signal:" or crash text anywhere; finished within its time limit.
# Under mpirun, mpirun adds its own boxed notice about the non-zero exit, so there: exit status
# non-zero, and once those boxes are set aside exactly one line is left, the scaleout error
# (one rank reports, not every rank). --help, run --help, run pi --help, --version and jobs
# exit 0 with their text on stdout and nothing on stderr.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# Cases stop being started after this many seconds, so the script ends inside CTest's 300 s
# even if every case hangs until its own limit; the script then says so and is skipped (77).
budget=240
limit=20
crash='MPI_ABORT|backtrace|Signal:|Segmentation fault|core dumped|Assertion|Sanitizer'

# run SECONDS CMD...: runs CMD under a time limit, output in $tmp/out and $tmp/err; sets rc.
# (Replaces ../lib.sh's run: these cases need neither tags nor its notes.)
run() {
  local secs=$1
  shift
  rc=0
  timeout -k 5 "$secs" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}


# common_checks WHAT STDERR_FILE PATTERNS: the error line and crash checks both kinds share.
# PATTERNS is a space-separated list of extended regexes, each of which the line must match.
common_checks() {
  local what=$1 errfile=$2 line pat
  local -a pats
  read -r -a pats <<<"$3"
  if ((rc == 124 || rc == 137)); then
    fail "$what: still running after ${limit}s"
  fi
  if grep -iqE "$crash" "$tmp/out" "$tmp/err"; then
    fail "$what: crash or abort text in the output: $(grep -ihE -m1 "$crash" "$tmp/out" "$tmp/err")"
  else
    pass "$what: no abort/crash text"
  fi
  local n
  n=$(grep -c '' "$errfile" || true)
  line=$(head -n 1 "$errfile")
  if [[ $n == 1 ]]; then
    pass "$what: one stderr line"
  else
    fail "$what: $n stderr lines, expected 1:"
    sed -n '1,12s/^/          | /p' "$errfile"
  fi
  if [[ $line == "scaleout: error: "* ]]; then
    pass "$what: starts 'scaleout: error: '"
  else
    fail "$what: first stderr line does not start 'scaleout: error: ': '$line'"
  fi
  for pat in "${pats[@]}"; do
    if grep -iqE -e "$pat" <<<"$line"; then
      pass "$what: mentions '$pat'"
    else
      fail "$what: does not mention '$pat': '$line'"
    fi
  done
}

# bad STATUSES PATTERNS ARGS...: scaleout ARGS run directly must exit with one of STATUSES
# (space-separated) and print one error line matching every one of PATTERNS.
bad() {
  local statuses=$1 patterns=$2
  shift 2
  local what="scaleout $*"
  out_of_time "$what" && return 0
  echo "\$ $what"
  run "$limit" "$SCALEOUT" "$@"
  if [[ " $statuses " == *" $rc "* ]]; then
    pass "$what: exit status $rc"
  else
    fail "$what: exit status $rc, expected ${statuses// / or }"
  fi
  common_checks "$what" "$tmp/err" "$patterns"
}

# mpi_bad RANKS PATTERNS ARGS...: the same under mpirun -n RANKS, with mpirun's notices set aside.
mpi_bad() {
  local ranks=$1 patterns=$2
  shift 2
  local what="mpirun -n $ranks scaleout $*"
  out_of_time "$what" && return 0
  echo "\$ $what"
  run "$limit" mpirun -n "$ranks" "$SCALEOUT" "$@"
  if ((rc != 0)); then
    pass "$what: exit status $rc (non-zero)"
  else
    fail "$what: exit status 0, expected non-zero"
  fi
  # mpirun frames each of its notices between lines of dashes; drop those frames.
  awk '/^-------------------+$/ { inbox = !inbox; next } !inbox' "$tmp/err" >"$tmp/err.own"
  common_checks "$what" "$tmp/err.own" "$patterns"
}

# good PATTERNS ARGS...: scaleout ARGS exits 0, prints every one of PATTERNS (space-separated
# extended regexes) on stdout, and nothing on stderr.
good() {
  local -a pats
  read -r -a pats <<<"$1"
  shift
  local what="scaleout $*" pat
  out_of_time "$what" && return 0
  echo "\$ $what"
  run "$limit" "$SCALEOUT" "$@"
  if ((rc == 0)); then pass "$what: exit status 0"; else fail "$what: exit status $rc"; fi
  for pat in "${pats[@]}"; do
    if grep -qE -e "$pat" "$tmp/out"; then
      pass "$what: stdout mentions '$pat'"
    else
      fail "$what: stdout does not mention '$pat'"
    fi
  done
  if [[ ! -s $tmp/err ]]; then
    pass "$what: nothing on stderr"
  else
    fail "$what: stderr not empty: $(head -n 1 "$tmp/err")"
  fi
}

echo "bad input: each case must fail with status 2 and one 'scaleout: error:' line"

# Unknown names.
bad 2 nosuchjob run nosuchjob
bad 2 frobnicate frobnicate
bad 2 job run
bad 2 no-such-option run pi --no-such-option
bad 2 -z run pi -z

# Numbers that are not numbers, or not whole, or out of range; zero tasks.
bad 2 abc run pi --tasks abc
bad 2 1e9x run pi --samples 1e9x
bad 2 1.5 run primes --tasks 1.5
bad 2 -5 run pi --tasks -5
bad 2 tasks run pi --tasks 0
bad 2 tasks run noop --tasks 0
bad 2 tasks run sleep --tasks 0
bad 2 abc run pi --prefetch abc

# Out of range, said so with the range: above an exact 64-bit maximum, beyond 64 bits.
bad 2 "out of range.*9000000000000000000.*'9000000000000000001'" run pi --seed 9000000000000000001
bad 2 "out of range.*from 1 to 1000000000000000000.*'1e30'" run pi --samples 1e30

# A job's own checks of its parameters are bad input too.
bad 2 'from.*below' run primes --from 5 --to 5
bad 2 'tasks.*numbers' run primes --tasks 100 --to 50
bad 2 'tasks.*samples' run pi --tasks 1e7 --samples 1e6

# Words after ::: are for the farm only; another job would ignore them.
bad 2 ":::" run pi --samples 1e6 ::: a b

# Worker counts: none, not a number, more workers than tasks.
bad 2 '-n|worker' run pi -n 0
bad 2 abc run pi -n abc
bad 2 '-n|worker' run sleep -n 4 --tasks 2
bad 2 "only 1 task; use at most 1 worker$" run sleep -n 2 --tasks 1

# Engine options with values outside their set.
bad 2 bogus run pi --queue bogus
bad 2 "--bind must be core, pu, numa, package or none, not 'bogus'" run pi --bind bogus
bad 2 bogus run pi --batch bogus
bad 2 batch run pi --batch 0
bad 2 "--bind must be core, pu, numa, package or none, not 'bogus'" topo --bind bogus
bad 2 "--workers expects a whole number from 1 to [0-9]+, not 'abc'" topo -n abc
bad 2 "unknown option '--bogus' \\(see scaleout topo --help\\)" topo --bogus
# Where the workers may run: checked by the ranks against their node, said once, exit 2.
bad 2 "the cpuset '1-' is not a list of CPU numbers such as 0-3,6" run pi -n 1 --cpuset 1-
bad 2 "the cpuset '4096' reaches outside the CPUs this run may use" run pi -n 1 --cpuset 4096
bad 2 "the core offset 4096 is past the [0-9]+ cores? of the CPUs" run pi -n 1 --core-offset 4096
bad 2 "--core-count expects a whole number from 0 to 65535, not 'x'" run pi --core-count x

# Options missing their value at the end of the line.
bad 2 tasks run pi --tasks
bad 2 queue run pi --queue
bad 2 json run pi --json
bad 2 '-n|worker' run pi -n

# A report that cannot be written is a failure, usage or not, but still one clean line.
bad "1 2" no-such-dir run pi --json /no-such-dir/report.json --samples 1e6

# Under mpirun: no worker rank, a -n that disagrees with the ranks, and errors every rank sees.
mpi_bad 1 worker run pi
mpi_bad 3 '-n|worker' run pi -n 5
mpi_bad 2 nosuchjob run nosuchjob
mpi_bad 3 abc run pi --tasks abc
mpi_bad 3 "the cpuset '4096' reaches outside" run pi --samples 1e6 --cpuset 4096

echo "help and version: exit 0, text on stdout"
good 'run topo jobs' --help
good '--queue' run --help
good '--samples' run pi --help
good '0\.1\.0' --version
good 'pi primes sleep noop' jobs

finish

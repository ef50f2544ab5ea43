#!/usr/bin/env bash
# Helpers the farm test scripts share, on top of ../lib.sh, which this file sources. Every
# process a script starts carries $mark in its environment, so these find (and clean up) those
# processes and no others. A script that needs a variant defines its own after sourcing this file.
#
# Usage, after `set -euo pipefail`:  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" NAME
# It checks $SCALEOUT, lets Open MPI run as root and oversubscribed, sets mark to
# so-farm-NAME-PID-RANDOM and removes the marked processes and $tmp on exit (cleanup).

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
: "${1:?farm/lib.sh wants the name of the test script}"
if ((EUID == 0)); then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
mark=so-farm-$1-$$-$RANDOM
trap cleanup EXIT

cleanup() {
  kill_marked || true
  rm -rf "$tmp"
}

# marked: "PID COMMAND" for each live process whose environment holds the mark.
marked() {
  python3 - "$mark" <<'EOF'
import os, sys
want = b"SO_FARM_TEST_MARK=" + sys.argv[1].encode()
for d in os.listdir("/proc"):
    if not d.isdigit() or int(d) == os.getpid():
        continue
    try:
        with open(f"/proc/{d}/environ", "rb") as f:
            if want not in f.read().split(b"\0"):
                continue
        with open(f"/proc/{d}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        continue
    print(d, cmd[:160])
EOF
}

kill_marked() {
  local pid rest
  while read -r pid rest; do kill -KILL "$pid" 2>/dev/null || true; done < <(marked)
}

# start TAG CMD...: starts CMD in the background with SIGINT and SIGQUIT at their defaults (bash
# ignores them for a plain '&'); output in $tmp/TAG.out and .err; sets bg_pid (CMD's own pid).
start() {
  local tag=$1
  shift
  echo "\$ $* &"
  (
    trap - INT QUIT
    exec env SO_FARM_TEST_MARK="$mark" "$@"
  ) </dev/null >"$tmp/$tag.out" 2>"$tmp/$tag.err" &
  bg_pid=$!
}

# run TAG SECONDS CMD...: runs CMD (marked) under a time limit, stdin from $stdin or /dev/null,
# output in $tmp/TAG.out and .err; sets rc and elapsed (seconds). When it fails, prints
# scaleout's own messages from stderr (the run's summary is left out), or else its first lines.
# Replaces ../lib.sh's run.
run() {
  local tag=$1 secs=$2 t0=$EPOCHREALTIME
  shift 2
  echo "\$ $*" | cut -c1-300
  rc=0
  timeout -k 10 "$secs" env SO_FARM_TEST_MARK="$mark" "$@" <"${stdin:-/dev/null}" \
    >"$tmp/$tag.out" 2>"$tmp/$tag.err" || rc=$?
  elapsed=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  echo "  (exit $rc after ${elapsed}s)"
  if ((rc == 124 || rc == 137)); then echo "  (killed after ${secs}s)"; fi
  if ((rc != 0)); then
    { grep -a '^scaleout: ' "$tmp/$tag.err" || head -n 3 "$tmp/$tag.err"; } | sed -n '1,6s/^/  stderr: /p'
  fi
}

# wait_bg TAG SECONDS: waits up to SECONDS for bg_pid (started by start TAG); kills it if still
# running (rc 124). Sets rc and waited (seconds spent here); prints stderr as run does.
wait_bg() {
  local tag=$1 secs=$2 t0=$EPOCHREALTIME killed=0
  # bash reports a background job killed by a signal ("Killed") on stderr after whichever
  # command runs next; here that is expected, so the waiting keeps it off stderr.
  {
    while alive "$bg_pid" &&
      awk -v a="$t0" -v b="$EPOCHREALTIME" -v s="$secs" 'BEGIN { exit !(b - a < s) }'; do
      sleep 0.05
    done
    if alive "$bg_pid"; then
      kill -KILL "$bg_pid" || true
      killed=1
    fi
    rc=0
    wait "$bg_pid" || rc=$?
  } 2>/dev/null
  ((killed == 0)) || { rc=124; echo "  (still running after ${secs}s: killed)"; }
  waited=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  if ((rc != 0)); then
    { grep -a '^scaleout: ' "$tmp/$tag.err" || head -n 3 "$tmp/$tag.err"; } | sed -n '1,6s/^/  stderr: /p'
  fi
}

# leftovers ARGS...: the processes no_leftovers waits for, one per line: the marked ones. A
# script that also watches other processes redefines it (timeouts.sh adds process groups).
leftovers() { marked; }

# no_leftovers WHAT [ARGS...]: one check that leftovers ARGS lists nothing, waiting up to 5 s
# for the processes to go; kills the marked ones that stay.
no_leftovers() {
  local what=$1 left i
  shift
  for ((i = 0; i < 50; i++)); do
    left=$(leftovers "$@")
    [[ -n $left ]] || break
    sleep 0.1
  done
  if [[ -z $left ]]; then
    pass "$what: no process of the run or its tasks is left"
  else
    fail "$what: processes left behind: $(tr '\n' ';' <<<"$left")"
    kill_marked
  fi
}

# alive PID: true while PID runs (a zombie does not count).
alive() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ ${s:0:1} != Z ]]
}

# rank_pid LAUNCHER_PID RANK: the pid of the MPI rank RANK that LAUNCHER_PID (mpirun) started,
# found by OMPI_COMM_WORLD_RANK in the environment of mpirun's children; empty if none yet.
rank_pid() {
  python3 - "$1" "$2" <<'EOF'
import os, sys
parent, rank = sys.argv[1], sys.argv[2].encode()
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        stat = open(f"/proc/{d}/stat", "rb").read()
        if stat[stat.rindex(b")") + 2:].split()[1].decode() != parent:
            continue
        env = open(f"/proc/{d}/environ", "rb").read().split(b"\0")
    except (OSError, IndexError):
        continue
    if b"OMPI_COMM_WORLD_RANK=" + rank in env:
        print(d)
        break
EOF
}

# What every pycheck program starts with: the usual modules, check() and note().
pycheck_prelude=$(
  cat <<'EOF'
import json, os, re, sys

def check(cond, text):
    print(("ok|" if cond else "FAIL|") + str(text).replace("\n", "\\n"))
    return cond

def note(text):
    print("note|" + str(text).replace("\n", "\\n"))
EOF
)

# pycheck ARGS... <<'EOF' PROGRAM EOF: runs the Python PROGRAM, after $pycheck_prelude and the
# script's own helpers in $pylib (if any), with ARGS; each "ok|text" or "FAIL|text" line it prints
# is one check, "note|text" and other lines are printed as notes.
pycheck() {
  local prog out verdict msg
  prog=$(cat)
  out=$(python3 -c "$pycheck_prelude"$'\n'"${pylib:-}"$'\n'"$prog" "$@" 2>&1) ||
    out+=$'\nFAIL|check program failed (above)'
  while IFS='|' read -r verdict msg; do
    case $verdict in
      ok) pass "$msg" ;;
      FAIL) fail "$msg" ;;
      note) echo "        $msg" ;;
      *) [[ -z $verdict ]] || echo "        $verdict${msg:+|$msg}" ;;
    esac
  done <<<"$out"
}

# complete LOG SIDE N: "ok" when LOG has exactly one success line for each Seq 1..N and SIDE
# holds each of 1..N exactly once; otherwise what is wrong.
complete() {
  python3 - "$@" <<'EOF' 2>&1 || true
import sys
log, side, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
problems = []
succ, other, bad = {}, {}, 0
try:
    data = open(log, "rb").read().decode(errors="surrogateescape")
except OSError as e:
    data = ""
    problems.append(f"joblog: {e.strerror}")
for line in data.split("\n")[1:]:
    if not line or line.startswith("Seq\t"):
        continue
    f = line.split("\t", 8)
    if len(f) != 9 or not f[0].isdigit():
        bad += 1
        continue
    d = succ if f[6] == "0" and f[7] == "0" else other
    d[int(f[0])] = d.get(int(f[0]), 0) + 1
missing = [k for k in range(1, n + 1) if k not in succ]
twice = [k for k, c in succ.items() if c > 1]
if missing:
    problems.append(f"joblog: no success line for {missing[:10]}")
if twice:
    problems.append(f"joblog: several success lines for {twice[:10]}")
if other:
    problems.append(f"joblog: failure lines for {sorted(other)[:10]}")
if bad:
    problems.append(f"joblog: {bad} malformed lines")
try:
    ids = open(side).read().split()
except OSError:
    ids = []
counts = {}
for i in ids:
    counts[i] = counts.get(i, 0) + 1
lost = [k for k in range(1, n + 1) if str(k) not in counts]
rerun = sorted(int(k) for k, c in counts.items() if c > 1)
if lost:
    problems.append(f"side file: tasks never ran {lost[:10]}")
if rerun:
    problems.append(f"side file: tasks ran twice {rerun[:10]}")
print("; ".join(problems) if problems else "ok")
EOF
}

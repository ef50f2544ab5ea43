#!/usr/bin/env bash
# Helpers the farm test scripts share, on top of ../lib.sh. Every process a script starts
# carries $mark in its environment, so these find (and clean up) those processes and no others.
# A script that needs a variant defines its own after sourcing this file.

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

pycheck() {
  local prog out verdict msg
  prog=$(cat)
  out=$(python3 -c "$pylib"$'\n'"$prog" "$@" 2>&1) || out+=$'\nFAIL|check program failed (above)'
  while IFS='|' read -r verdict msg; do
    case $verdict in
      ok) pass "$msg" ;;
      FAIL) fail "$msg" ;;
      note) echo "        $msg" ;;
      *) [[ -z $verdict ]] || echo "        $verdict${msg:+|$msg}" ;;
    esac
  done <<<"$out"
}

#!/usr/bin/env bash
# The joblog's fields are GNU parallel's: both tools run the same commands and the logs are
# compared field by field.
#
# Usage: gnu_joblog.sh         (ctest runs it as farm.gnu_joblog; a direct run, 1 worker x 4
#                               threads, beside GNU parallel -j4; scripts/setup installs both)
# Expects, for each of twelve commands (success, exit 3 and 255, output on stdout only, on stderr
# only, a last line without newline, death by SIGKILL and SIGTERM, a shell that reports its
# child's SIGKILL on stderr and exits 0, a timeout that obeys SIGTERM, one that ignores it, a
# command with a tab): the same Seq, Host, Send, Receive, Exitval, Signal and Command as GNU
# parallel 20221122 writes (Host ":" for this machine, Receive counting standard output only,
# Exitval -1 for a timeout, 0 for another death by a signal); Starttime with three decimals,
# JobRuntime "%10.3f"; the same exit status (6 failed). Runtimes are not compared.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" gnujoblog

if ! command -v parallel >/dev/null; then
  fail "GNU parallel is not installed (scripts/setup installs it): nothing to compare with"
  finish
fi
# One command per line; Seq is the line number in both tools.
cat >"$tmp/cmds.tasks" <<'EOF'
true
exit 3
echo out
echo err >&2
printf 'abc'
kill -9 $$
kill -TERM $$
sh -c 'kill -9 $$'; exit 0
sleep 30
trap '' TERM; sleep 30
exit 255
printf 'a\tb\n'
EOF
sed "s/^/    /" "$tmp/cmds.tasks"

run ours 60 "$SCALEOUT" run -q -n 1 --threads 4 --timeout 2 --kill-grace 1 \
  --joblog "$tmp/ours.log" --tasks "$tmp/cmds.tasks"
ours_rc=$rc
stdin=$tmp/cmds.tasks run gnu 60 env HOME="$tmp" parallel -j4 --timeout 2 --joblog "$tmp/gnu.log"
expect "exit status, the same as GNU parallel's" "$ours_rc" "$rc"
expect "exit status (6 failed)" "$ours_rc" 6

pycheck "$tmp/ours.log" "$tmp/gnu.log" <<'EOF'
import re
ours_path, gnu_path = sys.argv[1:3]
HEADER = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"

def read(path):
    lines = open(path, "rb").read().decode(errors="surrogateescape").split("\n")
    check(lines[0] == HEADER, f"{os.path.basename(path)}: GNU parallel's header")
    rows = {}
    for line in lines[1:-1]:
        f = line.split("\t", 8)
        rows[int(f[0])] = f
    return rows

ours, gnu = read(ours_path), read(gnu_path)
check(sorted(ours) == sorted(gnu) == list(range(1, 13)),
      f"both logs hold Seq 1-12 (ours {sorted(ours)}, GNU {sorted(gnu)})")
names = ["Seq", "Host", "Starttime", "JobRuntime", "Send", "Receive", "Exitval", "Signal",
         "Command"]
for i in (0, 1, 4, 5, 6, 7, 8):
    diff = [f"{s}: ours {ours[s][i]!r}, GNU {gnu[s][i]!r}" for s in sorted(gnu)
            if s in ours and ours[s][i] != gnu[s][i]]
    check(not diff, f"{names[i]}: every line as GNU parallel's {diff[:3]}")
bad = [s for s, f in ours.items() if not re.fullmatch(r"\d+\.\d{3}", f[2])
       or not re.fullmatch(r" *\d+\.\d{3}", f[3]) or len(f[3]) < 10]
check(not bad, f"Starttime %.3f and JobRuntime %10.3f on every line {bad}")
# The figures themselves, so the comparison cannot pass by both tools changing together.
want = {1: ("0", "0", "0"), 3: ("4", "0", "0"), 4: ("0", "0", "0"), 6: ("0", "0", "9"),
        8: ("0", "0", "0"), 9: ("0", "-1", "15"), 10: ("0", "-1", "9"), 11: ("0", "255", "0")}
got = {s: (ours[s][5], ours[s][6], ours[s][7]) for s in want if s in ours}
check(got == want, f"Receive, Exitval, Signal of tasks {sorted(want)}: {got}")
check(all(f[1] == ":" for f in ours.values()), "Host is ':' for this machine")
EOF
finish

#!/usr/bin/env bash
# A full disk under the joblog (issue 8, item 3) and an --extlog that cannot be written (item 14)
# are runner failures (exit 104), and a full disk stops the run from starting more commands.
#
# Usage: diskfull.sh   (ctest: farm.diskfull; direct runs with 2 workers)
# Part 1 (needs root to mount a tmpfs; skipped with the reason otherwise): 60 commands, each
# appending its number to a side file off the tmpfs and carrying a 1000-byte comment so that its
# joblog line is about 1 KB, logged to a joblog on a 64 KiB tmpfs mounted inside the test's
# temporary directory. Expects: exit 104 with an error saying the joblog could not be written,
# and far fewer than 60 commands started (the run stops launching once a result cannot be
# written: at most the commands running then, 2 workers, plus those a worker had already
# started, finish after it). The tmpfs is then grown to 1 MiB (remount keeps its files) and
# --resume runs the rest: exit 0, and the side file holds every command, none more than once
# except those that ran when their result could be written nowhere (at most 2, one per worker,
# against 40 or so before the fix); the joblog has one success line per command.
# Part 2: --extlog /dev/full exits 104 naming the extlog (it was 103, "bad input").
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" diskfull
t_script=$SECONDS
fs=$tmp/fs
mkdir "$fs"
mounted=0
cleanup() {
  kill_marked || true
  if ((mounted)); then umount "$fs" 2>/dev/null || umount -l "$fs" 2>/dev/null || true; fi
  rm -rf "$tmp"
}

echo "- the joblog on a full 64 KiB tmpfs"
if ((EUID == 0)) && mount -t tmpfs -o size=64k tmpfs "$fs" 2>/dev/null; then
  mounted=1
  for ((k = 1; k <= 60; k++)); do
    printf 'echo %d >>%s/side; : %01000d\n' "$k" "$tmp" 0
  done >"$tmp/tasks"
  farm=("$SCALEOUT" run -n 2 --tasks "$tmp/tasks" --joblog "$fs/log")
  run full 60 "${farm[@]}" -q
  expect "full disk: exit status (runner failure)" "$rc" 104
  if grep -q "joblog.*No space left on device" "$tmp/full.err"; then
    pass "full disk: the error says the joblog could not be written: $(grep -m1 "No space" "$tmp/full.err")"
  else
    fail "full disk: no error about the joblog: $(head -c 300 "$tmp/full.err")"
  fi
  ran=$(grep -c '' "$tmp/side" || true)
  logged=$(awk -F'\t' 'NR > 1 && $7 == 0' "$fs/log" | wc -l | tr -d ' ')
  echo "  ($ran commands ran, $logged logged in the joblog)"
  if ((ran < 50 && ran <= logged + 6)); then
    pass "full disk: the run stopped starting commands ($ran of 60 ran, $logged logged)"
  else
    fail "full disk: $ran of 60 commands ran though only $logged were logged"
  fi
  mount -o remount,size=1m "$fs"
  run resume 60 "${farm[@]}" -q --resume
  expect "after freeing space: --resume exit status" "$rc" 0
  pycheck "$tmp/side" "$fs/log" <<'EOF'
side, log = sys.argv[1], sys.argv[2]
counts = {}
for i in open(side).read().split():
    counts[int(i)] = counts.get(int(i), 0) + 1
check(sorted(counts) == list(range(1, 61)), f"side file: every command ran ({len(counts)} of 60)")
twice = sorted(k for k, c in counts.items() if c > 1)
check(len(twice) <= 2, f"side file: at most 2 commands ran twice (their results could be written nowhere): {twice}")
succ = {}
for line in open(log, "rb").read().decode(errors="replace").split("\n")[1:]:
    f = line.split("\t")
    if len(f) >= 9 and f[0].isdigit() and f[6] == "0" and f[7] == "0":
        succ[int(f[0])] = succ.get(int(f[0]), 0) + 1
check(sorted(succ) == list(range(1, 61)), f"joblog: a success line for each command ({len(succ)})")
EOF
  umount "$fs" && mounted=0
else
  echo "  skip  the full-disk case: mounting a tmpfs needs root (running as uid $EUID)"
fi

echo "- --extlog on /dev/full"
if [[ -w /dev/full ]]; then
  run ext 60 "$SCALEOUT" run -n 1 -q --extlog /dev/full --command 'echo {}' ::: a b c
  expect "--extlog /dev/full: exit status (runner failure)" "$rc" 104
  if grep -q "cannot write --extlog /dev/full" "$tmp/ext.err"; then
    pass "--extlog /dev/full: the error names the extlog"
  else
    fail "--extlog /dev/full: $(head -c 300 "$tmp/ext.err")"
  fi
  expect "--extlog /dev/full: the commands' output" "$(sort "$tmp/ext.out" | tr '\n' ' ')" "a b c "
else
  echo "  skip  --extlog on /dev/full: /dev/full is not writable here"
fi
no_leftovers "disk full"
echo "(the script took $((SECONDS - t_script)) s)"
finish

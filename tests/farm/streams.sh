#!/usr/bin/env bash
# The farm's streams: commands' output byte for byte, standard input read as a stream, a stop
# signal while the master waits on an idle standard input, and ::: lists too long for a command
# line of mpirun.
#
# Usage: streams.sh            (ctest runs it as farm.streams; direct runs of 1 and 2 workers)
# Expects:
#   - output is never changed: `printf %s` of a b c gives exactly "abc" on stdout (and on stderr);
#     a 1,000,000-byte random file through `cat {}` comes out identical (cmp) with 1 worker and
#     in --results; two 1,000,000-byte files with lines and no final newline, run at once on 2
#     workers, come out as an interleaving of their whole lines, every byte once, with nothing
#     added, without and with --tag (where each line, the unterminated last one too, starts with
#     its argument and a tab)
#   - standard input as a stream: with the pipe kept open, lines written 1 s apart each start
#     within 1 s of being written, on 2 workers and on 1 worker of 3 slots whose first command
#     runs on (the next lines take the free slots)
#   - SIGINT while the master waits on that open, idle pipe: exit 102 within 5 s (with --grace 1
#     where a command still runs); the joblog holds every line read before the stop; no process
#     is left
#   - ::: lists too long for mpirun's command line (its OMPI_ARGV variable holds at most 128 KiB):
#     2,700 words of 54 bytes (`::: *.log`) and 500 of 2,000 (about 1 MB): exit 0, every command
#     ran once; no run directory is left in TMPDIR
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" streams

# Helpers of this script's pycheck programs (tests/farm/lib.sh runs them).
pylib=$(
  cat <<'EOF'
def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()

def lines_of(data, prefix=b""):
    """A command's output as the farm may print it: its lines (the last may lack a newline),
    each with prefix in front."""
    parts = data.split(b"\n")
    out = [prefix + p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(prefix + parts[-1])
    return out

def unmix(out, sources):
    """Takes out apart into whole lines of the sources (lists of lines), each source's in its
    order. Returns None when it works, else where and why it does not."""
    pos, idx = 0, [0] * len(sources)
    while pos < len(out):
        for j, src in enumerate(sources):
            if idx[j] < len(src) and out.startswith(src[idx[j]], pos):
                pos += len(src[idx[j]])
                idx[j] += 1
                break
        else:
            return f"at byte {pos} the output is no command's next line: {out[pos:pos + 40]!r}"
    left = [len(src) - i for src, i in zip(sources, idx)]
    return f"lines never printed: {left}" if any(left) else None
EOF
)

# Direct runs make their private directory here, so the end can check none is left.
export TMPDIR=$tmp/rundirs
mkdir -p "$TMPDIR"
echo "farm streams: mark $mark"

# ---------------------------------------------------------------------------------------------
echo "- output byte for byte (issue 8, item 5)"
run printf 60 "$SCALEOUT" run -q -n 1 --command 'printf %s {}' ::: a b c
expect "printf %s of a b c: exit status" "$rc" 0
expect "printf %s of a b c: stdout (od -c)" "$(od -An -c "$tmp/printf.out" | tr -s ' ')" " a b c"
run printf_err 60 "$SCALEOUT" run -q -n 1 --command 'printf %s {} >&2' ::: a b c
expect "printf %s of a b c to stderr: stderr (od -c)" "$(od -An -c "$tmp/printf_err.err" | tr -s ' ')" " a b c"

head -c 1000000 /dev/urandom >"$tmp/random.bin"
if [[ $(tail -c 1 "$tmp/random.bin" | od -An -c | tr -d ' ') == '\n' ]]; then
  printf x >>"$tmp/random.bin" # (1 in 256) the point is a last line without a newline
fi
run cat1 60 "$SCALEOUT" run -q -n 1 --command 'cat {}' ::: "$tmp/random.bin"
expect "cat of a random file: exit status" "$rc" 0
if cmp -s "$tmp/random.bin" "$tmp/cat1.out"; then
  pass "cat of a $(stat -c %s "$tmp/random.bin")-byte random file: stdout is the file (cmp)"
else
  fail "cat of a random file: stdout differs: $(stat -c %s "$tmp/cat1.out") bytes, $(cmp "$tmp/random.bin" "$tmp/cat1.out" 2>&1 | head -1)"
fi
run results 60 "$SCALEOUT" run -q -n 2 --results "$tmp/res" --command 'cat {}' ::: "$tmp/random.bin" "$tmp/random.bin"
expect "--results: exit status" "$rc" 0
for k in 1 2; do
  if cmp -s "$tmp/random.bin" "$tmp/res/0/$k/stdout"; then
    pass "--results: task $k's stdout file is the file (cmp)"
  else
    fail "--results: task $k's stdout file differs from the file"
  fi
done

# Two files of lines whose bytes come from disjoint ranges (so every line tells which file it is
# from), no empty line, and no newline at the end.
python3 - "$tmp/lo.bin" "$tmp/hi.bin" <<'EOF'
import random, sys
rng = random.Random(8)
for path, alphabet in ((sys.argv[1], [b for b in range(0, 128) if b != 10]), (sys.argv[2], list(range(128, 256)))):
    data = bytearray(rng.choice(alphabet) for _ in range(1000000))
    i = rng.randint(1, 160)
    while i < len(data) - 2:
        data[i] = 10
        i += rng.randint(2, 160)
    open(path, "wb").write(bytes(data))
EOF
for tag in "" --tag; do
  run mix 60 "$SCALEOUT" run -q -n 2 $tag --command 'cat {}' ::: "$tmp/lo.bin" "$tmp/hi.bin"
  expect "cat of two files on 2 workers${tag:+ with $tag}: exit status" "$rc" 0
  pycheck "$tmp/mix.out" "$tmp/lo.bin" "$tmp/hi.bin" "$tag" <<'EOF'
out, lo, hi, tag = read_bytes(sys.argv[1]), read_bytes(sys.argv[2]), read_bytes(sys.argv[3]), sys.argv[4]
pre = lambda path: (path.encode() + b"\t") if tag else b""
srcs = [lines_of(lo, pre(sys.argv[2])), lines_of(hi, pre(sys.argv[3]))]
want = sum(len(l) for s in srcs for l in s)
why = unmix(out, srcs)
check(why is None and len(out) == want,
      f"2 workers{' --tag' if tag else ''}: stdout is the two files' whole lines interleaved, "
      f"{want} bytes, nothing added ({len(out)} bytes; {why or 'every line once'})")
EOF
done

# ---------------------------------------------------------------------------------------------
# feed_start TAG ARGS...: starts scaleout run ARGS (marked) with its standard input on a FIFO that
# this script holds open for writing as fd $feed, so the producer never closes; bg_pid is the
# scaleout process. feed LINE: writes LINE and records the time it was written in $tmp/TAG.sent.
feed_start() {
  local tag=$1
  shift
  feed_tag=$tag
  rm -f "$tmp/$tag.fifo" "$tmp/$tag.sent"
  mkfifo "$tmp/$tag.fifo"
  echo "\$ $SCALEOUT run $* < (a pipe kept open) &"
  (
    trap - INT QUIT
    exec env SO_FARM_TEST_MARK="$mark" "$SCALEOUT" run "$@"
  ) <"$tmp/$tag.fifo" >"$tmp/$tag.out" 2>"$tmp/$tag.err" &
  bg_pid=$!
  exec {feed}>"$tmp/$tag.fifo"
}
feed() {
  printf '%s\n' "$1" >&"$feed"
  echo "$EPOCHREALTIME" >>"$tmp/$feed_tag.sent"
}
# wait_file PATH SECONDS: waits until PATH exists; status 1 if it does not in time.
wait_file() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    [[ -e $1 ]] && return 0
    sleep 0.05
  done
  return 1
}
# starter TAG K [CMD]: a command that writes its start time (date +%s.%N) to $tmp/TAG.start.K.
starter() { echo "date +%s.%N >$tmp/$1.start.$2${3:+; $3}"; }

# streamed TAG N: checks that the commands 2..N (fed 1 s apart, after command 1 had started) each
# started within 1 s of being written, and prints the delays.
streamed() {
  pycheck "$tmp" "$1" "$2" <<'EOF'
d, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sent = [float(x) for x in open(f"{d}/{tag}.sent").read().split()]
late = []
for k in range(2, n + 1):
    p = f"{d}/{tag}.start.{k}"
    start = float(open(p).read()) if os.path.exists(p) else None
    late.append(None if start is None else round(start - sent[k - 1], 3))
note(f"start minus arrival, lines 2..{n} (s): {late}")
check(all(x is not None and -0.05 < x < 1.0 for x in late),
      f"{tag}: each line written to the open pipe started within 1 s of arriving")
EOF
}

# stopped TAG: sends SIGINT to bg_pid (the pipe stays open and idle) and checks the run ends
# with 102 within 5 s.
stopped() {
  local t0=$EPOCHREALTIME took
  kill -INT "$bg_pid"
  wait_bg "$1" 30
  took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  expect "$1: exit status after SIGINT with standard input open and idle" "$rc" 102
  if awk -v t="$took" 'BEGIN { exit !(t < 5) }'; then
    pass "$1: the run stopped ${took}s after SIGINT (bound 5 s)"
  else
    fail "$1: the run took ${took}s to stop after SIGINT (bound 5 s)"
  fi
  exec {feed}>&-
}

echo "- standard input is a stream (issue 8, item 6), and SIGINT while it is idle (item 7)"
n=6
feed_start pipe -n 2 --tasks - --joblog "$tmp/pipe.log"
feed "$(starter pipe 1)"
if wait_file "$tmp/pipe.start.1" 30; then
  for ((k = 2; k <= n; k++)); do
    sleep 1
    feed "$(starter pipe $k)"
  done
  sleep 1.5
  streamed pipe $n
else
  fail "pipe: the first command did not start within 30 s"
fi
stopped pipe
pycheck "$tmp/pipe.log" "$n" <<'EOF'
lines = open(sys.argv[1]).read().splitlines()[1:]
check(len(lines) == int(sys.argv[2]),
      f"pipe: the joblog has the {sys.argv[2]} commands read before the stop ({len(lines)})")
EOF

# One worker with 3 slots busy with a long first command: later lines take the free slots as
# they come rather than wait for the long one; SIGINT then stops it after --grace.
feed_start slots -n 1 --threads 3 --grace 1 --tasks -
feed "$(starter slots 1 'sleep 60')"
if wait_file "$tmp/slots.start.1" 30; then
  for ((k = 2; k <= 4; k++)); do
    sleep 1
    feed "$(starter slots $k)"
  done
  sleep 1.5
  streamed slots 4
else
  fail "slots: the first command did not start within 30 s"
fi
stopped slots
no_leftovers "after the stops"

# ---------------------------------------------------------------------------------------------
echo "- ::: lists longer than mpirun's command line takes (issue 8, item 9)"
# list_case TAG COUNT BYTES: COUNT distinct words of BYTES bytes each after :::, echoed by the
# commands; every one must come out once.
list_case() {
  local tag=$1 count=$2 bytes=$3 words
  mapfile -t words < <(python3 -c "
import sys
n, b = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    print(f'{i:06d}'.ljust(b - 4, 'x') + '.log')" "$count" "$bytes")
  echo "\$ $SCALEOUT run -q -n 2 --command 'echo {}' ::: <$count words of $bytes bytes> ($((count * (bytes + 1))) bytes)"
  run "$tag" 120 "$SCALEOUT" run -q -n 2 --command 'echo {}' ::: "${words[@]}" >/dev/null
  expect "$tag: exit status" "$rc" 0
  printf '%s\n' "${words[@]}" | sort >"$tmp/$tag.want"
  sort "$tmp/$tag.out" >"$tmp/$tag.got"
  if cmp -s "$tmp/$tag.want" "$tmp/$tag.got"; then
    pass "$tag: all $count commands ran, each once ($(wc -l <"$tmp/$tag.got") lines, ${elapsed}s)"
  else
    fail "$tag: commands missing or doubled: $(comm -3 "$tmp/$tag.want" "$tmp/$tag.got" | wc -l) lines differ"
  fi
}
list_case list_2700 2700 54
list_case list_1mb 500 2000
no_leftovers "after the long lists"
left=$(ls -A "$TMPDIR")
expect "run directories (and files of ::: arguments) left in TMPDIR" "${left:-none}" none

finish

#!/usr/bin/env bash
# The data-parallel jobs under mpirun at 3 ranks (2 workers) agree with serial references made
# here: mandelbrot with an image computed by Python, matmul with its own full naive check and a
# one-worker run, stream with the triad's exact sum, wordcount with the shell pipeline
# `cat FILES | tr -s '[:space:]' '\n' | sort | uniq -c`; bad parameters exit 2 with one line.
#
# Usage: mapjobs.sh            (ctest runs it as mpi.mapjobs.np3)
# Expects: every run exits 0 with failed = 0. mandelbrot 97x64 (300 iterations, upper half plane)
# under static and dynamic,3 (test_mapjobs has every schedule): the PGM bytes and the FNV-1a
# checksum equal Python's; matmul n=150 in 7-row items with --verify 150: checked = 22500,
# max_error = 0, sum and sumsq equal to a direct -n 1 run's; stream n=100000 x 9 passes: sum = 9 x
# sum(b + 3c), bytes = 9 x 24 x 100000; wordcount over 6 generated files (UTF-8, tabs, CR, a 100
# kB word): output equal, byte for byte, to the pipeline's re-sorted by count then word; then bad
# input (zero sizes, a bad region, a missing or unreadable file, no files): exit 2, one line on
# stderr naming the problem, directly with 2 workers and, for a missing file, under mpirun too.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
np=3
# Checks stop being started after this many seconds (CTest allows 300); those not run make the
# script end as skipped (out_of_time in tests/lib.sh), since a loaded machine proves nothing.
budget=200
echo "map jobs at $np ranks ($((np - 1)) workers)"

# ok_run TAG: the checks every successful run gets.
ok_run() {
  expect "$1: exit status" "$rc" 0
  expect "$1: failed" "$(json "$tmp/$1.json" 'd["failed"]')" 0
}

# --- mandelbrot against Python's image (Python floats are the same IEEE doubles, and the
# expressions are the job's, so every pixel is equal) ---
ref_sum=$(python3 - "$tmp/ref.pgm" <<'EOF'
import sys
w, h, maxit = 97, 64, 300
x0, x1, y0, y1 = -2.0, 0.6, 0.0, 1.2
px = bytearray()
for y in range(h):
    cy = y1 - (y + 0.5) * (y1 - y0) / h
    for x in range(w):
        cx = x0 + (x + 0.5) * (x1 - x0) / w
        zx = zy = 0.0
        it = 0
        while it < maxit:
            xx, yy = zx * zx, zy * zy
            if xx + yy > 4.0:
                break
            zy = 2.0 * zx * zy + cy
            zx = xx - yy + cx
            it += 1
        px.append(0 if it >= maxit else 255 - it * 255 // maxit)
h_ = 0xcbf29ce484222325
for b in px:
    h_ = ((h_ ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
open(sys.argv[1], "wb").write(b"P5\n%d %d\n255\n" % (w, h) + bytes(px))
print("%016x" % h_)
EOF
)
for sched in static dynamic,3; do
  tag=mandel_${sched%%,*}
  out_of_time "mandelbrot --schedule $sched" && break
  run "$tag" 60 mpirun -n $np "$SCALEOUT" run mandelbrot --schedule "$sched" --json "$tmp/$tag.json" \
    --width 97 --height 64 --iterations 300 --region=-2,0.6,0,1.2 --out "$tmp/$tag.pgm"
  ok_run "$tag"
  if cmp -s "$tmp/$tag.pgm" "$tmp/ref.pgm"; then pass "$tag: PGM equals Python's"; else fail "$tag: PGM differs from Python's"; fi
  expect "$tag: answer.checksum" "$(json "$tmp/$tag.json" 'd["answer"]["checksum"]')" "$ref_sum"
done

# --- matmul: every entry checked against the naive product, and the same sums at 1 worker ---
out_of_time matmul && { finish; exit 1; }
mm=(--n 150 --rows 7 --tile 32 --seed 5 --verify 150)
run mm3 60 mpirun -n $np "$SCALEOUT" run matmul --json "$tmp/mm3.json" "${mm[@]}"
ok_run mm3
expect "matmul: answer.checked" "$(json "$tmp/mm3.json" 'd["answer"]["checked"]')" 22500
expect "matmul: answer.max_error" "$(json "$tmp/mm3.json" 'd["answer"]["max_error"]')" 0.0
run mm1 60 "$SCALEOUT" run matmul -n 1 --json "$tmp/mm1.json" "${mm[@]}"
ok_run mm1
for k in sum sumsq; do
  expect "matmul: answer.$k at 2 workers and at 1" "$(json "$tmp/mm3.json" "d['answer']['$k']")" \
    "$(json "$tmp/mm1.json" "d['answer']['$k']")"
done

# --- stream: the sum of a after every pass is exact ---
out_of_time stream && { finish; exit 1; }
run stream 60 mpirun -n $np "$SCALEOUT" run stream --json "$tmp/stream.json" --n 100000 --passes 9
ok_run stream
expect "stream: answer.sum" "$(json "$tmp/stream.json" 'd["answer"]["sum"]')" \
  "$(python3 -c 'print(9 * sum((i & 1023) + 3 * ((i * 7) & 1023) for i in range(100000)))')"
expect "stream: answer.bytes" "$(json "$tmp/stream.json" 'd["answer"]["bytes"]')" $((9 * 24 * 100000))
if python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["answer"]["gbps"] > 0 else 1)' \
  "$tmp/stream.json" 2>/dev/null; then pass "stream: answer.gbps > 0"; else fail "stream: no positive answer.gbps"; fi

# --- wordcount against the shell pipeline ---
out_of_time wordcount && { finish; exit 1; }
mkdir "$tmp/text"
python3 - "$tmp/text" <<'EOF'
import random, sys
d = sys.argv[1]
r = random.Random(3)
vocab = ["the", "a", "caf\u00e9", "na\u00efve", "x", "Word", "word", "word,", "(x)", "\u65e5\u672c",
         "--", "don't"] + ["w%d" % i for i in range(300)]
ws = [" ", "\t", "\r\n", "\n", "  \n\t", "\v", "\f"]
for f in range(5):
    parts = []
    for i in range(4000 + f * 1000):
        parts.append(r.choice(vocab[:12]) if r.random() < 0.5 else r.choice(vocab))
        parts.append(r.choice(ws))
    if f == 2:
        parts.insert(100, "y" * 100000)
    text = "".join(parts)
    # Every file starts with a word and ends with a newline: `cat` then joins no words across
    # files and tr makes no empty first line, the two places the pipeline differs from per-file
    # counts.
    open("%s/t%d.txt" % (d, f), "wb").write(text.rstrip().encode() + b"\n")
open("%s/empty.txt" % d, "wb").close()
EOF
texts=("$tmp"/text/*.txt)
cat "${texts[@]}" | LC_ALL=C tr -s '[:space:]' '\n' | LC_ALL=C sort | uniq -c |
  LC_ALL=C sort -s -k1,1nr >"$tmp/pipe.txt"
run wc 60 mpirun -n $np "$SCALEOUT" run wordcount --json "$tmp/wc.json" --out "$tmp/wc.txt" \
  ::: "${texts[@]}"
ok_run wc
if cmp -s "$tmp/wc.txt" "$tmp/pipe.txt"; then
  pass "wordcount: output equals the pipeline's ($(wc -l <"$tmp/pipe.txt") lines)"
else
  fail "wordcount: output differs from the pipeline's"
  diff "$tmp/wc.txt" "$tmp/pipe.txt" | head -5 | sed 's/^/  diff: /'
fi
expect "wordcount: answer.words" "$(json "$tmp/wc.json" 'd["answer"]["words"]')" \
  "$(cat "${texts[@]}" | wc -w)"
expect "wordcount: answer.files" "$(json "$tmp/wc.json" 'd["answer"]["files"]')" "${#texts[@]}"
# Without --out the counts go to standard output.
run wc_stdout 60 "$SCALEOUT" run wordcount -n 2 -q ::: "${texts[@]}"
expect "wordcount: exit status with the counts on stdout" "$rc" 0
# The job owns standard output (SO_JOB_OWNS_STDOUT): it holds the counts and nothing else, the
# summary goes to standard error.
if cmp -s "$tmp/wc_stdout.out" "$tmp/pipe.txt"; then
  pass "wordcount: standard output is exactly the counts"
else
  fail "wordcount: standard output is not exactly the counts"
  diff "$tmp/wc_stdout.out" "$tmp/pipe.txt" | tail -3 | sed 's/^/  diff: /'
fi

# --- bad input: exit 2, one line naming the problem ---
chmod 000 "$tmp/text/t0.txt"
unreadable=$tmp/text/t0.txt
# A root shell reads any file: then only the missing file and the directory make the point.
[[ -r $unreadable ]] && unreadable=
# bad_case WHAT WORD [--mpirun] JOB ARGS...: the run, directly with 2 workers (and under
# mpirun at 3 ranks with --mpirun), exits 2 with one "scaleout: error:" line naming WORD. Under
# mpirun, mpirun's own boxed notice about the exit status is set aside; the status must be
# non-zero (mpirun passes on the first non-zero status it saw).
bad_case() {
  local what=$1 word=$2 hows=direct lines
  shift 2
  if [[ $1 == --mpirun ]]; then
    hows="direct mpirun"
    shift
  fi
  for how in $hows; do
    out_of_time "$what ($how)" && return 0
    if [[ $how == mpirun ]]; then
      run bad 30 mpirun -n $np "$SCALEOUT" run "$@"
      lines=$(grep -c . "$tmp/bad.err" || true)
      ((rc != 0)) && pass "$what ($how): exit status $rc" || fail "$what ($how): exit status 0"
      lines=$(grep -c '^scaleout:' "$tmp/bad.err" || true)
    else
      run bad 30 "$SCALEOUT" run "$1" -n 2 "${@:2}"
      expect "$what ($how): exit status" "$rc" 2
      lines=$(grep -c . "$tmp/bad.err" || true)
    fi
    if [[ $lines == 1 ]] && grep -q "^scaleout: error: .*$word" "$tmp/bad.err"; then
      pass "$what ($how): one line naming '$word'"
    else
      fail "$what ($how): stderr was: $(head -c 300 "$tmp/bad.err")"
    fi
  done
}
bad_case "mandelbrot --width 0" width mandelbrot --width 0 --out ""
bad_case "mandelbrot bad region" region mandelbrot --region 1,2 --out ""
bad_case "matmul --n 0" "n" matmul --n 0
bad_case "stream --passes 0" passes stream --passes 0
bad_case "wordcount without files" ":::" wordcount
bad_case "wordcount, missing file" no-such-file --mpirun wordcount ::: "$tmp/text/t1.txt" "$tmp/no-such-file"
bad_case "wordcount, a directory" directory wordcount ::: "$tmp/text"
if [[ -n $unreadable ]]; then
  bad_case "wordcount, unreadable file" t0.txt wordcount ::: "$unreadable"
fi

finish

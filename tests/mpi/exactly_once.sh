#!/usr/bin/env bash
# Every task runs exactly once, whatever the queue discipline and batch size.
#
# Usage: exactly_once.sh RANKS      (RANKS-1 workers; ctest runs it as mpi.exactly_once.npRANKS)
# Runs `run noop --tasks 100000 --trace DIR/t` under mpirun at RANKS ranks with the default
# settings, --queue lifo, --queue priority, --batch 1 and --batch 7 (a last batch left over).
# Expects, for each: exit 0; the trace files DIR/t.<rank> exist only for worker ranks and hold
# every id 0..99999 exactly once between them; answer tasks=distinct=100000, duplicates=0,
# missing=0; JSON tasks 100000 and failed 0; each worker's JSON tasks equal its trace's lines.
# Each run has its own time limit; together they stay inside CTest's 300 s.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
ranks=${1:?usage: exactly_once.sh RANKS}
ntasks=100000

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# check_traces DIR JSON: prints "ok" when the trace files DIR/t.<rank> are well formed, name only
# worker ranks, hold each id below $ntasks once, and agree with each worker's JSON task count;
# otherwise one line saying what is wrong.
check_traces() {
  python3 - "$1" "$2" "$ntasks" "$ranks" <<'EOF' 2>&1 || true
import json, os, re, sys

tdir, jpath, n, ranks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
problems = []
seen = bytearray(n)
dups = out_of_range = bad_lines = 0
lines_by_rank = {}
for name in sorted(os.listdir(tdir)):
    m = re.fullmatch(r"t\.(\d+)", name)
    if not m or not 1 <= int(m.group(1)) < ranks:
        problems.append(f"unexpected file {name} (workers are ranks 1..{ranks - 1})")
        continue
    count = 0
    with open(os.path.join(tdir, name)) as f:
        for line in f:
            count += 1
            s = line.strip()
            if not s.isdigit():
                bad_lines += 1
                continue
            i = int(s)
            if i >= n:
                out_of_range += 1
            elif seen[i]:
                dups += 1
            else:
                seen[i] = 1
    lines_by_rank[int(m.group(1))] = count
missing = n - sum(seen)
if missing:
    first = [i for i in range(n) if not seen[i]][:5]
    problems.append(f"{missing} ids never traced (first: {first})")
if dups:
    problems.append(f"{dups} ids traced more than once")
if out_of_range:
    problems.append(f"{out_of_range} ids >= {n}")
if bad_lines:
    problems.append(f"{bad_lines} lines that are not an id")
try:
    workers = json.load(open(jpath))["workers"]
    for w in workers:
        if w["tasks"] != lines_by_rank.get(w["rank"], 0):
            problems.append(f"rank {w['rank']}: JSON tasks {w['tasks']}, "
                            f"trace lines {lines_by_rank.get(w['rank'], 0)}")
except Exception as e:
    problems.append(f"cannot read workers from the JSON report ({e!r})")
print("; ".join(problems) if problems else "ok")
EOF
}

echo "exactly once at $ranks ranks ($((ranks - 1)) workers), $ntasks noop tasks"

variants=(default "queue lifo" "queue priority" "batch 1" "batch 7")
for variant in "${variants[@]}"; do
  tag=${variant// /_}
  opts=()
  [[ $variant == default ]] || opts=("--${variant%% *}" "${variant#* }")
  mkdir "$tmp/$tag"
  echo "- ${opts[*]:-default settings}"
  # Options come before job parameters, the order `scaleout run JOB [options] [job parameters]` shows.
  run "$tag" 50 mpirun -n "$ranks" "$SCALEOUT" run noop "${opts[@]}" --json "$tmp/$tag.json" \
    --tasks "$ntasks" --trace "$tmp/$tag/t"
  f=$tmp/$tag.json
  expect "$tag: exit status" "$rc" 0
  expect "$tag: tasks" "$(json "$f" 'd["tasks"]')" "$ntasks"
  expect "$tag: failed" "$(json "$f" 'd["failed"]')" 0
  expect "$tag: answer.tasks" "$(json "$f" 'd["answer"]["tasks"]')" "$ntasks"
  expect "$tag: answer.distinct" "$(json "$f" 'd["answer"]["distinct"]')" "$ntasks"
  expect "$tag: answer.duplicates" "$(json "$f" 'd["answer"]["duplicates"]')" 0
  expect "$tag: answer.missing" "$(json "$f" 'd["answer"]["missing"]')" 0
  expect "$tag: worker entries" "$(json "$f" 'len(d["workers"])')" $((ranks - 1))
  expect "$tag: sum of per-worker tasks" "$(json "$f" 'sum(w["tasks"] for w in d["workers"])')" \
    "$ntasks"
  if [[ $variant == queue* ]]; then
    expect "$tag: config.queue" "$(json "$f" 'd["config"]["queue"]')" "${variant#* }"
  fi
  expect "$tag: trace files" "$(check_traces "$tmp/$tag" "$f")" ok
done

finish

#!/usr/bin/env bash
# With no more workers than cores, scaleout binds every worker to a core of its own.
#
# Usage: distinct_cores.sh     (ctest runs it as mpi.distinct_cores.np3)
# Runs `run pi` under `mpirun -n 3` (2 workers; needs 2 cores, skipped with a note on fewer) and
# directly without mpirun (one worker per core of the allowed cpuset, the default), and directly
# with --cpuset / --core-count (the default then counts the cores they leave).
# Expects, for each: exit 0; config.bind "core"; the expected number of workers; every worker
# bound_by "scaleout", last_core >= 0 and distinct, cpusets distinct, last_pu inside the worker's
# cpuset, and last_core the logical index of the core holding last_pu (per hwloc-calc).
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# check_binding TAG: the per-worker binding checks on $tmp/TAG.json, one result line each.
check_binding() {
  local tag=$1 verdict text
  while IFS='|' read -r verdict text; do
    if [[ $verdict == ok ]]; then pass "$tag: $text"; else fail "$tag: $text"; fi
  done < <(python3 - "$tmp/$tag.json" <<'EOF' 2>&1
import json, subprocess, sys

def cpulist(text):
    """The OS indexes in a cpuset list such as "0-3,6"."""
    out = set()
    for part in str(text).split(","):
        lo, _, hi = part.strip().partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out

def core_of(pu):
    """Logical index of the core holding OS PU pu, according to hwloc-calc."""
    r = subprocess.run(["hwloc-calc", "--pi", f"pu:{pu}", "-I", "core"],
                       capture_output=True, text=True, timeout=30)
    return int(r.stdout.strip())

try:
    workers = json.load(open(sys.argv[1]))["workers"]
except Exception as e:
    print(f"FAIL|cannot read workers from the JSON report ({e!r})")
    sys.exit(0)
for w in workers:
    r = w.get("rank")
    b = w.get("bound_by")
    if b == "scaleout":
        print(f"ok|rank {r}: bound_by 'scaleout'")
    else:
        print(f"FAIL|rank {r}: bound_by {b!r}, expected 'scaleout'")
    try:
        pus = cpulist(w["cpuset"])
        inside = w["last_pu"] in pus
        print(f"{'ok' if inside else 'FAIL'}|rank {r}: last_pu {w['last_pu']} in cpuset {w['cpuset']!r}")
        core = core_of(w["last_pu"])
        print(f"{'ok' if core == w['last_core'] else 'FAIL'}|rank {r}: last_core {w['last_core']}"
              f" is the core of PU {w['last_pu']} (hwloc-calc says {core})")
    except Exception as e:
        print(f"FAIL|rank {r}: cpuset/last_pu/last_core unusable ({e!r})")
cores = [w.get("last_core") for w in workers]
ok = all(isinstance(c, int) and c >= 0 for c in cores) and len(set(cores)) == len(cores)
print(f"{'ok' if ok else 'FAIL'}|last_core values {cores} are distinct and >= 0")
sets = [w.get("cpuset") for w in workers]
ok = len(set(map(str, sets))) == len(sets)
print(f"{'ok' if ok else 'FAIL'}|cpusets {sets} are distinct")
EOF
  )
}

cores=$(hwloc-calc -N core "$(hwloc-bind --get)" 2>/dev/null || echo 0)
echo "distinct cores: $cores cores in this process's cpuset ($(hwloc-bind --get 2>/dev/null))"
if ((cores < 1)); then
  fail "hwloc-calc/hwloc-bind (package hwloc) could not count the cores"
  finish
fi

# Options come before job parameters, the order `scaleout run JOB [options] [job parameters]` shows.
params=(--samples 5e7 --tasks 200)

if ((cores >= 2)); then
  run mpirun3 60 mpirun -n 3 "$SCALEOUT" run pi --json "$tmp/mpirun3.json" "${params[@]}"
  expect "mpirun3: exit status" "$rc" 0
  expect "mpirun3: config.bind" "$(json "$tmp/mpirun3.json" 'd["config"]["bind"]')" core
  expect "mpirun3: worker entries" "$(json "$tmp/mpirun3.json" 'len(d["workers"])')" 2
  check_binding mpirun3
else
  echo "  skip  mpirun -n 3 needs 2 cores for its 2 workers; this machine offers $cores"
fi

run direct 60 "$SCALEOUT" run pi --json "$tmp/direct.json" "${params[@]}"
expect "direct: exit status" "$rc" 0
expect "direct: config.bind" "$(json "$tmp/direct.json" 'd["config"]["bind"]')" core
expect "direct: workers (one per core)" "$(json "$tmp/direct.json" 'len(d["workers"])')" "$cores"
check_binding direct

# --cpuset and --core-count narrow the region the workers are planned in; a direct run's default
# worker count follows them (one per core of what is left), rather than putting every core's
# worth of workers on the few cores they leave.
if ((cores >= 2)); then
  last=$(hwloc-calc --pi "$(hwloc-bind --get)" -I pu | tr ',' '\n' | tail -1)
  run narrowed 60 "$SCALEOUT" run pi --cpuset "$last" --json "$tmp/narrowed.json" "${params[@]}"
  expect "--cpuset $last: exit status" "$rc" 0
  expect "--cpuset $last: workers (one per core of the cpuset)" \
    "$(json "$tmp/narrowed.json" 'len(d["workers"])')" 1
  expect "--cpuset $last: the worker's cpuset" "$(json "$tmp/narrowed.json" 'd["workers"][0]["cpuset"]')" "$last"
  run counted 60 "$SCALEOUT" run pi --core-count 1 --json "$tmp/counted.json" "${params[@]}"
  expect "--core-count 1: workers" "$(json "$tmp/counted.json" 'len(d["workers"])')" 1
  run explicit 60 "$SCALEOUT" run pi --core-count 1 -n 2 --json "$tmp/explicit.json" "${params[@]}"
  expect "--core-count 1 -n 2: -n still wins" "$(json "$tmp/explicit.json" 'len(d["workers"])')" 2
else
  echo "  skip  --cpuset narrowing needs 2 cores; this machine offers $cores"
fi

finish

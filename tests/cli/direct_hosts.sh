#!/usr/bin/env bash
# A direct run over several hosts (--hostfile, --hosts) or a Slurm allocation: what the parent
# gives mpirun, checked with a stand-in mpirun (SCALEOUT_MPIRUN) that records its arguments and
# environment and exits with $STANDIN_RC; and the bad input refused before mpirun starts.
#
# Usage: direct_hosts.sh      (ctest runs it as cli.direct_hosts)
# Expects:
#   - --hosts a,THIS:2,b:3: mpirun -np 6 (5 workers: the slots less the master's) --host
#     THIS:2,a:1,b:3 (this machine first, so rank 0 runs here), --bind-to none, -x of the direct
#     run's variable, SCALEOUT_JOB_PATH and LD_LIBRARY_PATH; the ranks' command line without
#     --hosts; the ::: words on it (ranks elsewhere cannot read this machine's memory file)
#   - --hostfile without this machine (a login node): no direct-run variable, the exit status is
#     mpirun's (3); a line without slots= counts this machine's cores
#   - -n above the slots is refused; with --oversubscribe mpirun gets --oversubscribe
#   - in a Slurm batch script of 2 nodes x 2 tasks: -np 4, no --host (mpirun reads the
#     allocation), -x forwarding; inside a step (SLURM_STEP_ID) or on one node: this machine only
#   - bad input, each exit 2 with one error line and no mpirun: a missing hostfile, slots=0, an
#     unknown word, an empty hostfile, --hosts "", "a,,b", "a:x", one slot only, both options, an
#     unreadable SLURM_TASKS_PER_NODE; --hosts under a launcher
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

standin=$tmp/mpirun-standin
cat >"$standin" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$tmp/args"
env >"$tmp/env"
exit \${STANDIN_RC:-0}
EOF
chmod +x "$standin"
export SCALEOUT_MPIRUN=$standin
# No Slurm or launcher of the caller's may leak into the runs.
for v in $(env | sed -n 's/^\(SLURM_[A-Z_]*\)=.*/\1/p; s/^\(OMPI_COMM_WORLD_[A-Z_]*\)=.*/\1/p'); do
  unset "$v"
done
unset PMIX_RANK PMI_RANK PMI_SIZE
here=$(hostname)
cores=$("$SCALEOUT" topo 2>/dev/null | sed -n 's/.* \([0-9][0-9]*\) cores.*/\1/p' | head -1)
[[ -n $cores ]] || cores=$(nproc)

# launched TAG CMD...: runs CMD, which must start the stand-in; $args is its command line in one
# line, $envs its environment.
launched() {
  local tag=$1
  shift
  rm -f "$tmp/args" "$tmp/env"
  run "$tag" 30 "$@"
  args=$(tr '\n' ' ' <"$tmp/args" 2>/dev/null || echo "<missing>")
  envs=$(cat "$tmp/env" 2>/dev/null || echo "<missing>")
}
has() { # has TAG WHAT TEXT: TEXT is in $args
  if [[ " $args" == *" $3"* ]]; then pass "$1: $2"; else fail "$1: $2: no '$3' in: $args"; fi
}
hasnt() {
  if [[ " $args" != *" $3"* ]]; then pass "$1: $2"; else fail "$1: $2: '$3' in: $args"; fi
}

echo "- --hosts with this machine among them"
launched hosts env SCALEOUT_JOB_PATH=/opt/jobs LD_LIBRARY_PATH=/opt/lib \
  "$SCALEOUT" run --hosts "a,$here:2,b:3" --command 'echo {}' ::: x y
has hosts "5 workers and the master" "-np 6 "
has hosts "this machine first" "--host $here:2,a:1,b:3 "
has hosts "no binding by Open MPI" "--bind-to none "
has hosts "the direct run's variable forwarded" "-x SCALEOUT_DIRECT_RUN "
has hosts "SCALEOUT_JOB_PATH forwarded" "-x SCALEOUT_JOB_PATH "
has hosts "LD_LIBRARY_PATH forwarded" "-x LD_LIBRARY_PATH "
hasnt hosts "the ranks do not get --hosts" "--hosts"
has hosts "the ::: words on the command line" "::: x y "
grep -q '^SCALEOUT_DIRECT_RUN=scaleout-run\.' <<<"$envs" && pass "hosts: mpirun has the variable" ||
  fail "hosts: SCALEOUT_DIRECT_RUN not in mpirun's environment"
if grep -q '^SCALEOUT_ARGS_FILE=' <<<"$envs"; then fail "hosts: a memory file for the words"; else
  pass "hosts: no memory file for the words"; fi
launched hostseq "$SCALEOUT" run pi --hosts=a:2,b:2 -q
hasnt hostseq "the ranks do not get --hosts=" "--hosts"
has hostseq "-q stays" "run pi -q "

echo "- --hostfile without this machine (a login node)"
printf '# two nodes\nn1 slots=2\n\nn2 max_slots=3  # comment\nn3\n' >"$tmp/hostfile"
launched login env STANDIN_RC=3 "$SCALEOUT" run primes --hostfile "$tmp/hostfile" --to 1e6
expect "login: exit status is mpirun's" "$rc" 3
has login "slots, max_slots, and this machine's cores without either" \
  "--host n1:2,n2:3,n3:$cores "
has login "workers: the slots less one" "-np $((5 + cores)) "
hasnt login "no direct-run variable forwarded" "-x SCALEOUT_DIRECT_RUN"
hasnt login "the ranks do not get --hostfile" "--hostfile"
if grep -q '^SCALEOUT_DIRECT_RUN=' <<<"$envs"; then fail "login: mpirun has the direct-run variable"
else pass "login: mpirun has no direct-run variable (ranks run as under the user's mpirun)"; fi
launched login0 "$SCALEOUT" run primes --hostfile "$tmp/hostfile" --to 1e6 -q
expect "login, mpirun exits 0: exit status" "$rc" 0

echo "- worker counts against the slots"
launched over "$SCALEOUT" run pi --hosts a:2,b:2 -n 5 --oversubscribe -q
has over "--oversubscribe passed on" "--oversubscribe "
has over "-n 5: 6 ranks" "-np 6 "
launched fits "$SCALEOUT" run pi --hosts a:2,b:2 -n 2 -q
hasnt fits "no --oversubscribe when the ranks fit" "--oversubscribe"

echo "- a Slurm allocation"
slurm=(env SLURM_JOB_ID=42 SLURM_JOB_NUM_NODES=2 SLURM_TASKS_PER_NODE='2(x2)' SLURMD_NODENAME=n1)
launched slurm "${slurm[@]}" SCALEOUT_JOB_PATH=/opt/jobs "$SCALEOUT" run pi -q
has slurm "the allocation's 4 tasks: 3 workers and the master" "-np 4 "
hasnt slurm "no --host: mpirun reads the allocation" "--host"
has slurm "the direct run's variable forwarded" "-x SCALEOUT_DIRECT_RUN "
has slurm "SCALEOUT_JOB_PATH forwarded" "-x SCALEOUT_JOB_PATH "
launched slurmmix env SLURM_JOB_ID=42 SLURM_JOB_NUM_NODES=3 SLURM_TASKS_PER_NODE='3,2(x2)' \
  SLURMD_NODENAME=n1 "$SCALEOUT" run pi -q
has slurmmix "3,2(x2) is 7 tasks" "-np 7 "
launched salloc env SLURM_JOB_ID=42 SLURM_JOB_NUM_NODES=2 SLURM_TASKS_PER_NODE='2(x2)' \
  STANDIN_RC=2 "$SCALEOUT" run pi -q
expect "salloc's shell (no SLURMD_NODENAME): mpirun's exit status" "$rc" 2
hasnt salloc "no direct-run variable" "-x SCALEOUT_DIRECT_RUN"
launched step "${slurm[@]}" SLURM_STEP_ID=0 "$SCALEOUT" run pi -q -n 1
has step "inside a step: this machine only" "--host localhost:2 "
launched onenode env SLURM_JOB_ID=42 SLURM_JOB_NUM_NODES=1 SLURM_TASKS_PER_NODE=4 \
  "$SCALEOUT" run pi -q -n 1
has onenode "one node: this machine only" "--host localhost:2 "
hasnt onenode "one node: no forwarding" "-x "

echo "- bad input, refused before mpirun"
# refused TAG PATTERN CMD...: exit 2, one error line matching PATTERN, the stand-in not run.
refused() {
  local tag=$1 pattern=$2
  shift 2
  rm -f "$tmp/args"
  run "$tag" 30 "$@"
  expect "$tag: exit status" "$rc" 2
  if [[ $(wc -l <"$tmp/$tag.err") == 1 ]] && grep -Eq "^scaleout: error: .*($pattern)" "$tmp/$tag.err"; then
    pass "$tag: $(cat "$tmp/$tag.err")"
  else
    fail "$tag: stderr was: $(head -c 300 "$tmp/$tag.err")"
  fi
  [[ ! -e $tmp/args ]] && pass "$tag: mpirun not started" || fail "$tag: mpirun was started"
}
refused missing "cannot read the hostfile '$tmp/nothing-here': No such file" \
  "$SCALEOUT" run pi --hostfile "$tmp/nothing-here"
printf 'n1 slots=0\n' >"$tmp/zero"
refused zero "line 1: slots must be a whole number from 1" "$SCALEOUT" run pi --hostfile "$tmp/zero"
printf 'n1 slots=2\nn2 cpus=2\n' >"$tmp/word"
refused word "line 2: 'cpus=2' is not understood" "$SCALEOUT" run pi --hostfile "$tmp/word"
printf '# nothing\n\n' >"$tmp/empty"
refused empty "names no host" "$SCALEOUT" run pi --hostfile "$tmp/empty"
refused nohosts "--hosts needs a list" "$SCALEOUT" run pi --hosts ""
refused emptyname "empty host name" "$SCALEOUT" run pi --hosts a,,b
refused badslots "slots of 'a' must be a whole number" "$SCALEOUT" run pi --hosts a:x,b
refused badname "'a b' is not a host name" "$SCALEOUT" run pi --hosts "a b"
refused oneslot "hold one rank, the master's" "$SCALEOUT" run pi --hosts a
refused toomany "need 6 ranks, more than the 4" "$SCALEOUT" run pi --hosts a:2,b:2 -n 5
refused both "--hostfile or --hosts once" "$SCALEOUT" run pi --hosts a:2 --hostfile "$tmp/hostfile"
refused slurmbad "SLURM_TASKS_PER_NODE='2\(x' " env SLURM_JOB_ID=42 SLURM_JOB_NUM_NODES=2 \
  SLURM_TASKS_PER_NODE='2(x' SLURMD_NODENAME=n1 "$SCALEOUT" run pi
# Plain srun of several tasks without --mpi=pmix (no PMI variables): every task would make a
# whole run of its own. The first task says so, the others refuse silently. A task's parent is
# slurmstepd: here a shell started under that name (it waits, so it stays the parent). A process
# further down with the same variables (a farm's command running scaleout) is not refused.
ln -s "$(command -v bash)" "$tmp/slurmstepd"
stepd=("$tmp/slurmstepd" -c '"$@"; exit $?' stepd)
srunvars=(env SLURM_JOB_ID=42 SLURM_STEP_ID=0 SLURM_STEP_NUM_TASKS=3)
refused plainsrun "srun started 3 separate copies of scaleout" \
  "${stepd[@]}" "${srunvars[@]}" SLURM_PROCID=0 "$SCALEOUT" run pi
run plainsrun1 30 "${stepd[@]}" "${srunvars[@]}" SLURM_PROCID=1 "$SCALEOUT" run pi
expect "plain srun, task 1: exit status" "$rc" 2
[[ ! -s $tmp/plainsrun1.err ]] && pass "plain srun, task 1: nothing on stderr" ||
  fail "plain srun, task 1 printed: $(cat "$tmp/plainsrun1.err")"
launched nested "${srunvars[@]}" SLURM_PROCID=0 "$SCALEOUT" run pi -q -n 1
has nested "a step's variables, parent not slurmstepd: a direct run here" "--host localhost:2 "
run launcher 30 env OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 "$SCALEOUT" run pi --hosts a:2
expect "--hosts under a launcher: exit status" "$rc" 2
grep -q "under mpirun or srun, give the hosts to the launcher" "$tmp/launcher.err" &&
  pass "--hosts under a launcher: says so" || fail "under a launcher: $(cat "$tmp/launcher.err")"

finish

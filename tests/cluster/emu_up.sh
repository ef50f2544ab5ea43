#!/usr/bin/env bash
# CTest fixture set-up cluster.emu_up (FIXTURES_SETUP emu): brings up the emulated cluster soemu
# (3 nodes, 2 slots each) that the tests with FIXTURES_REQUIRED emu run on, and checks what every
# node must have: its own host name, the cluster's hosts file, IPv6 off, no namespace file, an address in the
# cluster's subnet and none outside the namespaces, its own local directory (TMPDIR in it), the
# shared file system, a path to every other node by name; the agent runs a command on another
# node with a fresh environment; exec passes on exit statuses; a second cluster beside it gets a
# subnet of its own; up refuses a name that is up and bad arguments, one line each.
#
# Usage: emu_up.sh           (ctest runs it as cluster.emu_up; cluster.emu_down tears it down)
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=emu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/emu_env.sh"

# A cluster left by an earlier run that was killed before its teardown goes first.
if [[ -e $SO_EMU_DIR || -e /run/netns/$cluster-n1 ]]; then
  echo "note: cluster $cluster is up from an earlier run; tearing it down first"
  "$emu/down" --name "$cluster" || true
fi

run up 60 "$emu/up" --name "$cluster" --nodes 3 --slots 2
sed 's/^/  /' "$tmp/up.out"
expect "up's exit status" "$rc" 0
if ((rc != 0)); then finish; exit 1; fi

# The state directory.
expect "hostfile" "$(paste -sd, "$SO_EMU_DIR/hostfile")" \
  "$cluster-n1 slots=2,$cluster-n2 slots=2,$cluster-n3 slots=2"
subnet=$(cat "$SO_EMU_DIR/subnet")
net=${subnet%.0/24}
expect "hosts file" "$(grep -v localhost "$SO_EMU_DIR/hosts" | paste -sd, | tr '\t' ' ')" \
  "$net.1 $cluster-n1,$net.2 $cluster-n2,$net.3 $cluster-n3"
for v in SO_EMU_DIR=$SO_EMU_DIR OMPI_MCA_plm_rsh_agent=$emu/agent \
  OMPI_MCA_btl_tcp_if_include=$subnet OMPI_MCA_oob_tcp_if_include=$subnet \
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
  TMPDIR=$SO_EMU_DIR/local/tmp; do
  if grep -qx "export $v" "$SO_EMU_DIR/env"; then pass "env exports $v"; else fail "env lacks 'export $v'"; fi
done

# Each node as seen from inside it.
echo shared >"$tmp/shared"
for i in 1 2 3; do
  node=$cluster-n$i
  run "n$i" 30 "$emu/exec" "$node" sh -c '
    hostname
    cat /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/eth0/disable_ipv6
    ip -6 -o addr | wc -l
    ip -4 -o addr show dev eth0 | awk "{print \$4}"
    cmp -s /etc/hosts "$SO_EMU_DIR/hosts" && echo hosts-bound || echo hosts-differ
    echo "$TMPDIR"
    touch "$TMPDIR/probe" && echo tmp-writable
    echo "$1" >"$SO_EMU_DIR/local/owner"
    cat "$2"
    pwd
    grep -c " - nsfs " /proc/self/mountinfo || true' sh "$node" "$tmp/shared"
  mapfile -t f <"$tmp/n$i.out"
  expect "$node: exec's exit status" "$rc" 0
  expect "$node: host name" "${f[0]:-<missing>}" "$node"
  expect "$node: IPv6 off (all, eth0)" "${f[1]:-<missing>} ${f[2]:-<missing>}" "1 1"
  expect "$node: IPv6 addresses" "${f[3]:-<missing>}" 0
  expect "$node: address" "${f[4]:-<missing>}" "$net.$i/24"
  expect "$node: /etc/hosts" "${f[5]:-<missing>}" hosts-bound
  expect "$node: TMPDIR" "${f[6]:-<missing>}" "$SO_EMU_DIR/local/tmp"
  expect "$node: TMPDIR writable" "${f[7]:-<missing>}" tmp-writable
  expect "$node: a file the machine wrote in $tmp" "${f[8]:-<missing>}" shared
  expect "$node: working directory kept" "${f[9]:-<missing>}" "$PWD"
  # A namespace file mounted inside a node would keep that namespace (another cluster's) alive.
  expect "$node: namespace files mounted inside" "${f[10]:-<missing>}" 0
done
for i in 1 2 3; do
  run "own$i" 30 "$emu/exec" "$cluster-n$i" cat "$SO_EMU_DIR/local/owner"
  expect "$cluster-n$i: its local directory holds its own file" "$(cat "$tmp/own$i.out")" "$cluster-n$i"
done
if [[ -e $SO_EMU_DIR/local/owner ]]; then
  fail "the nodes' local directories show on the machine at $SO_EMU_DIR/local"
else
  pass "the nodes' local directories are not the machine's $SO_EMU_DIR/local"
fi
if ip -4 -o addr | grep -q " $net\."; then
  fail "an address of $subnet exists outside the namespaces: $(ip -4 -o addr | grep " $net\.")"
else
  pass "no address of $subnet outside the namespaces"
fi

# $cluster-n1 reaches $cluster-n3 by name: a one-shot TCP server on n3 sends its host name.
server='import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5555)); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.sendall(socket.gethostname().encode()); c.close()'
client='import socket, sys, time
for _ in range(100):
    try:
        c = socket.create_connection((sys.argv[1], 5555), timeout=5); break
    except OSError:
        time.sleep(0.1)
print(c.recv(100).decode())'
timeout 30 "$emu/exec" "$cluster-n3" python3 -c "$server" >/dev/null 2>&1 &
run tcp 30 "$emu/exec" "$cluster-n1" python3 -c "$client" "$cluster-n3"
wait
expect "$cluster-n1 connects to $cluster-n3 by name, which answers" "$(cat "$tmp/tcp.out")" "$cluster-n3"

# The agent, called on one node with ssh options, runs the command on another node with a fresh
# environment (as ssh would: what the caller exported stays behind) and the cluster's env file.
run agent 30 env SO_TEST_FOO=bar "$emu/exec" "$cluster-n1" "$emu/agent" -x -o BatchMode=yes "$cluster-n2" \
  'hostname; echo "${SO_TEST_FOO:-unset}" "$OMPI_MCA_btl_tcp_if_include" "$(pwd)"'
expect "agent on $cluster-n1 to $cluster-n2: exit status" "$rc" 0
expect "agent: host name, caller's variable, env file, directory" "$(paste -sd' ' "$tmp/agent.out")" \
  "$cluster-n2 unset $subnet $HOME"
run agentrc 30 "$emu/agent" "$cluster-n3" 'exit 3'
expect "agent passes on the command's exit status" "$rc" 3

# exec passes on the command's exit status, and checks --name against the node's cluster.
run execrc 30 "$emu/exec" "$cluster-n2" sh -c 'exit 7'
expect "exec passes on the command's exit status" "$rc" 7
run execname 30 "$emu/exec" --name "${cluster}x" "$cluster-n2" true
expect "exec --name of another cluster: exit status" "$rc" 1
expect "exec --name of another cluster: message" "$(cat "$tmp/execname.err")" \
  "exec: error: node '$cluster-n2' is not in cluster '${cluster}x'"

# A second cluster beside the first gets a subnet of its own, and both work.
second=${cluster}two
[[ ! -e /run/scaleout-emu/$second ]] || "$emu/down" --name "$second" >/dev/null 2>&1 || true
run second 60 "$emu/up" --name "$second" --nodes 1
expect "up --name $second beside $cluster: exit status" "$rc" 0
if ((rc == 0)); then
  subnet2=$(cat "/run/scaleout-emu/$second/subnet")
  [[ $subnet2 != "$subnet" ]] && pass "$second has its own subnet: $subnet2 (not $subnet)" ||
    fail "$second and $cluster share the subnet $subnet"
  run second_host 30 "$emu/exec" "$second-n1" hostname
  expect "$second-n1's host name" "$(cat "$tmp/second_host.out")" "$second-n1"
  run second_down 60 "$emu/down" --name "$second"
  expect "down --name $second: exit status" "$rc" 0
fi

# up refuses a cluster that is up, and bad arguments, with one line and exit 1.
refused() { # WHAT WORD ARGS...: up ARGS fails with one stderr line containing WORD
  local what=$1 word=$2
  shift 2
  run refuse 30 "$emu/up" "$@"
  if ((rc == 1)) && [[ $(wc -l <"$tmp/refuse.err") == 1 ]] && grep -q -- "$word" "$tmp/refuse.err"; then
    pass "up refuses $what: $(cat "$tmp/refuse.err")"
  else
    fail "up $*: status $rc, stderr '$(cat "$tmp/refuse.err")', expected 1 and one line with '$word'"
  fi
}
refused "a cluster that is up" "already up" --name "$cluster"
refused "--nodes 0" "--nodes" --name "${cluster}bad" --nodes 0
refused "a bad name" "bad cluster name" --name Soemu
refused "a bad rate" "--rate" --name "${cluster}bad" --rate fast
refused "an unknown option" "unknown argument" --name "${cluster}bad" --colour red
[[ ! -e /run/scaleout-emu/${cluster}bad ]] && pass "nothing made for the refused cluster" ||
  fail "/run/scaleout-emu/${cluster}bad exists after refused ups"
run again 30 "$emu/exec" "$cluster-n2" hostname
expect "$cluster-n2 still answers after the refusal" "$(cat "$tmp/again.out")" "$cluster-n2"

finish

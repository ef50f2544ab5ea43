#!/usr/bin/env bash
# Link shaping on an emulated cluster of its own (soemurate, 2 nodes): with --rate 8mbit, 1 MB
# sent from one node to the other takes about a second each way (tc tbf on each node's sending
# side), where an unshaped veth link takes milliseconds. --delay: where the kernel has netem, a
# TCP connection's set-up takes at least the two one-way delays; where it has not, up refuses
# with one line naming netem and leaves nothing behind.
#
# Usage: emu_shaping.sh      (ctest runs it as cluster.emu_shaping)
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=emu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/emu_env.sh"

name=${cluster}rate
dname=${cluster}delay
for n in $name $dname; do
  if [[ -e /run/scaleout-emu/$n || -e /run/netns/$n-n1 ]]; then "$emu/down" --name "$n" || true; fi
done
trap '"$emu/down" --name "$name" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

# send.py MODE PEER: a one-shot TCP transfer of 1 MB; the receiver prints the seconds from the
# first to the last byte (the sender's buffers fill at once, so only the receiver can tell).
cat >"$tmp/send.py" <<'PY'
import socket, sys, time
size = 1 << 20
if sys.argv[1] == "recv":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 5556)); s.listen(1); s.settimeout(30)
    c, _ = s.accept(); got = 0; first = None
    while got < size:
        b = c.recv(65536)
        if not b: break
        first = first or time.monotonic(); got += len(b)
    print(got, "%.3f" % (time.monotonic() - first))
else:
    for _ in range(100):
        try:
            c = socket.create_connection((sys.argv[2], 5556), timeout=5); break
        except OSError:
            time.sleep(0.1)
    c.sendall(b"x" * size); c.close()
PY
# transfer FROM TO: 1 MB from node FROM to node TO; prints "BYTES SECONDS".
transfer() {
  timeout 60 "$emu/exec" "$2" python3 "$tmp/send.py" recv >"$tmp/recv.out" 2>&1 &
  timeout 60 "$emu/exec" "$1" python3 "$tmp/send.py" send "$2" >/dev/null 2>&1 || true
  wait || true
  cat "$tmp/recv.out"
}
# between LOW HIGH VALUE: LOW <= VALUE <= HIGH
between() { awk -v l="$1" -v h="$2" -v v="$3" 'BEGIN { exit !(v != "" && v >= l && v <= h) }'; }

run up 60 "$emu/up" --name "$name" --nodes 2 --rate 8mbit
expect "up --rate 8mbit: exit status" "$rc" 0
if ((rc == 0)); then
  for pair in "$name-n1 $name-n2" "$name-n2 $name-n1"; do
    read -r bytes secs < <(transfer "${pair% *}" "${pair#* }")
    expect "${pair/ / to }: bytes received" "${bytes:-<missing>}" 1048576
    # 8 Mbit/s is 1 MB/s; the bucket (10 ms) lets little through early.
    if between 0.8 5 "${secs:-}"; then
      pass "${pair/ / to }: 1 MB in $secs s at 8mbit (between 0.8 and 5)"
    else
      fail "${pair/ / to }: 1 MB in '${secs:-}' s at 8mbit, expected between 0.8 and 5"
    fi
  done
  run down 60 "$emu/down" --name "$name"
  expect "down: exit status" "$rc" 0
fi

run delay 60 "$emu/up" --name "$dname" --nodes 2 --delay 20ms
if ((rc == 1)) && grep -q netem "$tmp/delay.err"; then
  pass "up --delay refused where the kernel has no netem: $(grep netem "$tmp/delay.err")"
  expect "lines on stderr" "$(grep -vc 'cleaning up' "$tmp/delay.err")" 1
  [[ ! -e /run/scaleout-emu/$dname && ! -e /run/netns/$dname-n1 ]] &&
    pass "nothing left of the refused cluster" || fail "the refused cluster left state behind"
elif ((rc == 0)); then
  # netem is there: a refused TCP connection takes a round trip (SYN, then RST): two delays.
  run connect 60 "$emu/exec" "$dname-n2" python3 -c '
import socket, sys, time
t = time.monotonic()
try: socket.create_connection((sys.argv[1], 9), timeout=5)
except OSError: pass
print("%.3f" % (time.monotonic() - t))' "$dname-n1"
  secs=$(cat "$tmp/connect.out")
  between 0.038 2 "$secs" && pass "a refused connection to another node took $secs s (>= 2 x 20 ms)" ||
    fail "a refused connection took '$secs' s with --delay 20ms, expected at least 0.038"
  "$emu/down" --name "$dname" >/dev/null || fail "down $dname"
else
  fail "up --delay 20ms: status $rc, stderr '$(cat "$tmp/delay.err")'"
fi

finish

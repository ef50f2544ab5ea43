# shellcheck shell=bash disable=SC2034
# For the tests that use the emulated cluster (cluster/emu): sets emu (the directory of its
# scripts) and, for the CTest fixture's cluster, cluster (its name: soemu, or SO_EMU_NAME
# so that several people can run the fixture on one machine at once), nodes and SO_EMU_DIR.
# Source it after tests/lib.sh. Where this machine cannot make namespaces (not root, no ip or unshare, or
# the kernel refuses), it prints why and exits 77, which CTest counts as skipped.
: "${SO_SOURCE_DIR:?SO_SOURCE_DIR must name the source tree (tests/CMakeLists.txt sets it)}"
emu=$SO_SOURCE_DIR/cluster/emu
cluster=${SO_EMU_NAME:-soemu}
nodes=("$cluster-n1" "$cluster-n2" "$cluster-n3")
SO_EMU_DIR=/run/scaleout-emu/$cluster

emu_skip() { echo "skipped: $*"; exit 77; }
((EUID == 0)) || emu_skip "the emulated cluster needs root (namespaces, mounts)"
for tool in ip unshare nsenter tc; do
  command -v "$tool" >/dev/null 2>&1 || emu_skip "'$tool' is not installed"
done
unshare --net --uts --mount true 2>/dev/null ||
  emu_skip "this machine does not let root make namespaces (unshare --net --uts --mount fails)"

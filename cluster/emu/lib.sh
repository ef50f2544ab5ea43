# What cluster/emu/{up,down,exec,agent} share: names and paths of a cluster's state, argument
# checks, the command prefix that enters a node, and finding the processes inside a cluster.
# Source it after `set -euo pipefail` with $prog set to the calling script's name (for messages).
#
# A node NAME-nI is three namespaces: a network namespace /run/netns/NAME-nI (made by `ip netns
# add`), and a UTS and a mount namespace kept alive by files under $SO_EMU_DIR/ns (bind mounts of
# the namespaces made by `unshare --uts=FILE --mount=FILE`), so no process has to hold them.
# The bridge lives in a fourth network namespace, NAME-sw.

emu_root=/run/scaleout-emu
emu_bin=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "$prog" "$*"; }

# emu_need_root: the namespaces and mounts need root (checked first, so the message is clear).
emu_need_root() {
  ((EUID == 0)) || die "must run as root (it makes network namespaces and mounts)"
  local tool
  for tool in ip unshare nsenter mount umount; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed (packages iproute2, util-linux)"
  done
}

# emu_check_name NAME: cluster names become host names, namespace names and file names.
emu_check_name() {
  [[ $1 =~ ^[a-z][a-z0-9]{0,19}$ ]] ||
    die "bad cluster name '$1': a lowercase letter, then up to 19 lowercase letters or digits"
}

# emu_set NAME: sets the cluster's paths (SO_EMU_DIR and the files in it).
emu_set() {
  emu_name=$1
  SO_EMU_DIR=$emu_root/$1
  emu_ns=$SO_EMU_DIR/ns
  emu_sw=$1-sw
}

# emu_lock: one up at a time chooses a subnet and claims a name. The lock is on fd $lock, which
# up closes as soon as it has written both down (nothing that outlives up may inherit it).
emu_lock() {
  mkdir -p "$emu_root"
  exec {lock}>"$emu_root/.uplock"
  flock -w 60 "$lock" ||
    die "another cluster/emu/up has held $emu_root/.uplock for 60 s; try again later"
}

# emu_nodes: the node names of the cluster whose state is set, one a line.
emu_nodes() { cat "$SO_EMU_DIR/nodes"; }

# emu_cluster_of NODE: sets the cluster (emu_set) a node name belongs to, or dies saying why.
emu_cluster_of() {
  local node=$1
  [[ $node =~ ^([a-z][a-z0-9]{0,19})-n[0-9]+$ ]] ||
    die "'$node' is not an emulated node name (NAME-nI, e.g. emu-n1)"
  emu_set "${BASH_REMATCH[1]}"
  [[ -f $SO_EMU_DIR/nodes ]] || die "cluster '$emu_name' of node '$node' is not up (no $SO_EMU_DIR)"
  grep -qx -- "$node" "$SO_EMU_DIR/nodes" ||
    die "cluster '$emu_name' has no node '$node' (it has: $(paste -sd' ' "$SO_EMU_DIR/nodes"))"
}

# emu_starttime PID: the process's start time in clock ticks (field 22 of /proc/PID/stat), which
# together with the pid names one process for good: a pid alone can be reused. Fails for a
# process that is gone, and for a zombie (it has ended; only its parent has not reaped it yet).
emu_starttime() {
  local stat f
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  read -r -a f <<<"${stat##*) }"
  [[ ${f[0]} != Z ]] || return 1
  echo "${f[19]}"
}

# emu_pid_alive PID START: true when PID is still the process that started at START.
emu_pid_alive() { [[ $(emu_starttime "$1" 2>/dev/null) == "$2" ]]; }

# emu_enter_prefix NODE: sets the array `enter` to the command prefix that runs a command in
# NODE's namespaces with the current directory kept. A mount namespace's file cannot be seen from
# inside another mount namespace (the kernel leaves such bind mounts out when it copies a mount
# tree), so from inside a node (mpirun on NAME-n1 starting its daemon on NAME-n2) the prefix
# first steps into the machine's mount namespace through the cluster's anchor process.
emu_enter_prefix() {
  local node=$1 anchor start host_mnt here
  enter=(nsenter "--net=/run/netns/$node" "--uts=$emu_ns/$node.uts" "--mount=$emu_ns/$node.mnt"
         "--wd=$PWD" --)
  host_mnt=$(cat "$SO_EMU_DIR/host_mnt")
  here=$(stat -L -c %i /proc/self/ns/mnt)
  [[ $here != "$host_mnt" ]] || return 0
  read -r anchor start _ < <(grep ' anchor$' "$SO_EMU_DIR/pids")
  [[ -n ${anchor:-} ]] && emu_pid_alive "$anchor" "$start" &&
    [[ $(stat -L -c %i "/proc/$anchor/ns/mnt" 2>/dev/null) == "$host_mnt" ]] ||
    die "the anchor process of cluster '$emu_name' is gone, so its nodes cannot be reached from" \
        "inside a node; run cluster/emu/down --name $emu_name and bring it up again"
  enter=(nsenter "--mount=/proc/$anchor/ns/mnt" -- "${enter[@]}")
}

# emu_ns_inodes: the inode numbers of every namespace of the cluster whose state is set (those
# still there), one a line: what a process inside the cluster has in /proc/PID/ns.
emu_ns_inodes() {
  local f
  for f in /run/netns/"$emu_name"-n* /run/netns/"$emu_sw" "$emu_ns"/*.uts "$emu_ns"/*.mnt; do
    [[ $(stat -f -c %T "$f" 2>/dev/null) == nsfs ]] && stat -L -c %i "$f"
  done
  return 0
}

# emu_procs_in INODES_FILE: "PID COMM" of every process that has one of the namespaces whose
# inodes are listed in INODES_FILE (one a line), except this shell.
emu_procs_in() {
  # Processes come and go while find looks: it then complains and fails, which is no error here.
  { find /proc/[0-9]*/ns/net /proc/[0-9]*/ns/uts /proc/[0-9]*/ns/mnt -maxdepth 0 \
    -printf '%p %l\n' 2>/dev/null || true; } |
    awk -v self=$$ 'NR == FNR { want[$1] = 1; next }
      { split($1, p, "/"); ino = $2; gsub(/[^0-9]/, "", ino)
        if ((ino in want) && p[3] != self && !(p[3] in seen)) { seen[p[3]] = 1; print p[3] } }' \
      "$1" - |
    while read -r pid; do
      local comm='?'
      read -r comm 2>/dev/null <"/proc/$pid/comm" || true
      printf '%s %s\n' "$pid" "$comm"
    done
}

# emu_mounts_under DIR: mount points at or under DIR in this mount namespace, deepest first.
emu_mounts_under() {
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print length($5), $5 }' /proc/self/mountinfo |
    sort -rn | cut -d' ' -f2-
}

#!/usr/bin/env bash
# cluster/slurm-local/up installs what it needs (slurm-wlm, munge) through the project's install
# function (scripts/lib/packages.sh, shared with scripts/setup), with stand-in dpkg-query and
# apt-get first on PATH: nothing is installed for real, and no cluster is made.
#
# Usage: slurm_install.sh          (ctest runs it as cluster.slurm_install; needs no root)
# Expects: install_missing asks apt-get for nothing when every package is installed, and for
# exactly the missing ones (after an update) otherwise; up, with slurm-wlm and munge missing and
# apt-get failing, asks for both and stops with one error line before it makes anything; as
# another user than root, up refuses with one line before looking at packages.
set -euo pipefail

: "${SO_SOURCE_DIR:?SO_SOURCE_DIR must name the source tree (tests/CMakeLists.txt sets it)}"

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# The stand-ins: dpkg-query says "installed" for every package but those in $MISSING; apt-get
# logs its arguments to $APT_LOG and fails the subcommand named in $APT_FAIL.
mkdir -p "$tmp/bin"
cat >"$tmp/bin/dpkg-query" <<'EOT'
#!/bin/sh
for pkg; do :; done
case " $MISSING " in *" $pkg "*) echo "dpkg-query: no packages found matching $pkg" >&2; exit 1 ;; esac
printf installed
EOT
cat >"$tmp/bin/apt-get" <<'EOT'
#!/bin/sh
echo "$*" >>"$APT_LOG"
for arg; do [ "$arg" = "${APT_FAIL:-none}" ] && exit 100; done
exit 0
EOT
chmod +x "$tmp/bin/dpkg-query" "$tmp/bin/apt-get"
export PATH=$tmp/bin:$PATH APT_LOG=$tmp/apt.log

# $tmp/bin/install_missing PACKAGE...: the function as the scripts call it, with their kind of
# say and die (a script, since lib.sh's run takes a command).
cat >"$tmp/bin/install_missing" <<EOT
#!/usr/bin/env bash
set -euo pipefail
say() { echo "t: \$*"; }
die() { echo "t: error: \$*" >&2; exit 1; }
source "$SO_SOURCE_DIR/scripts/lib/packages.sh"
install_missing "\$@"
EOT
chmod +x "$tmp/bin/install_missing"

: >"$APT_LOG"
MISSING='' run none 30 install_missing slurm-wlm munge build-essential
expect "install_missing, nothing missing: exit status" "$rc" 0
expect "apt-get calls" "$(wc -l <"$APT_LOG")" 0

: >"$APT_LOG"
MISSING=munge run one 30 install_missing slurm-wlm munge build-essential
expect "install_missing, munge missing: exit status" "$rc" 0
expect "apt-get calls" "$(paste -sd'|' "$APT_LOG")" "update -q|install -y -q --no-install-recommends munge"
expect "what it said" "$(cat "$tmp/one.out")" "t: installing missing packages: munge"

up=$SO_SOURCE_DIR/cluster/slurm-local/up
if ((EUID == 0)); then
  name=sdinst$$
  name=${name:0:20}
  : >"$APT_LOG"
  MISSING="slurm-wlm munge" APT_FAIL=install run up 60 "$up" --name "$name"
  expect "up, slurm-wlm and munge missing, apt-get install failing: exit status" "$rc" 1
  expect "apt-get calls by up" "$(paste -sd'|' "$APT_LOG")" \
    "update -q|install -y -q --no-install-recommends slurm-wlm munge"
  expect "what up said" "$(cat "$tmp/up.out")" "slurm-local/up: installing missing packages: slurm-wlm munge"
  expect "up's error" "$(cat "$tmp/up.err")" "slurm-local/up: error: apt-get install failed for: slurm-wlm munge"
  if [[ ! -e /run/scaleout-emu/$name ]]; then
    pass "nothing made in /run/scaleout-emu/$name"
  else
    fail "up made /run/scaleout-emu/$name"
    # An up that went on regardless made a real cluster: not left behind.
    "$SO_SOURCE_DIR/cluster/slurm-local/down" --name "$name" >/dev/null 2>&1 ||
      "$SO_SOURCE_DIR/cluster/emu/down" --name "$name" >/dev/null 2>&1 || true
  fi
  if command -v setpriv >/dev/null 2>&1; then
    : >"$APT_LOG"
    MISSING="slurm-wlm munge" run nobody 60 setpriv --reuid=65534 --regid=65534 --clear-groups \
      bash "$up" --name "$name"
    expect "up as another user: stderr" "$(cat "$tmp/nobody.err")" \
      "slurm-local/up: error: must run as root (it makes network namespaces and starts the Slurm daemons as root)"
    expect "up as another user: exit status" "$rc" 1
    expect "apt-get calls by up as another user" "$(wc -l <"$APT_LOG")" 0
  fi
fi

finish

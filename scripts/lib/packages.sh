#!/usr/bin/env bash
# Installs Debian packages, only those missing: shared by scripts/setup and the cluster scripts
# (cluster/slurm-local/up), so every script installs what it needs the same way.
#
# Source it from a bash script that defines say MESSAGE... (progress) and die MESSAGE... (one
# line on stderr, then exit non-zero), then call install_missing PACKAGE...
#
# Packages are checked with dpkg-query; apt-get update and install run only when something is
# missing, as root directly or through sudo.

install_missing() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    die "dpkg-query not found: this script installs Debian packages. Install the equivalents of" \
        "'$*' yourself and run again with SO_SKIP_INSTALL=1"
  fi

  local missing=() pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$pkg")
  done
  ((${#missing[@]} > 0)) || return 0

  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 ||
      die "missing packages (${missing[*]}) and not root, and sudo is not installed;" \
          "run this script as root or install them: apt-get install ${missing[*]}"
    sudo=(sudo)
  fi

  say "installing missing packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    die "apt-get update failed"
  # No recommends: libopenmpi-dev recommends Fortran coarrays, which pulls in a Fortran compiler.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed for: ${missing[*]}"
}

#!/usr/bin/env bash
# The engine is a shared library with a soname, and the scaleout binary uses it instead of a copy.
#
# Usage: library.sh          (ctest runs it as cli.library; needs SCALEOUT and SO_BUILD_DIR)
# Expects: libscaleout.so.2 (soname) next to libscaleout.a in the build tree; the binary NEEDs
# libscaleout.so.2, resolves it to the build tree's and defines none of the symbols the library
# exports (so a plugin linking -lscaleout shares the one engine); the library exports only so_
# names, the public ones (exactly those include/scaleout declares) under SCALEOUT_2. After
# `cmake --install --prefix P`: the binary's RUNPATH is relative ($ORIGIN), it finds P's library
# and runs; the headers and scaleout.pc are there and pkg-config gives -lscaleout for the shared
# library and the static dependencies for --static.
set -euo pipefail

: "${SCALEOUT:?SCALEOUT must name the scaleout binary (tests/CMakeLists.txt sets it)}"
: "${SO_BUILD_DIR:?SO_BUILD_DIR must name the build tree (tests/CMakeLists.txt sets it)}"
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lib=$SO_BUILD_DIR/src/libscaleout.so
echo "library: $lib"
[[ -f $SO_BUILD_DIR/src/libscaleout.a ]] && pass "static libscaleout.a built" ||
  fail "no static libscaleout.a in $SO_BUILD_DIR/src"
soname=$(readelf -d "$lib" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
expect "soname of libscaleout.so" "${soname:-<missing>}" "libscaleout.so.2"
expect "libscaleout.so links to" "$(readlink "$lib" || echo '<missing>')" "libscaleout.so.2"
expect "libscaleout.so.2 links to" "$(readlink "$lib.2" || echo '<missing>')" "libscaleout.so.2.0.0"

needed=$(readelf -d "$SCALEOUT" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep scaleout || true)
expect "scaleout NEEDs" "${needed:-<missing>}" "libscaleout.so.2"
resolved=$(ldd "$SCALEOUT" | awk '$1 == "libscaleout.so.2" {print $3}')
expect "scaleout loads" "$(readlink -f "${resolved:-/missing}")" "$(readlink -f "$lib.2.0.0")"

# Every symbol the library exports must be absent from the binary's own definitions: one copy
# of an engine object linked in statically would show up here (so_run, so__master_loop, ...).
nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$tmp/exported"
nm --defined-only "$SCALEOUT" | awk '{print $3}' | sort -u >"$tmp/binary"
twice=$(comm -12 "$tmp/exported" "$tmp/binary" | head -5 | tr '\n' ' ')
n=$(wc -l <"$tmp/exported")
if ((n > 20)) && [[ -z $twice ]]; then
  pass "none of the $n exported engine symbols is defined in the binary too"
else
  fail "exported $n symbols; defined in the binary too: ${twice:-none}"
fi
grep -qx so_run "$tmp/exported" && pass "so_run exported" || fail "so_run not exported"
others=$(grep -v '^so_' "$tmp/exported" | grep -v '^SCALEOUT_' | head -5 | tr '\n' ' ' || true)
[[ -z $others ]] && pass "only so_ names exported" || fail "exported beyond so_: $others"
# The public version holds exactly the functions the installed headers declare.
: "${SO_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
nm -D --defined-only --with-symbol-versions "$lib" | awk '$3 ~ /@@SCALEOUT_2$/ {sub(/@.*/, "", $3); print $3}' |
  sort -u >"$tmp/public"
grep -ohE '\bso_[a-z0-9_]+\(' "$SO_SOURCE_DIR"/include/scaleout/*.h | tr -d '(' | sort -u >"$tmp/declared"
extra=$(comm -23 "$tmp/public" "$tmp/declared" | head -5 | tr '\n' ' ')
missing=$(comm -13 "$tmp/public" "$tmp/declared" | head -5 | tr '\n' ' ')
if [[ -z $extra && -z $missing ]] && (($(wc -l <"$tmp/public") > 30)); then
  pass "SCALEOUT_2 holds exactly the $(wc -l <"$tmp/public") functions include/scaleout declares"
else
  fail "SCALEOUT_2 vs the headers: exported but undeclared '${extra}', declared but not exported '${missing}'"
fi
ver=$(nm -D --defined-only --with-symbol-versions "$lib" 2>/dev/null |
  awk '$3 ~ /^so_run@/ {sub(/.*@+/, "", $3); print $3}')
expect "so_run's symbol version" "${ver:-<missing>}" "SCALEOUT_2"

# Installed into a fresh prefix, the binary finds that prefix's library through $ORIGIN.
prefix=$tmp/prefix
if cmake --install "$SO_BUILD_DIR" --prefix "$prefix" >"$tmp/install.out" 2>&1; then
  pass "cmake --install --prefix $prefix"
else
  fail "cmake --install failed: $(tail -3 "$tmp/install.out")"
fi
runpath=$(readelf -d "$prefix/bin/scaleout" 2>/dev/null | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
[[ $runpath == '$ORIGIN/'* ]] && pass "installed RUNPATH $runpath" ||
  fail "installed RUNPATH '${runpath}' is not relative to the binary"
libdir=$(dirname "$(find "$prefix" -name libscaleout.so.2 | head -1)")
resolved=$(ldd "$prefix/bin/scaleout" | awk '$1 == "libscaleout.so.2" {print $3}')
expect "installed scaleout loads" "$(readlink -f "${resolved:-/missing}")" \
  "$(readlink -f "$libdir/libscaleout.so.2")"
run installed 30 "$prefix/bin/scaleout" jobs
((rc == 0)) && grep -q '^ *pi' "$tmp/installed.out" && pass "installed scaleout jobs lists pi" ||
  fail "installed scaleout jobs: status $rc"
for h in scaleout.h job.h map.h errors.h; do
  [[ -f $prefix/include/scaleout/$h ]] && pass "installed include/scaleout/$h" ||
    fail "include/scaleout/$h not installed"
done
export PKG_CONFIG_PATH=$libdir/pkgconfig
libs=$(pkg-config --libs scaleout 2>&1 || true)
[[ " $libs " == *" -lscaleout "* && $libs != *-ljansson* ]] && pass "pkg-config --libs: $libs" ||
  fail "pkg-config --libs scaleout: $libs"
slibs=$(pkg-config --static --libs scaleout 2>&1 || true)
[[ $slibs == *-lscaleout* && $slibs == *-ljansson* && $slibs == *-lhwloc* ]] &&
  pass "pkg-config --static --libs names jansson and hwloc" ||
  fail "pkg-config --static --libs scaleout: $slibs"

finish

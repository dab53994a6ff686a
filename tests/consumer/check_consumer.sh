#!/usr/bin/env bash
# The installed package, used from outside: installs BUILD into a fresh
# prefix, checks what was installed (refit.h + refit_version.h only, the
# soname, the package files), makes a tiny checkpoint with the INSTALLED
# refit command, then builds tests/consumer/consumer.c three ways against
# that prefix alone and runs each at np 2 on the host backend:
#   1. find_package(refit) (tests/consumer/CMakeLists.txt)
#   2. cc $(pkg-config --cflags --libs refit)            (librefit.so)
#   3. cc librefit.a $(pkg-config --static --libs refit) (the static library)
# usage: check_consumer.sh BUILD_DIR SOURCE_DIR VERSION [EXTRA_CFLAGS]
# (EXTRA_CFLAGS: a sanitized build's flags, so the consumer has its runtime)
# env: RF_MPIEXEC ("mpiexec -n"), CC (default cc), PYTHON (tests/ref's venv)
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd) version=$3 extra=${4:-}
cc=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/refit-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
libdir=$(dirname "$(find "$prefix" -name refit.pc -path '*/pkgconfig/*')")/..
libdir=$(cd "$libdir" && pwd)
headers=$(cd "$prefix/include" && find . -type f | sort | tr '\n' ' ')
[ "$headers" = "./refit.h ./refit_version.h " ] || fail "installed headers are '$headers', want refit.h refit_version.h only"
for f in "$prefix/bin/refit" "$libdir/librefit.a" "$libdir/librefit.so" "$libdir/cmake/refit/refitConfig.cmake" \
         "$libdir/cmake/refit/refitConfigVersion.cmake" "$libdir/cmake/refit/refitTargets.cmake"; do
  [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
major=${version%%.*}
soname=$(readelf -d "$libdir/librefit.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "librefit.so.$major" ] || fail "soname '$soname', want librefit.so.$major"

"$prefix/bin/refit" synth --preset tiny --out "$work/ckpt" >/dev/null

want="refit $version (header ${version//./.}) generation 0"
run() { # NAME BINARY: np 2, rank 0's line must be $want
  local out
  local rc=0
  out=$($RF_MPIEXEC 2 "$2" "$work/ckpt" 2>"$work/$1.err") || rc=$?
  [ "$rc" = 0 ] || { cat "$work/$1.err" >&2; fail "$1: consumer exited $rc"; }
  [ "$out" = "$want" ] || { cat "$work/$1.err" >&2; fail "$1: printed '$out', want '$want'"; }
  echo "ok: $1: $out"
}

cmake -S "$src/tests/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="$extra" >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; fail "find_package(refit) project"; }
cmake --build "$work/cmake-build" >>"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; fail "find_package(refit) build"; }
run find_package "$work/cmake-build/consumer"

export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion refit)" = "$version" ] || fail "pkg-config --modversion refit: $(pkg-config --modversion refit)"
# shellcheck disable=SC2046,SC2086
$cc $extra "$src/tests/consumer/consumer.c" -o "$work/consumer-pc" $(pkg-config --cflags --libs refit) -pthread \
  -Wl,-rpath,"$(pkg-config --variable=libdir refit)" || fail "cc with pkg-config --cflags --libs refit"
run pkg-config "$work/consumer-pc"
# ldd's output captured first: grep -q ends early, and ldd's SIGPIPE would fail the pipeline under pipefail
libs=$(ldd "$work/consumer-pc")
grep -q "librefit.so.$major => $libdir/" <<<"$libs" || fail "pkg-config consumer does not use the installed librefit.so"

# The engine's side of the package (issue 9, "Done when"): the embedding
# program of tests/embed, built against the installed package alone, binds
# its own buffers, stages generation 1 while a reader thread checks the live
# bytes, commits, and tests/embed/check_embed.sh compares every byte with the
# SPEC reference of generation 1 (np 2, tp 2).
# shellcheck disable=SC2046,SC2086
$cc $extra "$src/tests/embed/test_embed.c" -o "$work/embed-pc" $(pkg-config --cflags --libs refit) -pthread \
  -Wl,-rpath,"$(pkg-config --variable=libdir refit)" || fail "cc tests/embed/test_embed.c with pkg-config"
libs=$(ldd "$work/embed-pc")
grep -q "librefit.so.$major => $libdir/" <<<"$libs" || fail "the embedding program does not use the installed librefit.so"
bash "$src/tests/embed/check_embed.sh" "$work/embed-pc" 2 2 || fail "the embedding program built against the installed package"
echo "ok: the embedding program, built against the installed package: bound, staged while reading, committed, bytes = generation 1"

# shellcheck disable=SC2046,SC2086
$cc $extra "$src/tests/consumer/consumer.c" -o "$work/consumer-static" $(pkg-config --cflags refit) \
  "$libdir/librefit.a" $(pkg-config --static --libs refit | sed 's/ -lrefit / /') -pthread \
  || fail "cc with librefit.a and pkg-config --static --libs refit"
libs=$(ldd "$work/consumer-static")
! grep -q librefit <<<"$libs" || fail "static consumer links librefit.so"
run static "$work/consumer-static"

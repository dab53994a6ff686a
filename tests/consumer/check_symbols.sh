#!/usr/bin/env bash
# librefit.so exports refit_* and nothing else (-fvisibility=hidden, REFIT_API
# on refit.h's declarations), every function refit.h declares is exported,
# and the soname is librefit.so.MAJOR.
# usage: check_symbols.sh LIBREFIT_SO REFIT_H MAJOR
set -euo pipefail
lib=$1 header=$2 major=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort -u)
[ -n "$exported" ] || fail "$lib exports nothing"
foreign=$(grep -v '^refit_' <<<"$exported" || true)
[ -z "$foreign" ] || fail "$lib exports symbols outside refit_*: $(tr '\n' ' ' <<<"$foreign")"
# every REFIT_API function of refit.h
declared=$(grep -v '^#' "$header" | grep -o 'REFIT_API [^(]*(' | sed 's/($//; s/.*[ *]//' | sort -u)
[ -n "$declared" ] || fail "no REFIT_API declaration found in $header"
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
[ -z "$missing" ] || fail "declared in refit.h but not exported: $(tr '\n' ' ' <<<"$missing")"
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
[ -z "$extra" ] || fail "exported but not declared REFIT_API in refit.h: $(tr '\n' ' ' <<<"$extra")"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "librefit.so.$major" ] || fail "soname '$soname', want librefit.so.$major"
echo "ok: $(wc -l <<<"$exported") refit_* symbols exported, all declared in refit.h; soname $soname"

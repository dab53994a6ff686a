#!/usr/bin/env bash
# include_graph.py on this tree (no error), then on copies with a
# wrong-way include (comm -> coord's snapshot.h), a tool header launch
# must not use, and a file cycle (guard.h -> ctx_internal.h): each must
# be reported and fail.
# usage: check_include_graph.sh PYTHON
PY=${1:-python3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GRAPH="$ROOT/tests/arch/include_graph.py"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/refit-arch-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fails=0
if "$PY" "$GRAPH" "$ROOT"; then echo "PASS: this tree"; else echo "FAIL: this tree"; fails=$((fails + 1)); fi

broken() { # NAME FILE LINE EXPECTED_MESSAGE
  local name=$1 file=$2 line=$3 want=$4 copy="$WORK/$1"
  mkdir -p "$copy"
  (cd "$ROOT" && tar cf - include shard kernels comm coord launch) | tar xf - -C "$copy"
  printf '%s\n' "$line" >>"$copy/$file"
  if "$PY" "$GRAPH" "$copy" >"$WORK/$name.out" 2>&1; then
    echo "FAIL: $name: not reported"; fails=$((fails + 1))
  elif ! grep -qF -- "$want" "$WORK/$name.out"; then
    echo "FAIL: $name: no '$want'"; cat "$WORK/$name.out"; fails=$((fails + 1))
  else
    echo "PASS: $name: $(grep -F -- "$want" "$WORK/$name.out" | head -n 1)"
  fi
}
broken wrong-way comm/mpi_comm.c '#include "snapshot.h"' "wrong way: comm/mpi_comm.c (comm) includes snapshot.h (coord)"
broken launch-tool launch/cmd_tools.c '#include "plan.h"' "launch uses plan.h, not one of its named tool headers"
broken file-cycle coord/guard.h '#include "ctx_internal.h"' "include cycle between files"
echo "$fails failed"
[ "$fails" -eq 0 ]

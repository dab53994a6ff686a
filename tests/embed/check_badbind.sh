#!/usr/bin/env bash
# Misuse of the embedding calls (test_embed.c badbind): exact statuses and
# messages for bad binds, calls out of state and in-place mode.
# usage: check_badbind.sh TEST_EMBED NP
PROG=$1 NP=$2
source "$(dirname "$0")/../mpi/lib.sh"

make_model qwen2 41 "$WORK/g0"
if mpirun_np "$NP" "$PROG" badbind "$WORK/g0" >"$WORK/log" 2>&1; then
  pass "np $NP: every bad bind and out-of-state call refused with its exact error"
else
  fail "np $NP: badbind"; cat "$WORK/log"
fi
finish

#!/usr/bin/env bash
# The embedding program (test_embed.c) on the host backend: serve = bind,
# load, stage while reading, commit; then the dump must equal the SPEC
# reference of generation 1 AND, byte for byte, the engine's own buffers.
# usage: check_embed.sh TEST_EMBED NP TP
PROG=$1 NP=$2 TP=$3
source "$(dirname "$0")/../mpi/lib.sh"

make_model llama 31 "$WORK/g0"
make_model llama 32 "$WORK/gx"
make_model llama 33 "$WORK/g1"
if mpirun_np "$NP" "$PROG" serve "$WORK/g0" "$WORK/gx" "$WORK/g1" "$TP" "$WORK/dump" >"$WORK/log" 2>&1; then
  pass "np $NP tp $TP: bound, staged while reading, committed ($(grep -m1 "full reads" "$WORK/log"))"
else
  fail "np $NP tp $TP: serve"; cat "$WORK/log"
fi
if "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$WORK/g1" --tp "$TP" --world "$NP" --quant fp8-block \
     --dump "$WORK/dump" --generation 1 >"$WORK/check" 2>&1; then
  pass "np $NP tp $TP: dump = SPEC reference of generation 1: $(tail -n 1 "$WORK/check")"
else
  fail "np $NP tp $TP: dump differs from the SPEC reference"; head -n 20 "$WORK/check"
fi
for ((r = 0; r < NP; r++)); do
  if "$PYTHON" "$(dirname "$0")/compare_own.py" "$WORK/dump" "$r" "$NP" >"$WORK/cmp" 2>&1; then
    pass "np $NP rank $r: $(cat "$WORK/cmp")"
  else
    fail "np $NP rank $r: the engine's buffers differ from the dump"; cat "$WORK/cmp"
  fi
done
finish

#!/usr/bin/env bash
# Two contexts in one process on disjoint communicators, each loading its
# own model (tests/mpi/test_two_contexts.c): both dumps must equal, byte
# for byte, what the SPEC reference computes from each one's generation 1.
# usage: check_two_contexts.sh TEST_TWO_CONTEXTS NP
PROG=$1 NP=$2
source "$(dirname "$0")/lib.sh"

make_model llama 11 "$WORK/a0"
make_model llama 12 "$WORK/a1"
make_model qwen2 21 "$WORK/b0"
make_model qwen2 22 "$WORK/b1"
if mpirun_np "$NP" "$PROG" "$WORK/a0" "$WORK/a1" fp8-block "$WORK/b0" "$WORK/b1" fp8-row \
     "$WORK/dump-a" "$WORK/dump-b" >"$WORK/log" 2>&1; then
  pass "np $NP: two contexts loaded and dumped"
else
  fail "np $NP: two contexts"; cat "$WORK/log"
fi
check() { # WHAT CHECKPOINT TP WORLD QUANT DUMP
  if "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$2" --tp "$3" --world "$4" --quant "$5" --dump "$6" \
       --generation 1 >"$WORK/check" 2>&1; then
    pass "np $NP: $1: $(tail -n 1 "$WORK/check")"
  else
    fail "np $NP: $1: dump differs from the SPEC reference"; head -n 20 "$WORK/check"
  fi
}
check "context A (world, tp $NP, llama fp8-block)" "$WORK/a1" "$NP" "$NP" fp8-block "$WORK/dump-a"
for ((r = 0; r < NP; r++)); do
  check "context B of rank $r (self, tp 1, qwen2 fp8-row)" "$WORK/b1" 1 1 fp8-row "$WORK/dump-b/r$r"
done
finish

#!/usr/bin/env bash
# A hung peer under on_timeout=return (test_embed.c hang): one rank stalls
# for twice the timeout in generation 1 (REFIT_FAULT stall), the timeout is
# HANG_TIMEOUT s (default 2). Every rank returns REFIT_ERR_TIMEOUT (the
# others within the timeout + 1 s), the live bytes stay generation 0, and
# the processes destroy, finalize and exit 0 by themselves (bounded by
# `timeout 60`).
# usage: check_hang.sh TEST_EMBED NP [BACKEND] [RANK:PHASE]
#   BACKEND host (default) or cuda (a CUDA build, one GPU per rank); the
#   stalled cell defaults to the last rank in transfer. The last line,
#   "summary: ...", is what tests/gpu/multi_faults.sh puts in its table.
PROG=$1 NP=$2 BACKEND=${3:-host}
source "$(dirname "$0")/../mpi/lib.sh"
last=$((NP - 1))
CELL=${4:-$last:transfer}
stalled=${CELL%%:*}
TIMEOUT=${HANG_TIMEOUT:-2}
STALL=$((TIMEOUT * 2))

make_model llama 51 "$WORK/g0"
make_model llama 52 "$WORK/g1"
export REFIT_FAULT="$CELL:stall=$STALL:1"
RF_MPI_EXTRA="${RF_MPI_EXTRA:-} -x REFIT_FAULT"
start=$(date +%s.%N)
rc=0
timeout 60 bash -c "$(declare -f mpirun_np); RF_MPIEXEC='$RF_MPIEXEC' RF_MPI_EXTRA='$RF_MPI_EXTRA' \
     mpirun_np $NP $PROG hang $WORK/g0 $WORK/g1 $TIMEOUT $stalled $BACKEND" >"$WORK/log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
  pass "np $NP $BACKEND $CELL: all ranks returned REFIT_ERR_TIMEOUT, kept generation 0 and exited 0 by themselves"
else
  fail "np $NP $BACKEND $CELL: exit $rc$([ "$rc" -eq 124 ] && echo " (hang: killed after 60 s)")"; cat "$WORK/log"
fi
grep "returned timed out" "$WORK/log" | sed 's/^/  /'
n=$(grep -c "returned timed out" "$WORK/log")
if [ "$n" -eq "$NP" ]; then pass "np $NP: $n of $NP ranks timed out"; else fail "np $NP: $n of $NP ranks timed out"; fi
job=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "  job took $job s"
# the slowest rank that did not stall: how long its generation 1 took to return
others=$(grep -v "^rank $stalled:" "$WORK/log" | grep -oE "returned timed out after [0-9.]+ s" | grep -oE "[0-9.]+" |
  sort -g | tail -n 1)
echo "summary: np $NP, backend $BACKEND, stalled $CELL for ${STALL} s, timeout ${TIMEOUT} s: exit $rc, $n of $NP" \
  "ranks timed out, the others returned within ${others:-?} s, job ${job} s, $([ "$FAILS" -eq 0 ] && echo ok || echo FAIL)"
finish

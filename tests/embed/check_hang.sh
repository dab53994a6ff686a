#!/usr/bin/env bash
# A hung peer under on_timeout=return (test_embed.c hang): the last rank
# stalls 4 s in generation 1's transfer (REFIT_FAULT stall=4), the timeout
# is 2 s. Every rank returns REFIT_ERR_TIMEOUT (the others within 3 s), the
# live bytes stay generation 0, and the processes destroy, finalize and exit
# 0 by themselves (bounded by `timeout 60`).
# usage: check_hang.sh TEST_EMBED NP
PROG=$1 NP=$2
source "$(dirname "$0")/../mpi/lib.sh"

make_model llama 51 "$WORK/g0"
make_model llama 52 "$WORK/g1"
last=$((NP - 1))
export REFIT_FAULT="$last:transfer:stall=4:1"
RF_MPI_EXTRA="-x REFIT_FAULT"
start=$(date +%s.%N)
if timeout 60 bash -c "$(declare -f mpirun_np); RF_MPIEXEC='$RF_MPIEXEC' RF_MPI_EXTRA='$RF_MPI_EXTRA' \
     mpirun_np $NP $PROG hang $WORK/g0 $WORK/g1 2 $last" >"$WORK/log" 2>&1; then
  pass "np $NP: all ranks returned REFIT_ERR_TIMEOUT, kept generation 0 and exited 0 by themselves"
else
  fail "np $NP: hang (exit $?)"; cat "$WORK/log"
fi
grep "returned timed out" "$WORK/log" | sed 's/^/  /'
n=$(grep -c "returned timed out" "$WORK/log")
if [ "$n" -eq "$NP" ]; then pass "np $NP: $n of $NP ranks timed out"; else fail "np $NP: $n of $NP ranks timed out"; fi
awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "  job took %.1f s\n", b - a }'
finish

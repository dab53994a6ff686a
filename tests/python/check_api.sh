#!/usr/bin/env bash
# refit.Context without torch (api_check.py) at np NP: tests/ref checkpoints.
# usage: check_api.sh LIBREFIT NP
. "$(dirname "$0")/../mpi/lib.sh"
. "$(dirname "$0")/env.sh" "$1"
np=$2
make_model llama 1 "$WORK/g0" && make_model llama 2 "$WORK/g1" || { echo "FAIL: make_ckpt"; exit 1; }
if mpirun_np "$np" "$PYTHON" "$(dirname "$0")/api_check.py" "$WORK/g0" "$WORK/g1" "$WORK"; then
  pass "api_check np $np"
else
  fail "api_check np $np"
fi
finish

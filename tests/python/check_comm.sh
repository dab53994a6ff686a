#!/usr/bin/env bash
# refit.Context over mpi4py communicators (comm_check.py) at np 4.
# usage: check_comm.sh LIBREFIT
. "$(dirname "$0")/../mpi/lib.sh"
. "$(dirname "$0")/env.sh" "$1"
if ! why=$("$PYTHON" -c "import mpi4py" 2>&1); then
  echo "SKIP: no mpi4py in $PYTHON (launch/install-deps.sh --with-python installs it): ${why##*$'\n'}"
  exit 77
fi
make_model llama 1 "$WORK/g0" && make_model llama 2 "$WORK/g1" || { echo "FAIL: make_ckpt"; exit 1; }
if mpirun_np 4 "$PYTHON" "$(dirname "$0")/comm_check.py" "$WORK/g0" "$WORK/g1"; then
  pass "mpi4py communicators np 4"
else
  fail "mpi4py communicators np 4"
fi
finish

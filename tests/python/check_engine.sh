#!/usr/bin/env bash
# The reference engine against transformers (engine_check.py) at np NP for
# each tp of TPS (comma list), every family and scheme.
# usage: check_engine.sh LIBREFIT NP TPS
. "$(dirname "$0")/../mpi/lib.sh"
. "$(dirname "$0")/env.sh" "$1"
np=$2 tps=$3
here=$(dirname "$0")
if ! why=$("$PYTHON" -c "import torch, transformers, safetensors" 2>&1); then
  msg="no torch/transformers in $PYTHON (launch/install-deps.sh --with-python installs them): ${why##*$'\n'}"
  # CI sets REFIT_REQUIRE_TORCH=1: there a missing torch is a failure, not a skip.
  [ "${REFIT_REQUIRE_TORCH:-0}" = 1 ] && { echo "FAIL: $msg"; exit 1; }
  echo "SKIP: $msg"
  exit 77
fi
"$PYTHON" "$here/make_hf_ckpts.py" "$WORK/ckpts" >/dev/null 2>&1 || { echo "FAIL: make_hf_ckpts.py"; exit 1; }
if mpirun_np "$np" "$PYTHON" "$here/engine_check.py" "$WORK/ckpts" "$WORK" "$tps" all all; then
  pass "engine_check np $np tp $tps"
else
  fail "engine_check np $np tp $tps"
fi
if [ "$np" = 2 ]; then # the README's rollout worker, as python/examples/ has it
  out=$(mpirun_np 2 "$PYTHON" "$here/../../python/examples/rollout_worker.py" "$WORK/ckpts/qwen2/gen0" \
        "$WORK/ckpts/qwen2/gen1" "$WORK/ckpts/qwen2/gen0" 2>&1)
  if [[ $out == *"served generation 0"*"now generation 1"*"served generation 1"*"now generation 2"* ]]; then
    pass "rollout_worker.py: $(echo "$out" | tail -n 1)"
  else
    fail "rollout_worker.py said: $out"
  fi
fi
finish

#!/usr/bin/env bash
# The Python package's reference engine on one GPU: tp 1, every family and
# scheme, the decode step's CUDA graph replayed across a reload
# (tests/gpu/python_engine.py). Needs a CUDA build of librefit.so and a
# Python with CUDA torch and transformers (PYTHON, default python3).
# usage: [NP=N] bash tests/gpu/python_engine.sh BUILD_DIR [FAMILIES] [QUANTS]
#   NP: ranks = tp (default 1; one GPU each: the multi-GPU run of issue 15)
#   e.g. bash tests/gpu/python_engine.sh build-gpu   (from bench/gpu_wave.sh: STEPS="build python")
# Exit 0 all passed, 1 a failure, 77 skipped (no torch/transformers/GPU).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: python_engine.sh BUILD_DIR [FAMILIES] [QUANTS]}
PYTHON=${PYTHON:-python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
lib=$(ls "$build"/librefit.so.*.*.* 2>/dev/null | head -n 1)
[ -n "$lib" ] || { echo "FAIL: no librefit.so in $build (build it first)"; exit 1; }
grep -aq "cudaMalloc" "$lib" || { echo "FAIL: $lib was built without CUDA"; exit 1; }
export REFIT_LIBRARY=$lib PYTHONPATH="$here/../../python${PYTHONPATH:+:$PYTHONPATH}"
if ! why=$("$PYTHON" -c "import torch, transformers; assert torch.cuda.is_available(), 'torch sees no GPU'" 2>&1); then
  echo "SKIP: python_engine: ${why##*$'\n'}"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/refit-pyengine-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$PYTHON" "$here/../python/make_hf_ckpts.py" "$work/ckpts" >"$work/ckpts.log" 2>&1 || { cat "$work/ckpts.log"; exit 1; }
# shellcheck disable=SC2068
mpirun -np "${NP:-1}" --bind-to none -x NCCL_NVLS_ENABLE -x REFIT_LIBRARY -x PYTHONPATH -x PYTHONUNBUFFERED \
  "$PYTHON" "$here/python_engine.py" "$work/ckpts" ${@:2}

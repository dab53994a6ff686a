#!/usr/bin/env bash
# On a GPU machine: build with CUDA, run the kernel test, the kernel
# bandwidth benchmark and the cuda-vs-host-vs-reference-vs-torch dump check.
# Missing dev headers (jansson, zlib) may be unpacked under .gpu-deps/usr.
# usage: bench/gpu_validate.sh [NP:TP ...]
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
nvidia-smi -L
nvidia-smi topo -m 2>/dev/null | head -n 6
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PWD/.gpu-deps/usr" \
  -DPython3_EXECUTABLE="$(command -v python3)" >/tmp/cmake.log 2>&1 || { tail -n 30 /tmp/cmake.log; exit 1; }
cmake --build build-gpu -j"$(nproc)" 2>&1 | grep -E "error|warning|Error" ; test -x build-gpu/refit || exit 1
echo "== test_quant_cuda"; build-gpu/tests/test_quant_cuda 2>&1 | tail -n 25
echo "== quant_bw"; build-gpu/bench/quant_bw 2>&1 | tail -n 30
echo "== dumps"
RF_MPIEXEC="mpirun --oversubscribe -np" PYTHON=python3 bash tests/gpu/check_cuda_dumps.sh build-gpu/refit "$@"

#!/usr/bin/env bash
# Sources on one H200 (issue 11): the llama3-8b preset (16.06 GB bf16, 4
# files) in /dev/shm reloaded at tp 1 from the directory (rank 0 reads),
# from host memory (pageable and pinned) and from device memory, each with
# its floor measured in the same run (bench/source_bw.c).
# usage: bench/gpu_sources.sh BUILD_DIR [REPS] [QUANT]
set -uo pipefail
BUILD=${1:-build-gpu}
CKPT=/dev/shm/refit-llama3-8b
[ -f "$CKPT/config.json" ] || "$BUILD/refit" synth --out "$CKPT" --preset llama3-8b --seed 1 || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun -np 1 --bind-to none "$BUILD/bench/source_bw" "$CKPT" "${2:-5}" "${3:-fp8-tensor}"

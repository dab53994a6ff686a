#!/usr/bin/env bash
# GPU benchmark of a Mixture-of-Experts reload (SPEC §3a) on one GPU: a
# Qwen3-30B-A3B-shaped bf16 checkpoint (48 layers x 128 experts, 61.06 GB,
# 16 files) synthesized into /dev/shm, loaded once and reloaded $RELOADS
# times at tp 1 with the cuda backend, against the pinned host->device floor
# measured in the same run (bench/floors); then the grouped expert kernels'
# bandwidth against the device copy (bench/quant_bw --moe, w13 and w2 of
# 128 experts, H 2048, I 768).
# usage: bench/gpu_moe.sh BUILD_DIR
# env: QUANT (fp8-block), RELOADS (2), BUCKET_MB (32), OUT (/tmp/refit-bench-moe),
#      CKPT (/dev/shm/refit-qwen3-30b-a3b), KEEP=1 keeps the checkpoint afterwards
set -uo pipefail
BUILD=${1:-build}
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI="mpirun --oversubscribe -x NCCL_NVLS_ENABLE --bind-to none"
OUTDIR=${OUT:-/tmp/refit-bench-moe}
CKPT=${CKPT:-/dev/shm/refit-qwen3-30b-a3b}
RELOADS=${RELOADS:-2}
QUANT=${QUANT:-fp8-block}
BUCKET=${BUCKET_MB:-32}
NEED=61064245248 # bytes of tensors: refit synth --preset qwen3-30b-a3b prints it too
mkdir -p "$OUTDIR"

if ! nvidia-smi -L >/dev/null 2>&1; then echo "SKIP: no GPU (nvidia-smi -L failed)"; exit 77; fi
if [ ! -f "$CKPT/config.json" ]; then
  # The checkpoint must fit where it is written: /dev/shm is RAM (often half
  # of it), and rank 0 must keep it there while it reads it.
  free_b=$(df -B1 --output=avail "$(dirname "$CKPT")" | tail -n 1 | tr -d ' ')
  echo "== $(dirname "$CKPT"): $((free_b / 1000000000)) GB free, the checkpoint needs $((NEED / 1000000000)) GB (+ headers)"
  if [ "$free_b" -lt $((NEED + (1 << 30))) ]; then
    echo "FAIL: qwen3-30b-a3b does not fit in $(dirname "$CKPT") ($free_b bytes free, $NEED needed);" \
         "set CKPT to a directory on a larger RAM disk (or remount /dev/shm with size=70G)"
    exit 1
  fi
  "$BUILD/refit" synth --out "$CKPT" --preset qwen3-30b-a3b --seed 1 || exit 1
fi
bytes=$(du -sb "$CKPT" | cut -f1)

echo "== floors (pinned host->device, device copy) on this GPU"
$MPI -np 1 "$BUILD/bench/floors" --json "$OUTDIR/floors-np1.json" || exit 1
echo "== refit run: qwen3-30b-a3b, tp 1, generation 0 + $RELOADS reloads, $QUANT, bucket $BUCKET MiB"
$MPI -np 1 "$BUILD/refit" run --backend cuda --checkpoint "$CKPT" --reloads "$RELOADS" --tp 1 \
  --quant "$QUANT" --bucket-mb "$BUCKET" --report "$OUTDIR/report-moe-tp1.json" || exit 1
python3 "$(dirname "$0")/summarize.py" "$OUTDIR/report-moe-tp1.json" "$OUTDIR/floors-np1.json" "$bytes" || exit 1

echo "== grouped expert kernels (one launch per param over all 128 experts) vs the device copy"
"$BUILD/bench/quant_bw" --moe 128x2048x768 || exit 1

[ "${KEEP:-0}" = 1 ] || rm -rf "$CKPT"

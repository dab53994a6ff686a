#!/usr/bin/env bash
# GPU benchmark: a Llama-3-8B-shaped bf16 checkpoint (16.06 GB, 4 files) in
# /dev/shm, reloaded at tp 2 and tp 4, with the floors (pinned host->device,
# NCCL broadcast, device copy) measured in the same run. Prints per-phase
# times, GB/s and achieved/floor.
# usage: bench/gpu_bench.sh BUILD_DIR [NP:TP ...]   (default 2:2 4:4)
set -uo pipefail
BUILD=${1:-build}; shift || true
LAYOUTS=${*:-"2:2 4:4"}
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI="mpirun --oversubscribe -x NCCL_NVLS_ENABLE --bind-to none"
OUTDIR=${OUT:-/tmp/refit-bench}
mkdir -p "$OUTDIR"
CKPT=/dev/shm/refit-llama3-8b
RELOADS=${RELOADS:-3}
QUANT=${QUANT:-fp8-tensor}
BUCKET=${BUCKET_MB:-32}

[ -f "$CKPT/config.json" ] || "$BUILD/refit" synth --out "$CKPT" --preset llama3-8b --seed 1 || exit 1
bytes=$(du -sb "$CKPT" | cut -f1)
for lt in $LAYOUTS; do
  np=${lt%:*} tp=${lt#*:}
  echo "== np $np tp $tp: floors"
  $MPI -np "$np" "$BUILD/bench/floors" --json "$OUTDIR/floors-np$np.json" || exit 1
  echo "== np $np tp $tp: refit run, generation 0 + $RELOADS reloads, $QUANT, bucket $BUCKET MiB"
  $MPI -np "$np" "$BUILD/refit" run --backend cuda --checkpoint "$CKPT" --reloads "$RELOADS" --tp "$tp" --transfer "${TRANSFER:-scatter}" \
    --quant "$QUANT" --bucket-mb "$BUCKET" --report "$OUTDIR/report-np$np-tp$tp.json" || exit 1
  python3 "$(dirname "$0")/summarize.py" "$OUTDIR/report-np$np-tp$tp.json" "$OUTDIR/floors-np$np.json" "$bytes"
done

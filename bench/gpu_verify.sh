#!/usr/bin/env bash
# What --verify costs (issue 14, item 5): the Llama-3-8B-shaped checkpoint
# (16.06 GB, bf16, /dev/shm) reloaded on one GPU at tp 1, once without and
# once with --verify (rank 0 digests every slice as it packs, the GPU
# digests every received slice with the XXH64-tree kernels, compared before
# the vote). Prints both runs' per-phase tables and the reload time each
# (the mean total of the reloads after generation 0) and the overhead.
# Builds build-gpu first when BUILD is not given.
# usage: bench/gpu_verify.sh [BUILD_DIR]   (RELOADS=3, QUANT=fp8-tensor, BUCKET_MB=32)
set -uo pipefail
BUILD=${1:-build-gpu}
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ ! -x "$BUILD/refit" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PWD/.gpu-deps/usr" -DREFIT_CUDA=ON >/dev/null &&
    cmake --build "$BUILD" -j16 --target refit_cmd >/dev/null || exit 1
fi
MPI="mpirun --oversubscribe -x NCCL_NVLS_ENABLE --bind-to none"
OUTDIR=${OUT:-/tmp/refit-bench}
mkdir -p "$OUTDIR"
CKPT=/dev/shm/refit-llama3-8b
RELOADS=${RELOADS:-3}
QUANT=${QUANT:-fp8-tensor}
BUCKET=${BUCKET_MB:-32}
[ -f "$CKPT/config.json" ] || "$BUILD/refit" synth --out "$CKPT" --preset llama3-8b --seed 1 || exit 1

# mean total_ms of the reloads (generation >= 1) of a --report file
reload_ms() {
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ms = [max(k["total_ms"] for k in g["ranks"]) for g in r["loads"] if g["generation"] >= 1]
print("%.1f" % (sum(ms) / len(ms)) if ms else "nan")
PY
}

for mode in plain verify; do
  flag=$([ $mode = verify ] && echo --verify || true)
  echo "== np 1 tp 1, generation 0 + $RELOADS reloads, $QUANT, bucket $BUCKET MiB, $mode"
  $MPI -np 1 "$BUILD/refit" run --backend cuda --checkpoint "$CKPT" --reloads "$RELOADS" --tp 1 \
    --quant "$QUANT" --bucket-mb "$BUCKET" $flag --report "$OUTDIR/verify-$mode.json" || exit 1
done
plain=$(reload_ms "$OUTDIR/verify-plain.json") verify=$(reload_ms "$OUTDIR/verify-verify.json")
awk -v p="$plain" -v v="$verify" 'BEGIN { printf "reload: %.1f ms without --verify, %.1f ms with (+%.1f%%)\n", p, v, 100 * (v - p) / p }'

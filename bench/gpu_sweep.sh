#!/usr/bin/env bash
# Tuning sweep on a GPU machine: reload time of the llama3-8b preset at
# NP:TP for several pack-thread counts and bucket sizes (median of RELOADS).
# usage: bench/gpu_sweep.sh BUILD NP:TP "THREADS..." "BUCKET_MB..."
set -uo pipefail
BUILD=$1 LT=$2 THREADS=$3 BUCKETS=$4
np=${LT%:*} tp=${LT#*:}
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
CKPT=/dev/shm/refit-llama3-8b
[ -f "$CKPT/config.json" ] || "$BUILD/refit" synth --out "$CKPT" --preset llama3-8b --seed 1 >/dev/null || exit 1
echo "threads bucket_mb median_reload_ms (np $np tp $tp)"
for t in $THREADS; do
  for b in $BUCKETS; do
    rep=/tmp/sweep-$t-$b.json
    REFIT_PACK_THREADS=$t mpirun --oversubscribe --bind-to none -x NCCL_NVLS_ENABLE -x REFIT_PACK_THREADS -np "$np" \
      "$BUILD/refit" run --backend cuda --checkpoint "$CKPT" --reloads "${RELOADS:-3}" --tp "$tp" --bucket-mb "$b" \
      --report "$rep" >/dev/null 2>&1 || { echo "$t $b FAILED"; continue; }
    python3 -c "
import json,statistics; r=json.load(open('$rep'))
t=[max(k['total_ms'] for k in l['ranks']) for l in r['loads'] if l['generation']>=1]
print('$t $b %.0f' % statistics.median(t))"
  done
done

#!/usr/bin/env bash
# `refit run` over two generations at world NP, tp TP, every scheme and
# model family, MoE families in both --moe modes; each dump must equal, byte
# for byte, what the independent Python implementation of the SPEC
# (tests/ref) computes from generation 1.
# usage: check_dumps.sh REFIT NP TP
REFIT=$1 NP=$2 TP=$3
source "$(dirname "$0")/lib.sh"

for model in $MODELS; do
  make_model "$model" 11 "$WORK/$model-g0"
  make_model "$model" 12 "$WORK/$model-g1"
  for moe in $(moe_modes "$model"); do
    moe_args=() label=$model
    if [ "$moe" != - ]; then moe_args=(--moe "$moe"); label="$model --moe $moe"; fi
    for quant in fp8-tensor fp8-row fp8-block none; do
      dump="$WORK/dump-$model-$moe-$quant"
      log="$WORK/log-$model-$moe-$quant"
      if ! mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/$model-g0" --checkpoint "$WORK/$model-g1" \
           --tp "$TP" --quant "$quant" "${moe_args[@]}" --bucket-mb 1 --dump "$dump" >"$log" 2>&1; then
        fail "$label $quant np=$NP tp=$TP: refit run failed"; cat "$log"; continue
      fi
      if "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$WORK/$model-g1" --tp "$TP" --world "$NP" \
           --quant "$quant" "${moe_args[@]}" --dump "$dump" --generation 1 >"$log.check" 2>&1; then
        pass "$label $quant np=$NP tp=$TP: $(tail -n 1 "$log.check")"
      else
        fail "$label $quant np=$NP tp=$TP: dump differs from the SPEC reference"; head -n 30 "$log.check"
      fi
    done
  done
done
finish

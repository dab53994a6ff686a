#!/usr/bin/env bash
# The cuda backend against the host backend and the SPEC reference: for every
# model family (MoE ones in both --moe modes) and scheme, at world = tp in
# {1, 2, 4} (as many GPUs as there are) and world 4 with tp 2, the cuda dumps
# must be byte-identical to the host dumps and to tests/ref. Exit 77
# (skipped) without a usable GPU.
# usage: check_cuda_dumps.sh REFIT [NP:TP...]
# env: MODELS (tests/mpi/lib.sh: the families), RUN_ARGS (more refit run
# options for both backends' runs, e.g. --verify)
REFIT=$1; shift
read -r -a run_args <<<"${RUN_ARGS:-}"
source "$(dirname "$0")/../mpi/lib.sh"
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "${ngpu:-0}" -eq 0 ]; then echo "SKIP: no GPU"; exit 77; fi
export NCCL_NVLS_ENABLE=0 # NVLink multicast can take a shared host's GPUs down
RF_MPI_EXTRA="-x NCCL_NVLS_ENABLE"
layouts=${*:-"1:1 2:2 4:4 4:2"}

for model in $MODELS; do
  make_model "$model" 31 "$WORK/$model-g0"
  make_model "$model" 32 "$WORK/$model-g1"
done

# One model, scheme and layout: cuda and host dumps byte-identical, and equal
# to tests/ref (and, where torch is installed, to PyTorch's numerics; the
# torch check knows dense models only and skips MoE ones).
check_one() { # TAG MODEL QUANT NP TP [--moe MODE]
  local tag=$1 model=$2 quant=$3 np=$4 tp=$5; shift 5
  local ok=1 same=1 be f
  for be in cuda host; do
    if ! mpirun_np "$np" "$REFIT" run --backend $be --checkpoint "$WORK/$model-g0" --checkpoint "$WORK/$model-g1" \
         --tp "$tp" --quant "$quant" "$@" "${run_args[@]}" --bucket-mb 1 --dump "$WORK/d-$be" >"$WORK/log-$be" 2>&1; then
      fail "$tag: $be run failed"; tail -n 20 "$WORK/log-$be"; ok=0
    fi
  done
  [ $ok = 1 ] || return
  for f in "$WORK"/d-host/rank-*.safetensors; do
    cmp -s "$f" "$WORK/d-cuda/$(basename "$f")" || { same=0; echo "differs: $(basename "$f")"; }
  done
  if [ $same = 0 ]; then fail "$tag: cuda dump differs from host dump"; return; fi
  if ! "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$WORK/$model-g1" --tp "$tp" --world "$np" \
       --quant "$quant" "$@" --dump "$WORK/d-cuda" --generation 1 >"$WORK/check" 2>&1; then
    fail "$tag: cuda dump differs from the reference"; head -n 20 "$WORK/check"; return
  fi
  if [ "$quant" != none ] && ! is_moe "$model" && ! "$PYTHON" "$(dirname "$0")/torch_check.py" \
       --checkpoint "$WORK/$model-g1" --tp "$tp" --world "$np" --quant "$quant" --dump "$WORK/d-cuda" >"$WORK/torch" 2>&1; then
    [ $? -eq 77 ] && echo "torch check skipped" || { fail "$tag: differs from torch"; cat "$WORK/torch"; return; }
  fi
  pass "$tag: cuda == host == reference ($(tail -n 1 "$WORK/check")); $(tail -n 1 "$WORK/torch" 2>/dev/null)"
  rm -rf "$WORK/d-cuda" "$WORK/d-host" "$WORK/torch"
}
for wt in $layouts; do
  np=${wt%:*} tp=${wt#*:}
  if [ "$np" -gt "$ngpu" ]; then echo "skip np=$np: $ngpu GPUs"; continue; fi
  for model in $MODELS; do
    for moe in $(moe_modes "$model"); do # MoE families in both --moe modes (SPEC §3a)
      moe_args=() label=$model
      if [ "$moe" != - ]; then moe_args=(--moe "$moe"); label="$model --moe $moe"; fi
      for quant in fp8-tensor fp8-row fp8-block none; do
        check_one "$label $quant np=$np tp=$tp" "$model" "$quant" "$np" "$tp" "${moe_args[@]}"
      done
    done
  done
done
finish

#!/usr/bin/env bash
# A bad generation-1 checkpoint must fail the reload on every rank with the
# exact cause (rank and file/tensor named), exit != 0, no crash, and leave
# generation 0 live: the dump must equal generation 0 byte for byte.
# usage: check_bad_input.sh REFIT NP
REFIT=$1 NP=$2
source "$(dirname "$0")/lib.sh"
TP=$NP
MODEL=llama                   # 3 files: model-00001-of-00003.safetensors ...
SHARD=model-00002-of-00003.safetensors
Q=model.layers.0.self_attn.q_proj.weight
K=model.layers.1.self_attn.k_proj.weight

make_model $MODEL 21 "$WORK/g0"
G0="$WORK/g0" # generation 0 of the cases below
MOE=-         # --moe mode of the cases below (- : a dense model)

# case name | how to make it | expected error text (grep -E)
run_case() { # NAME EXPECTED MAKE...
  local name=$1 expect=$2; shift 2
  local bad="$WORK/bad-$name" dump="$WORK/dump-$name" log="$WORK/log-$name" moe_args=()
  [ "$MOE" = - ] || moe_args=(--moe "$MOE")
  "$@" "$bad" || { fail "$name: could not build the bad checkpoint"; return; }
  local t0=$SECONDS rc=0
  mpirun_np "$NP" "$REFIT" run --checkpoint "$G0" --checkpoint "$bad" --tp "$TP" "${moe_args[@]}" \
      --dump "$dump" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then fail "$name: refit run exited 0"; cat "$log"; return; fi
  if [ "$rc" -gt 128 ] || grep -qE "Segmentation|Aborted|signal [0-9]+" "$log"; then
    fail "$name: crashed (exit $rc)"; cat "$log"; return
  fi
  if ! grep -E "NOT committed .*rank [0-9]+: .*($expect)" "$log" >/dev/null; then
    fail "$name: error text does not match /$expect/ with a rank"; cat "$log"; return
  fi
  if ! "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$G0" --tp "$TP" --world "$NP" \
       --quant fp8-tensor "${moe_args[@]}" --dump "$dump" --generation 0 >"$log.check" 2>&1; then
    fail "$name: dump is not generation 0"; head -n 20 "$log.check"; return
  fi
  pass "$name: exit $rc in $((SECONDS - t0))s: $(grep -oE "rank [0-9]+: .*" "$log" | head -n 1)"
}

copy_then() { # HOW FILE OUT: copy g0, damage one file
  cp -r "$WORK/g0" "$3" && "$PYTHON" "$(dirname "$0")/corrupt_st.py" "$3/$2" "$1"
}
gen() { # ARGS... OUT: generation 1 with a twist
  local out=${*: -1}
  make_model $MODEL 22 "$out" "${@:1:$#-1}"
}

run_case truncated "$SHARD: .*run past the end of the file" copy_then truncate $SHARD
run_case header_length "$SHARD: byte 0: header length" copy_then header-length $SHARD
run_case not_json "$SHARD: byte [0-9]+: invalid header JSON" copy_then not-json $SHARD
run_case overlap "$SHARD: tensors .* overlap at data byte" copy_then overlap $SHARD
run_case hole "$SHARD: hole in data buffer at byte 0" copy_then hole $SHARD
run_case wrong_dtype "unsupported dtype F64 in tensor $Q of file " gen --tensor-dtype $Q=F64
run_case wrong_shape "tensor $Q has shape \\[[0-9]+,[0-9]+\\], snapshot records" gen --reshape $Q
run_case missing "tensor $K missing" gen --drop $K
run_case renamed "unknown tensor model.layers.1.self_attn.key_proj.weight|tensor $K missing" \
  gen --rename $K=model.layers.1.self_attn.key_proj.weight
run_case nan "qkv_proj.weight: nan at row [0-9]+ col [0-9]+ \\(checkpoint tensor $K" gen --nan $K
run_case inf "o_proj.weight: inf at row [0-9]+ col [0-9]+ \\(checkpoint tensor model.layers.0.self_attn.o_proj.weight" \
  gen --inf model.layers.0.self_attn.o_proj.weight
run_case no_config "config.json" eval 'f() { cp -r "$WORK/g0" "$1" && rm "$1/config.json"; }; f'

# Mixture-of-Experts (SPEC §3a): qwen3_moe tiny (E 6, I 160, layer 1 dense).
MODEL=qwen3_moe
B0=model.layers.0.mlp.experts B2=model.layers.2.mlp.experts
make_model $MODEL 21 "$WORK/moe-g0"
G0="$WORK/moe-g0" MOE=ep
run_case missing_expert "tensor $B0.3.up_proj.weight missing" gen --drop $B0.3.up_proj.weight
run_case extra_expert "tensor $B2.6.(gate|up|down)_proj.weight: expert index 6 >= num_experts 6" \
  gen --extra-expert 2
run_case expert_shape "tensor $B2.4.down_proj.weight has shape \\[193,160\\], snapshot records \\[192,160\\]" \
  gen --reshape $B2.4.down_proj.weight
run_case expert_nan "experts.w13_weight: nan at expert 5 row [0-9]+ col [0-9]+ \\(checkpoint tensor $B0.5.gate_proj" \
  gen --nan $B0.5.gate_proj.weight
if [ "$TP" -gt 1 ]; then # E < tp and I % tp need more than one rank
  run_case experts_lt_tp "num_experts $((TP / 2)) is less than tp $TP" gen --experts $((TP / 2))
  MOE=tp
  run_case inter_indivisible "$B0.w13_weight: moe_intermediate_size 161 not divisible by tp $TP" gen --moe-inter 161
fi
finish

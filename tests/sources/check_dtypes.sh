#!/usr/bin/env bash
# fp16/fp32 sources (SPEC §1, issue 11): generation 0 bf16, generation 1
# stored fp16, fp32 or mixed (BF16, F16, F32 in turn over the tensors): each
# dump must equal, byte for byte, what tests/ref computes from generation 1;
# a first load of an fp16 checkpoint too. A value finite in F32 but Inf
# after the conversion, and an F64 tensor, are exact errors that keep
# generation 0.
# usage: check_dtypes.sh REFIT NP TP
REFIT=$1 NP=$2 TP=$3
source "$(dirname "$0")/../mpi/lib.sh"

run_check() { # LABEL MODEL QUANT GEN CHECK_DIR MOE_ARGS... -- RUN_ARGS...
  local label=$1 model=$2 quant=$3 gen=$4 ck=$5; shift 5
  local moe=() run=()
  while [ "$1" != -- ]; do moe+=("$1"); shift; done; shift
  run=("$@")
  local dump="$WORK/dump-$label" log="$WORK/log-$label"
  if ! mpirun_np "$NP" "$REFIT" run "${run[@]}" --tp "$TP" --quant "$quant" "${moe[@]}" --bucket-mb 1 \
       --dump "$dump" >"$log" 2>&1; then
    fail "$label np=$NP tp=$TP: refit run failed"; cat "$log"; return
  fi
  if "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$ck" --tp "$TP" --world "$NP" --quant "$quant" "${moe[@]}" \
       --dump "$dump" --generation "$gen" >"$log.check" 2>&1; then
    pass "$label np=$NP tp=$TP: $(tail -n 1 "$log.check")"
  else
    fail "$label np=$NP tp=$TP: dump differs from the SPEC reference"; head -n 30 "$log.check"
  fi
}

make_model llama 11 "$WORK/llama-g0"
for dt in fp16 fp32 mixed; do
  make_model llama 12 "$WORK/llama-$dt" --dtype "$dt"
  run_check "llama-$dt" llama fp8-block 1 "$WORK/llama-$dt" -- --checkpoint "$WORK/llama-g0" --checkpoint "$WORK/llama-$dt"
done
run_check "llama-fp16-first" llama fp8-row 0 "$WORK/llama-fp16" -- --checkpoint "$WORK/llama-fp16"
make_model mixtral 11 "$WORK/mixtral-g0"
make_model mixtral 12 "$WORK/mixtral-mixed" --dtype mixed
run_check "mixtral-mixed-ep" mixtral fp8-block 1 "$WORK/mixtral-mixed" --moe ep -- \
  --checkpoint "$WORK/mixtral-g0" --checkpoint "$WORK/mixtral-mixed"
run_check "llama-mixed-readers-all" llama none 1 "$WORK/llama-mixed" -- --readers all \
  --checkpoint "$WORK/llama-g0" --checkpoint "$WORK/llama-mixed"

# refit synth --dtype: fp32 holds the bf16 values widened (dumps equal the
# bf16 checkpoint's), fp16 is what tests/ref reads and converts.
for dt in bf16 fp16 fp32; do "$REFIT" synth --out "$WORK/synth-$dt" --preset tiny --seed 2 --dtype "$dt" >/dev/null; done
run_check "synth-fp16" llama fp8-row 0 "$WORK/synth-fp16" -- --checkpoint "$WORK/synth-fp16"
run_check "synth-fp32" llama fp8-row 0 "$WORK/synth-fp32" -- --checkpoint "$WORK/synth-fp32"
run_check "synth-bf16" llama fp8-row 0 "$WORK/synth-bf16" -- --checkpoint "$WORK/synth-bf16"
if cmp -s "$WORK/dump-synth-fp32/rank-00000-of-$(printf %05d "$NP").safetensors" \
          "$WORK/dump-synth-bf16/rank-00000-of-$(printf %05d "$NP").safetensors"; then
  pass "synth --dtype fp32 loads as the bf16 checkpoint it widens"
else fail "synth --dtype fp32 and bf16 dumps differ"; fi

# Rejections: the exact message, generation 0 kept.
expect_reject() { # LABEL WANT_LINE CHECKPOINT
  local out="$WORK/out-$1"
  if mpirun_np "$NP" "$REFIT" run --tp "$TP" --checkpoint "$WORK/llama-g0" --checkpoint "$3" >"$out" 2>&1; then
    fail "$1: refit run succeeded"; return
  fi
  if grep -qxF "$2" "$out" && grep -qxF "refit: every rank keeps generation 0" "$out"; then pass "$1"
  else fail "$1: no line '$2' and generation 0 kept"; cat "$out"; fi
}
t=model.layers.1.mlp.up_proj.weight
make_model llama 12 "$WORK/llama-ovf" --overflow "$t@77"
f=$("$PYTHON" -c "import json; print(json.load(open('$WORK/llama-ovf/model.safetensors.index.json'))['weight_map']['$t'])")
# the first of the ranks that pack it: rank 0 reads every byte (readers root)
expect_reject overflow "refit: generation 1 NOT committed (nan or inf in weights): rank 0: tensor $t of file $WORK/llama-ovf/$f: element 77 is inf after conversion from F32 to BF16" "$WORK/llama-ovf"
make_model llama 12 "$WORK/llama-f64" --tensor-dtype "$t=F64"
expect_reject f64 "refit: generation 1 NOT committed (unsupported): rank 0: unsupported dtype F64 in tensor $t of file $WORK/llama-f64/$f (refit reads BF16, F16, F32)" "$WORK/llama-f64"
if [ "$NP" -ge 2 ]; then # --readers is agreed at create, as every option
  out="$WORK/out-readers"
  mpirun_np "$NP" bash -c 'if [ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ]; then export REFIT_READERS=all; fi; exec "$@"' _ \
    "$REFIT" run --tp "$TP" --checkpoint "$WORK/llama-g0" >"$out" 2>&1
  if grep -qxF "refit run: rank 1 has --readers all, rank 0 has root: every rank must be started with the same options" "$out"
  then pass "readers differing between ranks refused"; else fail "readers differing between ranks"; cat "$out"; fi
fi
if "$REFIT" run --help | grep -qF "Tensors in memory (a trainer's state dict) are a C API source only"; then
  pass "run --help: memory sources are C API only"
else fail "run --help does not say memory sources are C API only"; fi
finish

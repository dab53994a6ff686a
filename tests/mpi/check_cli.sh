#!/usr/bin/env bash
# The refit command as a user meets it: help everywhere, synth -> plan ->
# inspect, the embedded default under mpirun, reports, wrong usage.
# usage: check_cli.sh REFIT
REFIT=$1
source "$(dirname "$0")/lib.sh"

expect() { # DESCRIPTION WANT_RC GREP_PATTERN CMD...
  local what=$1 want=$2 pat=$3; shift 3
  local rc=0
  "$@" >"$WORK/out" 2>&1 || rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$what: exit $rc, wanted $want"; cat "$WORK/out"; return; fi
  if ! grep -qE -- "$pat" "$WORK/out"; then fail "$what: output lacks /$pat/"; cat "$WORK/out"; return; fi
  pass "$what"
}

expect "refit --help" 0 "usage: refit <command>" "$REFIT" --help
for cmd in run synth plan inspect; do
  expect "refit $cmd --help" 0 "usage: .*refit $cmd" "$REFIT" $cmd --help
done
expect "refit env" 0 "REFIT_TP .*tensor-parallel" "$REFIT" env
expect "unknown command" 2 "unknown command 'frobnicate'" "$REFIT" frobnicate
expect "unknown option" 2 "unknown option '--bogus'" "$REFIT" synth --bogus
expect "unknown preset" 2 "tiny" "$REFIT" synth --out "$WORK/x" --preset nope

expect "synth tiny" 0 "written \\(3/3 files" "$REFIT" synth --out "$WORK/tiny" --preset tiny
expect "synth tiny-qwen2" 0 "written" "$REFIT" synth --out "$WORK/q2" --preset tiny-qwen2 --seed 5
expect "plan tp 2" 0 "tp rank 1 .*" "$REFIT" plan --checkpoint "$WORK/tiny" --tp 2
expect "plan shows kv replicas" 0 "k_proj\\[0," "$REFIT" plan --checkpoint "$WORK/q2" --tp 4
expect "plan indivisible tp" 1 "not divisible by tp 3" "$REFIT" plan --checkpoint "$WORK/tiny" --tp 3
expect "synth tiny-qwen3-moe" 0 "written" "$REFIT" synth --out "$WORK/q3m" --preset tiny-qwen3-moe
expect "plan --moe ep: experts per rank" 0 "experts \\[4,5\\) of 6: gate_proj,up_proj rows \\[0,160\\)" \
  "$REFIT" plan --checkpoint "$WORK/q3m" --tp 4 --moe ep --quant fp8-block
expect "plan --moe tp: intermediate slices" 0 "experts \\[0,6\\) of 6: down_proj columns \\[120,160\\)" \
  "$REFIT" plan --checkpoint "$WORK/q3m" --tp 4 --moe tp
expect "plan --moe bad" 2 "--moe: 'xp' is not one of tp, ep" "$REFIT" plan --checkpoint "$WORK/q3m" --moe xp
expect "plan E < tp" 1 "num_experts 6 is less than tp 8" "$REFIT" plan --checkpoint "$WORK/q3m" --tp 8 --moe ep
expect "inspect dir" 0 "llama checkpoint" "$REFIT" inspect "$WORK/tiny"
expect "inspect file" 0 "BF16" "$REFIT" inspect "$WORK/tiny/model-00001-of-00003.safetensors"
expect "inspect missing" 1 "No such file" "$REFIT" inspect "$WORK/none.safetensors"

# the embedded default: no arguments at all
expect "run default np 2" 0 "generation 1 committed on all 2 ranks" mpirun_np 2 "$REFIT" run
expect "run default np 1, report" 0 "report written" \
  mpirun_np 1 "$REFIT" run --dump "$WORK/d1" --report "$WORK/r.json" --quant fp8-block
expect "report JSON has every phase" 0 "ok" "$PYTHON" -c "
import json,sys; r=json.load(open('$WORK/r.json'))
assert r['world_size']==1 and len(r['loads'])==2, r
ph=r['loads'][1]['ranks'][0]['phases']
assert set(ph)=={'open','snapshot','restore','transfer','quantize','commit'}, ph
assert ph['transfer']['bytes']>0 and ph['quantize']['ms']>=0
print('ok')"
expect "inspect snapshot" 0 "snapshot v2: llama, tp 1, scheme fp8-block" "$REFIT" inspect "$WORK/d1/snapshot.refit"
expect "inspect dump" 0 "F8_E4M3" "$REFIT" inspect "$WORK/d1/rank-00000-of-00001.safetensors"
expect "reloads K" 0 "generation 3 committed" \
  mpirun_np 2 "$REFIT" run --checkpoint "$WORK/tiny" --reloads 3 --commit inplace
expect "tp not dividing world" 2 "world size 2 is not a multiple of tp 3|not a multiple" \
  mpirun_np 2 "$REFIT" run --checkpoint "$WORK/tiny" --tp 3
expect "missing checkpoint" 1 "rank 0: .*nowhere.*No such file" \
  mpirun_np 2 "$REFIT" run --checkpoint "$WORK/nowhere"
expect "bad quant" 2 "--quant: 'fp9' is not one of" mpirun_np 1 "$REFIT" run --quant fp9
finish

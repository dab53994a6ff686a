#!/usr/bin/env bash
# Issue 15 in one device call on a multi-GPU machine (nvidia-h200-x4; x2
# runs the tp 2 half, x8 adds tp 8): the runs below, their floors measured
# in the same call, and $OUT/multi.md, a table of achieved vs floor per run
# (bench/multi_table.py). Sections, chosen by STEPS (default all, in order):
#   build    bench/gpu_wave.sh's build (Release, sm_90, .gpu-deps); always first
#   readers  1. llama3-8b preset, fp8-tensor, tp 2, 4 (8): refit run with the
#            rank-0 reader and with --readers all; embed_pause (stage time
#            and pause time, the slowest rank's) with REFIT_READERS root|all
#   sources  2. memory sources at tp 4, llama3-8b: rank 0's GPU memory
#            (bench/source_bw's source `device`) and every rank's own GPU
#            memory (`rank-device`), one call each, each with its floor
#            measured in that call (NCCL sends from rank 0; device copy)
#   engine   5. tests/gpu/python_engine.sh at tp 2 and 4 (when present; called
#            as `NP=TP python_engine.sh BUILD_DIR` with PYTHON set,
#            exit 0 = pass)
#   moe      3. qwen3-30b-a3b preset, fp8-block, tp 4, --moe tp|ep, rank-0
#            reader and --readers all
#   scaling  4. bench/scaling.sh --backend cuda over 1, 2, 4 (8) GPUs
# It counts the GPUs first (nvidia-smi -L) and runs only what fits, saying
# what it skipped (also in $OUT/skipped.txt and the table). --readers all
# runs only where the build's refit run has --readers. BUDGET_S (570)
# bounds the call: a section that no longer fits is skipped, named, for a
# second call with STEPS set to it.
# usage: bash bench/gpu_multi.sh          (the device call: carry .gpu-deps)
#        DRY_RUN=1 [NGPU=4] bash bench/gpu_multi.sh   (prints every command; no GPU)
set -uo pipefail
O=${OUT:-/tmp/refit-multi}
STEPS=${STEPS:-"build readers sources engine moe scaling"}
source "$(dirname "$0")/gpu_lib.sh"
CK8=/dev/shm/refit-llama3-8b
CK30=/dev/shm/refit-qwen3-30b-a3b
ROWS=$O/rows.jsonl
[ "$DRY" = 1 ] || : >"$ROWS"

NGPU_SEEN=$(gpu_count)
echo "== $NGPU_SEEN GPUs$([ "$DRY" = 1 ] && echo " (DRY_RUN: NGPU)"); steps: $STEPS"
if [ "$NGPU_SEEN" -lt 2 ]; then skip "every multi-GPU run" "needs 2 GPUs, this machine has $NGPU_SEEN"; fi
TPS="2 4" # tp 8 only where 8 GPUs are: issue 15 asks for it only then
[ "$NGPU_SEEN" -lt 8 ] || TPS="2 4 8"
NPS="" # scaling: every power of two up to the GPU count, 8 at most
for n in 1 2 4 8; do [ "$n" -gt "$NGPU_SEEN" ] || NPS+="${NPS:+ }$n"; done

# One table row (bench/multi_table.py KIND ARGS), appended to $ROWS.
row() {
  echo "+ python3 bench/multi_table.py $* >> $ROWS"
  [ "$DRY" = 1 ] || python3 bench/multi_table.py "$@" >>"$ROWS" || echo "  (no row: see above)"
}

HAVE=" " # what this call made already (checkpoints, floors): made once
synth() { # DIR PRESET
  [[ $HAVE == *" $1 "* ]] && return 0
  if [ "$DRY" = 1 ] || [ ! -f "$1/config.json" ]; then
    x "synth-$2" 400 "$B/refit" synth --out "$1" --preset "$2" --seed 1 || return 1
  fi
  HAVE+="$1 "
}

floors() { # NP: floors-npNP.json, once per call
  [[ $HAVE == *" floors-np$1 "* ]] && return 0
  x "floors-np$1" 120 $MPI -np "$1" "$B/bench/floors" --json "$O/floors-np$1.json" && HAVE+="floors-np$1 "
}

# Whether this build reads with every rank (refit run --readers, the
# sources branch): without it the library ignores refit_options.readers, so
# an "all" run would measure the rank-0 reader under another name.
readers_all_built() {
  [ "$DRY" = 1 ] && return 0
  "$B/refit" run --help 2>&1 | grep -q -- "--readers" && return 0
  skip "$1" "this build's refit run has no --readers (the sources branch adds it)"
  return 1
}

# refit run at tp = np with the rank-0 reader or --readers all, and its row.
reload() { # RUN NAME CKPT TP READERS RELOADS QUANT [refit run options]
  local run=$1 name=$2 ck=$3 tp=$4 readers=$5 reloads=$6 quant=$7
  shift 7
  local ra=()
  [ "$readers" = root ] || ra=(--readers all) # root is the default: no option, so it runs on any branch
  x "$name" 240 $MPI -np "$tp" "$B/refit" run --backend cuda --checkpoint "$ck" --reloads "$reloads" --tp "$tp" \
    --quant "$quant" --bucket-mb 32 "${ra[@]}" "$@" --report "$O/$name.json"
  row reload --run "$run" --name "$name" --report "$O/$name.json" --floors "$O/floors-np$tp.json" \
    --checkpoint "$ck" --readers "$readers"
}

readers_step() {
  step "readers (1: llama3-8b, rank-0 reader vs --readers all, stage and pause)"
  room 60 "synth llama3-8b" && synth "$CK8" llama3-8b || return 0
  for tp in $TPS; do
    fits "$tp" "llama3-8b tp $tp" && room 120 "llama3-8b tp $tp" || continue
    floors "$tp"
    for rd in root all; do
      [ "$rd" = root ] || readers_all_built "llama3-8b tp $tp --readers all, stage/pause with REFIT_READERS=all" || continue
      reload 1 "llama8b-tp$tp-$rd" "$CK8" "$tp" "$rd" 3 fp8-tensor
      x "pause-tp$tp-$rd" 240 env REFIT_READERS="$rd" $MPI -np "$tp" -x REFIT_READERS "$B/bench/embed_pause" "$CK8" 5
      row pause --run 1 --name "pause-tp$tp-$rd" --log "$O/pause-tp$tp-$rd.log"
    done
  done
}

sources_step() {
  step "sources (2: rank 0's GPU memory, every rank's own GPU memory, tp 4)"
  fits 4 "memory sources at tp 4" && room 60 "synth llama3-8b" && synth "$CK8" llama3-8b || return 0
  # one call per source: a source that fails (memory: every rank holds all
  # 16 GB for rank-device) leaves the other's figure
  for src in device rank-device; do
    room 90 "memory source $src tp 4" || continue
    x "source-$src-tp4" 240 $MPI -np 4 "$B/bench/source_bw" "$CK8" 5 fp8-tensor "$src"
    row source --run 2 --name "source-$src-tp4" --log "$O/source-$src-tp4.log" --source "$src" --tp 4
  done
}

engine_step() {
  step "engine (5: PyTorch reference engine over NCCL, graph replayed across a reload)"
  if [ ! -f tests/gpu/python_engine.sh ]; then skip "python engine (5)" "no tests/gpu/python_engine.sh"; return 0; fi
  for tp in 2 4; do
    fits "$tp" "python engine tp $tp" && room 120 "python engine tp $tp" || continue
    x "engine-tp$tp" 300 env NP="$tp" PYTHON=python3 bash tests/gpu/python_engine.sh "$B"
    row check --run 5 --name "engine-tp$tp" --log "$O/engine-tp$tp.log" --rc "$XRC"
  done
}

moe_step() {
  step "moe (3: qwen3-30b-a3b, tp 4, --moe tp|ep, rank-0 reader vs --readers all)"
  fits 4 "qwen3-30b-a3b tp 4" && room 240 "qwen3-30b-a3b" || return 0
  x rm-8b 60 rm -rf "$CK8" # /dev/shm is RAM: room for the 61 GB checkpoint
  HAVE=${HAVE/ $CK8 / }
  synth "$CK30" qwen3-30b-a3b || return 0
  floors 4
  for moe in tp ep; do
    for rd in root all; do
      [ "$rd" = root ] || readers_all_built "qwen3-30b-a3b --moe $moe --readers all" || continue
      room 60 "qwen3-30b-a3b --moe $moe --readers $rd" || continue
      reload 3 "moe30b-tp4-$moe-$rd" "$CK30" 4 "$rd" 2 fp8-block --moe "$moe"
    done
  done
  x rm-30b 60 rm -rf "$CK30"
  HAVE=${HAVE/ $CK30 / }
}

scaling_step() {
  step "scaling (4: bench/scaling.sh --backend cuda over $NPS GPUs)"
  room 200 "scaling" || return 0
  # no plot there (no matplotlib, no network): scaling_report.py plot draws it here afterwards
  x scaling 400 env MPIRUN="mpirun -x NCCL_NVLS_ENABLE --bind-to none" bash bench/scaling.sh --backend cuda \
    --np "$NPS" --preset llama3-8b --bucket-mb 256 --refit "$B/refit" --out "$O" --no-plot
  row scaling --run 4 --csv "$O/scaling-cuda.csv"
}

want build && build_step
if [ "$NGPU_SEEN" -ge 2 ]; then
  want readers && readers_step
  want sources && sources_step
  want engine && engine_step
  want moe && moe_step
  want scaling && scaling_step
fi
step table
echo "+ python3 bench/multi_table.py table $ROWS $O/skipped.txt > $O/multi.md"
if [ "$DRY" != 1 ]; then
  python3 bench/multi_table.py table "$ROWS" "$O/skipped.txt" --gpus "$(nvidia-smi -L | head -n 1)" >"$O/multi.md"
  cat "$O/multi.md"
fi
echo; echo "== done ($(date +%T), ${SECONDS}s)"

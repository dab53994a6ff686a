#!/usr/bin/env bash
# Issue 16 in one device call on a 4-GPU machine (nvidia-h200-x4): the cuda
# backend's fault behaviour, each section's markdown table in $OUT (for
# docs/faults.md). Sections, chosen by STEPS (default all):
#   build     bench/gpu_wave.sh's build (Release, sm_90, .gpu-deps); always first
#   matrix    1. tests/faults/fault_matrix.sh at np 4 on cuda: all 27 cells
#             (error, crash, hang) in the CLI's abort mode -> faults-cuda-np4.md
#   return    1. the library's return mode: tests/embed/check_hang.sh on cuda
#             at np 4, one rank stalled past the timeout in each of the 9
#             hang cells of the matrix -> return-cuda-np4.md
#   chaos     2. tests/chaos/chaos.py --backend cuda --nps 4, 180 s of runs -> chaos-cuda.md
#   dumps     3. tests/gpu/check_cuda_dumps.sh, MoE families (qwen3_moe,
#             qwen2_moe, mixtral), both --moe modes, every scheme, --verify,
#             np:tp 2:2, 4:4, 4:2 -> dumps-moe.md
#   memcheck  4. compute-sanitizer memcheck of tp 2 runs (dense and MoE) -> memcheck.md
# After the build the sections run side by side (PARALLEL=1, the default:
# one after another they take longer than one call's 600 s); each section
# logs to its own files. It counts the GPUs first (nvidia-smi -L) and runs
# only what fits, saying what it skipped ($OUT/skipped.txt).
# usage: bash tests/gpu/multi_faults.sh        (the device call: carry .gpu-deps)
#        DRY_RUN=1 [NGPU=4] bash tests/gpu/multi_faults.sh   (prints every command; no GPU)
set -uo pipefail
O=${OUT:-/tmp/refit-multi-faults}
STEPS=${STEPS:-"build matrix return chaos dumps memcheck"}
source "$(dirname "$0")/../../bench/gpu_lib.sh"
T=tests/gpu/multi_tables.py
# the test scripts' launcher: one rank per GPU, NVLink multicast off
LAUNCH=(env RF_MPIEXEC="mpirun --oversubscribe -np" RF_MPI_EXTRA="-x NCCL_NVLS_ENABLE" PYTHON=python3)
HANG_CELLS="1:open 1:snapshot 1:restore 1:transfer 1:quantize 1:commit 0:open 0:transfer 0:commit"
MOE_MODELS="qwen3_moe qwen2_moe mixtral"

NGPU_SEEN=$(gpu_count)
echo "== $NGPU_SEEN GPUs$([ "$DRY" = 1 ] && echo " (DRY_RUN: NGPU)"); steps: $STEPS"

tab() { # SECTION-OUTPUT.md ARGS...: a table from the logs (tests/gpu/multi_tables.py)
  local md=$1
  shift
  echo "+ python3 $T $* > $O/$md"
  [ "$DRY" = 1 ] || python3 "$T" "$@" >"$O/$md"
}

matrix_section() {
  fits 4 "fault matrix on cuda at np 4" || return 0
  x matrix 500 "${LAUNCH[@]}" bash tests/faults/fault_matrix.sh "$B/refit" 4 10 "$O/faults-cuda-np4.md" cuda
}

return_section() {
  fits 4 "return mode on cuda at np 4" || return 0
  local c logs=()
  for c in $HANG_CELLS; do
    x "return-${c/:/-}" 90 "${LAUNCH[@]}" HANG_TIMEOUT=3 bash tests/embed/check_hang.sh "$B/tests/test_embed" 4 cuda "$c"
    logs+=("$O/return-${c/:/-}.log")
  done
  tab return-cuda-np4.md return "${logs[@]}"
}

chaos_section() {
  fits 4 "chaos on cuda at np 4" || return 0
  # --timeout 10: a cuda rank's start (CUDA context, NCCL communicator) takes seconds
  x chaos 330 env RF_MPIEXEC="mpirun --oversubscribe -x NCCL_NVLS_ENABLE -np" python3 tests/chaos/chaos.py \
    --refit "$B/refit" --backend cuda --nps 4 --timeout 10 --budget 180
  tab chaos-cuda.md chaos "$O/chaos.log"
}

dumps_section() { # one lane per layout: three side by side
  local lt logs=()
  for lt in 2:2 4:4 4:2; do
    fits "${lt%:*}" "MoE dumps np:tp $lt" || continue
    lanes_start "dumps-${lt/:/x}" x "dumps-${lt/:/x}" 500 "${LAUNCH[@]}" MODELS="$MOE_MODELS" RUN_ARGS=--verify \
      bash tests/gpu/check_cuda_dumps.sh "$B/refit" "$lt"
    logs+=("$O/dumps-${lt/:/x}.log")
  done
  lanes_wait
  [ ${#logs[@]} -eq 0 ] || tab dumps-moe.md dumps "${logs[@]}"
}

memcheck_section() {
  fits 2 "compute-sanitizer memcheck at tp 2" || return 0
  local cs w=$O/memcheck-work
  cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  x memcheck-clean 30 rm -rf "$w"
  x memcheck-g0 60 "$B/refit" synth --out "$w/g0" --preset tiny --seed 1
  x memcheck-g1 60 "$B/refit" synth --out "$w/g1" --preset tiny --seed 2
  x memcheck-m0 60 python3 tests/ref/make_ckpt.py --out "$w/m0" --family qwen3_moe --preset tiny --seed 1
  x memcheck-m1 60 python3 tests/ref/make_ckpt.py --out "$w/m1" --family qwen3_moe --preset tiny --seed 2
  local rcs=()
  x memcheck-dense 240 mpirun --oversubscribe -x NCCL_NVLS_ENABLE -np 2 "$cs" --tool memcheck --error-exitcode 9 \
    "$B/refit" run --backend cuda --checkpoint "$w/g0" --checkpoint "$w/g1" --tp 2 --quant fp8-block --verify
  rcs+=("$O/memcheck-dense.log:$XRC")
  x memcheck-moe 240 mpirun --oversubscribe -x NCCL_NVLS_ENABLE -np 2 "$cs" --tool memcheck --error-exitcode 9 \
    "$B/refit" run --backend cuda --checkpoint "$w/m0" --checkpoint "$w/m1" --tp 2 --quant fp8-block --moe ep --verify
  rcs+=("$O/memcheck-moe.log:$XRC")
  tab memcheck.md memcheck "${rcs[@]}"
}

# Sections side by side: each in a subshell, its own output in
# $O/lane-NAME.txt, printed once all are done. A dry run goes in order.
LANES=()
lanes_start() { # NAME CMD...
  local name=$1
  shift
  if [ "$DRY" = 1 ] || [ "${PARALLEL:-1}" != 1 ]; then "$@"; return; fi
  echo "lane $name: started ($(date +%T))"
  ("$@") >"$O/lane-$name.txt" 2>&1 &
  LANES+=("$name")
}
lanes_wait() {
  [ ${#LANES[@]} -eq 0 ] && return 0
  wait
  local n
  for n in "${LANES[@]}"; do echo; echo "-- lane $n"; cat "$O/lane-$n.txt"; done
  LANES=()
}

want build && build_step
step "sections: ${STEPS/build/}"
# the dumps' three lanes go beside the others: dumps_section starts them first
if want dumps; then lanes_start dumps dumps_section; fi
want matrix && lanes_start matrix matrix_section
want return && lanes_start return return_section
want chaos && lanes_start chaos chaos_section
want memcheck && lanes_start memcheck memcheck_section
lanes_wait
step tables
for md in faults-cuda-np4.md return-cuda-np4.md chaos-cuda.md dumps-moe.md memcheck.md; do
  [ "$DRY" != 1 ] && [ -f "$O/$md" ] && { echo; echo "### $md"; cat "$O/$md"; }
done
[ "$DRY" = 1 ] || { echo; echo "skipped:"; cat "$O/skipped.txt"; }
echo; echo "== done ($(date +%T), ${SECONDS}s)"

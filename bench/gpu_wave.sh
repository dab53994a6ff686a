#!/usr/bin/env bash
# One device call that builds refit on a GPU machine and runs the GPU-side
# checks and measurements chosen in STEPS (device time is scarce: batch them).
#   build    configure + build (Release, sm_90); always first
#   unit     GPU unit tests: quantization (dense, MoE), digests, embedding
#   dumps    cuda == host == tests/ref dumps (dense and MoE) at np 1
#   bench8b  llama3-8b preset reload at tp 1 with floors (bench/gpu_bench.sh)
#   kernels  quant_bw (dense and --moe), digest_bw
#   embed    bench/gpu_embed.sh (graph replay across a reload, pause vs floor)
#   verify   bench/gpu_verify.sh (--verify cost)
#   moe30b   bench/gpu_moe.sh (qwen3-30b-a3b at tp 1)
#   cli      the CLI's cuda row (report with h2d bytes and cuda floors)
#   python   tests/gpu/python_engine.sh: the Python engine at tp 1, every
#            family and scheme, vs transformers, CUDA graph replayed across a
#            reload (python3 there needs CUDA torch + transformers)
#   sources  bench/gpu_sources.sh (dir, host pageable/pinned, device memory at tp 1,
#            floors in the same run) and the source kinds' dumps on cuda
#            (tests/sources/check_sources.sh with the cuda backend)
# Logs go to $OUT (the device tool brings them back). Missing dev headers
# (jansson, zlib, xxhash) come unpacked under .gpu-deps/usr (see README).
# usage: STEPS="build unit dumps" bash bench/gpu_wave.sh
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
O=${OUT:-/tmp/refit-gpu}; mkdir -p "$O"
STEPS=${STEPS:-"build unit dumps bench8b kernels"}
B=build-gpu
want() { [[ " $STEPS " == *" $1 "* ]]; }
step() { echo; echo "== $1 ($(date +%T))"; }

# The unpacked -dev packages' .so links point at Debian's file names: point
# them at this machine's libraries.
deps=$PWD/.gpu-deps/usr/lib/x86_64-linux-gnu
if [ -d "$deps" ]; then
  for lib in libjansson libz; do
    real=$(ls /usr/lib/x86_64-linux-gnu/$lib.so.* /lib/x86_64-linux-gnu/$lib.so.* 2>/dev/null | head -n 1)
    [ -n "$real" ] && ln -sf "$real" "$deps/$lib.so"
  done
fi

step build
nvidia-smi -L
rm -f $B/CMakeCache.txt # a cached pkg-config result must not outlive .gpu-deps changes
# gcc 13 there flags format truncations gcc 12 (CI) does not: printed, not fatal.
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PWD/.gpu-deps/usr" \
  -DCMAKE_C_FLAGS="-Wno-error=format-truncation" -DPython3_EXECUTABLE="$(command -v python3)" >"$O/cmake.log" 2>&1 || { tail -n 30 "$O/cmake.log"; exit 1; }
grep -E "refit:|xxHash" "$O/cmake.log"
cmake --build $B -j"$(nproc)" >"$O/build.log" 2>&1 || { grep -E "error|Error" "$O/build.log" | head -30; exit 1; }
grep -E "warning:" "$O/build.log" | sort -u | head -n 10
echo "built: $(ls $B/refit $B/tests/test_*cuda 2>/dev/null | tr '\n' ' ')"

if want unit; then
  step unit
  for t in $B/tests/test_*_cuda $B/tests/test_quant_cuda; do
    [ -x "$t" ] || continue
    n=$(basename "$t")
    timeout 300 "$t" >"$O/$n.log" 2>&1; rc=$?
    echo "$n: exit $rc: $(tail -n 1 "$O/$n.log")"
  done | sort -u
fi

if want dumps; then
  step dumps
  RF_MPIEXEC="mpirun --oversubscribe -np" PYTHON=python3 timeout 540 \
    bash tests/gpu/check_cuda_dumps.sh $B/refit 1:1 >"$O/dumps.log" 2>&1
  echo "check_cuda_dumps exit $?"; grep -E "^(FAIL|skip)|passed" "$O/dumps.log" | cut -c1-200 | tail -n 20
fi

if want bench8b; then
  step bench8b
  RELOADS=3 OUT="$O" timeout 300 bash bench/gpu_bench.sh $B 1:1 >"$O/bench8b.log" 2>&1
  echo "gpu_bench exit $?"; grep -vE "^refit: generation|^\s*$" "$O/bench8b.log" | tail -n 40
fi

if want kernels; then
  step kernels
  timeout 120 $B/bench/quant_bw >"$O/quant_bw.log" 2>&1; echo "quant_bw exit $?"; tail -n 12 "$O/quant_bw.log"
  timeout 120 $B/bench/quant_bw --moe >"$O/quant_bw_moe.log" 2>&1; echo "quant_bw --moe exit $?"; tail -n 14 "$O/quant_bw_moe.log"
  timeout 180 $B/bench/digest_bw >"$O/digest_bw.log" 2>&1; echo "digest_bw exit $?"; tail -n 20 "$O/digest_bw.log"
fi

for s in embed verify; do
  if want $s && [ -f bench/gpu_$s.sh ]; then
    step $s
    OUT="$O" timeout 300 bash bench/gpu_$s.sh $B >"$O/$s.log" 2>&1; echo "gpu_$s exit $?"; tail -n 30 "$O/$s.log"
  fi
done

if want cli; then
  step cli
  timeout 200 bash tests/cli/check_rows.sh $B/refit "$PWD" cuda >"$O/cli_cuda.log" 2>&1; echo "cli cuda row exit $?"
  tail -n 25 "$O/cli_cuda.log"
  [ -x $B/tests/test_device ] && { timeout 60 $B/tests/test_device >"$O/test_device.log" 2>&1; echo "test_device exit $?: $(tail -n 1 "$O/test_device.log")"; }
fi

if want python; then
  step python
  PYTHON=python3 timeout 500 bash tests/gpu/python_engine.sh $B >"$O/python_engine.log" 2>&1
  echo "python_engine exit $?"; grep -E "^(FAIL|SKIP)|failures" "$O/python_engine.log" | head -n 40
  grep -E "replay" "$O/python_engine.log" | cut -c1-160 | head -n 40
fi

if want moe30b && [ -f bench/gpu_moe.sh ]; then
  step moe30b
  rm -rf /dev/shm/refit-llama3-8b # room for the 61 GB checkpoint
  OUT="$O" timeout 540 bash bench/gpu_moe.sh $B >"$O/moe30b.log" 2>&1; echo "gpu_moe exit $?"; tail -n 40 "$O/moe30b.log"
fi
echo; echo "== done ($(date +%T))"

if want sources; then
  step sources
  timeout 500 bash bench/gpu_sources.sh $B 5 >"$O/sources.log" 2>&1
  echo "gpu_sources exit $?"; tail -n 8 "$O/sources.log"
  RF_BACKEND=cuda RF_MPIEXEC="mpirun --oversubscribe -np" PYTHON=python3 timeout 300 \
    bash tests/sources/check_sources.sh $B/tests/test_sources 1 1 >"$O/sources_dumps.log" 2>&1
  echo "check_sources (cuda) exit $?"; grep -E "^FAIL|passed" "$O/sources_dumps.log" | tail -n 10
fi

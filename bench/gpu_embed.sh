#!/usr/bin/env bash
# One GPU, the embedding API (issue 9): the graph-replay test (device buffers
# bound, a CUDA graph captured before the reload replayed after the commit
# sees generation 1) and the pause benchmark (llama3-8b preset at tp 1 from
# /dev/shm: stage time, pause time, pause vs its device-copy floor).
# usage: bench/gpu_embed.sh [BUILD_DIR]   (default build-gpu, configured and
# built here when it has no embed_pause yet); logs under $OUT.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=${1:-build-gpu}
O=${OUT:-/tmp/refit-embed}; mkdir -p "$O"
CKPT=/dev/shm/refit-llama3-8b
REPS=${REPS:-5}
if [ ! -x "$B/bench/embed_pause" ]; then
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PWD/.gpu-deps/usr" >"$O/embed-cmake.log" 2>&1 &&
    cmake --build "$B" -j"$(nproc)" >"$O/embed-build.log" 2>&1 || { tail -n 30 "$O/embed-build.log"; exit 1; }
fi
rc=0
echo "== test_embed_cuda (graph captured before the reload, replayed after the commit)"
timeout 300 "$B/tests/test_embed_cuda" 2>&1 | tee "$O/test_embed_cuda.log"; t=${PIPESTATUS[0]}
echo "test_embed_cuda exit $t"; [ "$t" -eq 0 ] || rc=1
echo "== embed_pause: llama3-8b at tp 1 from /dev/shm, $REPS reloads"
[ -f "$CKPT/config.json" ] || "$B/refit" synth --out "$CKPT" --preset llama3-8b --seed 1 >"$O/synth.log" 2>&1 || {
  tail -n 5 "$O/synth.log"; exit 1; }
# under mpirun with --bind-to none, as refit run's ranks (--bind auto) run: an
# MPI singleton's rank 0 packed 2x slower in the last wave
timeout 240 mpirun -np 1 --bind-to none -x NCCL_NVLS_ENABLE "$B/bench/embed_pause" "$CKPT" "$REPS" 2>&1 |
  tee "$O/embed_pause.log"; t=${PIPESTATUS[0]}
echo "embed_pause exit $t"; [ "$t" -eq 0 ] || rc=1
exit $rc

#!/usr/bin/env bash
# One GPU-machine session that checks and measures everything GPU-side in one
# call (device time is scarce): build, refit topo, the kernel test and
# bandwidth, the reload benchmark (tp 4, tp 2, dp 2 x tp 2; scatter and
# bcast), cuda-vs-host-vs-reference dumps for the cells named in DUMP_CELLS,
# and the fault matrix on the cuda backend. Logs go to $OUT.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
O=${OUT:-/tmp/refit-gpu}; mkdir -p "$O"
MPI="mpirun --oversubscribe -x NCCL_NVLS_ENABLE"
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PWD/.gpu-deps/usr" \
  -DPython3_EXECUTABLE="$(command -v python3)" >"$O/cmake.log" 2>&1 || { tail -n 20 "$O/cmake.log"; exit 1; }
cmake --build build-gpu -j"$(nproc)" 2>&1 | grep -E " error|Error " ; test -x build-gpu/refit || exit 1
echo "== topo"; timeout 30 $MPI -np 4 build-gpu/refit topo 2>&1 | tee "$O/topo.log"
echo "== test_quant_cuda"; timeout 100 build-gpu/tests/test_quant_cuda >"$O/test_quant_cuda.log" 2>&1; tail -n 1 "$O/test_quant_cuda.log"
echo "== quant_bw"; timeout 40 build-gpu/bench/quant_bw >"$O/quant_bw.log" 2>&1; grep -E "^ +[0-9]+x" "$O/quant_bw.log"
echo "== reload benchmark"
RELOADS=3 timeout 150 bash bench/gpu_bench.sh build-gpu 4:4 2:2 4:2 >"$O/bench.log" 2>&1
grep -E "^(floors on|  (pinned|device|NCCL))|median|achieved|phases|peak" "$O/bench.log"
TRANSFER=bcast RELOADS=3 timeout 40 bash bench/gpu_bench.sh build-gpu 4:4 >"$O/bench-bcast.log" 2>&1
echo "bcast:"; grep -E "median|achieved" "$O/bench-bcast.log"
echo "== dumps ${DUMP_CELLS:-}"
for cell in ${DUMP_CELLS:-}; do # MODEL:NP:TP:TRANSFER
  IFS=: read -r m np tp tr <<<"$cell"
  MODELS=$m REFIT_TRANSFER=$tr RF_MPIEXEC="mpirun --oversubscribe -np" PYTHON=python3 \
    timeout 90 bash tests/gpu/check_cuda_dumps.sh build-gpu/refit "$np:$tp" 2>&1 | grep -E "PASS|FAIL|passed" | cut -c1-160
done
echo "== fault matrix (cuda)"
RF_MPIEXEC="mpirun --oversubscribe -np" RF_MPI_EXTRA="-x NCCL_NVLS_ENABLE" PYTHON=python3 \
  timeout "${FAULT_SECONDS:-120}" bash tests/faults/fault_matrix.sh build-gpu/refit 4 10 "$O/faults-gpu.md" >"$O/faults.log" 2>&1
echo "fault matrix exit $?"; grep -E "PASS|FAIL|passed" "$O/faults.log" | cut -c1-160 | tail -n 30

#!/usr/bin/env bash
# The multi-GPU device-call scripts cannot rot unseen: bench/gpu_multi.sh
# (issue 15) and tests/gpu/multi_faults.sh (issue 16) in DRY_RUN=1 (no GPU:
# every command printed, none run) must list every run their issue asks for,
# at 4 GPUs; at 2 GPUs say what they skip; at 8 add tp 8 (gpu_multi); every
# mpirun passes NCCL_NVLS_ENABLE. Then their table scripts read sample lines
# in the formats the programs print (embed_pause's summary, source_bw's
# source lines, check_hang's summary, check_cuda_dumps' PASS/FAIL,
# chaos.py's count).
# usage: check_multi_dry.sh SOURCE_DIR
cd "$1" || exit 2
source tests/mpi/lib.sh # pass, fail, finish, WORK

dry() { # SCRIPT NGPU: its dry-run output in $WORK/SCRIPT-NGPU.txt
  local out
  out=$WORK/$(basename "$1" .sh)-$2.txt
  # STEPS= : the default, every section
  # shellcheck disable=SC1007
  if ! DRY_RUN=1 NGPU=$2 OUT="$WORK/out" STEPS= bash "$1" >"$out" 2>&1; then
    fail "$1 at $2 GPUs: exit != 0"; cat "$out"
  fi
  echo "$out"
}
has() { # FILE WHAT REGEX
  if grep -qE -- "$3" "$1"; then pass "$2"; else fail "$2: no line matches /$3/ in $(basename "$1")"; fi
}
lacks() { # FILE WHAT REGEX
  if grep -qE -- "$3" "$1"; then fail "$2: $(grep -E -- "$3" "$1" | head -n 1)"; else pass "$2"; fi
}
nvls() { # FILE WHAT: every command line with mpirun passes NCCL_NVLS_ENABLE
  local bad
  bad=$(grep -E '^\+ .*mpirun' "$1" | grep -v NCCL_NVLS_ENABLE | head -n 1)
  if [ -z "$bad" ]; then pass "$2"; else fail "$2: $bad"; fi
}
either() { # FILE WHAT REGEX-RUN REGEX-SKIP: the run, or the skip that says why
  if grep -qE -- "$3" "$1" || grep -qE -- "$4" "$1"; then pass "$2"; else fail "$2: neither the run nor its skip"; fi
}

# ---- issue 15 -----------------------------------------------------------------
m4=$(dry bench/gpu_multi.sh 4)
R="build-gpu/refit run --backend cuda"
for tp in 2 4; do
  has "$m4" "15.1 floors np $tp" "-np $tp build-gpu/bench/floors --json"
  has "$m4" "15.1 llama3-8b tp $tp rank-0 reader" "-np $tp $R --checkpoint /dev/shm/refit-llama3-8b .*--tp $tp --quant fp8-tensor --bucket-mb 32 --report"
  has "$m4" "15.1 llama3-8b tp $tp --readers all" "-np $tp $R --checkpoint /dev/shm/refit-llama3-8b .*--tp $tp .*--readers all"
  for rd in root all; do
    has "$m4" "15.1 stage/pause tp $tp readers $rd" "REFIT_READERS=$rd .*-np $tp -x REFIT_READERS build-gpu/bench/embed_pause"
  done
done
S="build-gpu/bench/source_bw /dev/shm/refit-llama3-8b [0-9]+ fp8-tensor"
has "$m4" "15.2 rank 0's GPU memory (source_bw device) at tp 4" "-np 4 $S device > "
has "$m4" "15.2 every rank's own GPU memory (source_bw rank-device) at tp 4" "-np 4 $S rank-device > "
for src in device rank-device; do
  has "$m4" "15.2 $src row at tp 4" "multi_table.py source .*--log \S+/source-$src-tp4.log --source $src --tp 4 "
  grep -q "\"$src\"" bench/source_bw.c || fail "15.2 source_bw.c has no source named $src"
done
for moe in tp ep; do
  has "$m4" "15.3 qwen3-30b-a3b --moe $moe rank-0 reader" "-np 4 $R --checkpoint /dev/shm/refit-qwen3-30b-a3b .*--tp 4 .*fp8-block --bucket-mb 32 --moe $moe --report"
  has "$m4" "15.3 qwen3-30b-a3b --moe $moe --readers all" "-np 4 $R --checkpoint /dev/shm/refit-qwen3-30b-a3b .*--readers all --moe $moe"
done
has "$m4" "15.4 scaling over 1 2 4" "bench/scaling.sh --backend cuda --np '1 2 4'"
for tp in 2 4; do
  either "$m4" "15.5 python engine tp $tp" "NP=$tp PYTHON=python3 bash tests/gpu/python_engine.sh build-gpu" "skipped: python engine \(5\): no tests/gpu/python_engine.sh"
done
has "$m4" "15 table into multi.md" "multi_table.py table .*> \S+/multi.md"
has "$m4" "15 build as gpu_wave.sh" "STEPS=build .*bash bench/gpu_wave.sh"
nvls "$m4" "15 every mpirun passes NCCL_NVLS_ENABLE"
m2=$(dry bench/gpu_multi.sh 2)
has "$m2" "15 at 2 GPUs: tp 4 skipped, said" "skipped: llama3-8b tp 4: needs 4 GPUs"
lacks "$m2" "15 at 2 GPUs: no run at np 4" "-np 4 "
has "$m2" "15 at 2 GPUs: memory sources skipped, said" "skipped: memory sources at tp 4: needs 4 GPUs"
has "$m2" "15 at 2 GPUs: scaling over 1 2" "--np '1 2' "
m8=$(dry bench/gpu_multi.sh 8)
has "$m8" "15 at 8 GPUs: llama3-8b tp 8" "-np 8 $R .*--tp 8 "
has "$m8" "15 at 8 GPUs: scaling over 1 2 4 8" "--np '1 2 4 8' "

# ---- issue 16 -----------------------------------------------------------------
f4=$(dry tests/gpu/multi_faults.sh 4)
L="'RF_MPIEXEC=mpirun --oversubscribe -np' 'RF_MPI_EXTRA=-x NCCL_NVLS_ENABLE'"
has "$f4" "16.1 fault matrix, cuda, np 4, abort mode" "$L .*tests/faults/fault_matrix.sh build-gpu/refit 4 10 \S+/faults-cuda-np4.md cuda"
for c in 1:open 1:snapshot 1:restore 1:transfer 1:quantize 1:commit 0:open 0:transfer 0:commit; do
  has "$f4" "16.1 return mode, cuda, np 4, stalled $c" "$L .*tests/embed/check_hang.sh build-gpu/tests/test_embed 4 cuda $c "
done
has "$f4" "16.2 chaos, cuda, np 4" "NCCL_NVLS_ENABLE -np' python3 tests/chaos/chaos.py --refit build-gpu/refit --backend cuda --nps 4 .*--budget"
for lt in 2:2 4:4 4:2; do
  has "$f4" "16.3 MoE dumps $lt, both --moe modes (MOE_MODES default), --verify" \
    "$L .*'MODELS=qwen3_moe qwen2_moe mixtral' RUN_ARGS=--verify bash tests/gpu/check_cuda_dumps.sh build-gpu/refit $lt "
done
nvls "$f4" "16 every mpirun passes NCCL_NVLS_ENABLE"
has "$f4" "16.4 memcheck, tp 2" "-np 2 \S*compute-sanitizer --tool memcheck --error-exitcode 9 build-gpu/refit run --backend cuda .*--tp 2"
for md in return-cuda-np4 chaos-cuda dumps-moe memcheck; do has "$f4" "16 table $md.md" "> \S+/$md.md"; done
f2=$(dry tests/gpu/multi_faults.sh 2)
has "$f2" "16 at 2 GPUs: the matrix skipped, said" "skipped: fault matrix on cuda at np 4: needs 4 GPUs"
lacks "$f2" "16 at 2 GPUs: no run at np 4" " 4:4 | 4:2 |check_hang.sh \S+ 4 "
# the matrix has all 27 cells: 3 kinds x (6 phases on rank 1 + 3 on rank 0)
has tests/faults/fault_matrix.sh "16.1 the matrix's 27 cells" '^KINDS="error crash hang"$'
has tests/faults/fault_matrix.sh "16.1 the matrix's 27 cells" '^PHASES="open snapshot restore transfer quantize commit"$'

# ---- the tables read what the programs print -------------------------------------
cat >"$WORK/pause.log" <<'EOF'
summary: tp 4, readers all, live 2.27 GB, stage mean 0.250 s, best pause 4.000 ms, floor 2.000 ms (copy 2000.0 GB/s), achieved/floor 0.50
EOF
grep -q '"summary: tp %d, readers %s, live %.2f GB, stage mean %.3f s, best pause %.3f ms, floor %.3f ms "' bench/embed_pause.c ||
  fail "embed_pause.c's summary format changed: update bench/multi_table.py and this sample"
if "$PYTHON" bench/multi_table.py pause --run 1 --name pause-tp4-all --log "$WORK/pause.log" >"$WORK/rows.jsonl" &&
   echo "x: budget" >"$WORK/skipped.txt" &&
   "$PYTHON" bench/multi_table.py table "$WORK/rows.jsonl" "$WORK/skipped.txt" --gpus "GPU 0: H200" >"$WORK/multi.md" &&
   grep -q "| 1 | pause-tp4-all | 4.00 ms | 2.00 ms | 0.50 | <= 5.00 ms | aim met |" "$WORK/multi.md" &&
   grep -q "^- x: budget$" "$WORK/multi.md"; then
  pass "multi_table.py: pause row vs its floor and aim, skips listed"
else
  fail "multi_table.py pause/table"; cat "$WORK/multi.md"
fi
# source_bw's lines (its table row, then one machine-readable line per source)
cat >"$WORK/source.log" <<'EOF'
device             400.0 ms   floor    100.0 ms (NCCL sends from rank 0)   floor/achieved 0.25
source_bw: source=device tp=4 reps=5 seconds=0.400000 floor_seconds=0.100000 floor_bytes=12040000000 floor_gbps=120.40 floor_of=nccl-send
EOF
grep -q '"source_bw: source=%s tp=%d reps=%d seconds=%.6f floor_seconds=%.6f floor_bytes=%.0f floor_gbps=%.2f "' \
  bench/source_bw.c || fail "source_bw.c's source line format changed: update bench/multi_table.py and this sample"
if "$PYTHON" bench/multi_table.py source --run 2 --name source-device-tp4 --log "$WORK/source.log" --source device \
     --tp 4 >"$WORK/srows.jsonl" &&
   "$PYTHON" bench/multi_table.py source --run 2 --name source-rank-device-tp4 --log "$WORK/source.log" \
     --source rank-device --tp 4 >>"$WORK/srows.jsonl" &&
   "$PYTHON" bench/multi_table.py source --run 2 --name source-device-tp2 --log "$WORK/source.log" --source device \
     --tp 2 >>"$WORK/srows.jsonl" &&
   "$PYTHON" bench/multi_table.py table "$WORK/srows.jsonl" "$WORK/none.txt" >"$WORK/s.md" &&
   grep -q "| 2 | source-device-tp4 | 0.400 s | 0.100 s | 0.25 |  | ok | 12.04 GB leaving rank 0 / 120.4 GB/s NCCL sends from rank 0 |" "$WORK/s.md" &&
   grep -q "| 2 | source-rank-device-tp4 | .* FAILED: no 'source_bw: source=rank-device' line" "$WORK/s.md" &&
   grep -q "| 2 | source-device-tp2 | .* FAILED: .* ran at tp 4, not 2" "$WORK/s.md"; then
  pass "multi_table.py source: source_bw's line vs its floor; a missing source or another tp fails"
else
  fail "multi_table.py source"; cat "$WORK/s.md"
fi
cat >"$WORK/hang.log" <<'EOF'
summary: np 4, backend cuda, stalled 1:open for 6 s, timeout 3 s: exit 0, 4 of 4 ranks timed out, the others returned within 3.01 s, job 9.5 s, ok
EOF
if "$PYTHON" tests/gpu/multi_tables.py return "$WORK/hang.log" "$WORK/missing.log" >"$WORK/r.md" &&
   grep -q "| \`1:open\` | 0 | 4 of 4 | 3.01 s (timeout 3 s) | 9.5 s | ok |" "$WORK/r.md" &&
   grep -q "| missing.log | .* FAIL: no summary line" "$WORK/r.md"; then
  pass "multi_tables.py return: a row per cell, a missing log fails"
else
  fail "multi_tables.py return"; cat "$WORK/r.md"
fi
grep -q 'echo "summary: np $NP, backend $BACKEND, stalled $CELL for ${STALL} s, timeout ${TIMEOUT} s: exit $rc, $n of $NP"' \
  tests/embed/check_hang.sh || fail "check_hang.sh's summary format changed: update tests/gpu/multi_tables.py"
cat >"$WORK/dumps.log" <<'EOF'
PASS: qwen3_moe --moe tp fp8-tensor np=2 tp=2: cuda == host == reference (ok); 
FAIL: mixtral --moe ep none np=4 tp=2: cuda dump differs from host dump
24 passed, 1 failed
EOF
if "$PYTHON" tests/gpu/multi_tables.py dumps "$WORK/dumps.log" >"$WORK/d.md" &&
   grep -q "| qwen3_moe | tp | 2/2 | ok | not run | not run | not run |" "$WORK/d.md" &&
   grep -q "| mixtral | ep | 4/2 | not run | not run | not run | FAIL |" "$WORK/d.md"; then
  pass "multi_tables.py dumps: family x mode x layout rows, scheme columns"
else
  fail "multi_tables.py dumps"; cat "$WORK/d.md"
fi
printf 'chaos: seed 7, work w\nchaos: sent SIGKILL to rank 2 (pid 1) at 1.0\nchaos: 12 runs, 9 faults, 0 violations\n' >"$WORK/chaos.log"
if "$PYTHON" tests/gpu/multi_tables.py chaos "$WORK/chaos.log" >"$WORK/c.md" && grep -q "| 12 | 9 | 0 | SIGKILL 1 |" "$WORK/c.md"; then
  pass "multi_tables.py chaos: runs, faults, violations, signals"
else
  fail "multi_tables.py chaos"; cat "$WORK/c.md"
fi
finish

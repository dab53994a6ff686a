#!/usr/bin/env bash
# Every source kind at world NP, tp TP (test_sources.c): generation 1 from
# a bf16 and from a mixed BF16/F16/F32 checkpoint through DIR (readers
# root), DIR (readers all), ROOT_MEMORY and RANK_MEMORY must give dumps
# byte-identical to the rank-0 directory source's, which must equal
# tests/ref; first loads from memory (config_dir) equal tests/ref too. The
# lying and unreadable sources are test_sources' own checks.
# RF_BACKEND=cuda (bench/gpu_wave.sh, on a GPU): the same on the cuda
# backend, plus the kinds from device memory.
# usage: check_sources.sh TEST_SOURCES NP TP
BIN=$1 NP=$2 TP=$3 BACKEND=${RF_BACKEND:-host}
KINDS="dir_all root_memory rank_memory"
[ "$BACKEND" = cuda ] && KINDS="$KINDS root_memory_device rank_memory_device"
source "$(dirname "$0")/../mpi/lib.sh"

make_model llama 11 "$WORK/g0"
for dt in bf16 mixed; do
  make_model llama 12 "$WORK/g1-$dt" --dtype "$dt"
  # rank NP-1's view for readers all: the same checkpoint with its first file cut short
  bad="$WORK/bad-$dt" file=model-00001-of-00003.safetensors
  cp -r "$WORK/g1-$dt" "$bad" && truncate -s 1000 "$bad/$file"
  out="$WORK/out-$dt"
  if mpirun_np "$NP" "$BIN" "$WORK/g0" "$WORK/g1-$dt" "$bad" "$file" "$out" "$TP" "$BACKEND" >"$WORK/log-$dt" 2>&1; then
    pass "$dt np=$NP tp=$TP: $(grep -c . "$WORK/log-$dt") lines, $(tail -n 1 "$WORK/log-$dt")"
  else
    fail "$dt np=$NP tp=$TP: test_sources failed"; cat "$WORK/log-$dt"; continue
  fi
  for kind in $KINDS; do
    same=1
    for f in "$out/dir_root"/rank-*.safetensors "$out/dir_root/snapshot.refit"; do
      cmp -s "$f" "$out/$kind/$(basename "$f")" || { same=0; fail "$dt $kind: $(basename "$f") differs from dir_root's"; }
    done
    [ "$same" = 1 ] && pass "$dt $kind np=$NP tp=$TP: byte-identical to dir_root"
  done
  for case in "dir_root 1" "root_memory_first 0" "rank_memory_first 0"; do
    set -- $case
    if "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$WORK/g1-$dt" --tp "$TP" --world "$NP" --quant fp8-block \
         --dump "$out/$1" --generation "$2" >"$WORK/check-$dt-$1" 2>&1; then
      pass "$dt $1 np=$NP tp=$TP: $(tail -n 1 "$WORK/check-$dt-$1")"
    else
      fail "$dt $1 np=$NP tp=$TP: dump differs from the SPEC reference"; head -n 20 "$WORK/check-$dt-$1"
    fi
  done
done
finish

#!/usr/bin/env bash
# The refit command as operators meet it (issue "The command as operators
# meet it"): each ROW is one row of that issue's table, with the exact
# message and exit code it must produce.
# usage: check_rows.sh REFIT SOURCE_DIR ROW   (ROW: args, version, progress, ...)
REFIT=$1 SRC=$2 ROW=$3
source "$SRC/tests/mpi/lib.sh"

# Runs CMD: its exit code must be WANT_RC and its output must hold a line
# matching WANT under grep's MODE (-xF: exactly that line; -E: a pattern).
expect_out() { # MODE DESCRIPTION WANT_RC WANT CMD...
  local mode=$1 what=$2 want=$3 line=$4; shift 4
  local rc=0
  "$@" >"$WORK/out" 2>&1 || rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$what: exit $rc, wanted $want"; cat "$WORK/out"; return 1; fi
  if ! grep -q "$mode" -- "$line" "$WORK/out"; then fail "$what: no line '$line'"; cat "$WORK/out"; return 1; fi
  pass "$what"
}
expect_line() { expect_out -xF "$@"; }
expect_re() { expect_out -E "$@"; }
# Only the lines refit printed (mpirun adds its own notice on a non-zero exit).
refit_lines() { grep -E '^(refit|see )' "$WORK/out"; }
expect_lines() { # DESCRIPTION N: exactly N lines of refit's own
  local n; n=$(refit_lines | wc -l)
  if [ "$n" -eq "$2" ]; then pass "$1"; else fail "$1: $n lines, wanted $2"; cat "$WORK/out"; fi
}
synth() { "$REFIT" synth --out "$1" --preset tiny --seed "${2:-1}" >/dev/null; }

row_args() {
  expect_line "run: positional path" 2 "refit run: unexpected argument 'g0' (did you mean --checkpoint g0?)" \
    mpirun_np 2 "$REFIT" run --backend host g0 g1 && expect_lines "run: positional path is one line" 1
  expect_line "plan: -tp" 2 "refit plan: unexpected argument '-tp' (did you mean --tp?)" \
    "$REFIT" plan --checkpoint g0 -tp 2
  expect_line "plan: -x" 2 "refit plan: unexpected argument '-x'" "$REFIT" plan --checkpoint g0 -x
  expect_line "plan: foo bar" 2 "refit plan: unexpected argument 'foo' (did you mean --checkpoint foo?)" \
    "$REFIT" plan --checkpoint g0 foo bar
  expect_line "synth: positional" 2 "refit synth: unexpected argument 'dir' (did you mean --out dir?)" \
    "$REFIT" synth dir
  expect_line "inspect: a second path" 2 "refit inspect: unexpected argument 'b'" "$REFIT" inspect a b
  expect_line "env: an argument" 2 "refit env: unexpected argument 'x'" "$REFIT" env x
  expect_line "run: misspelt option" 2 "refit run: unknown option '--checkpont' (did you mean --checkpoint?)" \
    mpirun_np 1 "$REFIT" run --checkpont g0 &&
    grep -qxF "see 'refit run --help'" "$WORK/out" && expect_lines "run: misspelt option is two lines, no help" 2
  expect_line "synth: unknown option" 2 "refit synth: unknown option '--bogus'" "$REFIT" synth --bogus
  expect_line "plan: another command's option" 2 \
    "refit plan: option '--dump' is not taken by refit plan (it is refit run's)" "$REFIT" plan --dump x
  expect_line "switch with a value" 2 "refit synth: option --force takes no value" "$REFIT" synth --force=1
  expect_line "missing value" 2 "refit run: option --tp needs a value N" mpirun_np 1 "$REFIT" run --tp
  # where a bad value came from: the variable or the flag
  expect_line "REFIT_TP=abc" 2 "refit plan: REFIT_TP: 'abc' is not an integer" \
    env REFIT_TP=abc "$REFIT" plan --checkpoint g0
  expect_line "--tp abc" 2 "refit plan: --tp: 'abc' is not an integer" "$REFIT" plan --checkpoint g0 --tp abc
  expect_line "--tp 0" 2 "refit plan: --tp: 0 is outside [1, 1048576]" "$REFIT" plan --checkpoint g0 --tp 0
  expect_line "REFIT_BACKEND=gpu" 2 "refit run: REFIT_BACKEND: 'gpu' is not one of auto, host, cuda" \
    env REFIT_BACKEND=gpu "$REFIT_MPI1" run
  expect_line "--quant fp9" 2 "refit run: --quant: 'fp9' is not one of fp8-tensor, fp8-row, fp8-block, none" \
    mpirun_np 1 "$REFIT" run --quant fp9
  expect_line "REFIT_TIMEOUT=soon" 2 "refit run: REFIT_TIMEOUT: 'soon' is not a number" \
    env REFIT_TIMEOUT=soon "$REFIT_MPI1" run
  expect_line "unknown command" 2 "refit: unknown command 'frobnicate'" "$REFIT" frobnicate
}

row_version() {
  expect_line "refit --version" 0 "refit $VERSION" "$REFIT" --version
  expect_line "refit version" 0 "refit $VERSION" "$REFIT" version
  expect_re "refit version: backends" 0 "^backends: host(, cuda| \\(built without CUDA\\))$" "$REFIT" version
  expect_re "run banner names the version" 0 "^refit $VERSION: 1 ranks" \
    mpirun_np 1 "$REFIT" run --report "$WORK/r.json" --dump "$WORK/d"
  expect_line "report refit_version" 0 "$VERSION" "$PYTHON" -c "
import json; r = json.load(open('$WORK/r.json')); print(r['refit_version'])"
  expect_line "dump metadata refit_version" 0 "  metadata refit_version = $VERSION" \
    "$REFIT" inspect "$WORK/d/rank-00000-of-00001.safetensors"
}

# Progress: under a pseudo-terminal (script(1)) a \r-rewritten line with
# bytes, GB/s; piped: nothing. Open MPI gives ranks a pty either way, so
# this is what mpirun's own output decides.
row_progress() {
  if ! command -v script >/dev/null; then echo "SKIP: no script(1) (util-linux) to give mpirun a terminal"; exit 77; fi
  synth "$WORK/g0" 1
  local cmd="$RF_MPIEXEC 2 $REFIT run --checkpoint $WORK/g0 --checkpoint $WORK/g0 --bucket-mb 1"
  script -qec "$cmd" /dev/null >"$WORK/tty" 2>&1
  if grep -aqE $'\rrefit: generation 1 transfer [0-9.]+ [KM]B / [0-9.]+ [KM]B \\(100%\\)  [0-9.]+ GB/s' "$WORK/tty"; then
    pass "progress on a terminal: one \\r line with bytes and GB/s"
  else fail "progress on a terminal"; od -c "$WORK/tty" | head -40; fi
  $cmd >"$WORK/pipe" 2>&1
  if ! grep -aq $'\r' "$WORK/pipe" && grep -q "generation 1 committed" "$WORK/pipe"; then pass "no progress when piped"
  else fail "no progress when piped"; cat -A "$WORK/pipe" | head; fi
  $cmd --progress on >"$WORK/pipe" 2>&1
  if grep -aq $'\rrefit: generation 0 transfer' "$WORK/pipe"; then pass "--progress on when piped"
  else fail "--progress on when piped"; cat -A "$WORK/pipe" | head; fi
  expect_re "refit_set_progress: monotone, throttled, ends at the stats' bytes" 0 "test_progress: ok" \
    mpirun_np 2 "$TEST_PROGRESS" "$WORK/g0"
}

row_preflight() {
  expect_line "--report unwritable" 2 \
    "refit run: --report /nonexistent/r.json: cannot write into /nonexistent: No such file or directory" \
    mpirun_np 2 "$REFIT" run --report /nonexistent/r.json --dump /proc/nope
  grep -qxF "refit run: --dump /proc/nope: /proc/nope: cannot create directory: No such file or directory (2 ranks, from rank 0)" \
    "$WORK/out" && pass "--dump unwritable, reported too" || { fail "--dump unwritable"; cat "$WORK/out"; }
  if grep -q "generation 0 <-" "$WORK/out"; then fail "a load started before the checks"; else pass "no load started"; fi
  expect_line "REFIT_DUMP named" 2 \
    "refit run: REFIT_DUMP $WORK/file: $WORK/file: exists and is not a directory (rank 0)" \
    bash -c "touch '$WORK/file' && REFIT_DUMP='$WORK/file' $RF_MPIEXEC 1 '$REFIT' run"
  mkdir -p "$WORK/ro" && chmod 555 "$WORK/ro"
  if [ "$(id -u)" -ne 0 ]; then
    expect_re "--dump read-only" 2 "cannot create a file in $WORK/ro/d" mpirun_np 1 "$REFIT" run --dump "$WORK/ro/d"
  fi
  expect_line "--report is a directory" 2 "refit run: --report $WORK: $WORK is a directory" \
    mpirun_np 1 "$REFIT" run --report "$WORK"
}

row_first_load() {
  expect_line "first load fails: nothing is loaded" 1 "refit: nothing is loaded: no generation was ever committed" \
    mpirun_np 2 "$REFIT" run --checkpoint "$WORK/nowhere" --dump "$WORK/d"
  grep -qxF "refit: nothing is loaded: nothing dumped to $WORK/d" "$WORK/out" && pass "nothing dumped" ||
    { fail "nothing dumped"; cat "$WORK/out"; }
  if grep -q "every rank keeps generation -1" "$WORK/out"; then fail "generation -1 still printed"; else pass "no generation -1"; fi
  synth "$WORK/g0" 1
  expect_line "a later load fails: the previous generation stays" 1 "refit: every rank keeps generation 0" \
    mpirun_np 2 "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/nowhere"
}

row_dtype() {
  synth "$WORK/g0" 1
  synth "$WORK/g1" 2
  local t=model.layers.0.self_attn.q_proj.weight f
  f=$("$PYTHON" -c "import json; print(json.load(open('$WORK/g1/model.safetensors.index.json'))['weight_map']['$t'])")
  "$PYTHON" "$SRC/tests/cli/retype.py" "$WORK/g1/$f" "$t"
  expect_re "F64 tensor" 1 "NOT committed .*rank 0: unsupported dtype F64 in tensor $t of file $WORK/g1/$f \\(refit reads BF16, F16, F32\\)$" \
    mpirun_np 2 "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/g1"
  expect_line "plan names it too" 1 "refit plan: unsupported dtype F64 in tensor $t of file $WORK/g1/$f (refit reads BF16, F16, F32)" \
    "$REFIT" plan --checkpoint "$WORK/g1"
}

row_inspect() {
  synth "$WORK/g0" 1
  expect_line "inspect config.json" 1 \
    "refit inspect: $WORK/g0/config.json: not a safetensors file (it starts with '{')" "$REFIT" inspect "$WORK/g0/config.json"
  mkdir "$WORK/noidx" && cp "$WORK/g0/config.json" "$WORK/g0/"*.safetensors "$WORK/noidx/"
  expect_line "shards without index" 1 \
    "refit inspect: $WORK/noidx: 3 safetensors files but no model.safetensors.index.json" "$REFIT" inspect "$WORK/noidx"
  expect_re "run names it too" 1 "rank 0: $WORK/noidx: 3 safetensors files but no model.safetensors.index.json" \
    mpirun_np 1 "$REFIT" run --checkpoint "$WORK/noidx"
  mpirun_np 2 "$REFIT" run --checkpoint "$WORK/g0" --reloads 1 --dump "$WORK/d1" >/dev/null 2>&1
  mpirun_np 2 "$REFIT" run --checkpoint "$WORK/g0" --dump "$WORK/d0" --quant fp8-row >/dev/null 2>&1
  expect_line "inspect a dump" 0 "$WORK/d1: refit dump, 2 rank files (world 2), snapshot.refit present" \
    "$REFIT" inspect "$WORK/d1"
  if grep -qE '^ +1 +1 +1  fp8-tensor +[0-9]+ +[0-9.]+ [KM]B  rank-00001-of-00002.safetensors$' "$WORK/out"; then
    pass "dump: a row per rank (rank, tp_rank, generation, scheme, tensors, bytes)"
  else fail "dump rows"; cat "$WORK/out"; fi
  cp "$WORK/d0/rank-00001-of-00002.safetensors" "$WORK/d1/"
  expect_line "mixed generations flagged" 1 "$WORK/d1: mixed" "$REFIT" inspect "$WORK/d1"
  grep -qE '^ +1 +1 +0  fp8-row ' "$WORK/out" && pass "the swapped rank's row shows its generation and scheme" ||
    { fail "swapped rank row"; cat "$WORK/out"; }
  rm "$WORK/d0/rank-00001-of-00002.safetensors"
  expect_line "missing rank flagged" 1 "$WORK/d0: incomplete" "$REFIT" inspect "$WORK/d0"
}

row_log() {
  expect_line "REFIT_LOG=verbose" 2 "refit run: REFIT_LOG: 'verbose' is not one of error, warn, info, debug" \
    env REFIT_LOG=verbose "$REFIT_MPI1" run
  expect_line "REFIT_LOG_SUBSYS=bogus" 2 \
    "refit run: REFIT_LOG_SUBSYS: 'bogus' is not one of all, snap, io, comm, kern, launch, fault, settings" \
    env REFIT_LOG_SUBSYS=snap,bogus "$REFIT_MPI1" run
  local ts='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} refit r0/1 [^ ]+:[0-9]+ INFO snap: generation 1 committed'
  expect_re "REFIT_LOG=info: timestamped" 0 "$ts" env REFIT_LOG=info "$REFIT_MPI1" run --backend host
  local n_info n_debug
  n_info=$(grep -c " INFO " "$WORK/out")
  env REFIT_LOG=debug "$REFIT_MPI1" run --backend host >"$WORK/out" 2>&1
  n_debug=$(grep -cE " (INFO|DEBUG) " "$WORK/out")
  if grep -qE " DEBUG snap: generation 1: transfer [0-9.]+ ms, [0-9]+ bytes" "$WORK/out" && [ "$n_debug" -gt "$n_info" ]; then
    pass "REFIT_LOG=debug adds detail ($n_debug lines vs $n_info)"
  else fail "debug adds nothing ($n_debug vs $n_info)"; cat "$WORK/out"; fi
  REFIT_LOG=info REFIT_LOG_FILE="$WORK/log-%h-%p.txt" mpirun_np 2 "$REFIT" run --backend host >"$WORK/out" 2>&1
  local files; files=$(ls "$WORK"/log-"$(hostname)"-*.txt 2>/dev/null | wc -l)
  if [ "$files" -eq 2 ] && ! grep -q " INFO " "$WORK/out" && cat "$WORK"/log-*.txt | grep -q "INFO snap: generation 1 committed"; then
    pass "REFIT_LOG_FILE: one file per rank (%h, %p), nothing on stderr"
  else fail "REFIT_LOG_FILE: $files files"; ls "$WORK"; cat "$WORK/out"; fi
}

row_synth() {
  mkdir "$WORK/busy" && echo notes >"$WORK/busy/notes.txt"
  expect_line "synth into a non-empty dir" 2 \
    "refit synth: --out $WORK/busy: holds 1 entry and no checkpoint (no config.json); add --force to write there anyway" \
    "$REFIT" synth --out "$WORK/busy"
  expect_re "synth --force" 0 "written \\(3/3 files" "$REFIT" synth --out "$WORK/busy" --force
  expect_re "synth over a checkpoint" 0 "written \\(3/3 files" "$REFIT" synth --out "$WORK/busy" --seed 3
  expect_re "unknown preset: prefix once, exit 2" 2 "^refit synth: unknown preset 'nope' \\(known: tiny, tiny-qwen2, [a-z0-9, -]+\\)$" \
    "$REFIT" synth --out "$WORK/x" --preset nope
  expect_line "--out required" 2 "refit synth: --out DIR is required" "$REFIT" synth
  expect_line "--files 0" 2 "refit synth: --files: 0 is outside [1, 99999]" "$REFIT" synth --out "$WORK/y" --files 0
  if grep -q "refit synth: refit synth\|synth: synth:" "$WORK/out"; then fail "prefix twice"; else pass "prefix once"; fi
}

row_table() {
  expect_re "run table" 0 "^ +gen +phase +time\\(ms\\) +bytes +GB/s +floor +floor kind +ach/floor$" \
    mpirun_np 2 "$REFIT" run --report "$WORK/r.json"
  if grep -qxF "refit: generation 1 committed on all 2 ranks" "$WORK/out" &&
     [ "$(grep -cE ' ms$| ms\)' "$WORK/out")" -eq 0 ] && awk '$1 == 1 && $2 == "ok"' "$WORK/out" | grep -q .; then
    pass "one total (the table's; the committed line gives none)"
  else fail "one total"; cat "$WORK/out"; fi
  if grep -qE '^ +1 transfer +[0-9.]+ +[0-9.]+ [KM]B +[0-9.]+ +[0-9.]+  mpi_bcast +[0-9.]+$' "$WORK/out"; then
    pass "transfer row: bytes, GB/s, floor, achieved/floor"
  else fail "transfer row"; cat "$WORK/out"; fi
  expect_line "report: schema, null for unmeasured" 0 ok "$PYTHON" -c "
import json; r = json.load(open('$WORK/r.json'))
assert r['schema'] == 'refit-report' and r['schema_version'] == 2, r
assert r['floor']['h2d_gbps'] is None and r['floor']['bcast_gbps'] > 0, r['floor']
ph = r['loads'][1]['ranks'][0]['phases']
assert ph['restore']['gbps'] is None and ph['restore']['floor_gbps'] is None, ph['restore']
assert ph['open']['floor_kind'] == 'none' and ph['open']['achieved_over_floor'] is None, ph['open']
assert ph['transfer']['gbps'] > 0 and ph['transfer']['achieved_over_floor'] > 0, ph['transfer']
print('ok')"
  expect_re "without --report: floors unmeasured, shown as -" 0 '^ +1 transfer .* - +unmeasured +-$' \
    mpirun_np 1 "$REFIT" run
}

row_units() {
  expect_line "synth in MB" 0 \
    "refit synth: tiny (llama) -> $WORK/g0: 21 tensors, 3.39 MB in 3 files, seed 1" "$REFIT" synth --out "$WORK/g0"
  expect_re "plan in KB/MB" 0 "^tp rank 1: receives [0-9.]+ MB bf16; live weights [0-9.]+ [KM]B; shadow [0-9.]+ [KM]B; largest bf16 staging [0-9.]+ KB" \
    "$REFIT" plan --checkpoint "$WORK/g0" --tp 2
}

row_sbatch() {
  mkdir -p "$WORK/bin"
  printf '#!/bin/sh\necho "launched: $*"\n' >"$WORK/bin/srun" && chmod +x "$WORK/bin/srun"
  local sb="$SRC/launch/slurm/refit.sbatch"
  expect_line "sbatch: tp = tasks per node" 0 "refit.sbatch: no --tp given: tp 4 = tasks per node (SLURM_NTASKS_PER_NODE)" \
    env PATH="$WORK/bin:$PATH" REFIT_BIN=refit SLURM_NTASKS_PER_NODE=4 bash "$sb" --checkpoint A
  grep -qxF "launched: --mpi=pmix --kill-on-bad-exit=1 refit run --checkpoint A --tp 4" "$WORK/out" &&
    pass "sbatch passes --tp 4" || { fail "sbatch --tp"; cat "$WORK/out"; }
  expect_line "sbatch: SLURM_TASKS_PER_NODE=8(x2)" 0 \
    "refit.sbatch: no --tp given: tp 8 = tasks per node (SLURM_TASKS_PER_NODE=8(x2))" \
    env PATH="$WORK/bin:$PATH" REFIT_BIN=refit SLURM_TASKS_PER_NODE='8(x2)' bash "$sb" --checkpoint A
  expect_line "sbatch: --tp given" 0 "launched: --mpi=pmix --kill-on-bad-exit=1 refit run --checkpoint A --tp 2" \
    env PATH="$WORK/bin:$PATH" REFIT_BIN=refit SLURM_NTASKS_PER_NODE=4 bash "$sb" --checkpoint A --tp 2
  expect_line "sbatch: REFIT_TP given" 0 "launched: --mpi=pmix --kill-on-bad-exit=1 refit run --checkpoint A" \
    env PATH="$WORK/bin:$PATH" REFIT_BIN=refit SLURM_NTASKS_PER_NODE=4 REFIT_TP=2 bash "$sb" --checkpoint A
}

# One GPU, --backend cuda: rank 0's host->device bytes and GB/s in the table
# and the report, and the cuda floors measured in the run. Skips (77)
# without a GPU or a CUDA build.
row_cuda() {
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then echo "SKIP: no GPU"; exit 77; fi
  if ! "$REFIT" version | grep -qxF "backends: host, cuda"; then echo "SKIP: built without CUDA"; exit 77; fi
  "$REFIT" synth --out "$WORK/g0" --preset bench-160m >/dev/null
  expect_re "cuda np 1: transfer row with bytes, GB/s and the h2d floor" 0 \
    '^ +1 transfer +[0-9.]+ +[0-9.]+ [KMG]B +[0-9.]+ +[0-9.]+  pinned_h2d +[0-9.]+$' \
    mpirun_np 1 "$REFIT" run --backend cuda --checkpoint "$WORK/g0" --reloads 1 --report "$WORK/r.json" || return
  expect_line "cuda report: transfer bytes and floors" 0 ok "$PYTHON" -c "
import json; r = json.load(open('$WORK/r.json')); f = r['floor']
assert r['backend'] == 'cuda' and f['measured'] and f['h2d_gbps'] > 0 and f['d2d_gbps'] > 0, f
x = r['loads'][1]['ranks'][0]['phases']['transfer']
assert x['bytes'] > 0 and x['gbps'] > 0 and x['floor_kind'] == 'pinned_h2d' and x['achieved_over_floor'] > 0, x
q = r['loads'][1]['ranks'][0]['phases']['quantize']
assert q['floor_kind'] == 'device_copy' and q['floor_gbps'] > 0, q
print('ok')"
}

# docs/cli.md's generated block is `refit help-md`, and every option --help
# shows is in it.
row_docs() {
  local doc="$SRC/docs/cli.md"
  sed -n '/^<!-- BEGIN refit help-md -->$/,/^<!-- END refit help-md -->$/p' "$doc" | sed '1d;$d' >"$WORK/doc"
  "$REFIT" help-md >"$WORK/gen"
  if [ -s "$WORK/doc" ] && diff -u "$WORK/doc" "$WORK/gen" >"$WORK/diff"; then
    pass "docs/cli.md matches refit help-md"
  else fail "docs/cli.md differs from refit help-md (regenerate: see docs/cli.md)"; cat "$WORK/diff"; fi
  local cmd flag missing=0
  for cmd in run synth plan topo; do
    for flag in $("$REFIT" "$cmd" --help | grep -oE '^  --[a-z-]+' | grep -v -- --help); do
      grep -qF -- "\`$flag" "$WORK/gen" || { echo "missing from docs: $cmd $flag"; missing=1; }
    done
  done
  [ "$missing" -eq 0 ] && pass "every --help option is in docs/cli.md" || fail "options missing from docs/cli.md"
  for v in $("$REFIT" env | awk 'NR > 1 { print $1 }'); do
    grep -qF "\`$v\`" "$WORK/gen" || { echo "missing from docs: $v"; missing=1; }
  done
  [ "$missing" -eq 0 ] && pass "every refit env variable is in docs/cli.md" || fail "variables missing from docs/cli.md"
  grep -qF "docs/cli.md" "$SRC/README.md" && pass "README points to docs/cli.md" || fail "README lacks docs/cli.md"
}

REFIT_MPI1="$WORK/refit-np1"
printf '#!/bin/sh\nexec %s 1 %s "$@"\n' "$RF_MPIEXEC" "$REFIT" >"$REFIT_MPI1" && chmod +x "$REFIT_MPI1"
"row_$ROW"
finish

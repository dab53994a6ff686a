#!/usr/bin/env bash
# The fault matrix (host backend by default): every PHASE x KIND of REFIT_FAULT injected
# into generation 1 of `refit run --checkpoint g0 --checkpoint g1`, on rank 1
# and, for some phases, rank 0. Each cell must end the job with exit != 0
# within --timeout seconds of the fault, leave every rank that wrote a dump on
# generation 0 byte for byte (the crashed rank writes none; every other rank
# must), and name the faulty rank and phase on stderr.
#
# usage: fault_matrix.sh REFIT [NP] [TIMEOUT] [OUT.md] [BACKEND]
#   NP (default 4, tp = NP/2), TIMEOUT seconds (default 10). With OUT.md, the
#   table goes between the "matrix:begin/end" markers of OUT.md (the whole
#   file when it has none; "" for none). BACKEND: refit run --backend
#   (default host; cuda on a GPU machine, one GPU per rank: issue 16).
#   RF_MPI_EXTRA (e.g. "-x NCCL_NVLS_ENABLE") goes after the rank count.
#   Exit 0 only if every cell passes.
REFIT=$1 NP=${2:-4} TIMEOUT=${3:-10} OUT=${4:-} BACKEND=${5:-host}
source "$(dirname "$0")/../mpi/lib.sh"
[ -z "${FAULT_MATRIX_KEEP:-}" ] || { trap - EXIT; echo "logs kept in $WORK"; }
TP=$((NP >= 2 ? NP / 2 : 1))
PHASES="open snapshot restore transfer quantize commit"
KINDS="error crash hang"
ROWS=()

"$REFIT" synth --out "$WORK/g0" --preset tiny --seed 1 >/dev/null || { fail "synth g0"; exit 1; }
"$REFIT" synth --out "$WORK/g1" --preset tiny --seed 2 >/dev/null || { fail "synth g1"; exit 1; }
# generation 0 without faults: what every surviving rank's dump must equal
mpirun_np "$NP" "$REFIT" run --backend "$BACKEND" --checkpoint "$WORK/g0" --tp "$TP" --dump "$WORK/base" >"$WORK/base.log" 2>&1 ||
  { fail "baseline run"; cat "$WORK/base.log"; exit 1; }

now() { date +%s.%N; }

# "r0:0 r1:- ..." : each rank's dumped generation ("-": no file)
dump_gens() { # DIR
  "$PYTHON" - "$1" "$NP" <<'EOF'
import json, os, struct, sys
d, n = sys.argv[1], int(sys.argv[2])
out = []
for r in range(n):
    p = os.path.join(d, "rank-%05d-of-%05d.safetensors" % (r, n))
    if not os.path.exists(p):
        out.append("r%d:-" % r)
        continue
    with open(p, "rb") as f:
        hl = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(hl)).get("__metadata__", {})
    out.append("r%d:%s" % (r, meta.get("generation", "?")))
print(" ".join(out))
EOF
}

# the line that names the cause, as the job's log shows it (-a: a crashed
# rank's backtrace may put binary bytes in the log)
cause_line() { # LOG KIND RANK
  local pat
  case $2 in
    error) pat="NOT committed" ;;
    crash) pat="noticed that process rank $3 " ;;
    hang) pat="rank $3: timed out after" ;;
  esac
  grep -a -m1 "$pat" "$1" | sed -e 's/^refit: //' -e 's/|/\\|/g' -e "s#$WORK/##g" | cut -c1-220
}

run_cell() { # RANK PHASE KIND
  local rank=$1 phase=$2 kind=$3
  local name="$rank:$phase:$kind" dir="$WORK/cell-$rank-$phase-$kind"
  local log="$dir.log" rc=0 t0 t1
  t0=$(now)
  # the outer kill only catches a refit that hangs after all: a failed cell
  # shellcheck disable=SC2086
  REFIT_FAULT="$name" timeout -s KILL $((TIMEOUT * 3 + 30)) $RF_MPIEXEC "$NP" $RF_MPI_EXTRA "$REFIT" run --backend "$BACKEND" \
    --checkpoint "$WORK/g0" --checkpoint "$WORK/g1" --tp "$TP" --timeout "$TIMEOUT" --dump "$dir" >"$log" 2>&1 || rc=$?
  t1=$(now)
  local tfault since wall gens cause why=""
  tfault=$(grep -a -m1 -oE "injected fault: $kind in phase $phase .* at [0-9.]+$" "$log" | grep -oE "[0-9.]+$")
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  since=$( [ -n "$tfault" ] && awk -v a="$tfault" -v b="$t1" 'BEGIN { printf "%.1f", b - a }' || echo "?")
  gens=$(dump_gens "$dir")
  cause=$(cause_line "$log" "$kind" "$rank")

  [ "$rc" -ne 0 ] || why+="exit 0; "
  [ "$rc" -ne 137 ] || why+="killed by the outer timeout (hang); "
  [ -n "$tfault" ] || why+="fault never fired; "
  if [ -n "$tfault" ] && ! awk -v s="$since" -v t="$TIMEOUT" 'BEGIN { exit !(s <= t) }'; then
    why+="exit ${since}s after the fault > timeout ${TIMEOUT}s; "
  fi
  # every rank's dump is generation 0 byte for byte; only a crashed rank may lack one
  for ((r = 0; r < NP; r++)); do
    local f
    f=$(printf "rank-%05d-of-%05d.safetensors" "$r" "$NP")
    if [ ! -f "$dir/$f" ]; then
      [ "$kind" = crash ] && [ "$r" -eq "$rank" ] || why+="rank $r wrote no dump; "
    elif ! cmp -s "$dir/$f" "$WORK/base/$f"; then
      why+="rank $r's dump is not generation 0; "
    fi
  done
  case $kind in
    error) grep -aqE "NOT committed .*rank $rank: injected fault: error in phase $phase" "$log" ||
             why+="no agreed cause naming rank $rank and $phase; " ;;
    crash) grep -aq "process rank $rank with PID .* exited on signal" "$log" || why+="mpirun names no crashed rank $rank; " ;;
    hang) grep -aqE "rank $rank: timed out after .* in phase $phase " "$log" ||
            why+="no timeout report of rank $rank in $phase; "
          [ "$rc" -eq 124 ] || why+="exit $rc, not the watchdog's 124; " ;;
  esac
  if [ -z "$why" ]; then
    pass "$name: exit $rc, ${since}s after the fault (${wall}s in all), dumps $gens"
  else
    fail "$name: $why"
    sed -n '1,60p' "$log"
  fi
  ROWS+=("| \`$name\` | $rc | $since | $wall | $gens | $([ -z "$why" ] && echo ok || echo "FAIL: $why") | $cause |")
}

for kind in $KINDS; do
  for phase in $PHASES; do run_cell 1 "$phase" "$kind"; done
  for phase in open transfer commit; do run_cell 0 "$phase" "$kind"; done
done

table() {
  echo "Measured on $(hostname) ($(nproc) cores, $(uname -sr), $(mpirun --version 2>/dev/null | head -n1)),"
  echo "$(date -u +%Y-%m-%d), by \`tests/faults/fault_matrix.sh refit $NP $TIMEOUT OUT.md $BACKEND\`:"
  echo "\`mpirun -np $NP refit run --backend $BACKEND --checkpoint g0 --checkpoint g1 --tp $TP --timeout $TIMEOUT --dump D\`"
  echo "with \`REFIT_FAULT=RANK:PHASE:KIND\` (generation 1), model preset \`tiny\`, $BACKEND backend."
  echo "Seconds are wall time from the fault (the stamp the faulty rank prints) to mpirun's exit,"
  echo "and from mpirun's start to its exit. Dumps: the generation in each rank's --dump file"
  echo "(\`-\`: none); a pass needs every dump byte-identical to a fault-free generation 0."
  echo
  echo "| cell | exit | s after fault | s in all | dumps | check | cause as reported |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "$PASSES passed, $FAILS failed."
}

if [ -n "$OUT" ]; then
  table >"$WORK/table.md"
  if [ -f "$OUT" ] && grep -q "matrix:begin" "$OUT"; then
    "$PYTHON" - "$OUT" "$WORK/table.md" <<'EOF'
import re, sys
doc, table = open(sys.argv[1]).read(), open(sys.argv[2]).read()
new = re.sub(r"(<!-- matrix:begin -->\n).*?(<!-- matrix:end -->)", lambda m: m.group(1) + table + m.group(2),
             doc, flags=re.S)
open(sys.argv[1], "w").write(new)
EOF
  else
    cp "$WORK/table.md" "$OUT"
  fi
  echo "table written to $OUT"
fi
finish

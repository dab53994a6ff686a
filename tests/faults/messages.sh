#!/usr/bin/env bash
# Ranks or checkpoints that disagree fail at once with the difference named
# (issue 14, findings 3, 4 and 6), never with a hang or a message that shows
# equal values:
#   - a config.json that no longer describes the snapshot's model names the
#     field and both values;
#   - ranks given different --quant, different --tp (MPMD; before: a hang in
#     MPI_Comm_split), different load counts or checkpoint lists name the
#     rank and both values.
# usage: messages.sh REFIT
REFIT=$1
source "$(dirname "$0")/../mpi/lib.sh"

"$REFIT" synth --out "$WORK/g0" --preset tiny --seed 1 >/dev/null || { fail "synth g0"; exit 1; }
"$REFIT" synth --out "$WORK/g1" --preset tiny --seed 2 >/dev/null || { fail "synth g1"; exit 1; }
cp -r "$WORK/g1" "$WORK/wide"
"$PYTHON" - "$WORK/wide/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["intermediate_size"] = 640  # tensors unchanged: only the config says so
json.dump(c, open(sys.argv[1], "w"))
PY

expect() { # NAME EXPECTED_EXIT PATTERN -- MPIEXEC ARGS...
  local name=$1 want=$2 pat=$3; shift 4
  local log="$WORK/$name.log"
  timeout -s KILL 60 "$@" >"$log" 2>&1
  local rc=$?
  if [ "$rc" = 137 ]; then fail "$name: hung (killed after 60 s)"; return; fi
  if [ "$rc" != "$want" ]; then fail "$name: exit $rc, expected $want"; cat "$log"; return; fi
  if ! grep -a -q -F -- "$pat" "$log"; then fail "$name: no '$pat'"; cat "$log"; return; fi
  pass "$name: exit $rc, $(grep -a -m1 -F -- "$pat" "$log" | sed -e 's/^refit[a-z ]*: //' -e "s#$WORK/##g" | cut -c1-160)"
}

M="$RF_MPIEXEC"
expect config-field 1 "wide/config.json: intermediate_size 640 vs snapshot 512" -- \
  $M 2 "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/wide"
expect quant 2 "rank 1 has --quant none, rank 0 has fp8-tensor" -- \
  $M 1 "$REFIT" run --checkpoint "$WORK/g0" : -np 1 "$REFIT" run --checkpoint "$WORK/g0" --quant none
expect tp 2 "rank 2 has --tp 2, rank 0 has 0" -- \
  $M 2 "$REFIT" run --checkpoint "$WORK/g0" : -np 2 "$REFIT" run --checkpoint "$WORK/g0" --tp 2
expect load-count 2 "rank 1 has 2 loads, rank 0 has 3" -- \
  $M 1 "$REFIT" run --checkpoint "$WORK/g0" --reloads 2 : -np 1 "$REFIT" run --checkpoint "$WORK/g0" --reloads 1
expect load-list 2 "rank 1 has load 1 from $WORK/g0, rank 0 has $WORK/g1" -- \
  $M 1 "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/g1" : -np 1 "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/g0"
finish

#!/usr/bin/env bash
# "No run outlives --timeout by more than a second" (issue 14, finding 3):
# rank 1 of `mpirun -np 2 refit run` stops itself (SIGSTOP, the test hook
# RF_TEST_STOP_AT) at each point where the others wait for it outside a
# load's own watchdog: in refit_create, between loads, in the report's
# gather, in the final dump and finish. Each time the job must end with exit
# 124 within TIMEOUT + 1 s of the stop, and rank 0 must say where it waited.
# usage: stop_timeout.sh REFIT [TIMEOUT]
REFIT=$1 TIMEOUT=${2:-4}
source "$(dirname "$0")/../mpi/lib.sh"

"$REFIT" synth --out "$WORK/g0" --preset tiny --seed 1 >/dev/null || { fail "synth g0"; exit 1; }
"$REFIT" synth --out "$WORK/g1" --preset tiny --seed 2 >/dev/null || { fail "synth g1"; exit 1; }

for point in create between-loads report finish; do
  LOG="$WORK/$point.log"
  RF_TEST_STOP_AT="1:$point" timeout -s KILL $((TIMEOUT * 4 + 10)) \
    $RF_MPIEXEC 2 -x RF_TEST_STOP_AT $RF_MPI_EXTRA "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/g1" \
    --tp 2 --backend host --timeout "$TIMEOUT" --dump "$WORK/dump-$point" >"$LOG" 2>&1
  rc=$?
  end=$(date +%s.%N)
  stop=$(grep -a -o "stopping at $point, at [0-9.]*" "$LOG" | grep -o "[0-9.]*$")
  if [ -z "$stop" ]; then fail "$point: rank 1 never reached the stop (exit $rc)"; cat "$LOG"; continue; fi
  took=$(awk -v a="$stop" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  what="$point: exit $rc, ${took} s after the stop (timeout $TIMEOUT s)"
  if [ "$rc" != 124 ]; then fail "$what: expected exit 124"; cat "$LOG"; continue; fi
  if awk -v t="$took" -v lim="$TIMEOUT" 'BEGIN { exit !(t > lim + 1) }'; then fail "$what: over timeout + 1 s"; cat "$LOG"; continue; fi
  if ! grep -a -q "rank 0: timed out after" "$LOG"; then fail "$what: rank 0 does not say it timed out"; cat "$LOG"; continue; fi
  pass "$what; $(grep -a -m1 'rank 0: timed out after' "$LOG" | sed 's/^refit: //' | cut -c1-150)"
done
finish

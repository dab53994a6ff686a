#!/usr/bin/env bash
# A SIGTERM to one rank during a reload (issue 14, finding 1): what `scancel`,
# Ctrl-C on mpirun and mpirun's own teardown send. Runs `mpirun -np 2 refit
# run` over alternating checkpoints of a ~320 MB model (each reload ~2 s on
# 2 cores), kills rank 1 with SIGTERM at a different moment of a reload in
# each trial, and checks the two-phase commit's promise:
#   - every rank that wrote a dump holds the same generation, byte for byte
#     the checkpoint of that generation (tests/ref/check_dump.py);
#   - rank 1 wrote one (it was signalled, not killed);
#   - what rank 0 last said it holds ("generation G committed", "every rank
#     keeps generation G", or its own signal line "... generation G") is G;
#   - a signal before rank 1's vote is named as the cause: "rank 1:
#     terminated by signal 15 (SIGTERM) before its vote".
# usage: signal_vote.sh REFIT [TRIALS] [PRESET]
REFIT=$1 TRIALS=${2:-5} PRESET=${3:-bench-160m}
source "$(dirname "$0")/../mpi/lib.sh"
NP=2

"$REFIT" synth --out "$WORK/g0" --preset "$PRESET" --seed 1 >/dev/null || { fail "synth g0"; exit 1; }
"$REFIT" synth --out "$WORK/g1" --preset "$PRESET" --seed 2 >/dev/null || { fail "synth g1"; exit 1; }
# Far more reloads than a trial needs: the job ends with the signal, and a
# fast machine must not finish the run before the latest kill moment (a
# CI run once did, with 6: "no rank 1 process found").
CKPTS=()
for g in $(seq 0 23); do CKPTS+=(--checkpoint "$WORK/g$((g % 2))"); done

# pid of MPI rank R of this test's job: the one refit process whose
# environment holds both this test's marker and Open MPI's rank
export RF_SIGNAL_TEST=$WORK
rank_pid() { # RANK
  local p
  for p in $(pgrep -f -- "$REFIT run"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "RF_SIGNAL_TEST=$WORK" || continue
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo "$p"; return 0; }
  done
  return 1
}

dump_gen() { # FILE -> generation in its metadata, or "-"
  [ -f "$1" ] || { echo -; return; }
  "$PYTHON" -c 'import json,struct,sys
f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]
print(json.loads(f.read(n)).get("__metadata__",{}).get("generation","?"))' "$1"
}

# the last generation rank 0 said it holds
said_gen() { # LOG
  grep -a -E "^refit: generation [0-9]+ committed|^refit: every rank keeps generation|^refit: rank 0: .*generation [0-9]+$" "$1" |
    tail -1 | grep -o -E "[0-9]+$|generation [0-9]+ committed" | grep -o -E "[0-9]+" | tail -1
}

for t in $(seq 1 "$TRIALS"); do
  D="$WORK/dump$t" LOG="$WORK/run$t.log"
  mpirun_np $NP "$REFIT" run "${CKPTS[@]}" --tp 2 --backend host --timeout 30 --dump "$D" >"$LOG" 2>&1 &
  MPIRUN=$!
  # wait for the reload of generation 2, then a different point of it in each trial
  for _ in $(seq 1 300); do grep -qs "generation 2 <- " "$LOG" && break; sleep 0.1; done
  sleep "$(awk -v t="$t" -v n="$TRIALS" 'BEGIN { printf "%.2f", 3.0 * (t - 1) / n }')"
  PID=$(rank_pid 1) || { fail "trial $t: no rank 1 process found"; wait "$MPIRUN"; continue; }
  kill -TERM "$PID"
  wait "$MPIRUN"
  rc=$?
  g0=$(dump_gen "$D/rank-00000-of-00002.safetensors") g1=$(dump_gen "$D/rank-00001-of-00002.safetensors")
  said=$(said_gen "$LOG")
  what="trial $t (exit $rc): dumps r0:$g0 r1:$g1, rank 0 said $said"
  if [ "$g1" = - ]; then fail "$what: the signalled rank 1 wrote no dump"; cat "$LOG"; continue; fi
  if [ "$g0" != "$g1" ] && [ "$g0" != - ]; then fail "$what: mixed generations"; cat "$LOG"; continue; fi
  if [ "$said" != "$g1" ]; then fail "$what: rank 0's last word disagrees with the dumps"; cat "$LOG"; continue; fi
  if grep -q "rank 1: terminated by signal 15 (SIGTERM) before its vote" "$LOG" &&
    ! grep -a -q -E "(NOT committed|rank 0: .*aborted).*rank 1: terminated by signal 15 \(SIGTERM\) before its vote" "$LOG"; then
    fail "$what: the failed vote does not name rank 1's signal"; cat "$LOG"; continue
  fi
  if ! "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$WORK/g$((g1 % 2))" --tp 2 --world 2 --quant fp8-tensor \
      --dump "$D" --generation "$g1" >"$WORK/check$t.log" 2>&1; then
    [ "$g0" = - ] || { fail "$what: dump bytes are not generation $g1's"; cat "$WORK/check$t.log"; continue; }
  fi
  pass "$what"
done
finish

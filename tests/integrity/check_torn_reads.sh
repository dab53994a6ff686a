#!/usr/bin/env bash
# Torn reads (issue 14, finding 2): a checkpoint rewritten while rank 0 reads
# it must fail the reload with "FILE changed while it was read" and leave
# every rank on generation g-1. Deterministic: REFIT_FAULT=0:transfer:pause:1
# stops rank 0 as the first param lands (two 1 MiB buckets already read, the
# rest not), the test rewrites the shards of g1 with another save of the
# same shapes, then lets rank 0 go on. Three writers: truncate + write
# (same inode), overwrite in place (same size and inode; only mtime/ctime
# change), write a new file and rename it over (another inode). A pause with
# no writer must commit generation 1 (the hook alone fails nothing).
#
# usage: check_torn_reads.sh REFIT [NP]
REFIT=$1 NP=${2:-2}
source "$(dirname "$0")/common.sh"

make_generations
"$REFIT" synth --out "$WORK/other" --preset tiny --seed 3 >/dev/null || { fail "synth other"; exit 1; }

rewrite() { # HOW DIR: every shard of DIR becomes the same shard of "other"
  local f
  for f in "$2"/*.safetensors; do
    case $1 in
      truncate) : >"$f"; cat "$WORK/other/$(basename "$f")" >"$f" ;;
      overwrite) dd if="$WORK/other/$(basename "$f")" of="$f" conv=notrunc status=none ;;
      rename) cp "$WORK/other/$(basename "$f")" "$f.new" && mv "$f.new" "$f" ;;
      none) ;;
    esac
  done
}

run_case() { # HOW
  local how=$1 dir="$WORK/case-$1" rc=0 i
  rm -rf "$WORK/ck" && cp -r "$WORK/g1" "$WORK/ck"
  REFIT_FAULT=0:transfer:pause:1 REFIT_FAULT_RESUME="$dir.resume" timeout -s KILL 120 \
    $RF_MPIEXEC "$NP" $RF_MPI_EXTRA "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/ck" \
    --bucket-mb 1 --timeout 60 --dump "$dir" >"$dir.log" 2>&1 &
  local pid=$!
  for ((i = 0; i < 600; i++)); do
    grep -q "injected fault: pause" "$dir.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "injected fault: pause" "$dir.log" || { fail "$how: rank 0 never paused"; cat "$dir.log"; kill "$pid"; return; }
  rewrite "$how" "$WORK/ck"
  touch "$dir.resume"
  wait "$pid" || rc=$?
  if [ "$how" = none ]; then
    if [ "$rc" -eq 0 ] && dumps_hold "$dir" 1; then pass "pause without a writer: generation 1 committed"
    else fail "pause without a writer: exit $rc"; cat "$dir.log"; fi
    return
  fi
  local why=""
  [ "$rc" -ne 0 ] || why+="exit 0; "
  [ "$rc" -ne 137 ] || why+="killed by the outer timeout; "
  grep -aq "rank 0: $WORK/ck/[^ ]*\.safetensors changed while it was read" "$dir.log" ||
    why+="no 'FILE changed while it was read'; "
  grep -aq "SIGBUS\|Bus error\|signal 7" "$dir.log" && why+="SIGBUS; "
  dumps_hold "$dir" 0 >/dev/null || why+="$(dumps_hold "$dir" 0 | head -1); "
  if [ -z "$why" ]; then pass "$how: $(grep -a -m1 -o "rank 0: .*changed while it was read ([^)]*)" "$dir.log" | sed "s#$WORK/##")"
  else fail "$how: $why"; cat "$dir.log"; fi
}

for how in none truncate overwrite rename; do run_case "$how"; done
finish

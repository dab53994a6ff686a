#!/usr/bin/env bash
# Non-regular files (issue 14, finding 6): a FIFO (or a device) where a
# checkpoint has its config.json, index or a shard is refused at open by
# name ("DIR/config.json: not a regular file (fifo)") at once, never read:
# before, reading a FIFO blocked until the watchdog fired, naming no file.
# Generation 0 is kept on every rank.
#
# usage: check_nonregular.sh REFIT [NP]
REFIT=$1 NP=${2:-2}
source "$(dirname "$0")/common.sh"
make_generations

run_case() { # FILE TYPE MAKE...: FILE of g1 replaced by what MAKE creates
  local file=$1 type=$2; shift 2
  local dir="$WORK/case-$file" rc=0 why=""
  rm -rf "$WORK/ck" && cp -r "$WORK/g1" "$WORK/ck" && rm "$WORK/ck/$file"
  "$@" "$WORK/ck/$file" || { fail "$file: cannot make a $type"; return; }
  local t0=$SECONDS
  timeout -s KILL 60 $RF_MPIEXEC "$NP" $RF_MPI_EXTRA "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/ck" \
    --timeout 30 --dump "$dir" >"$dir.log" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || why+="exit 0; "
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || why+="blocked until a timeout (exit $rc); "
  [ $((SECONDS - t0)) -lt 20 ] || why+="took $((SECONDS - t0)) s; "
  grep -aq "rank 0: $WORK/ck/$file: not a regular file ($type)" "$dir.log" || why+="no '$file: not a regular file ($type)'; "
  why+=$(dumps_hold "$dir" 0 | sed 's/$/; /')
  if [ -z "$why" ]; then pass "$file as a $type: $(grep -a -m1 -o "rank 0: .*not a regular file ([a-z ]*)" "$dir.log" | sed "s#$WORK/##")"
  else fail "$file as a $type: $why"; cat "$dir.log"; fi
}

run_case config.json fifo mkfifo
run_case model.safetensors.index.json fifo mkfifo
run_case model-00002-of-00003.safetensors fifo mkfifo
# a symlink to a device is followed (checkpoints are often symlinks into a cache): refused as the device
run_case model-00003-of-00003.safetensors "character device" ln -s /dev/zero
finish

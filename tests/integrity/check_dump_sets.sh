#!/usr/bin/env bash
# Shared dump directories (issue 14, finding 5): a dump directory is one set
# (coord/dump_set.h) that `refit inspect DIR` verifies against its manifest.
#  1. Two jobs dump into one directory at the same time, several rounds: no
#     SIGBUS, every job exits 0 or names the collision, and the directory is
#     one job's set whole: inspect says complete, the files are all job A's
#     or all job B's, and no temporary file is left behind.
#  2. The disk fills during a dump that replaces generation 0 (a tmpfs just
#     big enough for one new rank file; needs root to mount it): the dump
#     fails naming the cause, and the directory is never a mix of g-1 and g
#     with a manifest claiming complete: inspect says complete on the whole
#     old set, or incomplete/mixed.
#  3. inspect says mixed when a rank file is swapped for another set's, and
#     incomplete when a file or the manifest is missing (exit 1 each).
#
# usage: check_dump_sets.sh REFIT [NP]
REFIT=$1 NP=${2:-2}
source "$(dirname "$0")/../mpi/lib.sh"
INSPECT=${RF_INSPECT:-$REFIT} # the refit whose inspect judges the directories (to judge an older refit's dumps)

"$REFIT" synth --out "$WORK/a" --preset tiny-mistral --seed 1 >/dev/null || { fail "synth a"; exit 1; }
"$REFIT" synth --out "$WORK/b" --preset tiny-mistral --seed 2 >/dev/null || { fail "synth b"; exit 1; }
for j in a b; do
  mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/$j" --dump "$WORK/base-$j" >"$WORK/base-$j.log" 2>&1 ||
    { fail "baseline $j"; cat "$WORK/base-$j.log"; exit 1; }
done

rank_file() { printf "rank-%05d-of-%05d.safetensors" "$1" "$NP"; }
# "a", "b" or "mixed": whose rank files DIR holds
whose() { # DIR
  local r n_a=0 n_b=0
  for ((r = 0; r < NP; r++)); do
    cmp -s "$1/$(rank_file $r)" "$WORK/base-a/$(rank_file $r)" && n_a=$((n_a + 1))
    cmp -s "$1/$(rank_file $r)" "$WORK/base-b/$(rank_file $r)" && n_b=$((n_b + 1))
  done
  if [ "$n_a" -eq "$NP" ]; then echo a; elif [ "$n_b" -eq "$NP" ]; then echo b; else echo mixed; fi
}

# 1. two jobs, one directory, at once
for round in 1 2 3; do
  d="$WORK/shared-$round" why=""
  # each mpirun its own session directory: two started at once race on one
  mkdir -p "$WORK/ompi-a" "$WORK/ompi-b"
  OMPI_MCA_orte_tmpdir_base="$WORK/ompi-a" mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/a" --dump "$d" \
    >"$d.a.log" 2>&1 & pa=$!
  OMPI_MCA_orte_tmpdir_base="$WORK/ompi-b" mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/b" --dump "$d" \
    >"$d.b.log" 2>&1 & pb=$!
  ra=0 rb=0
  wait "$pa" || ra=$?
  wait "$pb" || rb=$?
  for j in a b; do
    rc=$([ $j = a ] && echo $ra || echo $rb)
    grep -aq "SIGBUS\|Bus error\|signal 7" "$d.$j.log" && why+="job $j: SIGBUS; "
    [ "$rc" -eq 0 ] || grep -aq "another job is dumping into this directory" "$d.$j.log" ||
      why+="job $j: exit $rc without naming the collision; "
  done
  "$INSPECT" inspect "$d" >"$d.inspect" 2>&1 || why+="inspect: $(tail -1 "$d.inspect"); "
  tail -1 "$d.inspect" | grep -q ": complete$" || why+="not complete; "
  set_of=$(whose "$d")
  [ "$set_of" != mixed ] || why+="rank files of both jobs; "
  ! ls -a "$d" | grep -q "\.tmp" || why+="temporary files left: $(ls -a "$d" | grep "\.tmp" | tr '\n' ' '); "
  if [ -z "$why" ]; then pass "two jobs into one directory, round $round: exits $ra/$rb, the set is job $set_of's, complete"
  else fail "two jobs into one directory, round $round: $why"; cat "$d.a.log" "$d.b.log" "$d.inspect"; fi
done

# 2. disk full part way through replacing a set
mnt="$WORK/small"
mkdir -p "$mnt"
set_bytes=$(du -cb "$WORK/base-a" | tail -1 | cut -f1)
file_bytes=$(stat -c %s "$WORK/base-a/$(rank_file 0)")
if mount -t tmpfs -o size=$((set_bytes + file_bytes + file_bytes / 2)) tmpfs "$mnt" 2>/dev/null; then
  d="$mnt/dump" why=""
  mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/a" --dump "$d" >"$WORK/full0.log" 2>&1 || why+="first dump failed; "
  rc=0
  mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/a" --checkpoint "$WORK/b" --dump "$d" >"$WORK/full1.log" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || why+="the dump that cannot fit exited 0; "
  grep -aq "dump failed: .*No space left on device" "$WORK/full1.log" || why+="no 'No space left on device'; "
  # the disk fills while the new files are written under temporary names,
  # before any rename: the old set must be there whole and verified
  verdict=$("$INSPECT" inspect "$d" 2>&1 | tail -1)
  [ "$(whose "$d")" = a ] || why+="rank files of two generations (r0 $(cmp -s "$d/$(rank_file 0)" \
    "$WORK/base-a/$(rank_file 0)" && echo g-1 || echo g), r1 $(cmp -s "$d/$(rank_file 1)" \
    "$WORK/base-a/$(rank_file 1)" && echo g-1 || echo g)); "
  case $verdict in
    *": complete") "$INSPECT" inspect "$d" | grep -q "manifest: generation 0" || why+="complete, but not generation 0; " ;;
    *) why+="inspect: $verdict; " ;;
  esac
  ! ls -a "$d" | grep -q "\.tmp" || why+="temporary files left; "
  umount "$mnt"
  if [ -z "$why" ]; then pass "disk full while replacing generation 0: dump failed, generation 0 kept whole: ${verdict##*: }"
  else fail "disk full: $why"; cat "$WORK/full1.log"; fi
else
  echo "SKIP: disk full case: cannot mount a tmpfs (needs root)"
fi

# 3. inspect's verdicts
d="$WORK/base-a"
"$REFIT" inspect "$d" >/dev/null && pass "inspect: a dump as written is complete (exit 0)" || fail "inspect base-a"
cp -r "$d" "$WORK/swapped" && cp "$WORK/base-b/$(rank_file 1)" "$WORK/swapped/"
out=$("$REFIT" inspect "$WORK/swapped" 2>&1) && fail "inspect: swapped file exit 0" ||
  { echo "$out" | tail -1 | grep -q ": mixed$" && pass "inspect: a rank file of another set is mixed" || fail "inspect swapped: $out"; }
cp -r "$d" "$WORK/gone" && rm "$WORK/gone/$(rank_file 0)"
out=$("$REFIT" inspect "$WORK/gone" 2>&1) && fail "inspect: missing file exit 0" ||
  { echo "$out" | tail -1 | grep -q ": incomplete$" && pass "inspect: a missing rank file is incomplete" || fail "inspect gone: $out"; }
cp -r "$d" "$WORK/nomanifest" && rm "$WORK/nomanifest/refit-dump.json"
out=$("$REFIT" inspect "$WORK/nomanifest" 2>&1) && fail "inspect: no manifest exit 0" ||
  { echo "$out" | tail -1 | grep -q ": incomplete$" && pass "inspect: no manifest is incomplete" || fail "inspect nomanifest: $out"; }
finish

# Shared by the integrity tests: two generations of the tiny model and what
# each rank's dump holds after each, and the comparison with them.
source "$(dirname "${BASH_SOURCE[0]}")/../mpi/lib.sh"

# $WORK/g0, $WORK/g1 (seeds 1, 2) and the dumps after generation 0 (base0:
# g0) and 1 (base1: g0 then g1), at $NP ranks. Exits on a failure.
make_generations() {
  local g
  for g in 0 1; do
    "$REFIT" synth --out "$WORK/g$g" --preset tiny --seed $((g + 1)) >/dev/null || { fail "synth g$g"; exit 1; }
  done
  mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/g0" --dump "$WORK/base0" >"$WORK/base0.log" 2>&1 ||
    { fail "baseline g0"; cat "$WORK/base0.log"; exit 1; }
  mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/g1" --dump "$WORK/base1" \
    >"$WORK/base1.log" 2>&1 || { fail "baseline g1"; cat "$WORK/base1.log"; exit 1; }
}

# Each rank's dump in DIR equals the baseline of generation WANT byte for
# byte; otherwise says which rank's does not.
dumps_hold() { # DIR WANT
  local r f
  for ((r = 0; r < NP; r++)); do
    f=$(printf "rank-%05d-of-%05d.safetensors" "$r" "$NP")
    cmp -s "$1/$f" "$WORK/base$2/$f" || { echo "rank $r's dump is not generation $2"; return 1; }
  done
}

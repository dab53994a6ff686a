#!/usr/bin/env bash
# --verify (issue 14, item 5): a byte flipped in a slice one rank received
# (REFIT_FAULT=1:transfer:corrupt: as a bit flip on the way) fails the
# reload before the vote, naming the param and the rank, and every rank
# keeps generation g-1; without --verify the same flip is committed. A clean
# --verify run commits what a run without it commits. refit_param_digest
# equals the Python reference's digest over the dump's tensor bytes.
#
# usage: check_verify.sh REFIT TEST_PARAM_DIGEST [NP]
REFIT=$1 TPD=$2 NP=${3:-2}
source "$(dirname "$0")/common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
make_generations

rc=0
mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/g1" --verify --dump "$WORK/clean" \
  >"$WORK/clean.log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] && dumps_hold "$WORK/clean" 1 >/dev/null; then pass "--verify without a fault commits the same bytes"
else fail "--verify without a fault: exit $rc"; cat "$WORK/clean.log"; fi

# 1 MiB buckets: segments end mid-chunk, so rank 0 gathers the chunks a
# bucket boundary cuts on the host and hashes the rest where it lies
# (coord/verify_leaves.c); the digests must still equal the receivers'.
rc=0
REFIT_LOG=info mpirun_np "$NP" -x REFIT_LOG "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/g1" --verify \
  --bucket-mb 1 --dump "$WORK/cut" >"$WORK/cut.log" 2>&1 || rc=$?
cut=$(grep -a -m1 -o "[0-9]* of them of chunks a bucket boundary cut" "$WORK/cut.log" | cut -d' ' -f1)
if [ "$rc" -eq 0 ] && [ "${cut:-0}" -gt 0 ] && dumps_hold "$WORK/cut" 1 >/dev/null; then
  pass "--verify with 1 MiB buckets ($cut chunks cut by bucket boundaries) commits the same bytes"
else fail "--verify with 1 MiB buckets: exit $rc, ${cut:-no} cut chunks"; tail -n 20 "$WORK/cut.log"; fi

rc=0
REFIT_FAULT=1:transfer:corrupt:1 mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/g1" \
  --verify --dump "$WORK/corrupt" >"$WORK/corrupt.log" 2>&1 || rc=$?
why=""
[ "$rc" -ne 0 ] || why+="exit 0; "
grep -aq "NOT committed.*rank 1: model\.[a-z_.]*: the slice this rank received (tp rank 1, [0-9]* bytes) has digest [0-9a-f]*, rank 0 sent [0-9a-f]* (--verify)" \
  "$WORK/corrupt.log" || why+="no cause naming rank 1 and the param; "
dumps_hold "$WORK/corrupt" 0 >/dev/null || why+="dumps are not generation 0; "
if [ -z "$why" ]; then pass "a flipped byte on rank 1 with --verify: $(grep -a -m1 -o "rank 1: model[^ ]*: the slice" "$WORK/corrupt.log")..., generation 0 kept"
else fail "flipped byte with --verify: $why"; cat "$WORK/corrupt.log"; fi

rc=0
REFIT_FAULT=1:transfer:corrupt:1 mpirun_np "$NP" "$REFIT" run --checkpoint "$WORK/g0" --checkpoint "$WORK/g1" \
  --dump "$WORK/unverified" >"$WORK/unverified.log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] && ! dumps_hold "$WORK/unverified" 1 >/dev/null; then
  pass "without --verify the same flip is committed unnoticed (what --verify is for)"
else fail "without --verify: exit $rc, dumps $(dumps_hold "$WORK/unverified" 1 >/dev/null && echo clean || echo differ)"; fi

if mpirun_np "$NP" "$TPD" "$WORK/g1" "$WORK/pd" "$WORK/pd.txt" >"$WORK/pd.log" 2>&1 &&
   out=$("$PYTHON" "$HERE/param_digest_check.py" "$WORK/pd" "$WORK/pd.txt" "$NP" 2>&1); then
  pass "refit_param_digest: $out"
else fail "refit_param_digest: ${out:-}"; cat "$WORK/pd.log"; fi
finish

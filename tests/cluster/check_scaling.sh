#!/usr/bin/env bash
# bench/scaling.sh end to end at np 1 and 2 on the tiny preset (no plot):
# one CSV row per np, and the reports carry every phase's floor.
# usage: check_scaling.sh REFIT
REFIT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../mpi/lib.sh"

if MPIRUN="${RF_MPIEXEC% -n} --oversubscribe" bash "$HERE/../../bench/scaling.sh" --np "1 2" --preset tiny \
     --reloads 2 --bucket-mb 1 --out "$WORK/out" --work "$WORK/ckpt" --refit "$REFIT" --no-plot >"$WORK/log" 2>&1; then
  pass "bench/scaling.sh --np '1 2' --preset tiny"
else
  fail "bench/scaling.sh"; cat "$WORK/log"
fi
if "$PYTHON" - "$WORK/out" <<'PY' >"$WORK/check" 2>&1; then
import csv, json, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(out + "/scaling-host.csv")))
assert [r["np"] for r in rows] == ["1", "2"], rows
for r in rows:
    assert r["reloads"] == "2" and float(r["reload_ms"]) > 0, r
    assert 0 < float(r["transfer_vs_floor"]) <= 1.5 and 0 < float(r["reload_vs_floor"]) <= 1.5, r
rep = json.load(open(out + "/scaling-host-np2.json"))
f = rep["floor"]
assert f["measured"] and f["group_size"] == 2 and f["bcast_gbps"] > 0 and f["memcpy_gbps"] > 0, f
for load in rep["loads"]:
    for k in load["ranks"]:
        ph = k["phases"]
        assert ph["transfer"]["floor_kind"] == "mpi_bcast" and ph["quantize"]["floor_kind"] == "memcpy", ph
        assert ph["open"]["floor_kind"] == "none", ph
        for p in ph.values():
            assert {"ms", "bytes", "gbps", "floor_kind", "floor_gbps", "floor_ms", "achieved_over_floor"} <= set(p), p
one = json.load(open(out + "/scaling-host-np1.json"))
assert one["loads"][1]["ranks"][0]["phases"]["transfer"]["floor_kind"] == "memcpy", "np 1 has no link"
print("np 1: %s ms, np 2: %s ms per reload; bcast floor %.2f GB/s, memcpy %.2f GB/s"
      % (rows[0]["reload_ms"], rows[1]["reload_ms"], f["bcast_gbps"], f["memcpy_gbps"]))
PY
  pass "CSV rows and report floors: $(cat "$WORK/check")"
else
  fail "CSV or report floors"; cat "$WORK/check"
fi
finish

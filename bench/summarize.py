#!/usr/bin/env python3
"""Summarize a refit --report JSON against the floors measured in the same
run: median reload time (generations >= 1), per-phase times (slowest rank),
peak model memory, and achieved / floor where floor = checkpoint bytes over
pinned host-to-device bandwidth of rank 0 alone (rank 0 is the only reader).

usage: summarize.py REPORT.json FLOORS.json CHECKPOINT_BYTES
"""
import json
import statistics
import sys

PHASES = ["open", "snapshot", "restore", "transfer", "quantize", "commit"]


def main():
    rep = json.load(open(sys.argv[1]))
    fl = json.load(open(sys.argv[2]))
    nbytes = int(sys.argv[3])
    reloads = [ld for ld in rep["loads"] if ld["generation"] >= 1 and ld["status"] == "ok"]
    if not reloads:
        print("summarize: no committed reload in", sys.argv[1])
        return 1
    totals = [max(r["total_ms"] for r in ld["ranks"]) for ld in reloads]
    med = statistics.median(totals)
    floor_ms = nbytes / (fl["h2d_one_gbps"] * 1e9) * 1e3
    print(f"{fl['gpu']}: world {rep['world_size']}, tp {rep['tp']}, {rep['scheme']}, backend {rep['backend']}")
    print(f"  checkpoint {nbytes / 1e9:.2f} GB; reloads {['%.0f' % t for t in totals]} ms; median {med:.0f} ms")
    print(f"  floor: {nbytes / 1e9:.2f} GB / {fl['h2d_one_gbps']:.1f} GB/s pinned H2D = {floor_ms:.0f} ms "
          f"-> achieved/floor = {floor_ms / med:.2f}")
    print(f"  other floors this run: NCCL bcast {fl['nccl_bcast_gbps']:.0f} GB/s, device copy {fl['d2d_gbps']:.0f} GB/s, "
          f"H2D all ranks {fl['h2d_all_gbps']:.1f} GB/s each")
    mid = reloads[len(reloads) // 2]
    print("  phases (slowest rank, median reload): " + ", ".join(
        f"{p} {max(r['phases'][p]['ms'] for r in mid['ranks']):.1f} ms" for p in PHASES))
    peak = max(r["peak_model_bytes"] for r in mid["ranks"])
    print(f"  peak model memory per rank: {peak / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

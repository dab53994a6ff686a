#!/usr/bin/env python3
"""The table of bench/gpu_multi.sh (issue 15): one JSON row per run, each
made right after the run from what it wrote, then one markdown table.

  multi_table.py reload  --run N --name S --report R.json --floors F.json --checkpoint DIR --readers root|all
  multi_table.py pause   --run N --name S --log embed_pause.log
  multi_table.py source  --run N --name S --log source_bw.log --source device|rank-device|... --tp T
  multi_table.py check   --run N --name S --log LOG --rc RC
  multi_table.py scaling --run N --csv scaling-cuda.csv
  multi_table.py table ROWS.jsonl SKIPPED.txt [--gpus TEXT]      the markdown

Floors (bench/floors.c, measured in the same call, or the program's own):
  rank-0 reader   checkpoint bytes / pinned host->device of rank 0 alone
  --readers all   checkpoint bytes / tp / pinned host->device with every rank copying at once
  memory sources  bench/source_bw's own, measured in the same run (its "source_bw: source=..." line):
                  rank 0's GPU memory: bytes the other ranks received from rank 0 / NCCL sends from rank 0
                  (nccl_send_gbps, as floors.c); every rank's own: the slowest rank's source bytes read +
                  param bytes written / its device copy rate
  pause           embed_pause's own: the largest rank's live bytes / device copy
achieved/floor = floor time / achieved time (1 = at the floor). Aims are issue 15's (4 x H200, tp 4).
"""
import argparse
import csv
import json
import os
import re
import statistics
import sys

PHASES = ["open", "snapshot", "restore", "transfer", "quantize", "commit"]
# issue 15's aims, seconds: (run name prefix, aim)
AIMS = {"llama8b-tp4-root": 0.30, "llama8b-tp4-all": 0.12, "pause-tp4-": 0.005}


def ckpt_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".safetensors"))


def aim_of(name):
    for prefix, aim in AIMS.items():
        if name.startswith(prefix):
            return aim
    return None


def out(run, name, achieved_s, floor_s, floor_how, note="", status=None):
    aim = aim_of(name)
    if status is None:
        status = "ok" if aim is None else ("aim met" if achieved_s <= aim else "aim missed")
    print(json.dumps({"run": run, "name": name, "achieved_s": achieved_s, "floor_s": floor_s, "floor_how": floor_how,
                      "aim_s": aim, "note": note, "status": status}))


def failed(run, name, why):
    print(json.dumps({"run": run, "name": name, "status": "FAILED: " + why}))


def reload(a):
    if not os.path.exists(a.report):
        return failed(a.run, a.name, "no report (log %s.log)" % a.name)
    rep, fl = json.load(open(a.report)), json.load(open(a.floors))
    loads = [ld for ld in rep["loads"] if ld["generation"] >= 1 and ld["status"] == "ok"]
    if not loads:
        return failed(a.run, a.name, "no committed reload in " + a.report)
    med = statistics.median(max(r["total_ms"] for r in ld["ranks"]) for ld in loads) / 1e3
    mid = loads[len(loads) // 2]
    phases = ", ".join("%s %.0f" % (p, max(r["phases"][p]["ms"] for r in mid["ranks"])) for p in PHASES)
    n, tp = ckpt_bytes(a.checkpoint), rep["tp"]
    if a.readers == "root":
        floor, how = n / (fl["h2d_one_gbps"] * 1e9), "%.2f GB / %.1f GB/s pinned H2D, rank 0 alone" % (
            n / 1e9, fl["h2d_one_gbps"])
    else:
        floor, how = n / tp / (fl["h2d_all_gbps"] * 1e9), "%.2f GB per rank / %.1f GB/s pinned H2D each, %d at once" % (
            n / tp / 1e9, fl["h2d_all_gbps"], tp)
    out(a.run, a.name, med, floor, how, "median of %d reloads, %s; phases (ms, slowest rank): %s" % (
        len(loads), rep["scheme"], phases))


def pause(a):
    text = open(a.log, errors="replace").read() if os.path.exists(a.log) else ""
    m = re.search(r"summary: tp (\d+), readers (\w+), live ([0-9.]+) GB, stage mean ([0-9.]+) s, best pause "
                  r"([0-9.]+) ms, floor ([0-9.]+) ms \(copy ([0-9.]+) GB/s\)", text)
    if not m:
        return failed(a.run, a.name, "no summary line in " + a.log)
    live, stage, best, floor, copy = (float(m.group(i)) for i in range(3, 8))
    out(a.run, a.name + " stage", stage, None, "", "refit_stage, mean (the engine keeps serving)")
    out(a.run, a.name, best / 1e3, floor / 1e3, "%.2f GB live (largest rank) / %.0f GB/s device copy" % (live, copy),
        "refit_commit on the engine's stream, best of the reloads")


# bench/source_bw.c's machine-readable line, one per source
SOURCE_LINE = re.compile(r"^source_bw: source=(\S+) tp=(\d+) reps=(\d+) seconds=([0-9.]+) floor_seconds=([0-9.]+) "
                         r"floor_bytes=([0-9]+) floor_gbps=([0-9.]+) floor_of=(\S+)$", re.M)
FLOOR_OF = {"nccl-send": "%.2f GB leaving rank 0 / %.1f GB/s NCCL sends from rank 0",
            "device-copy": "%.2f GB read + written (slowest rank) / %.0f GB/s device copy",
            "pinned-h2d": "%.2f GB / %.1f GB/s pinned H2D, rank 0 alone"}


def source(a):
    text = open(a.log, errors="replace").read() if os.path.exists(a.log) else ""
    lines = [m for m in SOURCE_LINE.finditer(text) if m.group(1) == a.source]
    if not lines:
        return failed(a.run, a.name, "no 'source_bw: source=%s' line in %s" % (a.source, a.log))
    m = lines[-1]
    tp, reps, sec, floor, nbytes, gbps, how = (int(m.group(2)), int(m.group(3)), float(m.group(4)),
                                               float(m.group(5)), float(m.group(6)), float(m.group(7)), m.group(8))
    if tp != a.tp:
        return failed(a.run, a.name, "%s ran at tp %d, not %d" % (a.log, tp, a.tp))
    out(a.run, a.name, sec, floor, FLOOR_OF.get(how, "%.2f GB / %.1f GB/s " + how) % (nbytes / 1e9, gbps),
        "bench/source_bw, source %s, tp %d, median of %d loads (slowest rank, stage + commit)" % (a.source, tp, reps))


def check(a):
    text = open(a.log, errors="replace").read() if os.path.exists(a.log) else ""
    last = text.strip().splitlines()[-1][:160] if text.strip() else "(empty log)"
    out(a.run, a.name, None, None, "", last, "pass" if a.rc == 0 else "FAILED (exit %d)" % a.rc)


def scaling(a):
    if not os.path.exists(a.csv):
        return failed(a.run, "scaling", "no " + a.csv)
    for r in csv.DictReader(open(a.csv)):
        out(a.run, "scaling np %s tp %s" % (r["np"], r["tp"]), float(r["reload_ms"]) / 1e3,
            float(r["reload_floor_ms"]) / 1e3, "sum over phases of each phase's floor (refit run --report)",
            "%s, transfer %.1f GB/s vs floor %s GB/s (%s)" % (r["preset"], float(r["transfer_gbps"]), r["floor_gbps"],
                                                            r["floor_kind"]))


def fmt_s(v):
    if v is None:
        return ""
    return "%.2f ms" % (v * 1e3) if v < 0.1 else "%.3f s" % v


def table(a):
    rows = [json.loads(ln) for ln in open(a.rows) if ln.strip()] if os.path.exists(a.rows) else []
    print("# Issue 15: multi-GPU runs (bench/gpu_multi.sh)\n")
    print("Card: %s. Floors measured in the same call (bench/floors.c, embed_pause). "
          "achieved/floor = floor / achieved (1 = at the floor).\n" % (a.gpus or "?"))
    print("| run | name | achieved | floor | achieved/floor | aim | status | floor from | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ach, fl = r.get("achieved_s"), r.get("floor_s")
        ratio = "%.2f" % (fl / ach) if ach and fl else ""
        aim = "<= " + fmt_s(r["aim_s"]) if r.get("aim_s") else ""
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["run"], r["name"], fmt_s(ach), fmt_s(fl), ratio, aim, r["status"], r.get("floor_how", ""),
            r.get("note", "").replace("|", "/")))
    skipped = [ln.strip() for ln in open(a.skipped) if ln.strip()] if os.path.exists(a.skipped) else []
    print("\nSkipped in this call: " + ("none." if not skipped else ""))
    for s in skipped:
        print("- " + s)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("reload")
    for f in ("--run", "--name", "--report", "--floors", "--checkpoint"):
        p.add_argument(f, required=True)
    p.add_argument("--readers", choices=["root", "all"], required=True)
    p = sub.add_parser("pause")
    for f in ("--run", "--name", "--log"):
        p.add_argument(f, required=True)
    p = sub.add_parser("source")
    for f in ("--run", "--name", "--log"):
        p.add_argument(f, required=True)
    p.add_argument("--source", choices=["dir", "host-pageable", "host-pinned", "device", "rank-device"], required=True)
    p.add_argument("--tp", type=int, required=True)
    p = sub.add_parser("check")
    for f in ("--run", "--name", "--log"):
        p.add_argument(f, required=True)
    p.add_argument("--rc", type=int, required=True)
    p = sub.add_parser("scaling")
    p.add_argument("--run", required=True)
    p.add_argument("--csv", required=True)
    p = sub.add_parser("table")
    p.add_argument("rows")
    p.add_argument("skipped")
    p.add_argument("--gpus", default="")
    a = ap.parse_args()
    {"reload": reload, "pause": pause, "source": source, "check": check, "scaling": scaling, "table": table}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())

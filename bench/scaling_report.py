#!/usr/bin/env python3
"""Reload scaling: turn `refit run --report` files into CSV rows, and plot them.

  scaling_report.py row REPORT.json --np N --preset P --cores C   prints one CSV row
  scaling_report.py header                                        prints the CSV header
  scaling_report.py plot CSV PNG [--title T]                      draws the two panels (matplotlib)
  scaling_report.py phases REPORT.json...                         per generation, each phase's slowest rank (ms)

Per np, over the reloads (generation >= 1; generation 0 allocates and is left out):
  reload_ms           mean over reloads of the slowest rank's total time
  transfer_ms         mean of rank 0's transfer phase (rank 0 sends every slice group: the busiest rank)
  transfer_gbps       rank 0's transfer bytes / its transfer time
  floor_gbps          the transfer floor measured in the same run (report 'floor', e.g. MPI_Bcast of a bucket)
  transfer_vs_floor   rank 0's transfer floor_ms / transfer ms (1.0 = at the floor)
  reload_floor_ms     slowest rank's sum over phases of floor_ms (phases run one after another)
  reload_vs_floor     reload_floor_ms / reload_ms
"""
import csv
import json
import sys

COLS = ["backend", "np", "tp", "dp", "preset", "cores", "reloads", "model_bytes", "reload_ms", "reload_ms_min",
        "reload_ms_max", "transfer_ms", "transfer_bytes", "transfer_gbps", "floor_kind", "floor_gbps",
        "transfer_vs_floor", "reload_floor_ms", "reload_vs_floor"]


def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def row(path, np_, preset, cores):
    r = json.load(open(path))
    loads = [l for l in r["loads"] if l["generation"] >= 1 and l["status"] == "ok"]
    if not loads:
        sys.exit("%s: no committed reload" % path)
    total = [max(k["total_ms"] for k in l["ranks"]) for l in loads]
    x0 = [l["ranks"][0]["phases"]["transfer"] for l in loads]
    floors = [max(sum(p["floor_ms"] or 0 for p in k["phases"].values()) for k in l["ranks"]) for l in loads]
    model = loads[0]["ranks"][0]["phases"]["open"]["bytes"]
    vals = {
        "backend": r["backend"], "np": np_, "tp": r["tp"], "dp": r["world_size"] // r["tp"], "preset": preset,
        "cores": cores, "reloads": len(loads), "model_bytes": model,
        "reload_ms": mean(total), "reload_ms_min": min(total), "reload_ms_max": max(total),
        "transfer_ms": mean([p["ms"] for p in x0]), "transfer_bytes": x0[0]["bytes"],
        "transfer_gbps": mean([p["gbps"] for p in x0]), "floor_kind": x0[0]["floor_kind"],
        "floor_gbps": x0[0]["floor_gbps"], "transfer_vs_floor": mean([p["achieved_over_floor"] for p in x0]),
        "reload_floor_ms": mean(floors), "reload_vs_floor": mean(floors) / mean(total) if mean(total) else 0.0,
    }
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow([("%.4g" % v) if isinstance(v, float) else v for v in (vals[c] for c in COLS)])


def plot(csv_path, png, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = list(csv.DictReader(open(csv_path)))
    n = [int(x["np"]) for x in rows]
    f = lambda k: [float(x[k]) for x in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    a.plot(n, f("reload_ms"), "o-", label="reload (slowest rank)")
    a.fill_between(n, f("reload_ms_min"), f("reload_ms_max"), alpha=0.2)
    a.plot(n, f("transfer_ms"), "s--", label="transfer (rank 0)")
    a.plot(n, f("reload_floor_ms"), ":", color="gray", label="floor of the reload")
    a.set_xscale("log", base=2)
    a.set_xticks(n, [str(v) for v in n])
    a.set_xlabel("MPI ranks (np)")
    a.set_ylabel("ms per reload")
    a.set_ylim(bottom=0)
    a.grid(alpha=0.3)
    a.legend()
    b.plot(n, f("transfer_vs_floor"), "s--", label="transfer (rank 0): achieved GB/s / floor GB/s")
    b.plot(n, f("reload_vs_floor"), "o-", label="whole reload: floor time / reload time")
    b.set_xscale("log", base=2)
    b.set_xticks(n, [str(v) for v in n])
    b.set_xlabel("MPI ranks (np)")
    b.set_ylabel("achieved / floor (1 = at the floor)")
    b.set_ylim(0, 1.05)
    b.grid(alpha=0.3)
    b.legend()
    for x, t, kind, g in zip(n, f("transfer_vs_floor"), [r["floor_kind"] for r in rows], f("floor_gbps")):
        b.annotate("floor %.2f GB/s\n(%s)" % (g, kind), (x, t), textcoords="offset points", xytext=(0, 6),
                   ha="center", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def phases(paths):
    names = ["open", "snapshot", "restore", "transfer", "quantize", "commit"]
    print("| np | tp | gen | " + " | ".join(names) + " | total | snapshot bytes (rank 1) |")
    print("|---" * (len(names) + 5) + "|")
    for path in paths:
        r = json.load(open(path))
        for l in r["loads"]:
            ks = l["ranks"]
            ms = [max(k["phases"][p]["ms"] for k in ks) for p in names]
            snap = ks[min(1, len(ks) - 1)]["phases"]["snapshot"]["bytes"]
            print("| %d | %d | %d | %s | %.1f | %d |" % (r["world_size"], r["tp"], l["generation"],
                                                      " | ".join("%.1f" % m for m in ms),
                                                      max(k["total_ms"] for k in ks), snap))


def main(argv):
    if argv[:1] == ["header"]:
        print(",".join(COLS))
    elif argv[:1] == ["row"] and len(argv) >= 2:
        opts = dict(zip(argv[2::2], argv[3::2]))
        row(argv[1], int(opts["--np"]), opts.get("--preset", "?"), opts.get("--cores", "?"))
    elif argv[:1] == ["phases"] and len(argv) >= 2:
        phases(argv[1:])
    elif argv[:1] == ["plot"] and len(argv) >= 3:
        opts = dict(zip(argv[3::2], argv[4::2]))
        plot(argv[1], argv[2], opts.get("--title", "refit reload scaling"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

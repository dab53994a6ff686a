#!/usr/bin/env python3
"""Markdown tables of tests/gpu/multi_faults.sh (issue 16) from its logs,
for docs/faults.md:

  multi_tables.py return LOG...     tests/embed/check_hang.sh logs (one stalled cell each)
  multi_tables.py chaos LOG         tests/chaos/chaos.py's log
  multi_tables.py dumps LOG...      tests/gpu/check_cuda_dumps.sh logs
  multi_tables.py memcheck LOG:EXIT...   compute-sanitizer logs and their exit statuses

(The abort-mode matrix writes its own table: tests/faults/fault_matrix.sh.)
A log without the lines a table needs gives a row that says so.
"""
import collections
import re
import sys

SCHEMES = ["fp8-tensor", "fp8-row", "fp8-block", "none"]


def text(path):
    try:
        return open(path, errors="replace").read()
    except OSError:
        return ""


def return_table(logs):
    print("on_timeout=return (the library's mode), cuda backend: `tests/embed/check_hang.sh test_embed 4 cuda "
          "RANK:PHASE`, one rank stalled for twice the timeout in generation 1's PHASE. A pass: every rank returns "
          "REFIT_ERR_TIMEOUT, the others within the timeout + 1 s, the engine's bound device bytes are still "
          "generation 0, refit_stage afterwards is REFIT_ERR_STATE, every process exits 0 by itself.\n")
    print("| stalled cell | exit | ranks timed out | others returned within | job | check |")
    print("|---|---|---|---|---|---|")
    pat = re.compile(r"summary: np (\d+), backend (\w+), stalled (\S+) for (\d+) s, timeout ([0-9.]+) s: exit (\d+), "
                     r"(\d+) of (\d+) ranks timed out, the others returned within (\S+) s, job ([0-9.]+) s, (\w+)")
    for log in logs:
        m = pat.search(text(log))
        if not m:
            print("| %s | | | | | FAIL: no summary line (cut or not run) |" % log.rsplit("/", 1)[-1])
            continue
        print("| `%s` | %s | %s of %s | %s s (timeout %s s) | %s s | %s |" % (
            m.group(3), m.group(6), m.group(7), m.group(8), m.group(9), m.group(5), m.group(10), m.group(11)))


def chaos_table(log):
    t = text(log)
    m = re.search(r"chaos: (\d+) runs, (\d+) faults, (\d+) violations", t)
    sigs = collections.Counter(re.findall(r"chaos: sent (SIG\w+) to rank", t))
    seed = re.search(r"chaos: seed (\d+)", t)
    print("Chaos on the cuda backend: `chaos.py --backend cuda --nps 4 --timeout 10 --budget 180` (seed %s).\n" %
          (seed.group(1) if seed else "?"))
    print("| runs | faults | violations | signals sent |")
    print("|---|---|---|---|")
    if not m:
        print("| | | FAIL: no final count (cut or not run) | |")
        return
    print("| %s | %s | %s | %s |" % (m.group(1), m.group(2), m.group(3),
                                     ", ".join("%s %d" % kv for kv in sorted(sigs.items())) or "none"))
    for v in re.findall(r"chaos:   (.*)", t):
        print("\n- violation: " + v)


def dumps_table(logs):
    print("MoE dumps, cuda == host == tests/ref byte for byte, `--verify` on "
          "(`RUN_ARGS=--verify MODELS=\"qwen3_moe qwen2_moe mixtral\" check_cuda_dumps.sh refit NP:TP`).\n")
    cells = {}
    rows = []
    pat = re.compile(r"^(PASS|FAIL): (\S+)(?: --moe (\w+))? (\S+) np=(\d+) tp=(\d+):", re.M)
    for log in logs:
        for res, model, moe, quant, np_, tp in pat.findall(text(log)):
            key = (model, moe or "-", "%s/%s" % (np_, tp))
            if key not in cells:
                cells[key] = {}
                rows.append(key)
            cells[key][quant] = "ok" if res == "PASS" else "FAIL"
        for fin in re.findall(r"^(\d+ passed, \d+ failed)$", text(log), re.M):
            print("- %s: %s" % (log.rsplit("/", 1)[-1], fin))
    print("\n| family | --moe | np/tp | " + " | ".join(SCHEMES) + " |")
    print("|---|---|---|" + "---|" * len(SCHEMES))
    for key in rows:
        print("| %s | %s | %s | " % key + " | ".join(cells[key].get(q, "not run") for q in SCHEMES) + " |")
    if not rows:
        print("| (none: no PASS/FAIL line in the logs) | | | | | | |")


def memcheck_table(logs):
    print("compute-sanitizer memcheck, tp 2, cuda backend (`mpirun -np 2 compute-sanitizer --tool memcheck "
          "--error-exitcode 9 refit run ... --verify`). A pass: exit 0 and every rank's summary 0 errors.\n")
    print("| run | exit | error summaries (one per rank) | check | refit's last line |")
    print("|---|---|---|---|---|")
    for arg in logs:  # LOG:EXIT
        log, _, rc = arg.rpartition(":")
        t = text(log)
        sums = re.findall(r"ERROR SUMMARY: (\d+) errors?", t)
        ok = rc == "0" and len(sums) >= 2 and all(n == "0" for n in sums)
        last = [ln for ln in t.splitlines() if ln.startswith("refit")]
        print("| %s | %s | %s | %s | %s |" % (log.rsplit("/", 1)[-1], rc, ", ".join(sums) or "none found",
                                              "ok" if ok else "FAIL", (last[-1][:140] if last else "").replace("|", "/")))


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("return", "chaos", "dumps", "memcheck"):
        sys.stderr.write(__doc__)
        return 2
    kind, logs = sys.argv[1], sys.argv[2:]
    if kind == "return":
        return_table(logs)
    elif kind == "chaos":
        chaos_table(logs[0])
    elif kind == "dumps":
        dumps_table(logs)
    else:
        memcheck_table(logs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

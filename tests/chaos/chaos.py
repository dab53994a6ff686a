#!/usr/bin/env python3
"""Chaos test of refit's all-or-nothing promise (issue 14, finding 7).

    chaos.py --refit BUILD/refit [--budget SECONDS] [--timeout T] [--seed S]
             [--nps 2,4] [--writer] [--keep DIR] [--backend host|cuda]

Runs `mpirun -np NP refit run` (host backend unless --backend, a tiny model, several loads
over three checkpoints, --dump, --timeout T) again and again until the
budget is spent, NP alternating over --nps. During most runs it sends
SIGTERM, SIGINT, SIGKILL or SIGSTOP (and SIGCONT a little later) to a
random rank at a random moment, sometimes twice. With --writer a thread
also rewrites the checkpoints' shards while they are read (truncate and
write, overwrite in place, rename over a copy), with the same bytes, so
that a torn read is the only way to get other bytes.

After every run it checks the invariant:
  - mpirun ended (no run outlives its loads' timeouts);
  - every rank file in the run's dump directory holds the same generation
    G, and its tensors are byte for byte those of the checkpoint loaded as
    generation G (compared with a fault-free dump of that checkpoint, which
    tests/ref/check_dump.py verified against the SPEC reference first;
    the reference dumps are the host backend's whatever --backend is);
  - the last generation rank 0 printed ("generation G committed", "every
    rank keeps generation G", its own signal or timeout line) is G, when
    rank 0 wrote a dump.
Prints "chaos: N runs, F faults, V violations" and exits 1 on a violation.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK_DUMP = os.path.join(HERE, "..", "ref", "check_dump.py")
N_CKPT = 3
SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGKILL, signal.SIGSTOP]


def mpiexec():
    return os.environ.get("RF_MPIEXEC", "mpiexec -n").split()


def rank_file(d, r, w):
    return os.path.join(d, "rank-%05d-of-%05d.safetensors" % (r, w))


def read_dump(path):
    """(generation, header without the generation, data bytes)."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    hdr = json.loads(blob[8:8 + n])
    meta = dict(hdr.get("__metadata__", {}))
    gen = int(meta.pop("generation"))
    hdr["__metadata__"] = meta
    return gen, hdr, blob[8 + n:]


class Setup:
    """Checkpoints and their fault-free reference dumps, per (np, tp)."""

    def __init__(self, refit, work, nps, python):
        self.refit, self.work, self.python = refit, work, python
        self.ckpts = []
        for c in range(N_CKPT):
            d = os.path.join(work, "ckpt%d" % c)
            subprocess.run([refit, "synth", "--out", d, "--preset", "tiny", "--seed", str(c + 1)],
                           check=True, stdout=subprocess.DEVNULL)
            self.ckpts.append(d)
        self.refs = {}
        for np_ in nps:
            for c, d in enumerate(self.ckpts):
                self.refs[(np_, c)] = self.reference(np_, c, d)

    def reference(self, np_, c, ckpt):
        out = os.path.join(self.work, "ref-np%d-c%d" % (np_, c))
        subprocess.run(mpiexec() + [str(np_), self.refit, "run", "--checkpoint", ckpt, "--tp", str(np_),
                                    "--backend", "host", "--dump", out],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([self.python, CHECK_DUMP, "--checkpoint", ckpt, "--tp", str(np_), "--world", str(np_),
                        "--quant", "fp8-tensor", "--dump", out, "--generation", "0"], check=True,
                       stdout=subprocess.DEVNULL)
        return [read_dump(rank_file(out, r, np_))[1:] for r in range(np_)]


def rank_pids(mpirun_pid):
    """{rank: pid} of mpirun's children (Open MPI puts the rank in their environment)."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != mpirun_pid:
                continue
            with open("/proc/%s/environ" % p, "rb") as f:
                env = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        for kv in env:
            if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
                out[int(kv.split(b"=", 1)[1])] = int(p)
    return out


def send_faults(proc, np_, rng, faults, log):
    """One or two signals to random ranks at random moments of the run,
    once every rank is past MPI_Init (rank 0 printed its first line): a rank
    killed inside MPI_Init can leave Open MPI's mpirun itself hanging."""
    while proc.poll() is None and " ranks, tp " not in open(log.name, errors="replace").read():
        time.sleep(0.02)
    for _ in range(rng.choice([1, 1, 2])):
        time.sleep(rng.uniform(0.0, 0.8))
        if proc.poll() is not None:
            return
        pids = rank_pids(proc.pid)
        if not pids:
            continue
        r = rng.choice(sorted(pids))
        sig = rng.choice(SIGNALS)
        try:
            os.kill(pids[r], sig)
        except ProcessLookupError:
            continue
        faults.append("%s->r%d" % (signal.Signals(sig).name, r))
        log.write("chaos: sent %s to rank %d (pid %d) at %.3f\n" % (signal.Signals(sig).name, r, pids[r],
                                                                   time.time()))
        if sig == signal.SIGSTOP:
            time.sleep(rng.uniform(0.2, 2.5))
            try:
                os.kill(pids[r], signal.SIGCONT)
            except ProcessLookupError:
                pass


def rewrite_shards(ckpts, stop, rng):
    """Rewrites shards with their own bytes: a reader sees other bytes only
    if it reads a file while it is being rewritten (a torn read)."""
    files = [os.path.join(d, f) for d in ckpts for f in os.listdir(d) if f.endswith(".safetensors")]
    content = {f: open(f, "rb").read() for f in files}
    while not stop.is_set():
        f = rng.choice(files)
        mode = rng.choice(["truncate", "overwrite", "rename"])
        data = content[f]
        if mode == "truncate":
            with open(f, "wb") as fp:
                fp.write(data[:len(data) // 2])
                fp.flush()
                time.sleep(0.01)
                fp.write(data[len(data) // 2:])
        elif mode == "overwrite":
            with open(f, "r+b") as fp:
                fp.write(bytes(len(data) // 3))
                fp.flush()
                time.sleep(0.01)
                fp.seek(0)
                fp.write(data)
        else:
            tmp = f + ".chaos"
            with open(tmp, "wb") as fp:
                fp.write(data)
            os.rename(tmp, f)
        time.sleep(rng.uniform(0.0, 0.05))


GEN_SAID = [re.compile(r"^refit: generation (\d+) committed"), re.compile(r"^refit: every rank keeps generation (\d+)"),
            re.compile(r"^refit: rank 0: .*(?:keeps|holds) generation (\d+)$"),
            re.compile(r"^refit: dumped generation (\d+)")]


def last_said(log_text):
    said = None
    for line in log_text.splitlines():
        for pat in GEN_SAID:
            m = pat.search(line)
            if m:
                said = int(m.group(1))
    return said


def check_run(setup, np_, loads, dump, log_text):
    """The invariant; returns a list of violations (empty: it holds)."""
    bad, gens = [], {}
    for r in range(np_):
        p = rank_file(dump, r, np_)
        if not os.path.exists(p):
            continue
        try:
            gens[r] = read_dump(p)
        except (OSError, ValueError, KeyError, struct.error) as e:
            bad.append("rank %d's dump %s is unreadable: %s" % (r, p, e))
    if len({g for g, _, _ in gens.values()}) > 1:
        bad.append("mixed generations: " + " ".join("r%d:%d" % (r, g[0]) for r, g in sorted(gens.items())))
        return bad
    for r, (g, hdr, data) in sorted(gens.items()):
        if g < 0 or g >= len(loads):
            bad.append("rank %d's dump holds generation %d, never loaded" % (r, g))
            continue
        ref_hdr, ref_data = setup.refs[(np_, loads[g])][r]
        if hdr != ref_hdr or data != ref_data:
            bad.append("rank %d's dump of generation %d is not checkpoint %d's bytes" % (r, g, loads[g]))
    said = last_said(log_text)
    if 0 in gens and said is not None and said != gens[0][0]:
        bad.append("rank 0 last said generation %d, its dump holds %d" % (said, gens[0][0]))
    return bad


def one_run(setup, args, np_, i, rng):
    loads = [rng.randrange(N_CKPT) for _ in range(rng.randint(6, 16))]
    dump = os.path.join(setup.work, "run%d" % i)
    cmd = mpiexec() + [str(np_), setup.refit, "run", "--tp", str(np_), "--backend", args.backend, "--timeout",
                       str(args.timeout), "--dump", dump]
    for c in loads:
        cmd += ["--checkpoint", setup.ckpts[c]]
    logpath = dump + ".log"
    faults = []
    with open(logpath, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if rng.random() < args.fault_rate:
            t = threading.Thread(target=send_faults, args=(proc, np_, rng, faults, log))
            t.start()
        else:
            t = None
        limit = len(loads) * args.timeout + 3 * args.timeout + 10  # every load, create, finish, teardown
        hung = False
        try:
            rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            hung = True
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
        if t:
            t.join()
    text = open(logpath, errors="replace").read()
    bad = ["mpirun still running after %d s: killed" % limit] if hung else []
    bad += check_run(setup, np_, loads, dump, text)
    return rc, faults, bad, logpath


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--refit", required=True)
    ap.add_argument("--budget", type=float, default=150.0, help="seconds of runs (default 150)")
    ap.add_argument("--max-runs", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=3.0, help="refit run --timeout (default 3)")
    ap.add_argument("--nps", default="2,4")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--fault-rate", type=float, default=0.85)
    ap.add_argument("--writer", action="store_true", help="rewrite shards while they are read (needs torn-read detection)")
    ap.add_argument("--keep", help="keep the work directory here")
    ap.add_argument("--backend", default="host", choices=["host", "cuda"],
                    help="refit run --backend of the faulted runs (default host; cuda: one GPU per rank)")
    args = ap.parse_args()
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    os.environ.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    nps = [int(x) for x in args.nps.split(",")]
    rng = random.Random(args.seed)
    work = args.keep or tempfile.mkdtemp(prefix="refit-chaos-")
    os.makedirs(work, exist_ok=True)
    os.environ["OMPI_MCA_orte_tmpdir_base"] = work  # see tests/mpi/lib.sh
    print("chaos: seed %d, work %s, nps %s, timeout %g s, budget %g s, writer %s, backend %s" %
          (args.seed, work, nps, args.timeout, args.budget, "on" if args.writer else "off", args.backend), flush=True)
    setup = Setup(args.refit, work, nps, sys.executable)
    stop = threading.Event()
    writer = None
    if args.writer:
        writer = threading.Thread(target=rewrite_shards, args=(setup.ckpts, stop, random.Random(args.seed + 1)))
        writer.start()
    t0, runs, n_faults, violations = time.time(), 0, 0, 0
    try:
        while time.time() - t0 < args.budget and runs < args.max_runs:
            np_ = nps[runs % len(nps)]
            rc, faults, bad, logpath = one_run(setup, args, np_, runs, rng)
            runs += 1
            n_faults += len(faults)
            status = "ok" if not bad else "VIOLATION"
            print("chaos: run %d np %d exit %d faults [%s]: %s" % (runs, np_, rc, " ".join(faults), status), flush=True)
            for b in bad:
                violations += 1
                print("chaos:   %s (log %s)" % (b, logpath), flush=True)
    finally:
        stop.set()
        if writer:
            writer.join()
    print("chaos: %d runs, %d faults, %d violations" % (runs, n_faults, violations), flush=True)
    if not args.keep and violations == 0:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if violations or runs == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

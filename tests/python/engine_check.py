#!/usr/bin/env python3
"""The reference engine serving from refit's weights, checked against
transformers (run under mpirun; every rank runs it).

For each tp, family and scheme: a refit.Context over MPI_COMM_WORLD (host
backend), open generation 0's checkpoint, refit.engine.Engine binds its own
tensors, load; the logits of TOKENS are compared with
  - transformers' bf16 and fp32 forward of the same checkpoint
    (make_hf_ckpts.py): cosine >= COS_MIN, max abs diff reported;
  - a plain dequantize-and-matmul forward of refit's dump (dump_forward.py):
    equal to fp32 noise (max abs diff <= DUMP_TOL * max |logit|);
  - every rank's logits (TP ranks and replicas): equal.
Then generation 1: staged from the directory and abandoned (the live weights
and the logits must not move), staged again (from rank 0's memory,
stage(mapping), when the library has the sources API; else the directory),
the logits still generation 0's while staged, commit, and the same checks
against generation 1's references.

usage: mpirun -np N engine_check.py CKPTS WORK TPS QUANTS FAMILIES
  TPS, QUANTS, FAMILIES: comma lists ("all" for QUANTS/FAMILIES)
Exit 0 when every check passed, 1 otherwise, 77 without torch/transformers.
"""
import os
import sys

try:
    import torch
    import torch.distributed as tdist
    import transformers  # noqa: F401 (dump_forward needs it)
except ImportError as e:
    print("SKIP: engine_check: %s (launch/install-deps.sh --with-python installs torch and transformers)" % e)
    sys.exit(77)
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refit  # noqa: E402
from refit import _lib  # noqa: E402
from refit.engine import Engine  # noqa: E402

import dump_forward  # noqa: E402

COS_MIN = 0.995
DUMP_TOL = 1e-5  # relative to the largest logit: fp32 summation-order noise
QUANTS = ["fp8-tensor", "fp8-row", "fp8-block", "none"]
FAMILIES = ["llama", "mistral", "qwen2", "qwen3"]


def compare(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return (a - b).abs().max().item(), torch.nn.functional.cosine_similarity(a, b, dim=0).item()


class Case:
    def __init__(self, ckpts, work, family, quant, tp):
        self.ckpts, self.family, self.quant, self.tp = ckpts, family, quant, tp
        self.work = os.path.join(work, "%s-%s-tp%d" % (family, quant, tp))
        self.failures = 0

    def ckpt(self, gen):
        return os.path.join(self.ckpts, self.family, "gen%d" % gen)

    def refs(self, gen):
        return torch.load(os.path.join(self.ckpts, self.family, "gen%d.logits.pt" % gen))

    def say(self, ok, what):
        if not ok:
            self.failures += 1
        print("%s: %s %s np=%d tp=%d: %s" % ("PASS" if ok else "FAIL", self.family, self.quant,
                                             tdist.get_world_size(), self.tp, what), flush=True)


def same_on_every_rank(case, logits, what):
    parts = [torch.empty_like(logits) for _ in range(tdist.get_world_size())]
    tdist.all_gather(parts, logits)
    if tdist.get_rank() == 0:
        worst = max((p - logits).abs().max().item() for p in parts)
        case.say(worst == 0.0, "%s: every rank's logits equal (max diff %.3g)" % (what, worst))


def check_generation(case, ctx, eng, gen):
    """Forward, dump, and the three comparisons on rank 0."""
    refs = case.refs(gen)
    logits = eng.prefill(refs["tokens"])
    same_on_every_rank(case, logits, "gen %d" % gen)
    dump = os.path.join(case.work, "dump-gen%d" % gen)
    ctx.dump(dump)
    if ctx.rank == 0:
        for kind in ("bf16", "fp32"):
            d, cos = compare(logits, refs[kind])
            case.say(cos >= COS_MIN, "gen %d vs transformers %s: max abs diff %.4g, cosine %.6f" % (gen, kind, d, cos))
        plain = dump_forward.forward(case.ckpt(gen), dump, ctx.tp, ctx.world_size, refs["tokens"])
        d, _ = compare(logits, plain)
        tol = DUMP_TOL * max(1.0, plain.abs().max().item())
        case.say(d <= tol, "gen %d vs dequantize-and-matmul of refit's dump: max abs diff %.3g (tol %.3g)"
                 % (gen, d, tol))
    return logits


def check_zero_copy(case, ctx, eng):
    """params() views are the engine's bound tensors (no copy anywhere)."""
    bad = [p.name for p in ctx.params()
           if not p.bound or p.torch().data_ptr() != eng.w[p.name].data_ptr()
           or (p.scale_name and p.scales_torch().data_ptr() != eng.w[p.scale_name].data_ptr())]
    if ctx.rank == 0:
        case.say(not bad, "params() views are the bound tensors%s" % (": not " + ", ".join(bad) if bad else ""))


def memory_tensors(ctx, ckpt):
    """Rank 0: the checkpoint's tensors as a trainer would hold them (bf16,
    in memory); the other ranks pass none (REFIT_SOURCE_ROOT_MEMORY)."""
    if ctx.rank != 0:
        return {}
    out = {}
    for f in sorted(os.listdir(ckpt)):
        if f.endswith(".safetensors"):
            out.update(load_file(os.path.join(ckpt, f)))
    return out


def reload(case, ctx, eng, before):
    """Stage gen 1, abandon, stage again, check nothing live moved, commit."""
    ctx.stage(case.ckpt(1))
    ctx.abandon()
    from_memory = _lib.has(refit._LIB, "refit_stage_source")
    ctx.stage(memory_tensors(ctx, case.ckpt(1)) if from_memory else case.ckpt(1))
    staged = eng.prefill(case.refs(0)["tokens"])
    if ctx.rank == 0:
        d, _ = compare(staged, before)
        case.say(d == 0.0 and ctx.generation == 0, "staged %s: live still generation 0 (logits diff %g)"
                 % ("from rank 0's memory" if from_memory else "from the directory (no sources API)", d))
    ctx.commit()
    if ctx.rank == 0:
        st = ctx.last_stats()
        case.say(ctx.generation == 1 and st["status"] == "ok",
                 "commit: generation %d, stage %.3f s, pause %.4f s" % (ctx.generation, st["stage_seconds"],
                                                                         st["pause_seconds"]))


def run_case(case, comm_tp):
    with refit.Context(tp=case.tp, quant=case.quant, backend="host", timeout=120) as ctx:
        ctx.open(case.ckpt(0))
        eng = Engine(ctx, case.ckpt(0))
        ctx.load(case.ckpt(0))
        check_zero_copy(case, ctx, eng)
        before = check_generation(case, ctx, eng, 0)
        reload(case, ctx, eng, before)
        check_generation(case, ctx, eng, 1)
    return case.failures


def main():
    ckpts, work, tps, quants, families = sys.argv[1:6]
    quants = QUANTS if quants == "all" else quants.split(",")
    families = FAMILIES if families == "all" else families.split(",")
    torch.set_num_threads(1)  # ranks share the cores
    failures = 0
    for tp in [int(t) for t in tps.split(",")]:
        for family in families:
            for quant in quants:
                failures += run_case(Case(ckpts, work, family, quant, tp), tp)
    if tdist.is_initialized():
        tdist.barrier()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""refit.Context from Python without torch (numpy buffers), under mpirun:
bind's checks with their exact messages, the state errors, a failing stage
(the status class on every rank, the first cause), abandon, commit,
generation, last_stats, digest against the dump's bytes, stage(mapping)
when the library has the sources API, and the context manager.

usage: mpirun -np N api_check.py CKPT0 CKPT1 WORK
"""
import os
import sys

import numpy as np

import refit
from refit import _lib, _views

FAILS = []


def check(ok, what):
    if not ok:
        FAILS.append(what)
    print("%s: rank %d: %s" % ("PASS" if ok else "FAIL", RANK[0], what), flush=True)


RANK = [0]


def expect(exc_class, text, fn, *args):
    """fn(*args) raises exc_class whose message contains text."""
    try:
        fn(*args)
    except refit.Error as e:
        check(isinstance(e, exc_class) and text in str(e), "%s -> %s: %s" % (text, type(e).__name__, e))
        return e
    check(False, "%s: no error raised" % text)
    return None


def buffers(ctx):
    out = {}
    for p in ctx.params():
        out[p.name] = np.zeros(p.shape, dtype=_views.numpy_dtypes(p.dtype_code)[0])
        if p.scale_name:
            out[p.scale_name] = np.zeros(p.scale_shape, dtype=np.float32)
    return out


def bad_binds(ctx, bufs):
    """Each bad mapping fails before anything is bound, naming the param."""
    q = next(p for p in ctx.params() if p.scale_name)
    r = ctx.rank
    expect(refit.InvalidArgument, "rank %d: bind nope.weight: unknown param" % r, ctx.bind, {"nope.weight": bufs[q.name]})
    expect(refit.InvalidArgument, "rank %d: bind %s: quantized: its scales %s are missing" % (r, q.name, q.scale_name),
           ctx.bind, {q.name: bufs[q.name]})
    expect(refit.InvalidArgument, "rank %d: bind %s: data has dtype float32, the param needs" % (r, q.name),
           ctx.bind, {q.name: np.zeros(q.shape, np.float32), q.scale_name: bufs[q.scale_name]})
    wrong = (q.shape[0] * 2, q.shape[1] // 2)  # the same bytes, another shape
    expect(refit.InvalidArgument, "rank %d: bind %s: data has shape [%d, %d], the param needs [%d, %d]"
           % ((r, q.name) + wrong + q.shape), ctx.bind, {q.name: np.zeros(wrong, bufs[q.name].dtype),
                                                          q.scale_name: bufs[q.scale_name]})
    strided = np.zeros((q.shape[0], q.shape[1] * 2), bufs[q.name].dtype)[:, ::2]
    expect(refit.InvalidArgument, "rank %d: bind %s: data is not contiguous" % (r, q.name),
           ctx.bind, {q.name: strided, q.scale_name: bufs[q.scale_name]})
    expect(refit.InvalidArgument, "rank %d: bind %s: scales %s has dtype float64" % (r, q.name, q.scale_name),
           ctx.bind, {q.name: bufs[q.name], q.scale_name: np.zeros(q.scale_shape)})
    expect(refit.InvalidArgument, "rank %d: bind %s: data is a list" % (r, q.name),
           ctx.bind, {q.name: [0], q.scale_name: bufs[q.scale_name]})
    # refit_bind's own check (C): a buffer not aligned to 16 bytes
    raw = np.zeros(bufs[q.name].nbytes + 16, np.uint8)[1:1 + bufs[q.name].nbytes].view(bufs[q.name].dtype)
    expect(refit.InvalidArgument, "rank %d: bind %s: data at" % (r, q.name),
           ctx.bind, {q.name: raw.reshape(q.shape), q.scale_name: bufs[q.scale_name]})
    check(not any(p.bound for p in ctx.params()), "no param bound after the bad binds")


def serve(ctx, bufs, ckpt0, ckpt1, work):
    ctx.bind(bufs)
    expect(refit.StateError, "refit_commit", ctx.commit)  # nothing staged
    ctx.load(ckpt0)
    check(ctx.generation == 0 and all(p.bound and p.generation == 0 for p in ctx.params()), "load: generation 0")
    p = ctx.params()[0]
    check(p.data.ctypes.data == bufs[p.name].ctypes.data, "params() data view is the bound buffer")
    e = expect(refit.Error, "refit_stage", ctx.stage, os.path.join(work, "missing"))
    check(isinstance(e, refit.IOFailure if ctx.rank == 0 else refit.RemoteError) and "missing" in e.cause,
          "failed stage: %s on rank %d, the cause names the directory" % (type(e).__name__, ctx.rank))
    before = {k: v.copy() for k, v in bufs.items()}
    ctx.stage(ckpt1)
    check(all(np.array_equal(before[k].view(np.uint8), bufs[k].view(np.uint8)) for k in bufs),
          "stage wrote no live byte")
    ctx.abandon()
    check(ctx.generation == 0, "abandon: still generation 0")
    ctx.stage(ckpt1)
    ctx.commit()
    st = ctx.last_stats()
    check(ctx.generation == 1 and st["status"] == "ok" and set(st["seconds"]) == set(_lib.PHASES),
          "commit: generation 1, last_stats %s" % {k: st[k] for k in ("generation", "status")})
    changed = sum(not np.array_equal(before[k].view(np.uint8), bufs[k].view(np.uint8)) for k in bufs)
    check(changed == len(bufs), "commit wrote every bound buffer (%d of %d changed)" % (changed, len(bufs)))


def stage_mapping(ctx, ckpt1):
    """stage({name: array}) from rank 0's memory, then from every rank's
    (issue 11's sources API): the same bytes as from the directory."""
    if not _lib.has(refit._LIB, "refit_stage_source"):
        check(False, "this librefit.so has no refit_stage_source (refit.h declares it)")
        return
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
    import st
    tensors = {}
    for f in sorted(os.listdir(ckpt1)):
        if f.endswith(".safetensors"):
            sf = st.load(os.path.join(ckpt1, f))
            tensors.update({n: np.ascontiguousarray(sf.tensor(n)) for n in sf.names()})
    if ctx.rank == 0:
        bad = dict(tensors)
        bad[next(iter(bad))] = np.zeros(3, np.int32)
        expect(refit.InvalidArgument, "has dtype int32 (bfloat16, float16 or float32 only)", ctx.stage, bad)
    names = [p.name for p in ctx.params()]
    before = [ctx.digest(n) for n in names]
    ctx.stage(tensors if ctx.rank == 0 else {})  # ROOT_MEMORY: only rank 0's are read
    ctx.commit()
    check(ctx.generation == 2 and [ctx.digest(n) for n in names] == before,
          "stage(mapping) from rank 0's memory: generation 2, every param's digest as from the directory")
    ctx.stage(tensors, every_rank=True)  # RANK_MEMORY: each rank slices its own copy
    ctx.commit()
    check(ctx.generation == 3 and [ctx.digest(n) for n in names] == before,
          "stage(mapping, every_rank=True): generation 3, every param's digest as from the directory")


def main():
    ckpt0, ckpt1, work = sys.argv[1:4]
    with refit.Context(quant="fp8-row", backend="host", timeout=60) as ctx:
        RANK[0] = ctx.rank
        expect(refit.StateError, "no param table yet", ctx.param, "x")
        ctx.open(ckpt0)
        bufs = buffers(ctx)
        bad_binds(ctx, bufs)
        serve(ctx, bufs, ckpt0, ckpt1, work)
        stage_mapping(ctx, ckpt1)
    expect(refit.StateError, "the context is closed", lambda: ctx.generation)
    expect(refit.InvalidArgument, "backend 'gpu' is not one of", refit.Context, 0, "none", "gpu")
    print("%s: rank %d: %d failures" % ("PASS" if not FAILS else "FAIL", RANK[0], len(FAILS)))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()

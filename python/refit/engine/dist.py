"""torch.distributed from the MPI ranks refit runs on.

The MPI job is the source of truth for rank and world size (the refit
context's). Rank 0 chooses the rendezvous address (MASTER_ADDR if set, else
its host name's address; MASTER_PORT if set, else a free port the kernel
gives it) and broadcasts it over MPI; every rank then joins the default group
(gloo on CPU, NCCL on GPU). Each replica's TP group is ranks
[replica*tp, (replica+1)*tp) (SPEC §1: tp_rank = rank % tp).
"""
import datetime
import os
import socket

import torch
import torch.distributed as dist

from .. import _mpi
from .. import context as _context

_groups = {}


def _rendezvous():
    host = os.environ.get("MASTER_ADDR") or socket.gethostbyname(socket.gethostname())
    port = os.environ.get("MASTER_PORT")
    if not port:
        with socket.socket() as s:  # a free port now; the store binds it right after the broadcast
            s.bind(("", 0))
            port = s.getsockname()[1]
    return ("tcp://%s:%s" % (host, port)).encode()


def init(ctx, backend=None, comm=None, timeout_s=300):
    """Joins torch.distributed (once per process) with ctx's rank and world size."""
    if dist.is_initialized():
        return
    mpi = _context._lib_handle[1]
    url = _mpi.bcast_bytes(mpi, comm, _rendezvous() if ctx.rank == 0 else None, 256).decode()
    backend = backend or ("nccl" if ctx.backend == "cuda" else "gloo")
    dist.init_process_group(backend, init_method=url, rank=ctx.rank, world_size=ctx.world_size,
                            timeout=datetime.timedelta(seconds=timeout_s))


def tp_group(ctx):
    """The torch process group of ctx's replica (every rank must call this
    with the same tp: new_group is collective over the default group)."""
    key = ctx.tp
    if key not in _groups:
        mine = None
        for replica in range(ctx.world_size // ctx.tp):
            ranks = list(range(replica * ctx.tp, (replica + 1) * ctx.tp))
            g = dist.new_group(ranks)
            if ctx.rank in ranks:
                mine = g
        _groups[key] = mine
    return _groups[key]


def all_reduce(x, group, tp):
    if tp > 1:
        dist.all_reduce(x, group=group)
    return x


def all_gather_last(x, group, tp):
    """Concatenate every TP rank's x along the last dim, in rank order."""
    if tp == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(tp)]
    dist.all_gather(parts, x.contiguous(), group=group)
    return torch.cat(parts, dim=-1)

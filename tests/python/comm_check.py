#!/usr/bin/env python3
"""refit.Context over an mpi4py communicator (passed by handle): the world
split in two halves (even and odd ranks), one context per half, loading and
reloading side by side; each context's rank and size are the half's.

usage: mpirun -np 4 comm_check.py CKPT0 CKPT1
Exit 77 without mpi4py.
"""
import sys

try:
    from mpi4py import MPI
except ImportError as e:
    print("SKIP: comm_check: %s (launch/install-deps.sh --with-python installs mpi4py)" % e)
    sys.exit(77)
import refit  # noqa: E402


def main():
    ckpt0, ckpt1 = sys.argv[1:3]
    world = MPI.COMM_WORLD
    half = world.Split(world.Get_rank() % 2, world.Get_rank())
    fails = 0
    with refit.Context(comm=half, quant="fp8-tensor", backend="host") as ctx:
        ok = ctx.rank == half.Get_rank() and ctx.world_size == half.Get_size() == world.Get_size() // 2
        ctx.load(ckpt0)
        ctx.stage(ckpt1)
        ctx.commit()
        ok = ok and ctx.generation == 1 and ctx.tp == half.Get_size()
        digest = ctx.digest(ctx.params()[0].name)
    # both halves loaded the same checkpoints at the same tp: same slices, same digests
    same = world.allgather(digest)
    ok = ok and same[0] == same[1] and same[2] == same[3] if len(same) == 4 else ok
    print("%s: world rank %d: context rank %d of %d over an mpi4py communicator, generation 1, digest %016x" % (
        "PASS" if ok else "FAIL", world.Get_rank(), half.Get_rank(), half.Get_size(), digest), flush=True)
    fails += not ok
    half.Free()
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()

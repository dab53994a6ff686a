#!/usr/bin/env python3
"""A rollout worker: the README's ten lines, runnable. The engine
(refit.engine.Engine) allocates its params and binds them to refit; each new
checkpoint is staged while the engine keeps serving the live generation, and
committed between batches.

usage: mpirun -np 2 python rollout_worker.py CKPT0 CKPT1 [CKPT...]
(checkpoints of one llama/mistral/qwen2/qwen3 model, e.g. from save_pretrained)
"""
import sys

import refit
from refit.engine import Engine

PROMPT = [1, 5, 77, 250, 3]


def main(ckpts):
    with refit.Context(quant="fp8-row", backend="host") as ctx:  # tp = world size
        ctx.open(ckpts[0])
        engine = Engine(ctx, ckpts[0])  # allocates its params, ctx.bind()s them
        ctx.load(ckpts[0])
        for ckpt in ckpts[1:]:
            ctx.stage(ckpt)  # the trainer's new weights, into refit's shadow
            served = engine.prefill(PROMPT)  # still the live generation
            ctx.commit()  # the pause: every rank moves to generation + 1 together
            if ctx.rank == 0:
                print("served generation %d (next token %d), now generation %d, pause %.2f ms" % (
                    ctx.generation - 1, int(served[-1].argmax()), ctx.generation,
                    ctx.last_stats()["pause_seconds"] * 1e3), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

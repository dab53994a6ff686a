#!/usr/bin/env python3
"""Independent check of refit's fp8 dumps with PyTorch's own fp8 conversion
on the GPU (SPEC §4 says the formulas were checked bit for bit against
PyTorch 2.11 on H100: this re-checks refit against it).

For every quantized param of every rank in DUMP, the rank-local bf16 slice
is rebuilt from the checkpoint (tests/ref/spec_ref.py, SPEC §3) and
quantized with torch on CUDA exactly as vLLM / torchao code does:
  fp8-tensor: s = max(amax / 448, MIN_SCALE) (tensor / tensor: IEEE),
              q = (x * (1/s)).clamp(±448).to(float8_e4m3fn)
  fp8-row:    s_n = max(amax_n / 448.0 (python scalar: * fp32(1/448)), MIN_SCALE),
              q = (x / s_n).clamp(±448).to(float8_e4m3fn)
  fp8-block:  sf = max(amax_b, 1e-4) / 448.0, q = (x * (1/sf)).clamp(...)
Bytes of q and scales must equal the dump's.

usage: torch_check.py --checkpoint DIR --tp T --world W --quant Q --dump DIR
Exit 0 if identical, 1 on a mismatch, 77 without torch/CUDA.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ref"))
import numpy as np  # noqa: E402

try:
    import torch
except ImportError:
    print("torch_check: no torch: skipped")
    sys.exit(77)
import spec_ref  # noqa: E402
import st  # noqa: E402

MIN_SCALE = 1.0 / (448.0 * 512.0)


def to_torch_bf16(x):
    return torch.from_numpy(np.ascontiguousarray(x).view(np.int16).copy()).view(torch.bfloat16).cuda()


def fp8(y):
    return y.clamp(-448.0, 448.0).to(torch.float8_e4m3fn)


def quant_tensor(x):
    xf = x.float()
    amax = xf.abs().max()
    s = torch.clamp(amax / torch.tensor(448.0, device="cuda"), min=MIN_SCALE)
    inv = torch.tensor(1.0, device="cuda") / s
    return fp8(xf * inv), s.reshape(1)


def quant_row(x):
    xf = x.float()
    amax = xf.abs().amax(dim=1, keepdim=True)
    s = torch.clamp(amax / 448.0, min=MIN_SCALE)
    return fp8(xf / s), s


def quant_block(x):
    xf = x.float()
    n, k = xf.shape
    bn, bk = (n + 127) // 128, (k + 127) // 128
    pad = torch.zeros(bn * 128, bk * 128, device="cuda")
    pad[:n, :k] = xf.abs()
    amax = pad.reshape(bn, 128, bk, 128).amax(dim=(1, 3))
    sf = torch.clamp(amax, min=1e-4) / 448.0
    inv = (torch.tensor(1.0, device="cuda") / sf).repeat_interleave(128, 0).repeat_interleave(128, 1)[:n, :k]
    return fp8(xf * inv), sf


QUANT = {"fp8-tensor": quant_tensor, "fp8-row": quant_row, "fp8-block": quant_block}


def raw(t):
    return t.contiguous().cpu().view(torch.uint8).numpy().reshape(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tp", type=int, required=True)
    ap.add_argument("--world", type=int, required=True)
    ap.add_argument("--quant", required=True, choices=sorted(QUANT))
    ap.add_argument("--dump", required=True)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_check: no CUDA device: skipped")
        return 77
    ck = spec_ref.open_checked(a.checkpoint, a.tp, a.world)
    bad = checked = 0
    for rank in range(a.world):
        r = rank % a.tp
        dump = st.load(os.path.join(a.dump, f"rank-{rank:05d}-of-{a.world:05d}.safetensors"))
        for name, (layout, parts) in spec_ref.shard_parts(ck, a.tp, r).items():
            if not spec_ref.is_quantized(name):
                continue
            x = to_torch_bf16(spec_ref.shard_param(ck.cfg, a.tp, layout, parts))
            q, s = QUANT[a.quant](x)
            sname = spec_ref.scale_name(name, a.quant)
            for what, got, want in ((name, dump.raw(name), raw(q)), (sname, dump.raw(sname), raw(s.float()))):
                checked += 1
                if got.shape != want.shape or not np.array_equal(got, want):
                    bad += 1
                    n = min(len(got), len(want))
                    diff = np.nonzero(got[:n] != want[:n])[0]
                    print(f"rank {rank}: {what}: {len(diff)} bytes differ from torch, first at {diff[:1]}")
    print(f"torch_check: {a.quant} tp {a.tp} world {a.world}: {checked - bad}/{checked} tensors identical to torch "
          f"{torch.__version__} on {torch.cuda.get_device_name()}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

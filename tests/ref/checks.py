"""Shared helpers of the reference self-tests (selftest*.py): the check
recorder, the expected-error helper, a tagged fake checkpoint for layout
checks, and independent float64 references of the SPEC §4 quantizers (every
step in float64, which is exact for a product of two fp32 and, for a quotient,
rounds to the same fp32 as IEEE fp32 division since 53 >= 2*24+2).
"""

import io
import os
import sys
from contextlib import redirect_stdout

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spec_ref as R  # noqa: E402

F32 = np.float32

FAILED = []
VERBOSE = "-v" in sys.argv


def check(cond, what):
    """Record one check."""
    if not cond:
        FAILED.append(what)
        print(f"FAIL: {what}")
    elif VERBOSE:
        print(f"ok: {what}")


def expect_error(kind, fn, what, tensor=None):
    """fn() must raise SpecError of `kind` (and name `tensor` when given)."""
    try:
        fn()
    except R.SpecError as e:
        check(e.kind == kind and (tensor is None or e.tensor == tensor),
              f"{what}: got {e.kind}/{e.tensor}: {e}")
        return e
    check(False, f"{what}: no error raised")
    return None


class FakeCk:
    """Synthetic checkpoint: every element of a tensor holds TAG*10^6 + its
    row index (int32), TAG being the tensor's position in the checkpoint
    order, so any slice traces back to its source tensor and rows."""

    def __init__(self, cfg, cols=4):
        self.cfg = cfg
        self.t = {}
        self.tag = {}
        for tag, (name, shape) in enumerate(R.checkpoint_shapes(cfg).items()):
            self.tag[name] = tag
            ids = tag * 10 ** 6 + np.arange(shape[0], dtype=np.int32)
            self.t[name] = np.repeat(ids[:, None], min(shape[1], cols * 64), axis=1) if len(shape) == 2 else ids

    def get(self, name):
        return self.t[name]

    def rows(self, name, lo, hi):
        """The ids of rows [lo, hi) of tensor `name`."""
        return self.tag[name] * 10 ** 6 + np.arange(lo, hi)


def fp8_table():
    """Values of e4m3fn codes 0x00..0x7E (non-negative finite), from the bit layout."""
    vals = []
    for c in range(0x7F):
        e, m = c >> 3, c & 7
        vals.append(m * 2.0 ** -9 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7))
    return np.array(vals)


def rne_indep(x):
    """Independent fp32 -> e4m3fn RNE (sign kept) by integer arithmetic in float64.

    Quantum q = 2^(max(e, -6) - 3) where 2^e <= |x|; n = rint(|x|/q) (ties
    even, exact in float64); code = index of n*q in the value table.
    Expects |x| <= 448.
    """
    x = np.asarray(x, np.float32).astype(np.float64)
    ax = np.abs(x)
    e = np.floor(np.log2(np.where(ax > 0, ax, 1.0)))
    # log2 of an fp32 can be off at exact powers of 2: fix e so 2^e <= ax < 2^(e+1)
    e = np.where(2.0 ** e > ax, e - 1, e)
    e = np.where(2.0 ** (e + 1) <= ax, e + 1, e)
    q = 2.0 ** (np.maximum(e, -6) - 3)
    v = np.rint(ax / q) * q
    table = fp8_table()
    code = np.searchsorted(table, v)
    assert np.all(table[np.minimum(code, 126)] == v), "value off the fp8 grid"
    return (code | np.where(np.signbit(x), 0x80, 0)).astype(np.uint8)


# Independent references for §4: every step in float64 (exact for a product of
# two fp32; for a quotient, float64 then fp32 rounding equals IEEE fp32
# division since 53 >= 2*24+2), then rounded to fp32 explicitly.  Divide or
# multiply is a parameter so the tests can show the SPEC's choice matters.

def f32(v):
    return np.asarray(v, np.float64).astype(np.float32)


def clamp_rne(y):
    return rne_indep(np.clip(f32(y), F32(-448), F32(448)))


def ref_tensor(x, scale_by_recip=False):
    """fp8-tensor: s = max(fp32(amax/448), MIN_SCALE); q = rne(clamp(fp32(x*fp32(1/s))))."""
    xd = x.astype(np.float64)
    amax = np.max(np.abs(xd))
    s = max(f32(amax * np.float64(R.R448)) if scale_by_recip else f32(amax / 448), R.MIN_SCALE)
    inv = f32(1 / np.float64(s))
    return clamp_rne(xd * np.float64(inv)), np.array([s], np.float32)


def ref_row(x, divide=True):
    """fp8-row: s_n = max(fp32(amax_n*R448), MIN_SCALE); q = rne(clamp(fp32(x/s_n)))."""
    xd = x.astype(np.float64)
    s = np.maximum(f32(np.max(np.abs(xd), axis=1, keepdims=True) * np.float64(R.R448)), R.MIN_SCALE)
    sd = s.astype(np.float64)
    y = xd / sd if divide else xd * f32(1 / sd).astype(np.float64)
    return clamp_rne(y), s


def ref_block(x, divide=False):
    """fp8-block: sf = fp32(max(amax, fp32(1e-4))*R448) per 128x128 tile; q = rne(clamp(fp32(x*fp32(1/sf))))."""
    xd = x.astype(np.float64)
    n, k = xd.shape
    sf = np.zeros((-(-n // 128), -(-k // 128)), np.float32)
    y = np.zeros_like(xd)
    for i in range(sf.shape[0]):
        for j in range(sf.shape[1]):
            blk = xd[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
            sf[i, j] = f32(max(np.max(np.abs(blk)), np.float64(F32(1e-4))) * np.float64(R.R448))
            d = np.float64(sf[i, j])
            y[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128] = blk / d if divide else blk * np.float64(f32(1 / d))
    return clamp_rne(y), sf


def quiet(fn, *a):
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = fn(*a)
    return rc, buf.getvalue()

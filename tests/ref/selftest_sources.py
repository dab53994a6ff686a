"""Self-test of the SPEC §1 source conversions (fp16 and fp32 checkpoints).

Checks (run by selftest.py):
  - fp16 -> fp32 widening is exact for every fp16 value, and fp16 -> bf16
    equals fp32 -> bf16 of the widened value
  - fp32 -> bf16 round to nearest, ties to even: spot values (ties both ways,
    subnormal ties, signed zeros, carry into the exponent, overflow to Inf
    from 0x7F7F8000 up)
  - spec_ref.to_bf16 == an independent float64 nearest-even rounding ==
    ml_dtypes' cast, over every fp16 value and 1M random fp32 bit patterns
  - end to end: fp16 / fp32 / mixed checkpoints (dense and MoE) give the dump
    of a bf16 checkpoint holding the independently converted values, and the
    generated F32 ties make truncation differ (the check discriminates)
  - rejections: finite fp32 values that overflow bf16 (named tensor, ranks),
    the largest value that does not, F64 and I32 tensors (tensor, file, dtype)
"""

import glob
import os
import shutil

import ml_dtypes
import numpy as np

import check_dump
import make_ckpt
import spec_ref as R
import st
from checks import check, expect_error, quiet

BF16 = R.BF16


def bf16_indep(x):
    """Independent fp32 -> bf16 bits (finite inputs): the nearer of the two
    bf16 neighbours in float64, ties to the even code; the code above the
    largest finite one (0x7F80, Inf) counts as 2^128, IEEE's overflow rule."""
    x = np.asarray(x, np.float32)
    u = x.view(np.uint32)
    lo = ((u & 0x7FFFFFFF) >> 16).astype(np.int64)  # magnitude truncated to bf16

    def value(code):
        f = (code.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        return np.where(code >= 0x7F80, 2.0 ** 128, f)

    v = np.abs(x.astype(np.float64))
    below, above = v - value(lo), value(lo + 1) - v
    up = (above < below) | ((above == below) & (lo % 2 == 1))
    return ((lo + up) | ((u >> 16) & 0x8000)).astype(np.uint16)


def bits32(*codes):
    return np.array(codes, np.uint32).view(np.float32)


def test_fp32_spots():
    """§1: fp32 -> bf16 nearest, ties to even (PyTorch's .to(torch.bfloat16))."""
    cases = [(0x3F800000, 0x3F80), (0x3F808000, 0x3F80), (0x3F818000, 0x3F82), (0x3F808001, 0x3F81),
             (0x3F807FFF, 0x3F80), (0xBF808000, 0xBF80), (0xBF818000, 0xBF82), (0x00008000, 0x0000),
             (0x00018000, 0x0002), (0x00008001, 0x0001), (0x00007FFF, 0x0000), (0x80008000, 0x8000),
             (0x80000000, 0x8000), (0x3FFFFFFF, 0x4000), (0x7F7F7FFF, 0x7F7F), (0x7F7F8000, 0x7F80),
             (0xFF7F8000, 0xFF80), (0x7F7FFFFF, 0x7F80), (0x7F800000, 0x7F80), (0xFF800000, 0xFF80)]
    x = bits32(*[c for c, _ in cases])
    got = R.to_bf16(x).view(np.uint16)
    for (c, w), g in zip(cases, got):
        check(g == w, f"fp32 0x{c:08X} -> bf16 0x{w:04X} (got 0x{g:04X})")
    fin = np.isfinite(x)
    check(np.array_equal(bf16_indep(x[fin]), np.array([w for _, w in cases], np.uint16)[fin]),
          "independent rounding agrees on the spot values")
    big = np.array([3.4e38, -3.4e38], np.float32)
    check(R.to_bf16(big).view(np.uint16).tolist() == [0x7F80, 0xFF80], "fp32 +-3.4e38 (finite) round to +-Inf")
    check(R.to_bf16(bits32(0x7FC00001)).view(np.uint16)[0] == 0x7FC0, "NaN -> 0x7FC0 (never a finite code)")


def test_fp16_widening():
    """§1: fp16 widens to fp32 exactly (every value), then rounds like fp32."""
    h = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    w = h.astype(np.float32)
    fin = np.isfinite(h)
    check(np.array_equal(w[fin].astype(np.float64), h[fin].astype(np.float64)) and np.isnan(w[~fin]).sum() ==
          np.isnan(h).sum(), "fp16 -> fp32 exact for all 65536 codes")
    b = R.to_bf16(h).view(np.uint16)
    check(np.array_equal(b, R.to_bf16(w).view(np.uint16)), "fp16 -> bf16 == fp32 -> bf16 of the widened value")
    check(np.array_equal(b[fin], bf16_indep(w[fin])), "fp16 -> bf16 == independent rounding, every finite fp16")
    spots = [(0x3C01, 0x3F80), (0x3C04, 0x3F80), (0x3C0C, 0x3F82), (0x3C06, 0x3F81), (0x0001, 0x3380),
             (0x7BFF, 0x4780), (0xFBFF, 0xC780), (0x7C00, 0x7F80), (0x8000, 0x8000)]
    got = R.to_bf16(np.array([c for c, _ in spots], np.uint16).view(np.float16)).view(np.uint16)
    for (c, want), g in zip(spots, got):
        check(g == want, f"fp16 0x{c:04X} -> bf16 0x{want:04X} (got 0x{g:04X})")


def test_random_fp32():
    """§1: to_bf16 == independent rounding == ml_dtypes' cast on 1M fp32 patterns (half of them ties)."""
    rng = np.random.default_rng(5)
    u = rng.integers(0, 1 << 32, 1_000_000, dtype=np.uint64).astype(np.uint32)
    u[::2] = (u[::2] & 0xFFFF0000) | 0x8000
    x = u.view(np.float32)
    x = x[np.isfinite(x)]
    a = R.to_bf16(x).view(np.uint16)
    check(np.array_equal(a, bf16_indep(x)), f"to_bf16 == independent rounding on {x.size} values")
    check(np.array_equal(a, x.astype(ml_dtypes.bfloat16).view(np.uint16)), "to_bf16 == ml_dtypes cast")
    check(not np.array_equal(a, (x.view(np.uint32) >> 16).astype(np.uint16)), "rounding differs from truncation")


# ------------------------------------------------------------ end to end

def bf16_copy(src, dst):
    """Copy checkpoint `src` to `dst` with every F16/F32 tensor converted to
    BF16 by bf16_indep (same files, names, index and config)."""
    os.makedirs(dst, exist_ok=True)
    for fn in ("config.json", "model.safetensors.index.json"):
        if os.path.exists(os.path.join(src, fn)):
            shutil.copy(os.path.join(src, fn), dst)
    for path in glob.glob(os.path.join(src, "*.safetensors")):
        f = st.load(path)
        out = {}
        for n in f.names():
            t = f.tensor(n)
            out[n] = t if t.dtype == BF16 else bf16_indep(t.astype(np.float32)).view(BF16)
        st.save(os.path.join(dst, os.path.basename(path)), out)


def same_dump(a, b):
    return len(a) == len(b) and all(
        ra.keys() == rb.keys() and all(ra[n].dtype == rb[n].dtype and ra[n].shape == rb[n].shape and
                                       np.array_equal(ra[n].data, rb[n].data) for n in ra)
        for ra, rb in zip(a, b))


def stored_dtypes(ck):
    return {R.Checkpoint(ck).dtype(n) for n in R.checkpoint_shapes(R.load_config(ck))}


def test_converted_checkpoints(tmp):
    """§1 end to end: a non-bf16 checkpoint's dump == the dump of its independently converted bf16 copy."""
    dense = dict(family="llama", hidden=128, heads=4, kv=2, inter=192, vocab=200, layers=2, seed=4)
    cases = [("f16", dense, "fp16", "tp"), ("f32", dense, "fp32", "tp"), ("mix", {**dense, "files": 2}, "mixed", "tp"),
             ("moe32", dict(family="qwen2_moe", preset="tiny"), "fp32", "ep"),
             ("moemix", dict(family="mixtral", preset="tiny"), "mixed", "tp")]
    for name, kw, dtype, moe in cases:
        ck = make_ckpt.make(os.path.join(tmp, "src_" + name), dtype=dtype, **kw)
        want = {"fp16": {"F16"}, "fp32": {"F32"}, "mixed": {"BF16", "F16", "F32"}}[dtype]
        check(stored_dtypes(ck) == want, f"{name}: stored dtypes {sorted(stored_dtypes(ck))} == {sorted(want)}")
        copy = os.path.join(tmp, "bf16_" + name)
        bf16_copy(ck, copy)
        for scheme in ("fp8-block", "none"):
            a = R.expected_dump(ck, 2, 2, scheme, moe)
            check(same_dump(a, R.expected_dump(copy, 2, 2, scheme, moe)),
                  f"{name} {scheme} --moe {moe}: dump == dump of the bf16-converted copy")
    f = st.load(os.path.join(tmp, "src_f32", "model.safetensors"))
    u = np.concatenate([f.tensor(n).reshape(-1).view(np.uint32) for n in f.names()])
    ties = u[(u & 0xFFFF) == 0x8000]
    check(ties.size > 100 and np.any(ties & 0x10000) and np.any(~ties & 0x10000),
          f"F32 checkpoint holds exact ties rounding both ways ({ties.size})")
    d = os.path.join(tmp, "dump_f16")
    R.write_dump(R.expected_dump(os.path.join(tmp, "src_f16"), 2, 4, "fp8-row"), d, 2, "fp8-row", 3)
    rc, out = quiet(check_dump.main, ["--checkpoint", os.path.join(tmp, "src_f16"), "--tp", "2", "--world", "4",
                                      "--quant", "fp8-row", "--dump", d, "--generation", "3"])
    check(rc == 0, f"check_dump passes an fp16 checkpoint's dump: {out.strip()}")


def rewrite(ck, name, fn):
    """Replace tensor `name` of checkpoint `ck` (single file) by fn(old tensor)."""
    path = os.path.join(ck, "model.safetensors")
    f = st.load(path)
    t = {n: np.array(f.tensor(n)) for n in f.names()}
    t[name] = fn(t[name])
    del f
    st.save(path, t)


def test_source_rejections(tmp):
    """§1: not finite after conversion rejects like NaN/Inf; other dtypes name tensor, file, dtype."""
    small = dict(family="llama", hidden=128, heads=4, kv=2, inter=192, vocab=200, layers=2, seed=5)
    q = "model.layers.0.self_attn.q_proj.weight"
    ck = make_ckpt.make(os.path.join(tmp, "ovf"), overflow=[q + "@5"], **small)
    e = expect_error("nonfinite", lambda: R.expected_dump(ck, 2, 4, "fp8-tensor"), "fp32 3.4e38 rejected", q)
    check(e is not None and e.ranks == [0, 2] and "after F32->BF16 conversion" in str(e),
          f"overflow in q row 0 is on ranks [0, 2], message says after conversion: {e}")
    ck = make_ckpt.make(os.path.join(tmp, "edge"), dtype="fp32", **small)
    rewrite(ck, q, lambda t: np.where(np.arange(t.size).reshape(t.shape) == 7, bits32(0x7F7F7FFF)[0],
                                      np.where(np.arange(t.size).reshape(t.shape) == 9, -bits32(0x7F7F7FFF)[0], t)))
    exp = R.expected_dump(ck, 1, 1, "none")
    qkv = exp[0]["model.layers.0.self_attn.qkv_proj.weight"].data.view(np.uint16)
    check(qkv[7] == 0x7F7F and qkv[9] == 0xFF7F, "largest fp32 below the overflow midpoint stays finite (0x7F7F)")
    rewrite(ck, q, lambda t: np.where(np.arange(t.size).reshape(t.shape) == 7, -bits32(0x7F7F8000)[0], t))
    expect_error("nonfinite", lambda: R.expected_dump(ck, 1, 1, "none"), "fp32 -0x7F7F8000 (tie) rounds to -Inf", q)
    ck = make_ckpt.make(os.path.join(tmp, "h_inf"), dtype="fp16", inf=[q], **small)
    expect_error("nonfinite", lambda: R.expected_dump(ck, 2, 2, "none"), "fp16 Inf rejected", q)
    for dt in ("F64", "I32"):
        ck = make_ckpt.make(os.path.join(tmp, "dt_" + dt), tensor_dtype=[q + "=" + dt], **small)
        e = expect_error("dtype", lambda: R.expected_dump(ck, 2, 2, "none"), f"{dt} tensor rejected", q)
        check(e is not None and dt in str(e) and q in str(e) and ck in str(e), f"{dt} error names tensor, file, dtype")


TESTS = [test_fp32_spots, test_fp16_widening, test_random_fp32]
TMP_TESTS = [test_converted_checkpoints, test_source_rejections]

#!/usr/bin/env python3
"""Self-test of the reference against facts stated in SPEC.md.

    selftest.py [-v]

Checks (SPEC section in brackets):
  - qkv example: hidden 4096, 32 heads, 8 kv, hd 128, tp=16 -> 512 rows =
    256 q + 128 k + 128 v, kv block r/2                                [§3]
  - vocab: 32001 -> 32064; tp=2 rank 1 holds 15969 real + 63 zero rows  [§3]
  - merged / row / replicated layouts, divisibility errors              [§3]
  - fp8 spot values, ties to even, sign of zero, saturation, MIN_SCALE  [§4]
  - ml_dtypes' fp32->e4m3fn cast against an independent integer RNE     [§4]
  - vectorized quantizers against scalar per-element fp32 loops; ragged
    block scale shape                                                   [§4]
  - safetensors validity rules on corrupted files                       [§6]
  - end to end: make_ckpt -> spec_ref -> dump -> check_dump, and the
    rejections (NaN/Inf, missing, unknown, dtype, shape)                [§2-§6]
  - fp16/fp32 sources: selftest_sources.py                              [§1]
  - Mixture-of-Experts: selftest_moe.py                                 [§3a]
Shared helpers (check recorder, fake checkpoint, float64 quantizers): checks.py.
Exit 0 on success; otherwise prints every failed check and exits 1.
"""

import json
import os
import struct
import sys
import tempfile
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_dump  # noqa: E402
import make_ckpt  # noqa: E402
import selftest_moe  # noqa: E402
import selftest_sources  # noqa: E402
import spec_ref as R  # noqa: E402
import st  # noqa: E402
from checks import (FAILED, FakeCk, check, expect_error, fp8_table, quiet, ref_block,  # noqa: E402
                    ref_row, ref_tensor, rne_indep)

F32 = np.float32
BF16 = R.BF16
# ------------------------------------------------------------ §3 layouts

def cfg_of(family="llama", hidden=4096, nh=32, nkv=8, hd=128, inter=64, vocab=64, layers=1, tied=False):
    return R.Config(family, hidden, nh, nkv, hd, inter, vocab, layers, tied)


def test_qkv_example():
    """§3: tp=16, 32 heads, 8 kv, hd 128 -> 512 rows = 256 q + 128 k + 128 v, kv block r/2."""
    cfg = cfg_of()
    ck = FakeCk(cfg, cols=1)
    check(R.kv_split(cfg, 16) == (1, 2), "qkv tp=16: nkv_r=1, replicas=2")
    a = "model.layers.0.self_attn."
    for r in range(16):
        layout, parts = R.shard_parts(ck, 16, r)[a + "qkv_proj.weight"]
        check(layout == "qkv" and [n for n, _ in parts] == [a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"],
              f"qkv tp=16 rank {r}: parts in order q, k, v")
        x = R.shard_param(cfg, 16, layout, parts)[:, 0]
        s = r // 2
        want = np.concatenate([ck.rows(a + "q_proj.weight", r * 256, (r + 1) * 256),
                               ck.rows(a + "k_proj.weight", s * 128, (s + 1) * 128),
                               ck.rows(a + "v_proj.weight", s * 128, (s + 1) * 128)])
        check(x.shape == (512,) and np.array_equal(x, want),
              f"qkv tp=16 rank {r}: 512 rows = 256 q + 128 k + 128 v, kv block r/2 = {s}")
    # tp < nkv: nkv_r = nkv/tp = 2 heads, one replica
    for r in range(4):
        _, parts = R.shard_parts(ck, 4, r)[a + "qkv_proj.weight"]
        check(np.array_equal(parts[1][1][:, 0], ck.rows(a + "k_proj.weight", r * 256, (r + 1) * 256))
              and np.array_equal(parts[2][1][:, 0], ck.rows(a + "v_proj.weight", r * 256, (r + 1) * 256)),
              f"qkv tp=4 rank {r}: k/v rows = kv heads 2r, 2r+1")


def test_vocab_example():
    """§3: V = 32001 -> 32064; tp=2 rank 1 holds 15969 real rows and 63 zero rows."""
    check(R.pad64(32001) == 32064, "pad64(32001) == 32064")
    check(R.pad64(32000) == 32000 and R.pad64(1) == 64, "pad64 of a multiple / of 1")
    cfg = cfg_of(hidden=8, nh=2, nkv=2, hd=4, inter=4, vocab=32001)
    ck = FakeCk(cfg)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        ck.t[name] = np.full((32001, 8), 1.5, BF16)
        ck.t[name][:, 0] = np.arange(32001) % 256  # exact in bf16
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        got = []
        for r in range(2):
            layout, parts = R.shard_parts(ck, 2, r)[name]
            x = R.shard_param(cfg, 2, layout, parts)
            got.append(x)
            check(x.shape == (16032, 8) and x.dtype == BF16, f"{name} tp=2 rank {r}: param [16032, 8] bf16")
        check(got[1][:15969].view(np.uint16).any(axis=1).all() and not got[1][15969:].view(np.uint16).any(),
              f"{name} tp=2 rank 1: 15969 real rows then 63 zero rows (+0.0 bytes)")
        check(np.array_equal(got[1][:15969], ck.t[name][16032:]), f"{name} tp=2 rank 1: rows 16032..32000")
        check(np.array_equal(got[0], ck.t[name][:16032]), f"{name} tp=2 rank 0: rows 0..16031, no padding")
    # per that starts past V: rank whose whole block is padding
    cfg2 = cfg_of(hidden=8, nh=2, nkv=2, hd=4, inter=4, vocab=65)  # pad 128, tp=4 -> per 32
    ck2 = FakeCk(cfg2)
    _, parts = R.shard_parts(ck2, 4, 3)["model.embed_tokens.weight"]
    check(parts[0][1].shape[0] == 0, "vocab 65 tp=4 rank 3: no real rows (min(r*per, V))")


def test_other_layouts():
    """§3: merged gate_up, row o_proj/down_proj, replicated norms, qwen2 bias, qwen3 norms."""
    cfg = cfg_of(family="qwen3", hidden=64, nh=8, nkv=2, hd=16, inter=96, vocab=64, layers=1)
    ck = FakeCk(cfg)
    ck.t["model.layers.0.self_attn.o_proj.weight"] = np.tile(np.arange(128, dtype=np.int32), (64, 1))
    ck.t["model.layers.0.mlp.down_proj.weight"] = np.tile(np.arange(96, dtype=np.int32), (64, 1))
    tp = 4
    for r in range(tp):
        p = R.shard_parts(ck, tp, r)
        layout, parts = p["model.layers.0.mlp.gate_up_proj.weight"]
        x = R.shard_param(cfg, tp, layout, parts)[:, 0]
        want = np.concatenate([ck.rows("model.layers.0.mlp.gate_proj.weight", r * 24, (r + 1) * 24),
                               ck.rows("model.layers.0.mlp.up_proj.weight", r * 24, (r + 1) * 24)])
        check(np.array_equal(x, want), f"gate_up rank {r}: [gate_r; up_r] rows [r*I/tp, (r+1)*I/tp)")
        o = p["model.layers.0.self_attn.o_proj.weight"][1][0][1]
        check(o.shape == (64, 32) and np.array_equal(o[0], np.arange(r * 32, (r + 1) * 32)), f"o_proj rank {r}: columns")
        d = p["model.layers.0.mlp.down_proj.weight"][1][0][1]
        check(d.shape == (64, 24) and np.array_equal(d[0], np.arange(r * 24, (r + 1) * 24)), f"down_proj rank {r}: columns")
        for n in ("model.layers.0.self_attn.q_norm.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight"):
            check(p[n][0] == "replicated" and np.array_equal(p[n][1][0][1], ck.t[n]), f"{n} rank {r}: whole tensor")
    names = [n for n, _, _ in R.param_plan(cfg)]
    check("model.layers.0.self_attn.q_norm.weight" in names and "lm_head.weight" in names, "qwen3 plan names")
    cfg2 = cfg._replace(family="qwen2", tied=True)
    names2 = [n for n, _, _ in R.param_plan(cfg2)]
    check("model.layers.0.self_attn.qkv_proj.bias" in names2 and "lm_head.weight" not in names2,
          "qwen2 tied plan: qkv bias, no lm_head")
    check(R.is_skipped("model.layers.3.self_attn.rotary_emb.inv_freq", cfg) and R.is_skipped("lm_head.weight", cfg2)
          and not R.is_skipped("lm_head.weight", cfg), "skipped names")
    check(R.scale_name("model.layers.0.mlp.down_proj.weight", "fp8-tensor") == "model.layers.0.mlp.down_proj.weight_scale"
          and R.scale_name("model.layers.0.mlp.down_proj.weight", "fp8-block") == "model.layers.0.mlp.down_proj.weight_scale_inv",
          "scale names")
    quant = [n for n in names if R.is_quantized(n)]
    check(len(quant) == 4, f"4 quantized params per layer: {quant}")
    # divisibility (§3: vLLM's divide() asserts)
    expect_error("divide", lambda: R.check_sizes(cfg, 3, 3), "nh=8 tp=3 rejected")
    expect_error("divide", lambda: R.check_sizes(cfg_of(nh=24, nkv=6, inter=48), 4, 4), "tp=4 < nkv=6 rejected")
    expect_error("divide", lambda: R.check_sizes(cfg_of(nh=24, nkv=4, inter=48, vocab=384), 6, 6), "tp=6 >= nkv=4 rejected")
    expect_error("divide", lambda: R.check_sizes(cfg_of(inter=50), 4, 4), "inter=50 tp=4 rejected")
    expect_error("divide", lambda: R.check_sizes(cfg_of(hidden=96, nh=6, nkv=3, hd=16, inter=48, vocab=128), 3, 3),
                 "padded vocab 128 tp=3 rejected")
    expect_error("divide", lambda: R.check_sizes(cfg_of(), 4, 6), "world 6 tp 4 rejected")
    R.check_sizes(cfg_of(hidden=96, nh=6, nkv=3, hd=16, inter=48, vocab=190), 3, 6)  # 192/3: fine
    R.check_sizes(cfg_of(), 16, 32)  # tp 16 > nkv 8: replicas 2


# ------------------------------------------------------------ §4 numerics

def test_fp8_spots():
    """§4 spot values of rne() and the fp8-tensor scale at amax 448 (s = 1)."""
    cases = [(448.0, 0x7E), (-448.0, 0xFE), (0.0, 0x00), (-0.0, 0x80), (-1e-30, 0x80), (-2.0 ** -11, 0x80),
             (2.0 ** -9, 0x01), (-(2.0 ** -9), 0x81), (2.0 ** -10, 0x00), (-(2.0 ** -10), 0x80),
             (3 * 2.0 ** -10, 0x02), (5 * 2.0 ** -10, 0x02), (1.0, 0x38), (1 + 1 / 16, 0x38), (1 + 3 / 16, 0x3A),
             (17.0, 0x58), (19.0, 0x5A), (432.0, 0x7E), (416.0, 0x7D), (2.0 ** -6, 0x08), (7 * 2.0 ** -9, 0x07),
             (15 * 2.0 ** -10, 0x08)]
    xs = np.array([c[0] for c in cases], np.float32)
    want = np.array([c[1] for c in cases], np.uint8)
    got = R.rne_fp8(xs)
    for (x, w), g in zip(cases, got):
        check(g == w, f"rne({x!r}) = 0x{w:02X} (got 0x{g:02X})")
    check(np.array_equal(rne_indep(xs), want), "independent rne agrees on spot values")
    # saturation: clamp before rne (ml_dtypes alone would give NaN above 464)
    big = np.array([449, 464, 1000, 1e30, -500, -1e30], np.float32)
    check(list(R.rne_fp8(R._clamp(big))) == [0x7E] * 4 + [0xFE] * 2, "clamp(±448) saturates to 0x7E/0xFE")
    # through quant_tensor: amax 448 -> s = 1, inv = 1: the raw conversion
    x = np.array([448, -448, 0, -0.0, -2.0 ** -20, 2.0 ** -9, 3 * 2.0 ** -10, 17, 432], np.float32).astype(BF16)
    q, s = R.quant_tensor(x[None, :])
    check(s.tolist() == [1.0] and q.reshape(-1).tolist() == [0x7E, 0xFE, 0, 0x80, 0x80, 0x01, 0x02, 0x58, 0x7E],
          f"quant_tensor at amax 448: {[hex(v) for v in q.reshape(-1)]}")


def test_min_scale():
    """§4: MIN_SCALE = 1/(448*512) in fp32; R448 = fp32(1/448); zero/tiny tensors floor at MIN_SCALE."""
    check(R.MIN_SCALE.dtype == np.float32 and R.MIN_SCALE == np.float32(1 / (448 * 512)), "MIN_SCALE = fp32(1/229376)")
    check(R.MIN_SCALE.view(np.uint32) == np.float32(1.0 / 229376.0).view(np.uint32), "MIN_SCALE bits")
    check(R.R448 == np.float32(1 / 448) and R.R448.dtype == np.float32, "R448 = fp32(1/448)")
    z = np.zeros((3, 5), BF16)
    check(R.quant_tensor(z)[1][0] == R.MIN_SCALE, "fp8-tensor: all-zero tensor -> MIN_SCALE")
    check(np.all(R.quant_row(z)[1] == R.MIN_SCALE), "fp8-row: all-zero rows -> MIN_SCALE")
    check(np.all(R.quant_block(z)[1] == F32(1e-4) * R.R448), "fp8-block: all-zero -> 1e-4*R448")
    tiny = np.full((2, 3), 1e-8, np.float32).astype(BF16)
    q, s = R.quant_tensor(tiny)
    x = F32(tiny[0, 0]) * (F32(1) / R.MIN_SCALE)
    check(s[0] == R.MIN_SCALE and q[0, 0] == R.rne_fp8(np.array([x], np.float32))[0], "fp8-tensor: tiny -> MIN_SCALE")


def scalar_tensor(x):
    return ref_tensor(x)


def scalar_row(x):
    return ref_row(x)


def scalar_block(x):
    return ref_block(x)


def all_bf16_upto(amax):
    """Every finite bf16 value in [-amax, amax] (as a bf16 array)."""
    pos = np.arange(0, 0x7F80, dtype=np.uint16).view(BF16)
    pos = pos[pos.astype(np.float32) <= np.float32(amax)]
    return np.concatenate([pos, -pos])


def test_formulas_sweep():
    """§4 formulas over every bf16 input below 40 amax values: the vectorized
    quantizers equal the float64 references, and the SPEC's exact choices
    (amax/448 vs amax*R448; x/s vs x*(1/s)) change bytes for some of these
    inputs, so the check discriminates."""
    rng = np.random.default_rng(11)
    pool = np.arange(0x3A80, 0x4120, dtype=np.uint16).view(BF16)  # ~1e-3 .. 10
    amaxes = rng.choice(pool, 40, replace=False)
    diffs = {"tensor": 0, "row": 0, "block": 0}
    ok = {"tensor": True, "row": True, "block": True}
    for am in amaxes:
        x = all_bf16_upto(am)
        row = x[None, :]
        blk = np.concatenate([x, np.zeros(-x.size % 128, BF16)]).reshape(-1, 128)
        for name, fast, ref, mut, arg in (("tensor", R.quant_tensor, ref_tensor, {"scale_by_recip": True}, row),
                                          ("row", R.quant_row, ref_row, {"divide": False}, row),
                                          ("block", R.quant_block, ref_block, {"divide": True}, blk)):
            q1, s1 = fast(arg)
            q2, s2 = ref(arg)
            ok[name] &= np.array_equal(q1, q2) and np.array_equal(s1.view(np.uint32), s2.view(np.uint32))
            diffs[name] += int(np.count_nonzero(ref(arg, **mut)[0] != q2))
    for name in ok:
        check(ok[name], f"fp8-{name}: vectorized == float64 reference over every bf16 value below 40 amaxes")
        check(diffs[name] > 0, f"fp8-{name}: the sweep discriminates the SPEC formula ({diffs[name]} bytes differ under the alternative)")


def test_quantizers_vs_scalar():
    """§4: vectorized quantizers == per-element fp32 reference; ragged block scale shape."""
    rng = np.random.default_rng(7)
    for shape in ((5, 7), (1, 1), (3, 130)):
        x = make_ckpt.random_weight(rng, shape, 0.05).astype(BF16)
        x[0, 0] = -1e-7
        for name, fast, slow in (("fp8-tensor", R.quant_tensor, scalar_tensor), ("fp8-row", R.quant_row, scalar_row)):
            q1, s1 = fast(x)
            q2, s2 = slow(x)
            check(np.array_equal(q1, q2) and np.array_equal(s1.view(np.uint32), s2.view(np.uint32)),
                  f"{name} {shape}: vectorized == scalar loop")
    x = make_ckpt.random_weight(rng, (300, 260), 0.05)
    x[256:, :] *= 1e-3  # small edge row block: its scale must ignore the big blocks
    x[:4, 256:] = 1e-6  # tiny edge column block: floor 1e-4
    x = x.astype(BF16)
    q1, s1 = R.quant_block(x)
    q2, s2 = scalar_block(x)
    check(s1.shape == (3, 3) and q1.shape == (300, 260), f"fp8-block ragged scale shape [3,3] (got {list(s1.shape)})")
    check(np.array_equal(q1, q2) and np.array_equal(s1.view(np.uint32), s2.view(np.uint32)),
          "fp8-block (300x260): vectorized == scalar loop")
    edge = np.max(np.abs(x[256:, 256:].astype(np.float32)))
    check(s1[2, 2] == F32(max(edge, F32(1e-4)) * R.R448), "fp8-block edge block covers only what exists")
    check(R.quant_block(np.ones((128, 129), BF16))[1].shape == (1, 2) and
          R.quant_block(np.ones((129, 128), BF16))[1].shape == (2, 1), "fp8-block scale shape ceil(N/128) x ceil(K/128)")


def test_rne_exhaustive_midpoints():
    """§4: ml_dtypes' cast vs the independent RNE on every midpoint, its fp32
    neighbours, every fp8 value, and 1M random fp32 values in [-448, 448]."""
    t = fp8_table()
    mids = (t[:-1] + t[1:]) / 2
    base = np.concatenate([t, mids]).astype(np.float32)
    up = np.nextafter(base, np.float32(np.inf))
    down = np.nextafter(base, np.float32(-np.inf))
    rng = np.random.default_rng(1)
    rnd = rng.uniform(-448, 448, 500_000).astype(np.float32)
    rnd_small = (rng.uniform(-1, 1, 500_000) * 2.0 ** rng.uniform(-24, 0, 500_000)).astype(np.float32)
    xs = np.concatenate([base, up, down, rnd, rnd_small])
    xs = np.clip(xs, F32(-448), F32(448)).astype(np.float32)
    xs = np.concatenate([xs, -xs])
    a, b = R.rne_fp8(xs), rne_indep(xs)
    bad = np.flatnonzero(a != b)
    check(bad.size == 0, f"ml_dtypes rne == independent rne on {xs.size} values"
          + (f"; first bad {xs[bad[0]]!r}: 0x{a[bad[0]]:02x} vs 0x{b[bad[0]]:02x}" if bad.size else ""))


# ------------------------------------------------------------ §6 safetensors

def test_safetensors(tmp):
    """§6 validity rules: each corruption is an error naming file and offset."""
    p = os.path.join(tmp, "ok.safetensors")
    st.save(p, {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3, BF16)}, {"k": "v"})
    raw = open(p, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    check(n % 8 == 0 and raw[8 + n - 1:8 + n] in (b" ", b"}"), "writer pads header to 8 bytes with spaces")
    f = st.load(p)
    check(f.metadata == {"k": "v"} and f.tensor("a")[1, 2] == 5 and f.entries["b"]["dtype"] == "BF16", "round trip")
    hdr = json.loads(raw[8:8 + n])

    def write(name, header=None, data=None, nbytes=None, prefix=None):
        hb = json.dumps(header if header is not None else hdr).encode() if not isinstance(header, bytes) else header
        q = os.path.join(tmp, name)
        with open(q, "wb") as g:
            g.write(prefix if prefix is not None else struct.pack("<Q", nbytes if nbytes is not None else len(hb)))
            g.write(hb)
            g.write(data if data is not None else raw[8 + n:])
        return q

    def bad(name, **kw):
        q = write(name, **kw)
        try:
            st.load(q)
        except st.SafetensorsError as e:
            check(q in str(e) and "byte" in str(e), f"{name}: error names file and byte ({e})")
            return
        check(False, f"{name}: accepted")

    def with_entry(name, **upd):
        h = json.loads(json.dumps(hdr))
        h[name].update(upd)
        return h

    bad("short.safetensors", header=b"", data=b"", prefix=b"\x01\x00")
    bad("huge_n.safetensors", nbytes=100_000_001)
    bad("past_eof.safetensors", nbytes=10 ** 6)
    bad("no_brace.safetensors", header=b" " + json.dumps(hdr).encode())
    bad("not_json.safetensors", header=b"{nope}   ")
    bad("dup.safetensors", header=json.dumps(hdr)[:-1].encode() + b',"a":' + json.dumps(hdr["a"]).encode() + b"}")
    bad("bad_dtype.safetensors", header=with_entry("a", dtype="F33"))
    bad("size_mismatch.safetensors", header=with_entry("a", shape=[2, 2]))
    bad("hole.safetensors", header=with_entry("b", data_offsets=[26, 32]), data=raw[8 + n:] + b"\0\0")
    bad("trailing.safetensors", data=raw[8 + n:] + b"\0")
    bad("truncated.safetensors", data=raw[8 + n:-1])
    bad("overlap.safetensors", header=with_entry("b", data_offsets=[20, 26]))
    bad("meta_int.safetensors", header={**hdr, "__metadata__": {"k": 1}})
    bad("neg_shape.safetensors", header=with_entry("a", shape=[-2, -3]))
    q = write("padded.safetensors", header=json.dumps(hdr).encode() + b"       ")
    check(st.load(q).tensor("a")[1, 2] == 5, "header padded with spaces accepted")


# ------------------------------------------------------------ end to end

SMALL = dict(family="llama", hidden=128, heads=4, kv=2, inter=192, vocab=200, layers=2, seed=3)


def test_end_to_end(tmp):
    """make_ckpt -> expected dump -> check_dump (pass, then every kind of mismatch)."""
    for fam, extra in (("llama", {}), ("mistral", {"files": 3}), ("qwen2", {"tied": True}),
                       ("qwen3", {"head_dim": 64, "inv_freq": True}),
                       ("llama", {"tied": True, "tied_lm_head": True, "index": True})):
        ck = make_ckpt.make(os.path.join(tmp, f"ck_{fam}_{len(extra)}"), **{**SMALL, "family": fam, **extra})
        for tp, world in ((1, 1), (2, 4), (4, 4)):
            for scheme in R.SCHEMES:
                exp = R.expected_dump(ck, tp, world, scheme)
                check(all(exp[r] is exp[r % tp] for r in range(world)), "replicas share content")
                d = os.path.join(tmp, f"dump_{fam}_{tp}_{world}_{scheme}")
                R.write_dump(exp, d, tp, scheme, generation=1)
                args = ["--checkpoint", ck, "--tp", str(tp), "--world", str(world), "--quant", scheme, "--dump", d]
                rc, out = quiet(check_dump.main, args + ["--generation", "1"])
                check(rc == 0 and f"check_dump: {world} ranks" in out, f"{fam} {extra} tp={tp} world={world} {scheme}: pass ({out.strip()})")
                names = set(exp[0])
                check(("lm_head.weight" in names) != bool(extra.get("tied")), f"{fam} {extra}: lm_head iff untied")
        check(not any("inv_freq" in n for n in names), "inv_freq skipped")

    ck = os.path.join(tmp, "ck_llama_0")
    exp = R.expected_dump(ck, 2, 2, "fp8-block")
    d = os.path.join(tmp, "dump_mut")
    base = ["--checkpoint", ck, "--tp", "2", "--world", "2", "--quant", "fp8-block", "--dump", d]

    def mutate(fn, what, args=(), want=None):
        params = [{n: R.Param(p.dtype, p.shape, p.data.copy()) for n, p in e.items()} for e in exp]
        meta = fn(params)
        R.write_dump(params, d, 2, "fp8-block", generation=0)
        if isinstance(meta, dict):  # rewrite rank 1 with edited metadata
            path = check_dump.dump_path(d, 1, 2)
            st.save_raw(path, {n: (p.dtype, p.shape, p.data) for n, p in params[1].items()}, meta)
        rc, out = quiet(check_dump.main, base + list(args))
        check(rc == 1 and (want is None or want in out), f"check_dump catches {what}: {out.strip()[:300]}")

    w = "model.layers.1.mlp.down_proj.weight"
    mutate(lambda p: p[1][w].data.__setitem__(77, p[1][w].data[77] ^ 1), "a flipped fp8 byte",
           want=f"rank 1: tensor {w}: 1 bytes differ; first at byte 77")
    mutate(lambda p: p[0]["model.norm.weight"].data.__setitem__(3, 0), "a zeroed bf16 byte", want="model.norm.weight")
    mutate(lambda p: p[0].pop(w + "_scale_inv"), "a missing scale", want="missing from dump")
    mutate(lambda p: p[1].__setitem__("extra.weight", R.Param("BF16", (1,), np.zeros(2, np.uint8))), "an extra tensor",
           want="unexpected in dump")
    mutate(lambda p: None, "a wrong generation", ["--generation", "5"], want="generation=0, expected 5")
    mutate(lambda p: {"generation": "0", "tp_rank": "0", "tp_size": "2", "scheme": "fp8-block"}, "a wrong tp_rank",
           want="tp_rank='0', expected '1'")
    mutate(lambda p: {"generation": "0", "tp_rank": "1", "tp_size": "2"}, "a missing scheme", want="lacks 'scheme'")
    mutate(lambda p: p[0].__setitem__(w, R.Param("F8_E4M3", (p[0][w].shape[1], p[0][w].shape[0]), p[0][w].data)),
           "a transposed shape", want="expected F8_E4M3")

    def drop_file(p):
        R.write_dump(p, d, 2, "fp8-block")
        os.remove(check_dump.dump_path(d, 1, 2))
    params = [dict(e) for e in exp]
    drop_file(params)
    rc, out = quiet(check_dump.main, base)
    check(rc == 1 and "missing dump file" in out, "check_dump catches a missing rank file")
    rc, out = quiet(check_dump.main, base[:-4] + ["--quant", "fp8-row", "--dump", d])
    check(rc == 1, "check_dump catches the wrong scheme")


def test_rejections(tmp):
    """§2 R0 / §3 / §4: checkpoints refit must reject, and which tensor/rank is named."""
    def mk(name, **kw):
        return make_ckpt.make(os.path.join(tmp, "rej_" + name), **{**SMALL, **kw})

    q = "model.layers.1.self_attn.q_proj.weight"
    k = "model.layers.0.self_attn.k_proj.weight"
    e = expect_error("nonfinite", lambda: R.expected_dump(mk("nan", nan=[q]), 2, 4, "fp8-tensor"), "NaN rejected", q)
    # q rows 128, flat index size//2 = row 64 -> tp rank 1 -> world ranks 1, 3
    check(e is not None and e.ranks == [1, 3], f"NaN in q_proj row 64 is on ranks [1, 3] (got {e and e.ranks})")
    e = expect_error("nonfinite", lambda: R.expected_dump(mk("inf", inf=[k + "@5"]), 4, 4, "none"), "Inf rejected even for none", k)
    # tp=4 >= nkv=2: k rows 0..63 (head 0) go to ranks 0,1
    check(e is not None and e.ranks == [0, 1], f"Inf in k_proj head 0 is on ranks [0, 1] (got {e and e.ranks})")
    n = "model.layers.0.input_layernorm.weight"
    e = expect_error("nonfinite", lambda: R.expected_dump(mk("ninf", neg_inf=[n]), 2, 2, "fp8-row"), "-Inf in a norm rejected", n)
    check(e is not None and e.ranks == [0, 1], "replicated norm: every rank")
    e = expect_error("nonfinite", lambda: R.expected_dump(mk("nan_emb", nan=["model.embed_tokens.weight@25599"]), 2, 2, "fp8-row"),
                     "NaN in the last embedding row", "model.embed_tokens.weight")
    check(e is not None and e.ranks == [1], "embedding row 199 is on rank 1")
    findings = R.nonfinite(mk("two", nan=[q, "lm_head.weight@0"]), 2, 2)
    check([f["tensor"] for f in findings] == ["lm_head.weight", q], f"nonfinite() lists every tensor: {findings}")

    d = "model.layers.1.mlp.up_proj.weight"
    expect_error("missing", lambda: R.expected_dump(mk("drop", drop=[d]), 2, 2, "fp8-tensor"), "dropped tensor", d)
    expect_error("shape", lambda: R.expected_dump(mk("reshape", reshape=[d]), 2, 2, "fp8-tensor"), "reshaped tensor", d)
    e = expect_error("dtype", lambda: R.expected_dump(mk("f64", tensor_dtype=[d + "=F64"]), 2, 2, "fp8-tensor"),
                     "F64 tensor", d)
    check(e is not None and "F64" in str(e) and e.file and e.file in str(e), f"dtype error names tensor, file, dtype: {e}")
    R.expected_dump(mk("f16", dtype_f16=[d]), 2, 2, "fp8-tensor")  # SPEC §1: F16 is a source dtype
    expect_error("unknown", lambda: R.expected_dump(mk("rename", rename=[d + "=model.layers.1.mlp.upp.weight"]), 2, 2,
                                                    "fp8-tensor"), "renamed tensor", "model.layers.1.mlp.upp.weight")
    expect_error("unknown", lambda: R.expected_dump(mk("q2asllama", family="qwen2", config=['model_type="llama"']), 2, 2,
                                                    "fp8-tensor"), "qwen2 bias under llama is unknown")
    expect_error("missing", lambda: R.expected_dump(mk("l_as_q2", config=['model_type="qwen2"']), 2, 2, "none"),
                 "llama checkpoint as qwen2: bias missing")
    expect_error("config", lambda: R.expected_dump(mk("gpt2", config=['model_type="gpt2"']), 2, 2, "none"), "unsupported model_type")
    expect_error("divide", lambda: R.expected_dump(mk("tp3", files=2), 3, 3, "none"), "tp=3 of 4 heads")
    rc, out = quiet(check_dump.main, ["--checkpoint", os.path.join(tmp, "rej_nan"), "--tp", "2", "--world", "4",
                                      "--dump", tmp])
    check(rc == 2 and q in out, f"check_dump reports the reference rejection: {out.strip()}")
    # extreme scales: MIN_SCALE reached, large values fine
    ck = mk("scaled", scale_tensor=[q + "=1e-8", "model.layers.0.mlp.down_proj.weight=1000"])
    exp = R.expected_dump(ck, 2, 2, "fp8-tensor")
    s = exp[0]["model.layers.1.self_attn.qkv_proj.weight_scale"].data.view(np.float32)[0]
    check(s > R.MIN_SCALE, "q scaled 1e-8 but k/v keep the fused qkv scale above MIN_SCALE")
    ck = mk("scaled_all", scale_tensor=[f"model.layers.1.self_attn.{x}_proj.weight=1e-8" for x in "qkv"])
    for sch, nm in (("fp8-tensor", "weight_scale"), ("fp8-row", "weight_scale")):
        s = R.expected_dump(ck, 2, 2, sch)[1]["model.layers.1.self_attn.qkv_proj." + nm].data.view(np.float32)
        check(np.all(s == R.MIN_SCALE), f"{sch}: qkv scaled by 1e-8 hits MIN_SCALE")
    f8 = R.expected_dump(ck, 2, 2, "fp8-tensor")[0]["model.layers.0.mlp.down_proj.weight"].data
    check(np.any(f8 == 0x80) and np.any(f8 == 0x00), "generated weights produce both +0 and -0 fp8 bytes")


def main():
    tests = [test_qkv_example, test_vocab_example, test_other_layouts, test_fp8_spots, test_min_scale,
             test_quantizers_vs_scalar, test_formulas_sweep, test_rne_exhaustive_midpoints]
    tests += selftest_sources.TESTS + selftest_moe.TESTS
    tmp_tests = [test_safetensors, test_end_to_end, test_rejections]
    tmp_tests += selftest_sources.TMP_TESTS + selftest_moe.TMP_TESTS
    with tempfile.TemporaryDirectory() as tmp:
        for t in tests + tmp_tests:
            try:
                t(tmp) if t in tmp_tests else t()
            except Exception:
                FAILED.append(f"{t.__name__} raised")
                print(f"FAIL: {t.__name__} raised:\n{traceback.format_exc()}")
    if FAILED:
        print(f"selftest: {len(FAILED)} checks FAILED")
        return 1
    print("selftest: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Self-test of the SPEC §3a (Mixture-of-Experts) reference.

Checks (run by selftest.py):
  - config: which layers are MoE (mlp_only_layers, decoder_sparse_step), the
    E field and its fallback, mixtral's expert size, routing fields ignored
  - placement: E=6, tp=4 -> {0,1},{2,3},{4},{5}; every (E, tp) up to 40 is a
    contiguous partition with the remainder on the first ranks; tp mode and
    tp=1 hold all experts
  - qwen3_moe-30B at tp 4: I_r=192 -> Ip=256, w13 [128,512,2048], scale
    [128,4,16], and the other schemes' and ep's shapes from the §3a table
  - layouts traced by tagged tensors: w13[j] = [G_e rows c; U_e rows c],
    w2[j] = D_e columns c, for tp and ep; shared expert merged/row with Is;
    router and shared_expert_gate replicated and not quantized; mixtral names
  - per-expert quantization against the independent float64 quantizers:
    fp8-block on the padded expert == gate and up block-quantized separately
    (codes at rows 0 and Ip, scale grids stacked, padding 0x00); one
    fp8-tensor scale per expert over gate and up; fp8-row per row
  - end to end for the three --preset tiny checkpoints, every scheme, both
    modes, np/tp 1/1, 2/2, 4/4, 4/2: dump shapes == the §3a table, ep experts
    == the tp=1 experts, tp slices concatenate to tp=1, check_dump passes and
    catches a missing or wrong moe_parallel
  - rejections: E < tp, I % tp (tp mode only), Is % tp, expert index >= E,
    missing expert, wrong expert shape, fused experts, non-finite expert value
    on the rank holding that expert
"""

import os

import numpy as np

import check_dump
import make_ckpt
import spec_ref as R
import st
from checks import FakeCk, check, expect_error, quiet, ref_block, ref_row, ref_tensor

BF16 = R.BF16
F32 = np.float32
PRESET_FAMILIES = ("qwen3_moe", "qwen2_moe", "mixtral")


def qwen_cfg(**kw):
    c = {"model_type": "qwen3_moe", "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
         "intermediate_size": 32, "vocab_size": 64, "num_hidden_layers": 2, "num_experts": 5,
         "moe_intermediate_size": 24}
    c.update(kw)
    return R.parse_config({k: v for k, v in c.items() if v is not None}, "config.json")


def test_moe_config():
    """§3a families and fields."""
    cfg = qwen_cfg(num_hidden_layers=6, mlp_only_layers=[1], decoder_sparse_step=2)
    check(cfg.moe_layers == (3, 5), f"qwen: l not in mlp_only_layers and (l+1) % step == 0 -> (3, 5): {cfg.moe_layers}")
    check(qwen_cfg(num_hidden_layers=3).moe_layers == (0, 1, 2), "qwen defaults: every layer MoE")
    check(qwen_cfg(num_experts=None, num_local_experts=7).experts == 7, "qwen: num_local_experts when num_experts absent")
    check(qwen_cfg(num_experts=0).moe_layers == (), "qwen: E = 0 -> no MoE layer")
    check(qwen_cfg(num_experts_per_tok=8, norm_topk_prob=True) == qwen_cfg(), "routing fields change nothing")
    m = qwen_cfg(model_type="mixtral", num_local_experts=8, num_experts=3, intermediate_size=40, mlp_only_layers=[0])
    check(m.experts == 8 and m.experts_field == "num_local_experts" and m.moe_layers == (0, 1) and m.moe_inter == 40,
          "mixtral: num_local_experts first, every layer MoE, I = intermediate_size")
    check(qwen_cfg(model_type="mixtral", num_experts=3).experts == 3, "mixtral: num_experts when num_local_experts absent")
    expect_error("config", lambda: qwen_cfg(model_type="qwen2_moe"), "qwen2_moe needs shared_expert_intermediate_size")
    expect_error("config", lambda: qwen_cfg(decoder_sparse_step=0), "decoder_sparse_step 0 rejected")
    expect_error("config", lambda: qwen_cfg(mlp_only_layers="1"), "mlp_only_layers not a list rejected")
    expect_error("config", lambda: qwen_cfg(moe_intermediate_size=None), "moe_intermediate_size missing rejected")
    q2 = qwen_cfg(model_type="qwen2_moe", shared_expert_intermediate_size=48)
    names = R.checkpoint_shapes(q2)
    check(names.get("model.layers.0.mlp.shared_expert_gate.weight") == (1, 64) and
          names.get("model.layers.0.mlp.shared_expert.down_proj.weight") == (64, 48) and
          "model.layers.0.self_attn.q_proj.bias" in names and "model.layers.0.self_attn.q_norm.weight" not in names,
          "qwen2_moe: shared expert [Is,H]/[H,Is], gate [1,H], qkv bias, no q_norm")
    q3 = R.checkpoint_shapes(qwen_cfg())
    check(q3.get("model.layers.1.mlp.experts.4.down_proj.weight") == (64, 24) and
          q3.get("model.layers.1.mlp.gate.weight") == (5, 64) and "model.layers.0.self_attn.q_norm.weight" in q3
          and "model.layers.0.mlp.experts.5.up_proj.weight" not in q3, "qwen3_moe: experts 0..E-1, router [E,H], q_norm")


def test_placement():
    """§3a: ep contiguous placement, remainder to the first ranks; tp mode holds all experts."""
    got = [set(range(e0, e0 + n)) for e0, n in (R.expert_range(6, 4, r, "ep") for r in range(4))]
    check(got == [{0, 1}, {2, 3}, {4}, {5}], f"E=6 tp=4: experts {{0,1}},{{2,3}},{{4}},{{5}} (got {got})")
    ok = True
    for E in range(1, 41):
        for tp in range(1, E + 1):
            ranges = [R.expert_range(E, tp, r, "ep") for r in range(tp)]
            sizes = [n for _, n in ranges]
            ok &= [e for e0, n in ranges for e in range(e0, e0 + n)] == list(range(E))
            ok &= sizes == sorted(sizes, reverse=True) and max(sizes) - min(sizes) <= 1
            ok &= all(R.expert_range(E, tp, r, "tp") == (0, E) for r in range(tp))
    check(ok, "every E <= 40, tp <= E: contiguous partition, sizes differ by <= 1, larger first; tp mode: all")
    cfg = qwen_cfg()
    check(R.expert_layout(cfg, 1, 0, "tp") == R.expert_layout(cfg, 1, 0, "ep"), "tp=1: both modes the same layout")
    lay = R.expert_layout(cfg, 4, 3, "tp")
    check(lay["I_r"] == 6 and lay["c"] == (18, 24) and lay["E_r"] == 5, f"tp mode: c = [r*I_r, (r+1)*I_r): {lay}")
    lay = R.expert_layout(cfg, 4, 3, "ep")
    check(lay["I_r"] == 24 and lay["c"] == (0, 24) and (lay["e0"], lay["E_r"]) == (4, 1), f"ep mode: whole experts: {lay}")


def test_30b_shapes():
    """§3a example: qwen3_moe-30B (H 2048, I 768, E 128) at tp 4."""
    cfg = qwen_cfg(hidden_size=2048, num_attention_heads=32, num_key_value_heads=4, head_dim=128,
                   intermediate_size=6144, vocab_size=151936, num_hidden_layers=48, num_experts=128,
                   moe_intermediate_size=768)
    lay = R.expert_layout(cfg, 4, 1, "tp")
    check((lay["I_r"], lay["Ip"], lay["Hp"], lay["c"]) == (192, 256, 2048, (192, 384)), f"30B tp 4: I_r 192 -> Ip 256: {lay}")
    b = "model.layers.47.mlp."
    want = {
        "fp8-block": {b + "experts.w13_weight": ("F8_E4M3", (128, 512, 2048)),
                      b + "experts.w13_weight_scale_inv": ("F32", (128, 4, 16)),
                      b + "experts.w2_weight": ("F8_E4M3", (128, 2048, 256)),
                      b + "experts.w2_weight_scale_inv": ("F32", (128, 16, 2))},
        "fp8-tensor": {b + "experts.w13_weight": ("F8_E4M3", (128, 384, 2048)),
                       b + "experts.w13_weight_scale": ("F32", (128,)), b + "experts.w2_weight_scale": ("F32", (128,))},
        "fp8-row": {b + "experts.w13_weight_scale": ("F32", (128, 384, 1)),
                    b + "experts.w2_weight_scale": ("F32", (128, 2048, 1))},
        "none": {b + "experts.w13_weight": ("BF16", (128, 384, 2048)), b + "experts.w2_weight": ("BF16", (128, 2048, 192))},
    }
    for scheme, items in want.items():
        shapes = R.expected_shapes(cfg, 4, 1, scheme, "tp")
        for n, v in items.items():
            check(shapes.get(n) == v, f"30B tp 4 {scheme}: {n} {v} (got {shapes.get(n)})")
        check(shapes[b + "gate.weight"] == ("BF16", (128, 2048)), f"30B {scheme}: router BF16 [128, 2048]")
    shapes = R.expected_shapes(cfg, 4, 3, "fp8-block", "ep")
    check(shapes[b + "experts.w13_weight"] == ("F8_E4M3", (32, 1536, 2048)) and
          shapes[b + "experts.w13_weight_scale_inv"] == ("F32", (32, 12, 16)) and
          shapes[b + "experts.w2_weight"] == ("F8_E4M3", (32, 2048, 768)),
          "30B ep 4: 32 whole experts per rank, I_r = 768 = Ip")
    check(shapes["model.layers.0.self_attn.qkv_proj.weight"] == ("F8_E4M3", (1280, 2048)),
          "30B ep 4: attention stays TP-sharded (8 q heads + 1 k + 1 v of 128)")


def _tag_columns(ck, name):
    """Make tensor `name` hold TAG*10^6 + column index, to trace column slices."""
    t = ck.t[name]
    ck.t[name] = np.tile(ck.tag[name] * 10 ** 6 + np.arange(t.shape[1], dtype=np.int32), (t.shape[0], 1))


def test_layouts():
    """§3a names and layouts, traced through tagged fake tensors."""
    cfg = qwen_cfg(model_type="qwen2_moe", shared_expert_intermediate_size=48, num_hidden_layers=2,
                   decoder_sparse_step=2)
    ck = FakeCk(cfg)
    b = "model.layers.1.mlp."
    for e in range(5):
        _tag_columns(ck, f"{b}experts.{e}.down_proj.weight")
    _tag_columns(ck, b + "shared_expert.down_proj.weight")
    for moe in ("tp", "ep"):
        for tp in (1, 2, 4):
            for r in range(tp):
                lay = R.expert_layout(cfg, tp, r, moe)
                lo, hi = lay["c"]
                p = R.shard_parts(ck, tp, r, moe)
                w13 = R.shard_param(cfg, tp, *p[b + "experts.w13_weight"])
                w2 = R.shard_param(cfg, tp, *p[b + "experts.w2_weight"])
                ok = w13.shape[:2] == (lay["E_r"], 2 * (hi - lo)) and w2.shape[0::2] == (lay["E_r"], hi - lo)
                for j in range(lay["E_r"]):
                    e = lay["e0"] + j
                    ok &= np.array_equal(w13[j][:, 0], np.concatenate(
                        [ck.rows(f"{b}experts.{e}.gate_proj.weight", lo, hi), ck.rows(f"{b}experts.{e}.up_proj.weight", lo, hi)]))
                    ok &= np.array_equal(w2[j][0], ck.tag[f"{b}experts.{e}.down_proj.weight"] * 10 ** 6 + np.arange(lo, hi))
                check(ok, f"--moe {moe} tp={tp} rank {r}: w13[j] = [G_e rows c; U_e rows c], w2[j] = D_e cols c, e = e0 + j")
                s = R.shard_param(cfg, tp, *p[b + "shared_expert.gate_up_proj.weight"])[:, 0]
                n = 48 // tp
                check(np.array_equal(s, np.concatenate([ck.rows(b + "shared_expert.gate_proj.weight", r * n, (r + 1) * n),
                                                        ck.rows(b + "shared_expert.up_proj.weight", r * n, (r + 1) * n)])),
                      f"--moe {moe} tp={tp} rank {r}: shared expert merged on Is")
                d = R.shard_param(cfg, tp, *p[b + "shared_expert.down_proj.weight"])
                check(d.shape == (64, n) and d[0, 0] % 10 ** 6 == r * n, f"--moe {moe} tp={tp} rank {r}: shared down row on Is")
                for g in (b + "gate.weight", b + "shared_expert_gate.weight"):
                    check(p[g][0] == "replicated" and np.array_equal(p[g][1][0][1], ck.t[g]), f"{g} replicated")
                check("model.layers.0.mlp.gate_up_proj.weight" in p and "model.layers.0.mlp.experts.w13_weight" not in p,
                      "decoder_sparse_step 2: layer 0 is the §3 dense MLP")
    check(not R.is_quantized(b + "gate.weight") and not R.is_quantized(b + "shared_expert_gate.weight") and
          R.is_quantized(b + "experts.w13_weight") and R.is_quantized(b + "experts.w2_weight") and
          R.is_quantized(b + "shared_expert.gate_up_proj.weight"), "router and shared_expert_gate stay bf16")
    check(R.scale_name(b + "experts.w13_weight", "fp8-block") == b + "experts.w13_weight_scale_inv" and
          R.scale_name(b + "experts.w2_weight", "fp8-row") == b + "experts.w2_weight_scale", "expert scale names")
    mix = R.param_plan(qwen_cfg(model_type="mixtral", num_local_experts=3))
    w13 = [x for x in mix if x[0] == "model.layers.0.block_sparse_moe.experts.w13_weight"]
    check(len(w13) == 1 and w13[0][2][:2] == ["model.layers.0.block_sparse_moe.experts.0.w1.weight",
                                               "model.layers.0.block_sparse_moe.experts.0.w3.weight"]
          and any(n == "model.layers.0.block_sparse_moe.gate.weight" for n, _, _ in mix),
          "mixtral: block_sparse_moe, w1 (gate) then w3 (up), router block_sparse_moe.gate")


def _random_bf16(rng, shape, scale=1.0):
    return (make_ckpt.random_weight(rng, shape, 0.05) * F32(scale)).astype(BF16)


def test_expert_quant():
    """§3a per-expert quantization against the independent float64 quantizers."""
    rng = np.random.default_rng(17)
    for i_r, h in ((40, 192), (80, 160), (96, 128), (128, 128), (160, 192), (256, 256)):
        ip, hp = -(-i_r // 128) * 128, -(-h // 128) * 128
        lay = {"I_r": i_r, "Ip": ip, "Hp": hp}
        g, u = _random_bf16(rng, (i_r, h)), _random_bf16(rng, (i_r, h), 30.0)  # up's amax far above gate's
        q, s = R.quant_experts(np.concatenate([g, u])[None], "experts-w13", lay, "fp8-block")
        (qg, sg), (qu, su) = ref_block(g), ref_block(u)
        want = np.zeros((2 * ip, hp), np.uint8)
        want[:i_r, :h], want[ip:ip + i_r, :h] = qg, qu
        check(q.shape == (1, 2 * ip, hp) and np.array_equal(q[0], want) and
              np.array_equal(s[0].view(np.uint32), np.vstack([sg, su]).view(np.uint32)),
              f"fp8-block w13 I_r={i_r} H={h}: padded [2Ip={2 * ip}, Hp={hp}] == gate, up separately at rows 0, Ip")
        y = _random_bf16(rng, (h, i_r))
        q, s = R.quant_experts(y[None], "experts-w2", lay, "fp8-block")
        qy, sy = ref_block(y)
        want = np.zeros((hp, ip), np.uint8)
        want[:h, :i_r] = qy
        check(q.shape == (1, hp, ip) and np.array_equal(q[0], want) and np.array_equal(s[0].view(np.uint32), sy.view(np.uint32)),
              f"fp8-block w2 H={h} I_r={i_r}: padded [Hp, Ip] == ragged, padding 0x00")
        if i_r % 128 == 0 and h % 128 == 0:
            check(np.array_equal(R.quant_experts(y[None], "experts-w2", lay, "fp8-block")[0][0], R.quant_block(y)[0]),
                  "multiples of 128: the plain unpadded layout")
    x = np.stack([np.concatenate([_random_bf16(rng, (24, 64), 1e-2), _random_bf16(rng, (24, 64), k)]) for k in (1, 5, 9)])
    q, s = R.quant_experts(x, "experts-w13", {"I_r": 24}, "fp8-tensor")
    ok = s.shape == (3,)
    for j in range(3):
        qr, sr = ref_tensor(x[j])
        ok &= np.array_equal(q[j], qr) and s[j] == sr[0] and s[j] != ref_tensor(x[j][:24])[1][0]
    check(ok and len(set(s.tolist())) == 3, "fp8-tensor: one scale [E_r] per expert over gate and up together")
    q, s = R.quant_experts(x, "experts-w13", {"I_r": 24}, "fp8-row")
    check(s.shape == (3, 48, 1) and all(np.array_equal(q[j], ref_row(x[j])[0]) and
                                        np.array_equal(s[j].view(np.uint32), ref_row(x[j])[1].view(np.uint32))
                                        for j in range(3)), "fp8-row: [E_r, 2*I_r, 1], per row of each expert")


# ------------------------------------------------------------ end to end

def _presets(tmp):
    return {f: make_ckpt.make(os.path.join(tmp, "moe_" + f), family=f, preset="tiny") for f in PRESET_FAMILIES}


def _experts_of(exp):
    """Expert param and scale names of one rank's dump."""
    return [n for n in exp if ".experts.w" in n]


def test_moe_end_to_end(tmp):
    """Presets x schemes x modes x np/tp: shapes, ep vs tp=1, tp slices, check_dump."""
    for fam, ck in _presets(tmp).items():
        cfg = R.load_config(ck)
        for scheme in R.SCHEMES:
            one = R.expected_dump(ck, 1, 1, scheme)[0]
            for moe in ("tp", "ep"):
                for tp, world in ((1, 1), (2, 2), (4, 4), (2, 4)):
                    exp = R.expected_dump(ck, tp, world, scheme, moe)
                    shapes_ok = all({n: (p.dtype, p.shape) for n, p in exp[r].items()} ==
                                    R.expected_shapes(cfg, tp, r, scheme, moe) for r in range(tp))
                    check(shapes_ok, f"{fam} {scheme} --moe {moe} tp={tp}: dump shapes == §3a table")
                    _compare_with_tp1(fam, cfg, exp, one, tp, scheme, moe)
                    d = os.path.join(tmp, f"dump_{fam}_{scheme}_{moe}_{tp}_{world}")
                    R.write_dump(exp, d, tp, scheme, generation=2, moe=moe)
                    args = ["--checkpoint", ck, "--tp", str(tp), "--world", str(world), "--quant", scheme,
                            "--moe", moe, "--dump", d, "--generation", "2"]
                    rc, out = quiet(check_dump.main, args)
                    check(rc == 0, f"{fam} {scheme} --moe {moe} tp={tp} world={world}: check_dump passes ({out.strip()})")
    ck = os.path.join(tmp, "moe_qwen3_moe")
    exp = R.expected_dump(ck, 2, 2, "fp8-block", "ep")
    d = os.path.join(tmp, "dump_meta")
    base = ["--checkpoint", ck, "--tp", "2", "--world", "2", "--quant", "fp8-block", "--dump", d]
    R.write_dump(exp, d, 2, "fp8-block")
    rc, out = quiet(check_dump.main, base + ["--moe", "ep"])
    check(rc == 1 and "lacks 'moe_parallel'" in out, f"check_dump: MoE dump without moe_parallel fails: {out.strip()[:200]}")
    R.write_dump(exp, d, 2, "fp8-block", moe="ep")
    rc, out = quiet(check_dump.main, base)
    check(rc == 1 and "moe_parallel='ep', expected 'tp'" in out, f"check_dump: the other mode fails: {out.strip()[:200]}")


def _compare_with_tp1(fam, cfg, exp, one, tp, scheme, moe):
    """ep: rank r's expert j is the tp=1 expert e0 + j, byte for byte (whole
    experts are quantized alike); tp, scheme none: the ranks' intermediate
    slices concatenate to the tp=1 tensor."""
    ok = True
    for r in range(tp):
        lay = R.expert_layout(cfg, tp, r, moe)
        sel = slice(lay["e0"], lay["e0"] + lay["E_r"])
        for n in _experts_of(exp[r]):
            mine, full = exp[r][n], one[n]
            a = mine.data.view(st.DTYPES[mine.dtype]).reshape(mine.shape)
            b = full.data.view(st.DTYPES[full.dtype]).reshape(full.shape)
            if moe == "ep" or tp == 1:
                ok &= np.array_equal(a.view(np.uint8), b[sel].view(np.uint8))
            elif scheme == "none":
                lo, hi = lay["c"]
                part = b[:, np.r_[lo:hi, cfg.moe_inter + lo:cfg.moe_inter + hi]] if "w13" in n else b[:, :, lo:hi]
                ok &= np.array_equal(a.view(np.uint16), part.view(np.uint16))
    check(ok, f"{fam} {scheme} --moe {moe} tp={tp}: experts agree with the tp=1 dump")


def test_moe_rejections(tmp):
    """§3a rejections, each naming the field or tensor."""
    def mk(name, family="qwen3_moe", **kw):
        return make_ckpt.make(os.path.join(tmp, "moerej_" + name), family=family, preset="tiny", **kw)

    e = expect_error("experts", lambda: R.expected_dump(mk("e3", experts=3), 4, 4, "none", "ep"), "E=3 < tp=4 (ep)")
    check(e is not None and "num_experts=3" in str(e), f"E < tp names num_experts: {e}")
    e = expect_error("experts", lambda: R.expected_dump(mk("mx3", "mixtral", experts=3), 4, 4, "none"), "mixtral E < tp")
    check(e is not None and "num_local_experts=3" in str(e), f"mixtral E < tp names num_local_experts: {e}")
    ck = mk("i90", moe_inter=90)  # 90 % 4 != 0
    e = expect_error("divide", lambda: R.expected_dump(ck, 4, 4, "none", "tp"), "I=90 tp=4 under --moe tp")
    check(e is not None and "moe_intermediate_size=90" in str(e), f"names moe_intermediate_size: {e}")
    exp = R.expected_dump(ck, 4, 4, "fp8-block", "ep")
    check(exp[0]["model.layers.0.mlp.experts.w13_weight"].shape == (2, 256, 256), "I=90 at tp 4 is fine under ep")
    e = expect_error("divide", lambda: R.expected_dump(mk("mxi", "mixtral", inter=90), 4, 4, "none"), "mixtral I=90 tp=4")
    check(e is not None and "intermediate_size=90" in str(e), f"mixtral names intermediate_size: {e}")
    for moe in ("tp", "ep"):
        e = expect_error("divide", lambda: R.expected_dump(mk("is", "qwen2_moe", shared_inter=90), 4, 4, "none", moe),
                         f"Is=90 tp=4 --moe {moe}")
        check(e is not None and "shared_expert_intermediate_size=90" in str(e), f"names Is: {e}")
    g = "model.layers.2.mlp.experts.6.down_proj.weight"  # the first of its tensors in name order
    e = expect_error("expert", lambda: R.expected_dump(mk("extra", extra_expert=["2"]), 2, 2, "none"), "expert 6 of E=6", g)
    check(e is not None and "expert index 6 >= num_experts=6" in str(e), f"names tensor and E: {e}")
    w = "model.layers.0.block_sparse_moe.experts.9.w1.weight"
    expect_error("expert", lambda: R.expected_dump(mk("extra9", "mixtral", extra_expert=["0@9"]), 2, 2, "none"),
                 "mixtral expert 9 of E=4", w)
    u = "model.layers.0.mlp.experts.3.up_proj.weight"
    expect_error("missing", lambda: R.expected_dump(mk("drop", drop=[u]), 2, 2, "none", "ep"), "missing expert", u)
    d = "model.layers.1.mlp.experts.4.down_proj.weight"
    expect_error("shape", lambda: R.expected_dump(mk("shape", "qwen2_moe", reshape=[d]), 2, 2, "none"), "wrong expert shape", d)
    f = "model.layers.0.mlp.experts.gate_up_proj"
    expect_error("unknown", lambda: R.expected_dump(mk("fused", rename=[u + "=" + f]), 2, 2, "none"), "fused experts unknown", f)
    expect_error("unknown", lambda: R.expected_dump(mk("dense1", config=["mlp_only_layers=[0,1]"]), 2, 2, "none"),
                 "experts in a layer made dense are unknown", "model.layers.0.mlp.experts.0.down_proj.weight")
    ck = mk("ovf", overflow=["model.layers.2.mlp.experts.4.up_proj.weight@5"])
    e = expect_error("nonfinite", lambda: R.expected_dump(ck, 4, 4, "fp8-row", "ep"), "overflowing expert 4 value")
    check(e is not None and e.ranks == [2] and "after F32->BF16" in str(e), f"ep tp=4: expert 4 only on rank 2: {e}")
    e = expect_error("nonfinite", lambda: R.expected_dump(ck, 2, 4, "fp8-row", "tp"), "overflowing expert value (tp)")
    check(e is not None and e.ranks == [0, 2], f"tp mode tp=2: row 0 of expert 4 on tp rank 0 = world 0, 2: {e}")


TESTS = [test_moe_config, test_placement, test_30b_shapes, test_layouts, test_expert_quant]
TMP_TESTS = [test_moe_end_to_end, test_moe_rejections]

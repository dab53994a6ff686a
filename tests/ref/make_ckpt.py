#!/usr/bin/env python3
"""Generate a synthetic Hugging Face checkpoint for refit tests (SPEC §1, §3, §3a, §6).

    make_ckpt.py --out DIR --family F [--preset tiny]
                 --hidden H --heads NH --kv NKV [--head-dim HD] --inter I --vocab V
                 --layers L [--tied|--no-tied] [--files N] [--index] --seed S
                 [--scale-tensor NAME=FACTOR]... [--inv-freq] [--tied-lm-head]
                 [--dtype bf16|fp16|fp32|mixed] [--tensor-dtype NAME=DTYPE]...
                 MoE families (qwen3_moe, qwen2_moe, mixtral; SPEC §3a):
                 --experts E [--moe-inter I] [--shared-inter IS] [--mlp-only-layers L,L]
                 [--sparse-step N] [--topk K] [--norm-topk-prob|--no-norm-topk-prob]
                 corruptions (negative tests; NAME is an HF tensor name):
                 [--nan NAME[@IDX]]... [--inf NAME[@IDX]]... [--neg-inf NAME[@IDX]]...
                 [--overflow NAME[@IDX]]... [--drop NAME]... [--reshape NAME]...
                 [--dtype-f16 NAME]... [--extra-expert LAYER[@IDX]]...
                 [--rename NAME=NEW]... [--config KEY=JSON]... [--config-del KEY]...

F is llama, mistral, qwen2, qwen3, qwen3_moe, qwen2_moe or mixtral.  --preset
tiny (MoE families) fills every size not given on the command line with the
small odd shapes of PRESETS, and --seed 1.  mixtral's expert size is --inter
(its config has no moe_intermediate_size).

Module use: make_ckpt.make(out, family=..., hidden=..., ..., seed=..., nan=["..."]).

Weights are random: normal with std 0.05 plus outliers (x5..x20), exact
zeros, -0.0, and tiny negative values (1e-9..1e-4) that round to -0 (0x80) or
to small subnormals in fp8 at typical scales.  Norm weights are ~1.  They
are drawn in fp32 and stored as bf16 (RNE) by default; --dtype fp16|fp32
stores them as F16/F32 (every value finite after the SPEC §1 conversion to
bf16; F32 tensors get exact bf16 ties and near-ties in their low 16 bits),
--dtype mixed rotates BF16, F16, F32 over the tensors in order.
"""

import argparse
import json
import os
import sys

import ml_dtypes
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spec_ref  # noqa: E402
import st  # noqa: E402

ARCH = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
        "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
        "qwen3_moe": "Qwen3MoeForCausalLM", "qwen2_moe": "Qwen2MoeForCausalLM",
        "mixtral": "MixtralForCausalLM"}

# --preset tiny: MoE checkpoints that load in well under a second at np 4,
# with odd sizes: I_r % 128 != 0 at tp 1, 2, 4 (fp8-block pads to Ip), H not a
# multiple of 128 (pads to Hp) except qwen2_moe's, E % tp != 0 under ep
# (qwen3_moe E=6 at tp 4, qwen2_moe E=5 at tp 2 and 4), kv heads fewer than
# tp, dense layers among MoE ones (mlp_only_layers, decoder_sparse_step).
PRESETS = {
    "tiny": {
        "qwen3_moe": dict(hidden=192, heads=4, kv=2, head_dim=32, inter=256, vocab=300, layers=3, tied=True,
                          experts=6, moe_inter=160, mlp_only_layers="1", files=1),
        "qwen2_moe": dict(hidden=128, heads=4, kv=2, inter=192, vocab=517, layers=3, experts=5, moe_inter=96,
                          shared_inter=192, sparse_step=2, files=2),
        "mixtral": dict(hidden=160, heads=4, kv=1, inter=224, vocab=1001, layers=2, experts=4, files=3),
    },
}
REQUIRED = ("hidden", "heads", "kv", "inter", "vocab", "layers", "seed")
STORE = {"bf16": "BF16", "fp16": "F16", "fp32": "F32"}
# Stored dtypes --tensor-dtype can ask for: the SPEC §1 sources and two it rejects.
NUMPY = {"BF16": ml_dtypes.bfloat16, "F16": np.float16, "F32": np.float32, "F64": np.float64, "I32": np.int32}
OVERFLOW = 3.4e38  # finite in fp32, rounds to +Inf in bf16 (above 0x7F7F8000)


def parser():
    p = argparse.ArgumentParser(description="Generate a synthetic HF checkpoint (bf16, fp16, fp32; dense or MoE).")
    p.add_argument("--out", required=True)
    p.add_argument("--family", required=True, choices=sorted(ARCH))
    p.add_argument("--preset", choices=sorted(PRESETS), help="fill sizes not given (MoE families)")
    p.add_argument("--hidden", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--kv", type=int)
    p.add_argument("--head-dim", type=int, default=None, help="written to config.json when given")
    p.add_argument("--inter", type=int, help="intermediate_size (dense MLP; mixtral: expert size)")
    p.add_argument("--vocab", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--tied", action=argparse.BooleanOptionalAction, help="tie_word_embeddings: no lm_head.weight")
    p.add_argument("--tied-lm-head", action="store_true", help="with --tied, still write lm_head.weight (must be skipped)")
    p.add_argument("--inv-freq", action="store_true", help="add rotary_emb.inv_freq tensors (must be skipped)")
    p.add_argument("--files", type=int, help="number of safetensors files (default 1)")
    p.add_argument("--index", action="store_true", help="write an index even for one file")
    p.add_argument("--seed", type=int)
    p.add_argument("--std", type=float, default=0.05)
    p.add_argument("--dtype", choices=sorted(STORE) + ["mixed"], default="bf16", help="stored dtype (default bf16)")
    p.add_argument("--tensor-dtype", action="append", default=[], metavar="NAME=DTYPE",
                   help="store NAME as DTYPE (BF16, F16, F32, or the unsupported F64, I32)")
    p.add_argument("--experts", type=int, help="E: num_experts (mixtral: num_local_experts)")
    p.add_argument("--moe-inter", type=int, help="moe_intermediate_size (qwen3_moe, qwen2_moe)")
    p.add_argument("--shared-inter", type=int, help="shared_expert_intermediate_size (qwen2_moe)")
    p.add_argument("--mlp-only-layers", help="comma-separated dense layer indices (default none)")
    p.add_argument("--sparse-step", type=int, help="decoder_sparse_step (default 1)")
    p.add_argument("--topk", type=int, default=2, help="num_experts_per_tok (routing only; default 2)")
    p.add_argument("--norm-topk-prob", action=argparse.BooleanOptionalAction,
                   help="norm_topk_prob (routing only; default true for qwen3_moe, false for qwen2_moe)")
    p.add_argument("--scale-tensor", action="append", default=[], metavar="NAME=FACTOR")
    p.add_argument("--nan", action="append", default=[], metavar="NAME[@IDX]")
    p.add_argument("--inf", action="append", default=[], metavar="NAME[@IDX]")
    p.add_argument("--neg-inf", action="append", default=[], metavar="NAME[@IDX]")
    p.add_argument("--overflow", action="append", default=[], metavar="NAME[@IDX]",
                   help=f"store NAME as F32 with {OVERFLOW} at IDX: finite, but +Inf after conversion to bf16")
    p.add_argument("--drop", action="append", default=[], metavar="NAME")
    p.add_argument("--reshape", action="append", default=[], metavar="NAME", help="store with one extra row")
    p.add_argument("--dtype-f16", action="append", default=[], metavar="NAME", help="store as F16")
    p.add_argument("--extra-expert", action="append", default=[], metavar="LAYER[@IDX]",
                   help="add the tensors of expert IDX (default E, one past the last) to MoE layer LAYER")
    p.add_argument("--rename", action="append", default=[], metavar="NAME=NEW")
    p.add_argument("--config", action="append", default=[], metavar="KEY=JSON", help="set a config.json field")
    p.add_argument("--config-del", action="append", default=[], metavar="KEY")
    return p


def resolve(a):
    """Fill preset values for sizes not given, then defaults; fail on a missing size."""
    if a.preset:
        table = PRESETS[a.preset]
        if a.family not in table:
            raise SystemExit(f"make_ckpt: --preset {a.preset} has no {a.family} (only {', '.join(sorted(table))})")
        for k, v in {**table[a.family], "seed": 1}.items():
            if getattr(a, k) is None:
                setattr(a, k, v)
    a.tied = bool(a.tied)
    a.files = a.files or 1
    missing = [k for k in REQUIRED if getattr(a, k) is None]
    moe = a.family in spec_ref.MOE_FAMILIES
    if moe and a.experts is None:
        missing.append("experts")
    if a.family in ("qwen3_moe", "qwen2_moe") and a.moe_inter is None:
        missing.append("moe-inter")
    if a.family == "qwen2_moe" and a.shared_inter is None:
        missing.append("shared-inter")
    if missing:
        raise SystemExit("make_ckpt: missing " + ", ".join("--" + k.replace("_", "-") for k in missing))
    if a.family == "mixtral" and a.moe_inter is not None:
        raise SystemExit("make_ckpt: mixtral's expert size is --inter (intermediate_size); drop --moe-inter")
    return a


# ------------------------------------------------------------ content

def tensor_specs(a):
    """Ordered HF name -> (shape, kind): the names spec_ref expects for the
    family's config (SPEC §3, §3a), plus --inv-freq and --tied-lm-head extras."""
    cfg = spec_ref.parse_config(config_json(a, overrides=False), "config.json")
    out = {}
    for name, shape in spec_ref.checkpoint_shapes(cfg).items():
        layer = _layer_of(name)
        if a.inv_freq and layer is not None and "self_attn." not in name:
            inv = f"model.layers.{layer}.self_attn.rotary_emb.inv_freq"
            if inv not in out:  # right after the layer's attention tensors
                out[inv] = ((cfg.hd // 2,), "inv_freq")
        out[name] = (shape, "norm" if name.endswith("norm.weight") else "w")
    if a.tied and a.tied_lm_head:
        out["lm_head.weight"] = ((cfg.vocab, cfg.hidden), "w")
    return out


def _layer_of(name):
    parts = name.split(".")
    return int(parts[2]) if len(parts) > 2 and parts[1] == "layers" else None


def random_weight(rng, shape, std):
    """fp32 values: N(0, std) + outliers, exact zeros, -0.0 and tiny negatives.

    Special values go to random positions (drawn with replacement, so a later
    kind may overwrite an earlier one): 0.1% outliers x5..x20, 1% exact
    zeros, 0.05% -0.0, 0.5% negatives log-uniform in [1e-9, 1e-4].
    """
    n = int(np.prod(shape))
    x = rng.standard_normal(n, dtype=np.float32) * np.float32(std)

    def pick(frac):
        return rng.integers(0, n, max(1, int(n * frac)))

    i = pick(0.001)
    x[i] *= rng.uniform(5, 20, i.size).astype(np.float32)
    x[pick(0.01)] = 0.0
    x[pick(0.0005)] = -0.0
    i = pick(0.005)
    x[i] = -np.exp(rng.uniform(np.log(1e-9), np.log(1e-4), i.size)).astype(np.float32)
    return x.reshape(shape)


def make_tensor(rng, shape, kind, std):
    if kind == "norm":
        return (1 + rng.standard_normal(shape, dtype=np.float32) * np.float32(0.05)).astype(np.float32)
    if kind == "inv_freq":
        return (1.0 / 10000 ** (np.arange(shape[0], dtype=np.float32) * 2 / (2 * shape[0]))).astype(np.float32)
    return random_weight(rng, shape, std)


def config_json(a, overrides=True):
    """config.json with the SPEC §3 fields (head_dim only when given), the
    SPEC §3a fields of MoE families, then --config / --config-del."""
    c = {"architectures": [ARCH[a.family]], "model_type": a.family,
         "hidden_size": a.hidden, "num_attention_heads": a.heads, "num_key_value_heads": a.kv,
         "intermediate_size": a.inter, "vocab_size": a.vocab, "num_hidden_layers": a.layers,
         "tie_word_embeddings": a.tied, "torch_dtype": "bfloat16", "rms_norm_eps": 1e-6}
    if a.head_dim:
        c["head_dim"] = a.head_dim
    if a.family == "mixtral":
        c.update(num_local_experts=a.experts, num_experts_per_tok=a.topk)
    elif a.family in spec_ref.MOE_FAMILIES:
        only = [int(v) for v in a.mlp_only_layers.split(",") if v.strip()] if a.mlp_only_layers else []
        c.update(num_experts=a.experts, moe_intermediate_size=a.moe_inter, num_experts_per_tok=a.topk,
                 norm_topk_prob=(a.family == "qwen3_moe") if a.norm_topk_prob is None else a.norm_topk_prob,
                 mlp_only_layers=only, decoder_sparse_step=a.sparse_step or 1)
        if a.family == "qwen2_moe":
            c["shared_expert_intermediate_size"] = a.shared_inter
    if not overrides:
        return c
    for kv in a.config:
        k, v = kv.split("=", 1)
        c[k] = json.loads(v)
    for k in a.config_del:
        c.pop(k, None)
    return c


# ------------------------------------------------------------ corruptions

def _name_idx(spec):
    name, _, idx = spec.partition("@")
    return name, (int(idx) if idx else None)


def _need(tensors, name, opt):
    if name not in tensors:
        raise SystemExit(f"make_ckpt: {opt}: no tensor {name!r}")


def apply_fp32_edits(a, t):
    """--scale-tensor, --nan, --inf, --neg-inf, --overflow, --reshape on fp32 arrays."""
    for s in a.scale_tensor:
        name, f = s.split("=", 1)
        _need(t, name, "--scale-tensor")
        t[name] = (t[name] * np.float32(float(f))).astype(np.float32)
    for opt, val in (("nan", np.nan), ("inf", np.inf), ("neg_inf", -np.inf), ("overflow", OVERFLOW)):
        for s in getattr(a, opt):
            name, idx = _name_idx(s)
            _need(t, name, "--" + opt.replace("_", "-"))
            flat = t[name].reshape(-1)
            flat[flat.size // 2 if idx is None else idx] = val
    for name in a.reshape:
        _need(t, name, "--reshape")
        x = t[name]
        t[name] = np.concatenate([x, x[:1]], axis=0)


def add_extra_experts(a, cfg, rng, t):
    """--extra-expert LAYER[@IDX]: the G, U, D tensors of one more expert (SPEC §3a)."""
    for s in a.extra_expert:
        layer, idx = _name_idx(s)
        layer = int(layer)
        if not spec_ref.is_moe(cfg) or layer not in cfg.moe_layers:
            raise SystemExit(f"make_ckpt: --extra-expert: layer {layer} is not a MoE layer")
        e = cfg.experts if idx is None else idx
        G, U, D = spec_ref.expert_tensor_names(cfg)
        b = spec_ref.moe_block(cfg, layer)
        for x, shape in ((G, (cfg.moe_inter, cfg.hidden)), (U, (cfg.moe_inter, cfg.hidden)),
                         (D, (cfg.hidden, cfg.moe_inter))):
            t[f"{b}.experts.{e}.{x}.weight"] = random_weight(rng, shape, a.std)


def storage_dtypes(a, names):
    """name -> stored safetensors dtype: --tensor-dtype / --dtype-f16, then F32
    for --overflow tensors and inv_freq, then --dtype (mixed: BF16, F16, F32 in turn)."""
    override = {n: "F16" for n in a.dtype_f16}
    for s in a.tensor_dtype:
        n, dt = s.split("=", 1)
        if dt not in NUMPY:
            raise SystemExit(f"make_ckpt: --tensor-dtype {s}: dtype must be one of {', '.join(NUMPY)}")
        override[n] = dt
    for n in override:
        _need(names, n, "--tensor-dtype/--dtype-f16")
    forced = {_name_idx(s)[0] for s in a.overflow}
    out = {}
    for i, n in enumerate(names):
        if n in override:
            out[n] = override[n]
        elif n in forced or n.endswith("rotary_emb.inv_freq"):
            out[n] = "F32"
        else:
            out[n] = ("BF16", "F16", "F32")[i % 3] if a.dtype == "mixed" else STORE[a.dtype]
    return out


def add_ties(rng, x):
    """Exact bf16 ties (low 16 bits 0x8000) and near-ties (0x7FFF, 0x8001) in
    2% of the finite fp32 values, so that readers must round ties to even."""
    u = x.reshape(-1).view(np.uint32)
    ok = np.flatnonzero(np.isfinite(x.reshape(-1)) & (np.abs(x.reshape(-1)) < 1e38))
    if ok.size == 0:
        return
    i = rng.choice(ok, max(1, ok.size // 50))
    u[i] = (u[i] & 0xFFFF0000) | rng.choice(np.array([0x8000, 0x8000, 0x7FFF, 0x8001], np.uint32), i.size)


def to_storage(a, t):
    """fp32 -> stored dtype (bf16 by RNE by default; see storage_dtypes); then drop/rename."""
    dts = storage_dtypes(a, t)
    rng = np.random.default_rng([a.seed, 32])  # apart from the weights' stream
    out = {}
    for name, x in t.items():
        if dts[name] == "F32" and not name.endswith("rotary_emb.inv_freq"):
            x = x.copy()
            add_ties(rng, x)
        out[name] = x.astype(NUMPY[dts[name]])
    for name in a.drop:
        _need(out, name, "--drop")
        del out[name]
    for s in a.rename:
        name, new = s.split("=", 1)
        _need(out, name, "--rename")
        out = {(new if k == name else k): v for k, v in out.items()}
    return out


# ------------------------------------------------------------ files

def split_files(tensors, n):
    """Split tensors (in order) into n contiguous groups of similar byte size."""
    names = list(tensors)
    if n < 1 or n > len(names):
        raise SystemExit(f"make_ckpt: --files {n} with {len(names)} tensors")
    total = sum(tensors[k].nbytes for k in names)
    groups, cur, acc = [], [], 0
    for i, k in enumerate(names):
        cur.append(k)
        acc += tensors[k].nbytes
        left_names, left_groups = len(names) - i - 1, n - len(groups) - 1
        if left_groups and (acc >= total * (len(groups) + 1) / n or left_names == left_groups):
            groups.append(cur)
            cur = []
    groups.append(cur)
    assert len(groups) == n and all(groups)
    return groups


def write(a, tensors):
    """Write config.json, the safetensors file(s) and the index (SPEC §1, §6)."""
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config_json(a), f, indent=2)
    meta = {"format": "pt"}
    if a.files == 1 and not a.index:
        st.save(os.path.join(a.out, "model.safetensors"), tensors, meta)
        return
    weight_map = {}
    for i, g in enumerate(split_files(tensors, a.files)):
        fn = f"model-{i + 1:05d}-of-{a.files:05d}.safetensors"
        st.save(os.path.join(a.out, fn), {k: tensors[k] for k in g}, meta)
        weight_map.update({k: fn for k in g})
    idx = {"metadata": {"total_size": sum(x.nbytes for x in tensors.values())}, "weight_map": weight_map}
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump(idx, f, indent=2)


def generate(a):
    """Build the checkpoint described by the parsed arguments `a`."""
    resolve(a)
    try:
        specs = tensor_specs(a)
        cfg = spec_ref.parse_config(config_json(a, overrides=False), "config.json")
    except spec_ref.SpecError as e:
        raise SystemExit(f"make_ckpt: {e}")
    rng = np.random.default_rng(a.seed)
    t = {name: make_tensor(rng, shape, kind, a.std) for name, (shape, kind) in specs.items()}
    add_extra_experts(a, cfg, rng, t)
    apply_fp32_edits(a, t)
    write(a, to_storage(a, t))
    return a.out


def make(out, **kw):
    """Module entry: make(out, family=..., hidden=..., heads=..., kv=..., inter=...,
    vocab=..., layers=..., seed=..., [head_dim, tied, files, nan=[...], ...]),
    or make(out, family=..., preset="tiny", [overrides])."""
    a = parser().parse_args(["--out", out, "--family", kw.pop("family")])
    for k, v in kw.items():
        if not hasattr(a, k):
            raise TypeError(f"make(): unknown option {k!r}")
        setattr(a, k, v)
    return generate(a)


def main(argv=None):
    generate(parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

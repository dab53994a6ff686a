#!/usr/bin/env python3
"""Generate a synthetic Hugging Face bf16 checkpoint for refit tests (SPEC §1, §3, §6).

    make_ckpt.py --out DIR --family llama|mistral|qwen2|qwen3 --hidden H --heads NH
                 --kv NKV [--head-dim HD] --inter I --vocab V --layers L [--tied]
                 [--files N] [--index] --seed S
                 [--scale-tensor NAME=FACTOR]... [--inv-freq] [--tied-lm-head]
                 corruptions (negative tests; NAME is an HF tensor name):
                 [--nan NAME[@IDX]]... [--inf NAME[@IDX]]... [--neg-inf NAME[@IDX]]...
                 [--drop NAME]... [--reshape NAME]... [--dtype-f16 NAME]...
                 [--rename NAME=NEW]... [--config KEY=JSON]... [--config-del KEY]...

Module use: make_ckpt.make(out, family=..., hidden=..., ..., seed=..., nan=["..."]).

Weights are random bf16: normal with std 0.05 plus outliers (x5..x20), exact
zeros, -0.0, and tiny negative values (1e-9..1e-4) that round to -0 (0x80) or
to small subnormals in fp8 at typical scales.  Norm weights are ~1.
"""

import argparse
import json
import os
import sys

import ml_dtypes
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

ARCH = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
        "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}


def parser():
    p = argparse.ArgumentParser(description="Generate a synthetic HF bf16 checkpoint.")
    p.add_argument("--out", required=True)
    p.add_argument("--family", required=True, choices=sorted(ARCH))
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--kv", type=int, required=True)
    p.add_argument("--head-dim", type=int, default=None, help="written to config.json when given")
    p.add_argument("--inter", type=int, required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--tied", action="store_true", help="tie_word_embeddings: no lm_head.weight")
    p.add_argument("--tied-lm-head", action="store_true", help="with --tied, still write lm_head.weight (must be skipped)")
    p.add_argument("--inv-freq", action="store_true", help="add rotary_emb.inv_freq tensors (must be skipped)")
    p.add_argument("--files", type=int, default=1, help="number of safetensors files")
    p.add_argument("--index", action="store_true", help="write an index even for one file")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--std", type=float, default=0.05)
    p.add_argument("--scale-tensor", action="append", default=[], metavar="NAME=FACTOR")
    p.add_argument("--nan", action="append", default=[], metavar="NAME[@IDX]")
    p.add_argument("--inf", action="append", default=[], metavar="NAME[@IDX]")
    p.add_argument("--neg-inf", action="append", default=[], metavar="NAME[@IDX]")
    p.add_argument("--drop", action="append", default=[], metavar="NAME")
    p.add_argument("--reshape", action="append", default=[], metavar="NAME", help="store with one extra row")
    p.add_argument("--dtype-f16", action="append", default=[], metavar="NAME", help="store as F16")
    p.add_argument("--rename", action="append", default=[], metavar="NAME=NEW")
    p.add_argument("--config", action="append", default=[], metavar="KEY=JSON", help="set a config.json field")
    p.add_argument("--config-del", action="append", default=[], metavar="KEY")
    return p


# ------------------------------------------------------------ content

def tensor_specs(a):
    """Ordered HF name -> (shape, kind) for the family (SPEC §3 names)."""
    hd = a.head_dim or a.hidden // a.heads
    H, q, kv, I, V = a.hidden, a.heads * hd, a.kv * hd, a.inter, a.vocab
    out = {"model.embed_tokens.weight": ((V, H), "w")}
    for i in range(a.layers):
        p = f"model.layers.{i}."
        for x, n in (("q", q), ("k", kv), ("v", kv)):
            out[p + f"self_attn.{x}_proj.weight"] = ((n, H), "w")
        if a.family == "qwen2":
            for x, n in (("q", q), ("k", kv), ("v", kv)):
                out[p + f"self_attn.{x}_proj.bias"] = ((n,), "w")
        out[p + "self_attn.o_proj.weight"] = ((H, q), "w")
        if a.family == "qwen3":
            out[p + "self_attn.q_norm.weight"] = ((hd,), "norm")
            out[p + "self_attn.k_norm.weight"] = ((hd,), "norm")
        if a.inv_freq:
            out[p + "self_attn.rotary_emb.inv_freq"] = ((hd // 2,), "inv_freq")
        out[p + "mlp.gate_proj.weight"] = ((I, H), "w")
        out[p + "mlp.up_proj.weight"] = ((I, H), "w")
        out[p + "mlp.down_proj.weight"] = ((H, I), "w")
        out[p + "input_layernorm.weight"] = ((H,), "norm")
        out[p + "post_attention_layernorm.weight"] = ((H,), "norm")
    out["model.norm.weight"] = ((H,), "norm")
    if not a.tied or a.tied_lm_head:
        out["lm_head.weight"] = ((V, H), "w")
    return out


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


def config_json(a):
    """config.json with the SPEC §3 fields (head_dim only when given)."""
    c = {"architectures": [ARCH[a.family]], "model_type": a.family,
         "hidden_size": a.hidden, "num_attention_heads": a.heads, "num_key_value_heads": a.kv,
         "intermediate_size": a.inter, "vocab_size": a.vocab, "num_hidden_layers": a.layers,
         "tie_word_embeddings": a.tied, "torch_dtype": "bfloat16", "rms_norm_eps": 1e-6}
    if a.head_dim:
        c["head_dim"] = a.head_dim
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
    """--scale-tensor, --nan, --inf, --neg-inf, --reshape on fp32 arrays."""
    for s in a.scale_tensor:
        name, f = s.split("=", 1)
        _need(t, name, "--scale-tensor")
        t[name] = (t[name] * np.float32(float(f))).astype(np.float32)
    for opt, val in (("nan", np.nan), ("inf", np.inf), ("neg_inf", -np.inf)):
        for s in getattr(a, opt):
            name, idx = _name_idx(s)
            _need(t, name, "--" + opt.replace("_", "-"))
            flat = t[name].reshape(-1)
            flat[flat.size // 2 if idx is None else idx] = val
    for name in a.reshape:
        _need(t, name, "--reshape")
        x = t[name]
        t[name] = np.concatenate([x, x[:1]], axis=0)


def to_storage(a, t):
    """fp32 -> bf16 (RNE), or F16 for --dtype-f16; inv_freq stays F32; then drop/rename."""
    out = {}
    for name, x in t.items():
        if name in a.dtype_f16:
            out[name] = x.astype(np.float16)
        elif name.endswith("rotary_emb.inv_freq"):
            out[name] = x
        else:
            out[name] = x.astype(ml_dtypes.bfloat16)
    for name in a.dtype_f16:
        _need(t, name, "--dtype-f16")
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
    rng = np.random.default_rng(a.seed)
    t = {name: make_tensor(rng, shape, kind, a.std) for name, (shape, kind) in tensor_specs(a).items()}
    apply_fp32_edits(a, t)
    write(a, to_storage(a, t))
    return a.out


def make(out, **kw):
    """Module entry: make(out, family=..., hidden=..., heads=..., kv=..., inter=...,
    vocab=..., layers=..., seed=..., [head_dim, tied, files, nan=[...], ...])."""
    a = parser().parse_args(["--out", out, "--family", kw.pop("family"), "--hidden", "0", "--heads", "0",
                             "--kv", "0", "--inter", "0", "--vocab", "0", "--layers", "0", "--seed", "0"])
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

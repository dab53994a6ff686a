"""A plain dequantize-and-matmul forward of refit's dump (SPEC §5), written
apart from the engine: every rank file of replica 0 is dequantized to fp32
(SPEC §4), the tensor-parallel slices are put back into the checkpoint's
full tensors (SPEC §3 read backwards: vocab rows, [q;k;v] with kv replicas,
[gate;up], row-parallel columns), and transformers' own fp32 model runs
them. Nothing here is shared with refit.engine.
"""
import json
import os

import torch
import transformers
from safetensors import safe_open

BLOCK = 128


def read_rank(dump, rank, world):
    path = os.path.join(dump, "rank-%05d-of-%05d.safetensors" % (rank, world))
    out = {}
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        for name in f.keys():
            out[name] = f.get_tensor(name)
    return out, meta


def dequant(t, scale, scheme):
    """fp32 of a dumped param: q * scale per SPEC §4."""
    x = t.float()
    if scale is None:
        return x
    if scheme == "fp8-block":
        n, k = x.shape
        big = torch.kron(scale.float(), torch.ones(BLOCK, BLOCK))  # each block's factor over its 128x128
        return x * big[:n, :k]
    return x * scale.float()  # [1] or [N, 1]


def dequantized_ranks(dump, tp, world):
    ranks = []
    for r in range(tp):  # replica 0: ranks 0 .. tp-1
        raw, meta = read_rank(dump, r, world)
        assert int(meta["tp_rank"]) == r and int(meta["tp_size"]) == tp, meta
        params = {}
        for name, t in raw.items():
            if name.endswith("_scale") or name.endswith("_scale_inv"):
                continue
            scale = raw.get(name + "_scale", raw.get(name + "_scale_inv"))
            params[name] = dequant(t, scale, meta["scheme"])
        ranks.append(params)
    return ranks


def unshard(ranks, cfg, tp):
    """{hf name: fp32 full tensor} from the ranks' dequantized params."""
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    nh_r, nkv_r = nh // tp, (1 if tp >= nkv else nkv // tp)
    out = {}
    for name in ranks[0]:
        parts = [r[name] for r in ranks]
        if name.endswith("qkv_proj.weight") or name.endswith("qkv_proj.bias"):
            split = [p.split([nh_r * hd, nkv_r * hd, nkv_r * hd], dim=0) for p in parts]
            base = name.replace("qkv_proj", "%s")
            out[base % "q_proj"] = torch.cat([s[0] for s in split])
            # Every rank's k/v, replicas too: with tp >= nkv each replica of a kv
            # head was quantized with its own rank's scale (SPEC §4 quantizes the
            # rank-local [q;k;v]), so the copies differ; the model gets tp*nkv_r kv
            # heads and GQA maps rank r's query heads to rank r's own copy.
            out[base % "k_proj"] = torch.cat([s[1] for s in split])
            out[base % "v_proj"] = torch.cat([s[2] for s in split])
        elif name.endswith("gate_up_proj.weight"):
            halves = [p.chunk(2, dim=0) for p in parts]
            out[name.replace("gate_up_proj", "gate_proj")] = torch.cat([h[0] for h in halves])
            out[name.replace("gate_up_proj", "up_proj")] = torch.cat([h[1] for h in halves])
        elif name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
            out[name] = torch.cat(parts, dim=1)
        elif name in ("model.embed_tokens.weight", "lm_head.weight"):
            out[name] = torch.cat(parts)[:cfg["vocab_size"]]
        else:
            out[name] = parts[0]  # replicated
    return out


def forward(checkpoint, dump, tp, world, tokens):
    """fp32 logits [T, V] of transformers' model holding the dump's weights."""
    with open(os.path.join(checkpoint, "config.json")) as f:
        cfg = json.load(f)
    weights = unshard(dequantized_ranks(dump, tp, world), cfg, tp)
    config = transformers.AutoConfig.from_pretrained(checkpoint)
    nkv = cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    config.num_key_value_heads = tp * (1 if tp >= nkv else nkv // tp)  # see unshard: one kv copy per rank
    model = transformers.AutoModelForCausalLM.from_config(config).float().eval()
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and cfg.get("tie_word_embeddings"))]
    if missing or unexpected:
        raise AssertionError("dump forward: missing %s, unexpected %s" % (missing, unexpected))
    with torch.no_grad():
        return model(torch.tensor([tokens])).logits[0].float()

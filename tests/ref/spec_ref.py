#!/usr/bin/env python3
"""Reference model of refit's output, written from SPEC.md alone.

Given an HF checkpoint directory (bf16, fp16 or fp32 tensors, SPEC §1), a tp
size, a world size, a quant scheme and (for MoE checkpoints) the parallel
mode, compute what every rank's dump must hold (SPEC §3 sharding, §3a
experts, §4 fp8 numerics, §5 dump format), or the error the checkpoint must be
rejected with.

Module use:
    exp = expected_dump(ckpt_dir, tp, world, scheme, moe="tp")  # one dict per rank
    exp[rank][name] == Param(dtype, shape, data)        # data: uint8 numpy array
    findings = nonfinite(ckpt_dir, tp, world)          # SPEC §1/§4 NaN/Inf rejection
    shapes = expected_shapes(cfg, tp, r, scheme, moe)  # names/dtypes/shapes only

CLI:
    spec_ref.py --checkpoint DIR --tp T --world W --quant Q [--moe tp|ep] [--json]
prints the expected params of every tp rank, or the rejection (exit 3).
"""

import argparse
import glob
import json
import os
import re
import sys
from collections import namedtuple

import ml_dtypes
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)
F8 = np.dtype(ml_dtypes.float8_e4m3fn)
F32 = np.float32

SCHEMES = ("fp8-tensor", "fp8-row", "fp8-block", "none")
MOE_MODES = ("tp", "ep")  # SPEC §3a parallel modes
# SPEC §3a: per MoE family, the block B, the expert tensor names G, U, D and
# which config key gives E first (the other one is the fallback).
MOE_FAMILIES = {
    "qwen3_moe": ("mlp", ("gate_proj", "up_proj", "down_proj"), ("num_experts", "num_local_experts")),
    "qwen2_moe": ("mlp", ("gate_proj", "up_proj", "down_proj"), ("num_experts", "num_local_experts")),
    "mixtral": ("block_sparse_moe", ("w1", "w3", "w2"), ("num_local_experts", "num_experts")),
}
FAMILIES = ("llama", "mistral", "qwen2", "qwen3") + tuple(MOE_FAMILIES)
SOURCE_DTYPES = ("BF16", "F16", "F32")  # SPEC §1: anything else is rejected

# SPEC §4 constants, every one an fp32 value.
FP8_MAX = F32(448)
MIN_SCALE = F32(1) / F32(448 * 512)  # 1/(448*512) rounded to fp32
R448 = F32(1) / F32(448)  # fp32(1/448): PyTorch's reciprocal of the scalar
BLOCK_EPS = F32(1e-4)  # fp8-block amax floor, a Python scalar cast to fp32
BLOCK = 128  # fp8-block tile edge

Param = namedtuple("Param", "dtype shape data")  # data: 1-D uint8 numpy array
# The MoE fields (SPEC §3a) default to a dense model: experts E, expert size I
# (moe_inter), shared expert size Is (shared_inter, qwen2_moe), the indices of
# the MoE layers, and the config key E was read from (for messages).
Config = namedtuple("Config", "family hidden nh nkv hd inter vocab layers tied "
                    "experts moe_inter shared_inter moe_layers experts_field",
                    defaults=(0, 0, 0, (), "num_experts"))


class SpecError(Exception):
    """A checkpoint/config/size the SPEC says refit must reject.

    kind: 'config' | 'divide' | 'experts' (E < tp) | 'missing' | 'unknown' |
    'expert' (expert index >= E) | 'dtype' | 'shape' | 'format' | 'nonfinite'.
    tensor/file name the culprit where there is one.
    """

    def __init__(self, kind, message, tensor=None, file=None, ranks=None):
        super().__init__(message)
        self.kind = kind
        self.tensor = tensor
        self.file = file
        self.ranks = ranks


# ---------------------------------------------------------------- config (§3)

def load_config(ckpt_dir):
    """Parse config.json into a Config (SPEC §3 'Supported families', 'Fields'; §3a)."""
    path = os.path.join(ckpt_dir, "config.json")
    try:
        with open(path) as f:
            c = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SpecError("config", f"{path}: {e}", file=path)
    return parse_config(c, path)


def parse_config(c, path):
    """A config.json object (dict) -> Config; `path` is only named in errors."""
    if not isinstance(c, dict):
        raise SpecError("config", f"{path}: not a JSON object", file=path)
    fam = c.get("model_type")
    if fam not in FAMILIES:
        raise SpecError("config", f"{path}: unsupported model_type {fam!r}", file=path)

    def need(key, minimum=1):
        v = c.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise SpecError("config", f"{path}: {key} missing or not {what}: {v!r}", file=path)
        return v

    hidden, nh = need("hidden_size"), need("num_attention_heads")
    nkv = need("num_key_value_heads") if c.get("num_key_value_heads") is not None else nh
    if c.get("head_dim") is not None:
        hd = need("head_dim")
    else:
        hd = divide(hidden, nh, "hidden_size", "num_attention_heads")
    tied = c.get("tie_word_embeddings", False)
    if not isinstance(tied, bool):
        raise SpecError("config", f"{path}: tie_word_embeddings is not a boolean", file=path)
    cfg = Config(fam, hidden, nh, nkv, hd, need("intermediate_size"), need("vocab_size"),
                 need("num_hidden_layers"), tied)
    return _moe_config(cfg, c, path, need) if fam in MOE_FAMILIES else cfg


def _moe_config(cfg, c, path, need):
    """SPEC §3a fields: E, I, Is and which layers are MoE.

    num_experts_per_tok and norm_topk_prob only steer routing: read and ignored.
    """
    first, second = MOE_FAMILIES[cfg.family][2]
    field = first if c.get(first) is not None else second
    E = need(field, minimum=0)
    if cfg.family == "mixtral":
        return cfg._replace(experts=E, moe_inter=cfg.inter, moe_layers=tuple(range(cfg.layers)),
                            experts_field=field)
    only = c.get("mlp_only_layers", [])
    if not isinstance(only, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in only):
        raise SpecError("config", f"{path}: mlp_only_layers is not a list of integers: {only!r}", file=path)
    step = need("decoder_sparse_step") if c.get("decoder_sparse_step") is not None else 1
    moe_layers = tuple(l for l in range(cfg.layers) if l not in only and E > 0 and (l + 1) % step == 0)
    shared = need("shared_expert_intermediate_size") if cfg.family == "qwen2_moe" else 0
    return cfg._replace(experts=E, moe_inter=need("moe_intermediate_size"), shared_inter=shared,
                        moe_layers=moe_layers, experts_field=field)


def divide(n, d, what_n, what_d):
    """vLLM's divide(): n/d, which must be exact (SPEC §3)."""
    if d <= 0 or n % d:
        raise SpecError("divide", f"{what_n}={n} is not divisible by {what_d}={d}")
    return n // d


def pad64(v):
    """Vocab padding to a multiple of 64 (SPEC §3)."""
    return -(-v // 64) * 64


def kv_split(cfg, tp):
    """(nkv_r, replicas) of the qkv layout (SPEC §3)."""
    if tp >= cfg.nkv:
        return 1, divide(tp, cfg.nkv, "tp", "num_key_value_heads")
    return divide(cfg.nkv, tp, "num_key_value_heads", "tp"), 1


def check_sizes(cfg, tp, world, moe="tp"):
    """Every divisibility SPEC §3 relies on (and world = dp*tp, SPEC §1), and
    the MoE rejections of SPEC §3a."""
    if tp <= 0 or world <= 0:
        raise SpecError("divide", f"tp={tp} and world={world} must be positive")
    if moe not in MOE_MODES:
        raise ValueError(f"unknown MoE parallel mode {moe!r}")
    divide(world, tp, "world", "tp")
    divide(cfg.nh, tp, "num_attention_heads", "tp")
    kv_split(cfg, tp)
    if has_dense_mlp(cfg):
        divide(cfg.inter, tp, "intermediate_size", "tp")
    divide(pad64(cfg.vocab), tp, "padded vocab", "tp")
    if is_moe(cfg):
        check_moe_sizes(cfg, tp, moe)


def check_moe_sizes(cfg, tp, moe):
    """SPEC §3a: reject E < tp; I % tp under mode tp; Is % tp (qwen2_moe)."""
    if cfg.experts < tp:
        raise SpecError("experts", f"{cfg.experts_field}={cfg.experts} is less than tp={tp}: "
                        f"every rank needs at least one expert")
    if moe == "tp":
        divide(cfg.moe_inter, tp, "intermediate_size" if cfg.family == "mixtral" else "moe_intermediate_size",
               "tp (--moe tp)")
    if cfg.family == "qwen2_moe":
        divide(cfg.shared_inter, tp, "shared_expert_intermediate_size", "tp")


# ------------------------------------------------------ families (§3, §3a)

def is_moe(cfg):
    """A Mixture-of-Experts family (SPEC §3a)."""
    return cfg.family in MOE_FAMILIES


def has_qk_norm(cfg):
    return cfg.family in ("qwen3", "qwen3_moe")


def has_qkv_bias(cfg):
    return cfg.family in ("qwen2", "qwen2_moe")


def has_dense_mlp(cfg):
    """Some layer has the §3 dense MLP with intermediate_size."""
    return len(cfg.moe_layers) < cfg.layers


def moe_block(cfg, layer):
    """SPEC §3a block B of a MoE layer."""
    return f"model.layers.{layer}.{MOE_FAMILIES[cfg.family][0]}"


def expert_tensor_names(cfg):
    """SPEC §3a expert tensor names (G, U, D) of the family."""
    return MOE_FAMILIES[cfg.family][1]


def expert_range(E, tp, r, moe):
    """(e0, E_r) of tp rank r (SPEC §3a): all experts under tp; under ep
    contiguous placement with the remainder to the first ranks."""
    if moe == "tp" or tp == 1:
        return 0, E
    base, rem = divmod(E, tp)
    return r * base + min(r, rem), base + (1 if r < rem else 0)


def round128(n):
    return -(-n // BLOCK) * BLOCK


def expert_layout(cfg, tp, r, moe):
    """What the snapshot records per expert param of tp rank r (SPEC §3a Dump):
    E_r, e0, I_r, the intermediate range c, and the fp8-block Ip, Hp."""
    e0, e_r = expert_range(cfg.experts, tp, r, moe)
    i_r = cfg.moe_inter // tp if moe == "tp" else cfg.moe_inter
    lo = r * i_r if moe == "tp" else 0
    return {"E_r": e_r, "e0": e0, "I_r": i_r, "c": (lo, lo + i_r), "Ip": round128(i_r), "Hp": round128(cfg.hidden)}


# ------------------------------------------------------ expected names (§3)

def checkpoint_shapes(cfg):
    """HF tensor name -> shape that the family's checkpoint must hold (SPEC §3, §3a)."""
    H, q, kv, I, V = cfg.hidden, cfg.nh * cfg.hd, cfg.nkv * cfg.hd, cfg.inter, cfg.vocab
    shapes = {"model.embed_tokens.weight": (V, H)}
    for i in range(cfg.layers):
        p = f"model.layers.{i}."
        shapes[p + "self_attn.q_proj.weight"] = (q, H)
        shapes[p + "self_attn.k_proj.weight"] = (kv, H)
        shapes[p + "self_attn.v_proj.weight"] = (kv, H)
        if has_qkv_bias(cfg):
            shapes[p + "self_attn.q_proj.bias"] = (q,)
            shapes[p + "self_attn.k_proj.bias"] = (kv,)
            shapes[p + "self_attn.v_proj.bias"] = (kv,)
        shapes[p + "self_attn.o_proj.weight"] = (H, q)
        if has_qk_norm(cfg):
            shapes[p + "self_attn.q_norm.weight"] = (cfg.hd,)
            shapes[p + "self_attn.k_norm.weight"] = (cfg.hd,)
        if i in cfg.moe_layers:
            shapes.update(moe_checkpoint_shapes(cfg, i))
        else:
            shapes[p + "mlp.gate_proj.weight"] = (I, H)
            shapes[p + "mlp.up_proj.weight"] = (I, H)
            shapes[p + "mlp.down_proj.weight"] = (H, I)
        shapes[p + "input_layernorm.weight"] = (H,)
        shapes[p + "post_attention_layernorm.weight"] = (H,)
    shapes["model.norm.weight"] = (H,)
    if not cfg.tied:
        shapes["lm_head.weight"] = (V, H)
    return shapes


def moe_checkpoint_shapes(cfg, layer):
    """The router, every expert's G/U/D and the qwen2_moe shared expert (SPEC §3a)."""
    H, I, Is, b = cfg.hidden, cfg.moe_inter, cfg.shared_inter, moe_block(cfg, layer)
    G, U, D = expert_tensor_names(cfg)
    shapes = {b + ".gate.weight": (cfg.experts, H)}
    for e in range(cfg.experts):
        shapes[f"{b}.experts.{e}.{G}.weight"] = (I, H)
        shapes[f"{b}.experts.{e}.{U}.weight"] = (I, H)
        shapes[f"{b}.experts.{e}.{D}.weight"] = (H, I)
    if cfg.family == "qwen2_moe":
        shapes[b + ".shared_expert.gate_proj.weight"] = (Is, H)
        shapes[b + ".shared_expert.up_proj.weight"] = (Is, H)
        shapes[b + ".shared_expert.down_proj.weight"] = (H, Is)
        shapes[b + ".shared_expert_gate.weight"] = (1, H)
    return shapes


def expert_index_error(name, cfg, path):
    """SpecError when `name` is an expert tensor of a MoE layer with index >= E (SPEC §3a), else None."""
    if not is_moe(cfg):
        return None
    G, U, D = expert_tensor_names(cfg)
    blk = re.escape(MOE_FAMILIES[cfg.family][0])
    m = re.fullmatch(rf"model\.layers\.(0|[1-9]\d*)\.{blk}\.experts\.(0|[1-9]\d*)\.({G}|{U}|{D})\.weight", name)
    if not m or int(m.group(1)) not in cfg.moe_layers or int(m.group(2)) < cfg.experts:
        return None
    return SpecError("expert", f"tensor {name!r} in {path}: expert index {m.group(2)} >= "
                     f"{cfg.experts_field}={cfg.experts}", tensor=name, file=path)


def is_skipped(name, cfg):
    """Names SPEC §3 says are skipped: rotary_emb.inv_freq, tied lm_head."""
    return name.endswith("rotary_emb.inv_freq") or (cfg.tied and name == "lm_head.weight")


def param_plan(cfg):
    """Ordered list of (vLLM param, layout, [HF sources]) per SPEC §3 and §3a tables."""
    plan = [("model.embed_tokens.weight", "vocab", ["model.embed_tokens.weight"])]
    for i in range(cfg.layers):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        plan.append((a + "qkv_proj.weight", "qkv", [a + x + "_proj.weight" for x in "qkv"]))
        if has_qkv_bias(cfg):
            plan.append((a + "qkv_proj.bias", "qkv", [a + x + "_proj.bias" for x in "qkv"]))
        plan.append((a + "o_proj.weight", "row", [a + "o_proj.weight"]))
        if has_qk_norm(cfg):
            plan.append((a + "q_norm.weight", "replicated", [a + "q_norm.weight"]))
            plan.append((a + "k_norm.weight", "replicated", [a + "k_norm.weight"]))
        if i in cfg.moe_layers:
            plan.extend(moe_plan(cfg, i))
        else:
            plan.extend(mlp_plan(p + "mlp."))
        plan.append((p + "input_layernorm.weight", "replicated", [p + "input_layernorm.weight"]))
        plan.append((p + "post_attention_layernorm.weight", "replicated",
                     [p + "post_attention_layernorm.weight"]))
    plan.append(("model.norm.weight", "replicated", ["model.norm.weight"]))
    if not cfg.tied:
        plan.append(("lm_head.weight", "vocab", ["lm_head.weight"]))
    return plan


def mlp_plan(m):
    """§3 dense MLP under prefix m (also the qwen2_moe shared expert)."""
    return [(m + "gate_up_proj.weight", "merged", [m + "gate_proj.weight", m + "up_proj.weight"]),
            (m + "down_proj.weight", "row", [m + "down_proj.weight"])]


def moe_plan(cfg, layer):
    """SPEC §3a params of a MoE layer: router, w13 (sources G_0, U_0, G_1, U_1, ...),
    w2 (D_0, D_1, ...), and the qwen2_moe shared expert and its gate."""
    b = moe_block(cfg, layer)
    G, U, D = expert_tensor_names(cfg)
    plan = [(b + ".gate.weight", "replicated", [b + ".gate.weight"]),
            (b + ".experts.w13_weight", "experts-w13",
             [f"{b}.experts.{e}.{x}.weight" for e in range(cfg.experts) for x in (G, U)]),
            (b + ".experts.w2_weight", "experts-w2", [f"{b}.experts.{e}.{D}.weight" for e in range(cfg.experts)])]
    if cfg.family == "qwen2_moe":
        plan.extend(mlp_plan(b + ".shared_expert."))
        plan.append((b + ".shared_expert_gate.weight", "replicated", [b + ".shared_expert_gate.weight"]))
    return plan


def is_quantized(vllm_name):
    """Only the four linear weights per layer (SPEC §4) and the expert params (SPEC §3a)
    are quantized; the router and shared_expert_gate stay bf16."""
    return vllm_name.endswith((".qkv_proj.weight", ".o_proj.weight", ".gate_up_proj.weight",
                               ".down_proj.weight", ".experts.w13_weight", ".experts.w2_weight"))


def scale_name(vllm_name, scheme):
    """Dumped scale tensor name (SPEC §4 table, §3a table, §5): the param name
    (ending in 'weight') + '_scale', or '_scale_inv' for fp8-block."""
    return vllm_name + ("_scale_inv" if scheme == "fp8-block" else "_scale")


# ------------------------------------------------------------ checkpoint

class Checkpoint:
    """An HF checkpoint directory: config + tensors from one or more files (SPEC §1, §6)."""

    def __init__(self, ckpt_dir):
        self.dir = ckpt_dir
        self.cfg = load_config(ckpt_dir)
        self.where = {}  # tensor name -> st.File
        self._converted = {}  # tensor name -> bf16 array, for F16/F32 sources
        for path in self._files():
            try:
                f = st.load(path)
            except st.SafetensorsError as e:
                raise SpecError("format", str(e), file=path)
            for name in f.names():
                if name in self.where:
                    raise SpecError("format", f"tensor {name!r} is in both {self.where[name].path} and {path}",
                                    tensor=name, file=path)
                self.where[name] = f
        self._check_index()

    def _files(self):
        """Files named by model.safetensors.index.json, else model.safetensors (SPEC §1, §6)."""
        idx = os.path.join(self.dir, "model.safetensors.index.json")
        self.weight_map = None
        if os.path.exists(idx):
            try:
                with open(idx) as f:
                    obj = json.load(f)
                wm = obj["weight_map"]
                assert isinstance(wm, dict) and all(isinstance(v, str) for v in wm.values())
            except (OSError, ValueError, KeyError, TypeError, AssertionError) as e:
                raise SpecError("format", f"{idx}: not a valid index ({e!r})", file=idx)
            self.weight_map = wm
            return [os.path.join(self.dir, fn) for fn in sorted(set(wm.values()))]
        single = os.path.join(self.dir, "model.safetensors")
        if os.path.exists(single):
            return [single]
        found = sorted(glob.glob(os.path.join(self.dir, "*.safetensors")))
        if len(found) != 1:
            raise SpecError("format", f"{self.dir}: no index and {len(found)} safetensors files", file=self.dir)
        return found

    def _check_index(self):
        """The index's weight_map must agree with the files' contents."""
        if self.weight_map is None:
            return
        for name, fn in self.weight_map.items():
            f = self.where.get(name)
            if f is None or os.path.basename(f.path) != fn:
                raise SpecError("format", f"index maps {name!r} to {fn} but it is not there", tensor=name, file=fn)
        for name, f in self.where.items():
            if name not in self.weight_map:
                raise SpecError("format", f"tensor {name!r} in {f.path} is not in the index", tensor=name, file=f.path)

    def validate(self):
        """Names, dtypes, shapes against the family (SPEC §1, §2 R0, §3, §3a); raise SpecError."""
        want = checkpoint_shapes(self.cfg)
        for name in sorted(self.where):
            if name not in want and not is_skipped(name, self.cfg):
                path = self.where[name].path
                err = expert_index_error(name, self.cfg, path)
                raise err or SpecError("unknown", f"unknown tensor {name!r} in {path}", tensor=name, file=path)
        for name, shape in want.items():
            f = self.where.get(name)
            if f is None:
                raise SpecError("missing", f"missing tensor {name!r}", tensor=name)
            e = f.entries[name]
            if e["dtype"] not in SOURCE_DTYPES:
                raise SpecError("dtype", f"tensor {name!r} in {f.path}: dtype {e['dtype']} is not supported "
                                f"(BF16, F16 or F32)", tensor=name, file=f.path)
            if tuple(e["shape"]) != shape:
                raise SpecError("shape", f"tensor {name!r} in {f.path}: shape {list(e['shape'])}, expected {list(shape)}",
                                tensor=name, file=f.path)

    def dtype(self, name):
        """The tensor's stored safetensors dtype."""
        return self.where[name].entries[name]["dtype"]

    def get(self, name):
        """A checkpoint tensor as a read-only bf16 numpy array (SPEC §1 conversion
        for F16/F32 sources, computed once per tensor)."""
        t = self.where[name].tensor(name)
        if t.dtype == BF16:
            return t
        if name not in self._converted:
            self._converted[name] = to_bf16(t)
        return self._converted[name]


def to_bf16(a):
    """SPEC §1: fp16 widens to fp32 exactly; fp32 rounds to bf16 to nearest,
    ties to even, as PyTorch's .to(torch.bfloat16): add 0x7FFF plus the lowest
    kept bit, then drop the low 16 bits.  A finite value may round to +-Inf
    (|x| >= 0x7F7F8000 as bits); NaN becomes PyTorch's 0x7FC0."""
    if a.dtype == np.float16:
        a = a.astype(np.float32)  # every fp16 value is an fp32 value
    if a.dtype != np.float32:
        raise ValueError(f"to_bf16: no SPEC §1 conversion from {a.dtype}")
    u = np.ascontiguousarray(a).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    r[np.isnan(a)] = 0x7FC0
    return r.view(BF16)


# ---------------------------------------------------------- sharding (§3)

def shard_parts(ck, tp, r, moe="tp"):
    """vLLM name -> (layout, [(HF source, bf16 slice)]) for tp rank r (SPEC §3, §3a).

    The param is the concatenation of the slices on dim 0 (vocab params
    additionally padded with zero rows); expert params stack one expert per
    local index j (see shard_param).
    """
    cfg = ck.cfg
    out = {}
    for name, layout, srcs in param_plan(cfg):
        if layout == "vocab":
            per = pad64(cfg.vocab) // tp
            lo, hi = min(r * per, cfg.vocab), min((r + 1) * per, cfg.vocab)
            parts = [(srcs[0], ck.get(srcs[0])[lo:hi])]
        elif layout == "qkv":
            qn = cfg.nh // tp * cfg.hd
            nkv_r, replicas = kv_split(cfg, tp)
            s = r // replicas
            kn = nkv_r * cfg.hd
            parts = [(srcs[0], ck.get(srcs[0])[r * qn:(r + 1) * qn]),
                     (srcs[1], ck.get(srcs[1])[s * kn:(s + 1) * kn]),
                     (srcs[2], ck.get(srcs[2])[s * kn:(s + 1) * kn])]
        elif layout == "merged":  # gate_up_proj; rows I or Is
            n = ck.get(srcs[0]).shape[0] // tp
            parts = [(src, ck.get(src)[r * n:(r + 1) * n]) for src in srcs]
        elif layout == "row":
            w = ck.get(srcs[0])
            c = w.shape[1] // tp
            parts = [(srcs[0], w[:, r * c:(r + 1) * c])]
        elif layout.startswith("experts-"):
            parts = expert_parts(ck, layout, srcs, expert_layout(cfg, tp, r, moe))
        else:  # replicated
            parts = [(srcs[0], ck.get(srcs[0]))]
        out[name] = (layout, parts)
    return out


def expert_parts(ck, layout, srcs, lay):
    """SPEC §3a: for each local expert j (global e = e0 + j), G_e and U_e rows c
    (experts-w13; srcs are G_0, U_0, G_1, ...) or D_e columns c (experts-w2)."""
    lo, hi = lay["c"]
    experts = range(lay["e0"], lay["e0"] + lay["E_r"])
    if layout == "experts-w13":
        return [(srcs[2 * e + k], ck.get(srcs[2 * e + k])[lo:hi]) for e in experts for k in (0, 1)]
    return [(srcs[e], ck.get(srcs[e])[:, lo:hi]) for e in experts]


def shard_param(cfg, tp, layout, parts):
    """Assemble one rank-local bf16 param from its parts (SPEC §3, §3a)."""
    if layout == "experts-w13":  # [E_r, 2*I_r, H]: [j] = [G_e rows c; U_e rows c], gate first
        pairs = zip(parts[0::2], parts[1::2])
        return np.ascontiguousarray(np.stack([np.concatenate([g, u], axis=0) for (_, g), (_, u) in pairs]))
    if layout == "experts-w2":  # [E_r, H, I_r]
        return np.ascontiguousarray(np.stack([p for _, p in parts]))
    x = np.concatenate([p for _, p in parts], axis=0) if len(parts) > 1 else np.asarray(parts[0][1])
    if layout == "vocab":
        per = pad64(cfg.vocab) // tp
        pad = np.zeros((per - x.shape[0],) + x.shape[1:], BF16)
        x = np.concatenate([x, pad], axis=0)
    return np.ascontiguousarray(x)


# ---------------------------------------------------------- fp8 numerics (§4)

def rne_fp8(y):
    """fp32 -> e4m3fn, round to nearest even, sign kept (SPEC §4).

    Caller clamps to ±448 first; ml_dtypes' cast is RNE and keeps the sign of
    values that round to zero (verified in selftest.py against an independent
    integer implementation).
    """
    assert y.dtype == np.float32
    return y.astype(F8).view(np.uint8)


def _clamp(y):
    return np.clip(y, -FP8_MAX, FP8_MAX).astype(np.float32, copy=False)


def quant_tensor(x):
    """fp8-tensor (SPEC §4): s = max(amax/448, MIN_SCALE), q = rne(clamp(x*(1/s)))."""
    xf = x.astype(np.float32)
    amax = np.max(np.abs(xf)).astype(np.float32)
    s = np.maximum(amax / FP8_MAX, MIN_SCALE).astype(np.float32)
    inv = (F32(1) / s).astype(np.float32)
    q = rne_fp8(_clamp(xf * inv))
    return q, np.array([s], np.float32)


def quant_row(x):
    """fp8-row (SPEC §4): s_n = max(amax_n*R448, MIN_SCALE), q = rne(clamp(x/s_n))."""
    xf = x.astype(np.float32)
    amax = np.max(np.abs(xf), axis=1, keepdims=True)
    s = np.maximum(amax * R448, MIN_SCALE).astype(np.float32)
    q = rne_fp8(_clamp(xf / s))
    return q, s  # s has shape [N_r, 1]


def quant_block(x):
    """fp8-block (SPEC §4): per 128x128 tile sf = max(amax,1e-4)*R448, q = rne(clamp(x*(1/sf)))."""
    xf = x.astype(np.float32)
    n, k = xf.shape
    bn, bk = -(-n // BLOCK), -(-k // BLOCK)
    padded = np.zeros((bn * BLOCK, bk * BLOCK), np.float32)
    padded[:n, :k] = np.abs(xf)  # zero padding never raises an amax
    amax = padded.reshape(bn, BLOCK, bk, BLOCK).max(axis=(1, 3))
    sf = (np.maximum(amax, BLOCK_EPS) * R448).astype(np.float32)
    inv = (F32(1) / sf).astype(np.float32)
    inv_full = np.repeat(np.repeat(inv, BLOCK, axis=0), BLOCK, axis=1)[:n, :k]
    q = rne_fp8(_clamp(xf * inv_full))
    return q, sf  # sf has shape [ceil(N/128), ceil(K/128)]


QUANT = {"fp8-tensor": quant_tensor, "fp8-row": quant_row, "fp8-block": quant_block}


# ---------------------------------------------------------- experts (§3a)

def pad_expert(x, layout, lay):
    """fp8-block padding of one local expert (SPEC §3a): Xp_j [2*Ip, Hp] with
    gate rows at [0, I_r) and up rows at [Ip, Ip+I_r), or Yp_j [Hp, Ip]; the
    rest +0."""
    i_r, ip, hp = lay["I_r"], lay["Ip"], lay["Hp"]
    if layout == "experts-w13":
        h = x.shape[1]
        out = np.zeros((2 * ip, hp), BF16)
        out[:i_r, :h] = x[:i_r]
        out[ip:ip + i_r, :h] = x[i_r:]
    else:
        h = x.shape[0]
        out = np.zeros((hp, ip), BF16)
        out[:h, :i_r] = x
    return out


def quant_experts(x, layout, lay, scheme):
    """Per local expert quantization (SPEC §3a): codes [E_r, ...] and scales
    [E_r] (fp8-tensor: one over the fused w13 of the expert), [E_r, N, 1]
    (fp8-row) or [E_r, N/128, K/128] on the padded expert (fp8-block)."""
    qs, ss = [], []
    for xj in x:
        if scheme == "fp8-block":
            xj = pad_expert(xj, layout, lay)
        q, s = QUANT[scheme](xj)
        qs.append(q)
        ss.append(s)
    q, s = np.stack(qs), np.stack(ss)
    return q, (s.reshape(len(ss)) if scheme == "fp8-tensor" else s)


def expected_shapes(cfg, tp, r, scheme, moe="tp"):
    """name -> (dtype, shape) of tp rank r's dump, from the SPEC §3/§3a/§4 tables
    alone (no tensor data: usable for full-size models such as qwen3_moe-30B)."""
    src = checkpoint_shapes(cfg)
    out = {}
    for name, layout, srcs in param_plan(cfg):
        shape = _param_shape(cfg, tp, r, moe, layout, [src[s] for s in srcs[:2]])
        if scheme == "none" or not is_quantized(name):
            out[name] = ("BF16", shape)
            continue
        if scheme == "fp8-block" and layout.startswith("experts-"):
            lay = expert_layout(cfg, tp, r, moe)
            n, k = (2 * lay["Ip"], lay["Hp"]) if layout == "experts-w13" else (lay["Hp"], lay["Ip"])
            shape = (shape[0], n, k)
        out[name] = ("F8_E4M3", shape)
        out[scale_name(name, scheme)] = ("F32", _scale_shape(shape, scheme, layout.startswith("experts-")))
    return out


def _param_shape(cfg, tp, r, moe, layout, src):
    """Rank-local shape of a param from its first source shapes (SPEC §3, §3a tables)."""
    if layout == "vocab":
        return (pad64(cfg.vocab) // tp, cfg.hidden)
    if layout == "qkv":
        nkv_r, _ = kv_split(cfg, tp)
        n = (cfg.nh // tp + 2 * nkv_r) * cfg.hd
        return (n,) + src[0][1:]
    if layout == "merged":
        return (2 * src[0][0] // tp, src[0][1])
    if layout == "row":
        return (src[0][0], src[0][1] // tp)
    if layout.startswith("experts-"):
        lay = expert_layout(cfg, tp, r, moe)
        return ((lay["E_r"], 2 * lay["I_r"], cfg.hidden) if layout == "experts-w13"
                else (lay["E_r"], cfg.hidden, lay["I_r"]))
    return src[0]


def _scale_shape(shape, scheme, experts):
    """Scale shape (SPEC §4, §3a): per tensor [1] / per expert [E_r]; per row
    [.., N, 1]; per 128x128 block [.., ceil(N/128), ceil(K/128)]."""
    lead, (n, k) = shape[:-2], shape[-2:]
    if scheme == "fp8-tensor":
        return lead if experts else (1,)
    if scheme == "fp8-row":
        return lead + (n, 1)
    return lead + (-(-n // BLOCK), -(-k // BLOCK))


# ---------------------------------------------------------- expected dump (§5)

def _raw(a):
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def expected_rank(ck, tp, r, scheme, moe="tp"):
    """name -> Param for tp rank r: quantized weights + scales, else BF16 (SPEC §3a, §4, §5)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}")
    out = {}
    for name, (layout, parts) in shard_parts(ck, tp, r, moe).items():
        x = shard_param(ck.cfg, tp, layout, parts)
        if scheme == "none" or not is_quantized(name):
            out[name] = Param("BF16", tuple(x.shape), _raw(x))
            continue
        if layout.startswith("experts-"):
            q, s = quant_experts(x, layout, expert_layout(ck.cfg, tp, r, moe), scheme)
        else:
            q, s = QUANT[scheme](x)
        out[name] = Param("F8_E4M3", tuple(q.shape), _raw(q))
        out[scale_name(name, scheme)] = Param("F32", tuple(s.shape), _raw(s))
    return out


def open_checked(ckpt_dir, tp, world, moe="tp"):
    """Open + validate a checkpoint for (tp, world, moe); raise SpecError as refit must reject."""
    ck = Checkpoint(ckpt_dir)
    check_sizes(ck.cfg, tp, world, moe)
    ck.validate()
    return ck


def _nonfinite_mask(a):
    """bf16 NaN/Inf: exponent bits all ones."""
    return (a.view(np.uint16) & 0x7F80) == 0x7F80


def nonfinite(ckpt_dir, tp, world, ck=None, moe="tp"):
    """SPEC §1, §4: NaN/Inf in a source tensor, after its conversion to bf16,
    rejects the reload.

    Returns a list of dicts {tensor, file, dtype, param, ranks, count}: for
    every checkpoint tensor with a non-finite value, its stored dtype, the
    vLLM param it feeds and the ranks (of the whole world) whose slice holds
    a non-finite value.  Empty list: nothing to reject.
    """
    ck = ck or open_checked(ckpt_dir, tp, world, moe)
    bad = {}
    for name in checkpoint_shapes(ck.cfg):
        cnt = int(np.count_nonzero(_nonfinite_mask(ck.get(name))))
        if cnt:
            bad[name] = cnt
    if not bad:
        return []
    found = {}
    for r in range(tp):
        for pname, (_, parts) in shard_parts(ck, tp, r, moe).items():
            for src, a in parts:
                if src in bad and _nonfinite_mask(a).any():
                    d = found.setdefault(src, {"tensor": src, "file": ck.where[src].path, "dtype": ck.dtype(src),
                                               "param": pname, "ranks": [], "count": bad[src]})
                    d["ranks"].extend(rk for rk in range(world) if rk % tp == r)
    for d in found.values():
        d["ranks"].sort()
    return sorted(found.values(), key=lambda d: (d["ranks"][0], d["tensor"]))


def expected_dump(ckpt_dir, tp, world, scheme, moe="tp"):
    """One dict name -> Param per world rank (replicas share tp_rank's dict; SPEC §1, §5).

    Raises SpecError when refit must reject the checkpoint instead (including
    kind 'nonfinite' with the findings of nonfinite() in .ranks/.tensor).
    """
    ck = open_checked(ckpt_dir, tp, world, moe)
    bad = nonfinite(ckpt_dir, tp, world, ck, moe)
    if bad:
        b = bad[0]
        how = "" if b["dtype"] == "BF16" else f" after {b['dtype']}->BF16 conversion"
        raise SpecError("nonfinite", f"non-finite value{how} in tensor {b['tensor']!r} ({b['file']}), "
                        f"param {b['param']}, ranks {b['ranks']}", tensor=b["tensor"], file=b["file"],
                        ranks=b["ranks"])
    per_tp = [expected_rank(ck, tp, r, scheme, moe) for r in range(tp)]
    return [per_tp[rank % tp] for rank in range(world)]


def dump_metadata(rank, tp, scheme, generation, moe=None):
    """SPEC §5 __metadata__ of a rank's dump; `moe` (tp|ep) only for MoE checkpoints (§3a)."""
    meta = {"generation": str(generation), "tp_rank": str(rank % tp), "tp_size": str(tp), "scheme": scheme}
    if moe is not None:
        meta["moe_parallel"] = moe
    return meta


def write_dump(exp, out_dir, tp, scheme, generation=0, moe=None):
    """Write `exp` (from expected_dump) as SPEC §5 dump files, for tests of the checker.
    Pass moe='tp'|'ep' for a MoE checkpoint (adds moe_parallel, SPEC §3a)."""
    os.makedirs(out_dir, exist_ok=True)
    world = len(exp)
    for rank, params in enumerate(exp):
        path = os.path.join(out_dir, f"rank-{rank:05d}-of-{world:05d}.safetensors")
        st.save_raw(path, {n: (p.dtype, p.shape, p.data) for n, p in params.items()},
                    dump_metadata(rank, tp, scheme, generation, moe))


def _report(a, exp, cfg):
    """Print the expected params of every tp rank (text or JSON)."""
    moe = a.moe if is_moe(cfg) else None
    experts = [expert_layout(cfg, a.tp, r, a.moe) if moe else None for r in range(a.tp)]
    if a.json:
        print(json.dumps({"ok": True, "moe_parallel": moe, "ranks": [
            {n: {"dtype": p.dtype, "shape": list(p.shape), "nbytes": int(p.data.size)} for n, p in exp[r].items()}
            for r in range(a.tp)], "experts": experts}))
        return
    for r in range(a.tp):
        print(f"tp_rank {r}:" + (f" experts {experts[r]}" if moe else ""))
        for n, p in exp[r].items():
            print(f"  {n} {p.dtype} {list(p.shape)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Expected refit dump content per SPEC §3-§5.")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tp", type=int, required=True)
    ap.add_argument("--world", type=int, required=True)
    ap.add_argument("--quant", default="fp8-tensor", choices=SCHEMES)
    ap.add_argument("--moe", default="tp", choices=MOE_MODES, help="MoE parallel mode (SPEC §3a; default tp)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    ap.add_argument("--write-dump", metavar="DIR", help="also write the expected dump files (SPEC §5) to DIR")
    ap.add_argument("--generation", type=int, default=0, help="generation written with --write-dump")
    a = ap.parse_args(argv)
    try:
        exp = expected_dump(a.checkpoint, a.tp, a.world, a.quant, a.moe)
    except SpecError as e:
        res = {"ok": False, "kind": e.kind, "tensor": e.tensor, "file": e.file, "ranks": e.ranks,
               "message": str(e)}
        print(json.dumps(res) if a.json else f"REJECT ({e.kind}): {e}")
        return 3
    cfg = load_config(a.checkpoint)
    if a.write_dump:
        write_dump(exp, a.write_dump, a.tp, a.quant, a.generation, a.moe if is_moe(cfg) else None)
    _report(a, exp, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())

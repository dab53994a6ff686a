#!/usr/bin/env python3
"""Reference model of refit's output, written from SPEC.md alone.

Given an HF bf16 checkpoint directory, a tp size, a world size and a quant
scheme, compute what every rank's dump must hold (SPEC §3 sharding, §4 fp8
numerics, §5 dump format), or the error the checkpoint must be rejected with.

Module use:
    exp = expected_dump(ckpt_dir, tp, world, scheme)   # list, one dict per rank
    exp[rank][name] == Param(dtype, shape, data)        # data: uint8 numpy array
    findings = nonfinite(ckpt_dir, tp, world)          # SPEC §4 NaN/Inf rejection

CLI:
    spec_ref.py --checkpoint DIR --tp T --world W --quant Q [--json]
prints the expected params of every tp rank, or the rejection (exit 3).
"""

import argparse
import glob
import json
import os
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
FAMILIES = ("llama", "mistral", "qwen2", "qwen3")

# SPEC §4 constants, every one an fp32 value.
FP8_MAX = F32(448)
MIN_SCALE = F32(1) / F32(448 * 512)  # 1/(448*512) rounded to fp32
R448 = F32(1) / F32(448)  # fp32(1/448): PyTorch's reciprocal of the scalar
BLOCK_EPS = F32(1e-4)  # fp8-block amax floor, a Python scalar cast to fp32
BLOCK = 128  # fp8-block tile edge

Param = namedtuple("Param", "dtype shape data")  # data: 1-D uint8 numpy array
Config = namedtuple("Config", "family hidden nh nkv hd inter vocab layers tied")


class SpecError(Exception):
    """A checkpoint/config/size the SPEC says refit must reject.

    kind: 'config' | 'divide' | 'missing' | 'unknown' | 'dtype' | 'shape' |
    'format' | 'nonfinite'.  tensor/file name the culprit where there is one.
    """

    def __init__(self, kind, message, tensor=None, file=None, ranks=None):
        super().__init__(message)
        self.kind = kind
        self.tensor = tensor
        self.file = file
        self.ranks = ranks


# ---------------------------------------------------------------- config (§3)

def load_config(ckpt_dir):
    """Parse config.json into a Config (SPEC §3 'Supported families', 'Fields')."""
    path = os.path.join(ckpt_dir, "config.json")
    try:
        with open(path) as f:
            c = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SpecError("config", f"{path}: {e}", file=path)
    fam = c.get("model_type")
    if fam not in FAMILIES:
        raise SpecError("config", f"{path}: unsupported model_type {fam!r}", file=path)

    def need(key):
        v = c.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise SpecError("config", f"{path}: {key} missing or not a positive integer: {v!r}", file=path)
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
    return Config(fam, hidden, nh, nkv, hd, need("intermediate_size"), need("vocab_size"),
                  need("num_hidden_layers"), tied)


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


def check_sizes(cfg, tp, world):
    """Every divisibility SPEC §3 relies on (and world = dp*tp, SPEC §1)."""
    if tp <= 0 or world <= 0:
        raise SpecError("divide", f"tp={tp} and world={world} must be positive")
    divide(world, tp, "world", "tp")
    divide(cfg.nh, tp, "num_attention_heads", "tp")
    kv_split(cfg, tp)
    divide(cfg.inter, tp, "intermediate_size", "tp")
    divide(pad64(cfg.vocab), tp, "padded vocab", "tp")


# ------------------------------------------------------ expected names (§3)

def checkpoint_shapes(cfg):
    """HF tensor name -> shape that the family's checkpoint must hold (SPEC §3)."""
    H, q, kv, I, V = cfg.hidden, cfg.nh * cfg.hd, cfg.nkv * cfg.hd, cfg.inter, cfg.vocab
    shapes = {"model.embed_tokens.weight": (V, H)}
    for i in range(cfg.layers):
        p = f"model.layers.{i}."
        shapes[p + "self_attn.q_proj.weight"] = (q, H)
        shapes[p + "self_attn.k_proj.weight"] = (kv, H)
        shapes[p + "self_attn.v_proj.weight"] = (kv, H)
        if cfg.family == "qwen2":
            shapes[p + "self_attn.q_proj.bias"] = (q,)
            shapes[p + "self_attn.k_proj.bias"] = (kv,)
            shapes[p + "self_attn.v_proj.bias"] = (kv,)
        shapes[p + "self_attn.o_proj.weight"] = (H, q)
        if cfg.family == "qwen3":
            shapes[p + "self_attn.q_norm.weight"] = (cfg.hd,)
            shapes[p + "self_attn.k_norm.weight"] = (cfg.hd,)
        shapes[p + "mlp.gate_proj.weight"] = (I, H)
        shapes[p + "mlp.up_proj.weight"] = (I, H)
        shapes[p + "mlp.down_proj.weight"] = (H, I)
        shapes[p + "input_layernorm.weight"] = (H,)
        shapes[p + "post_attention_layernorm.weight"] = (H,)
    shapes["model.norm.weight"] = (H,)
    if not cfg.tied:
        shapes["lm_head.weight"] = (V, H)
    return shapes


def is_skipped(name, cfg):
    """Names SPEC §3 says are skipped: rotary_emb.inv_freq, tied lm_head."""
    return name.endswith("rotary_emb.inv_freq") or (cfg.tied and name == "lm_head.weight")


def param_plan(cfg):
    """Ordered list of (vLLM param, layout, [HF sources]) per SPEC §3 table."""
    plan = [("model.embed_tokens.weight", "vocab", ["model.embed_tokens.weight"])]
    for i in range(cfg.layers):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        plan.append((a + "qkv_proj.weight", "qkv", [a + x + "_proj.weight" for x in "qkv"]))
        if cfg.family == "qwen2":
            plan.append((a + "qkv_proj.bias", "qkv", [a + x + "_proj.bias" for x in "qkv"]))
        plan.append((a + "o_proj.weight", "row", [a + "o_proj.weight"]))
        if cfg.family == "qwen3":
            plan.append((a + "q_norm.weight", "replicated", [a + "q_norm.weight"]))
            plan.append((a + "k_norm.weight", "replicated", [a + "k_norm.weight"]))
        plan.append((p + "mlp.gate_up_proj.weight", "merged",
                     [p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"]))
        plan.append((p + "mlp.down_proj.weight", "row", [p + "mlp.down_proj.weight"]))
        plan.append((p + "input_layernorm.weight", "replicated", [p + "input_layernorm.weight"]))
        plan.append((p + "post_attention_layernorm.weight", "replicated",
                     [p + "post_attention_layernorm.weight"]))
    plan.append(("model.norm.weight", "replicated", ["model.norm.weight"]))
    if not cfg.tied:
        plan.append(("lm_head.weight", "vocab", ["lm_head.weight"]))
    return plan


def is_quantized(vllm_name):
    """Only the four linear weights per layer are quantized (SPEC §4)."""
    return vllm_name.endswith((".qkv_proj.weight", ".o_proj.weight",
                               ".gate_up_proj.weight", ".down_proj.weight"))


def scale_name(vllm_name, scheme):
    """Dumped scale tensor name (SPEC §4 table, §5)."""
    base = vllm_name[: -len(".weight")]
    return base + (".weight_scale_inv" if scheme == "fp8-block" else ".weight_scale")


# ------------------------------------------------------------ checkpoint

class Checkpoint:
    """An HF checkpoint directory: config + tensors from one or more files (SPEC §1, §6)."""

    def __init__(self, ckpt_dir):
        self.dir = ckpt_dir
        self.cfg = load_config(ckpt_dir)
        self.where = {}  # tensor name -> st.File
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
        """Names, dtypes, shapes against the family (SPEC §2 R0, §3); raise SpecError."""
        want = checkpoint_shapes(self.cfg)
        for name in sorted(self.where):
            if name not in want and not is_skipped(name, self.cfg):
                raise SpecError("unknown", f"unknown tensor {name!r} in {self.where[name].path}",
                                tensor=name, file=self.where[name].path)
        for name, shape in want.items():
            f = self.where.get(name)
            if f is None:
                raise SpecError("missing", f"missing tensor {name!r}", tensor=name)
            e = f.entries[name]
            if e["dtype"] != "BF16":
                raise SpecError("dtype", f"tensor {name!r} in {f.path}: dtype {e['dtype']}, expected BF16",
                                tensor=name, file=f.path)
            if tuple(e["shape"]) != shape:
                raise SpecError("shape", f"tensor {name!r} in {f.path}: shape {list(e['shape'])}, expected {list(shape)}",
                                tensor=name, file=f.path)

    def get(self, name):
        """A checkpoint tensor as a read-only bf16 numpy array."""
        return self.where[name].tensor(name)


# ---------------------------------------------------------- sharding (§3)

def shard_parts(ck, tp, r):
    """vLLM name -> (layout, [(HF source, bf16 slice)]) for tp rank r (SPEC §3).

    The param is the concatenation of the slices on dim 0 (vocab params
    additionally padded with zero rows, see shard_param).
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
        elif layout == "merged":
            n = cfg.inter // tp
            parts = [(src, ck.get(src)[r * n:(r + 1) * n]) for src in srcs]
        elif layout == "row":
            w = ck.get(srcs[0])
            c = w.shape[1] // tp
            parts = [(srcs[0], w[:, r * c:(r + 1) * c])]
        else:  # replicated
            parts = [(srcs[0], ck.get(srcs[0]))]
        out[name] = (layout, parts)
    return out


def shard_param(cfg, tp, layout, parts):
    """Assemble one rank-local bf16 param from its parts (SPEC §3)."""
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


# ---------------------------------------------------------- expected dump (§5)

def _raw(a):
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def expected_rank(ck, tp, r, scheme):
    """name -> Param for tp rank r: quantized weights + scales, else BF16 (SPEC §4, §5)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}")
    out = {}
    for name, (layout, parts) in shard_parts(ck, tp, r).items():
        x = shard_param(ck.cfg, tp, layout, parts)
        if scheme != "none" and is_quantized(name):
            q, s = QUANT[scheme](x)
            out[name] = Param("F8_E4M3", tuple(q.shape), _raw(q))
            out[scale_name(name, scheme)] = Param("F32", tuple(s.shape), _raw(s))
        else:
            out[name] = Param("BF16", tuple(x.shape), _raw(x))
    return out


def open_checked(ckpt_dir, tp, world):
    """Open + validate a checkpoint for (tp, world); raise SpecError as refit must reject."""
    ck = Checkpoint(ckpt_dir)
    check_sizes(ck.cfg, tp, world)
    ck.validate()
    return ck


def _nonfinite_mask(a):
    """bf16 NaN/Inf: exponent bits all ones."""
    return (a.view(np.uint16) & 0x7F80) == 0x7F80


def nonfinite(ckpt_dir, tp, world, ck=None):
    """SPEC §4: NaN/Inf in a bf16 source tensor rejects the reload.

    Returns a list of dicts {tensor, file, param, ranks, count}: for every
    checkpoint tensor with a non-finite value, the vLLM param it feeds and the
    ranks (of the whole world) whose slice holds a non-finite value.  Empty
    list: nothing to reject.
    """
    ck = ck or open_checked(ckpt_dir, tp, world)
    bad = {}
    for name in checkpoint_shapes(ck.cfg):
        cnt = int(np.count_nonzero(_nonfinite_mask(ck.get(name))))
        if cnt:
            bad[name] = cnt
    if not bad:
        return []
    found = {}
    for r in range(tp):
        for pname, (_, parts) in shard_parts(ck, tp, r).items():
            for src, a in parts:
                if src in bad and _nonfinite_mask(a).any():
                    d = found.setdefault(src, {"tensor": src, "file": ck.where[src].path, "param": pname,
                                               "ranks": [], "count": bad[src]})
                    d["ranks"].extend(rk for rk in range(world) if rk % tp == r)
    for d in found.values():
        d["ranks"].sort()
    return sorted(found.values(), key=lambda d: (d["ranks"][0], d["tensor"]))


def expected_dump(ckpt_dir, tp, world, scheme):
    """One dict name -> Param per world rank (replicas share tp_rank's dict; SPEC §1, §5).

    Raises SpecError when refit must reject the checkpoint instead (including
    kind 'nonfinite' with the findings of nonfinite() in .ranks/.tensor).
    """
    ck = open_checked(ckpt_dir, tp, world)
    bad = nonfinite(ckpt_dir, tp, world, ck)
    if bad:
        b = bad[0]
        raise SpecError("nonfinite", f"non-finite value in tensor {b['tensor']!r} ({b['file']}), "
                        f"param {b['param']}, ranks {b['ranks']}", tensor=b["tensor"], file=b["file"],
                        ranks=b["ranks"])
    per_tp = [expected_rank(ck, tp, r, scheme) for r in range(tp)]
    return [per_tp[rank % tp] for rank in range(world)]


def write_dump(exp, out_dir, tp, scheme, generation=0):
    """Write `exp` (from expected_dump) as SPEC §5 dump files, for tests of the checker."""
    os.makedirs(out_dir, exist_ok=True)
    world = len(exp)
    for rank, params in enumerate(exp):
        meta = {"generation": str(generation), "tp_rank": str(rank % tp), "tp_size": str(tp), "scheme": scheme}
        path = os.path.join(out_dir, f"rank-{rank:05d}-of-{world:05d}.safetensors")
        st.save_raw(path, {n: (p.dtype, p.shape, p.data) for n, p in params.items()}, meta)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Expected refit dump content per SPEC §3-§5.")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tp", type=int, required=True)
    ap.add_argument("--world", type=int, required=True)
    ap.add_argument("--quant", default="fp8-tensor", choices=SCHEMES)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    ap.add_argument("--write-dump", metavar="DIR", help="also write the expected dump files (SPEC §5) to DIR")
    ap.add_argument("--generation", type=int, default=0, help="generation written with --write-dump")
    a = ap.parse_args(argv)
    try:
        exp = expected_dump(a.checkpoint, a.tp, a.world, a.quant)
    except SpecError as e:
        res = {"ok": False, "kind": e.kind, "tensor": e.tensor, "file": e.file, "ranks": e.ranks,
               "message": str(e)}
        print(json.dumps(res) if a.json else f"REJECT ({e.kind}): {e}")
        return 3
    if a.write_dump:
        write_dump(exp, a.write_dump, a.tp, a.quant, a.generation)
    if a.json:
        print(json.dumps({"ok": True, "ranks": [
            {n: {"dtype": p.dtype, "shape": list(p.shape), "nbytes": int(p.data.size)} for n, p in exp[r].items()}
            for r in range(a.tp)]}))
    else:
        for r in range(a.tp):
            print(f"tp_rank {r}:")
            for n, p in exp[r].items():
                print(f"  {n} {p.dtype} {list(p.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A reference Llama-family engine (llama, mistral, qwen2, qwen3) serving from
the params refit binds, in vLLM's tensor-parallel layout (SPEC §3):

  embed_tokens   vocab-parallel: this rank's rows of the 64-padded vocab; a
                 token outside them looks up zeros; all-reduce
  qkv_proj       [q_r; k_r; v_r]: nh/tp query heads, nkv_r kv heads (1, a
                 replica, when tp >= nkv); qwen2 adds a bias; qwen3 applies
                 q_norm/k_norm per head before RoPE
  o_proj         row-parallel (columns cut): all-reduce after it
  gate_up_proj   [gate_r; up_r] -> silu(gate) * up
  down_proj      row-parallel: all-reduce after it
  lm_head        vocab-parallel (embed_tokens when tied): local logits,
                 all-gathered over the TP group, cut back to the real vocab

The engine allocates every param's storage itself (as vLLM does), binds it to
refit (Context.bind) and reads it at every forward: after a commit the next
forward (or a CUDA graph replay) computes with the new generation. Positions
and the KV cache are tensors, so decode_step() can be captured in a graph.
"""
import json
import os

import torch

from . import dist
from .linear import linear

FAMILIES = ("llama", "mistral", "qwen2", "qwen3")


class Config:
    """The fields of config.json the forward needs (SPEC §3's defaults)."""

    def __init__(self, path):
        with open(os.path.join(path, "config.json")) as f:
            c = json.load(f)
        if c.get("model_type") not in FAMILIES:
            raise ValueError("engine: model_type %r is not one of %s" % (c.get("model_type"), ", ".join(FAMILIES)))
        # RoPE: rope_theta + rope_scaling (transformers 4), or rope_parameters (5).
        rp = c.get("rope_parameters") or c.get("rope_scaling") or {}
        if rp.get("rope_type", rp.get("type", "default")) != "default":
            raise ValueError("engine: RoPE %r is not supported (default RoPE only)" % rp)
        self.family = c["model_type"]
        self.hidden, self.heads = c["hidden_size"], c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.layers, self.vocab = c["num_hidden_layers"], c["vocab_size"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.theta = c.get("rope_theta") or rp.get("rope_theta", 10000.0)
        self.tied = bool(c.get("tie_word_embeddings", False))


def rms_norm(x, w, eps):
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return w.to(x.dtype) * xf.to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def _device(device):
    """"cuda" without an index: the GPU refit's default picks for this rank
    (local rank % visible GPUs; refit.h refit_options.device), made current."""
    d = torch.device(device)
    if d.type == "cuda" and d.index is None:
        local = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", os.environ.get("SLURM_LOCALID",
                                                                                os.environ.get("LOCAL_RANK", 0))))
        d = torch.device("cuda", local % torch.cuda.device_count())
    if d.type == "cuda":
        torch.cuda.set_device(d)
    return d


class Engine:
    """Engine(ctx, checkpoint_dir, device="cpu", dtype=None): reads
    config.json, allocates and binds every param of ctx's rank (ctx must be
    open), joins torch.distributed. dtype: activations (fp32 on CPU, bf16 on
    GPU by default)."""

    def __init__(self, ctx, checkpoint_dir, device="cpu", dtype=None, max_len=64, comm=None):
        self.ctx, self.cfg, self.device = ctx, Config(checkpoint_dir), _device(device)
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.quant = ctx.quant
        dist.init(ctx, comm=comm)
        self.group, self.tp, self.tp_rank = dist.tp_group(ctx), ctx.tp, ctx.tp_rank
        self.w = self._allocate_and_bind()
        self._check_shapes()
        self._rope_tables(max_len)
        self.max_len = max_len
        self.cache = None

    # ---- params ---------------------------------------------------------------
    def _allocate_and_bind(self):
        """{name: tensor} for data and scales, bound to refit (refit then never
        allocates a live copy: commits write into these tensors)."""
        from .._views import torch_dtype
        w = {}
        for p in self.ctx.params():
            t = torch.empty(p.shape, dtype=torch_dtype(torch, p.dtype_code), device=self.device)
            t.view(torch.uint8).zero_()  # through bytes: not every device fills fp8 directly
            w[p.name] = t
            if p.scale_name:
                w[p.scale_name] = torch.zeros(p.scale_shape, dtype=torch.float32, device=self.device)
        self.ctx.bind(w)
        return w

    def _check_shapes(self):
        c, tp = self.cfg, self.tp
        self.nh = c.heads // tp
        self.nkv = 1 if tp >= c.kv_heads else c.kv_heads // tp
        rows = self.w["model.layers.0.self_attn.qkv_proj.weight"].shape[0]
        if rows != (self.nh + 2 * self.nkv) * c.head_dim:
            raise ValueError("engine: qkv_proj has %d rows on this rank, expected %d" %
                             (rows, (self.nh + 2 * self.nkv) * c.head_dim))
        self.vocab_rows = self.w["model.embed_tokens.weight"].shape[0]

    def _scales(self, name):
        return self.w.get(name + "_scale", self.w.get(name + "_scale_inv"))

    def _linear(self, x, prefix, bias=False):
        name = prefix + ".weight"
        b = self.w.get(prefix + ".bias") if bias else None
        return linear(x, self.w[name], self._scales(name), self.quant, b)

    def _rope_tables(self, max_len):
        hd = self.cfg.head_dim
        inv = 1.0 / (self.cfg.theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        f = torch.outer(torch.arange(max_len, dtype=torch.float32), inv)
        emb = torch.cat((f, f), dim=-1)
        self.cos, self.sin = emb.cos().to(self.device), emb.sin().to(self.device)

    # ---- forward ----------------------------------------------------------------
    def new_cache(self):
        """KV cache [layers, max_len, nkv, hd] x 2, zeros."""
        shape = (self.cfg.layers, self.max_len, self.nkv, self.cfg.head_dim)
        self.cache = (torch.zeros(shape, dtype=self.dtype, device=self.device),
                      torch.zeros(shape, dtype=self.dtype, device=self.device))
        return self.cache

    def forward(self, tokens, positions):
        """tokens, positions: int64 [T] on the device; writes the KV cache at
        `positions` and attends to every cached slot <= the query's position.
        Returns the logits [T, vocab] (fp32), the same on every TP rank."""
        if self.cache is None:
            self.new_cache()
        x = self._embed(tokens)
        for layer in range(self.cfg.layers):
            x = self._layer(layer, x, positions)
        x = rms_norm(x, self.w["model.norm.weight"], self.cfg.eps)
        return self._logits(x)

    def prefill(self, tokens):
        """Logits of every position of a fresh sequence. The cache is reused
        in place (zeroed) once it exists: a captured graph keeps its address."""
        if self.cache is None:
            self.new_cache()
        else:
            self.cache[0].zero_()
            self.cache[1].zero_()
        t = torch.as_tensor(tokens, dtype=torch.int64, device=self.device)
        return self.forward(t, torch.arange(t.numel(), device=self.device))

    def decode_step(self, token, position):
        """One token at `position` (both int64 [1] device tensors: a CUDA
        graph captures this with them as its static inputs)."""
        return self.forward(token, position)

    def _embed(self, tokens):
        lo = self.tp_rank * self.vocab_rows
        local = tokens - lo
        inside = (local >= 0) & (local < self.vocab_rows)
        rows = self.w["model.embed_tokens.weight"][local.clamp(0, self.vocab_rows - 1)].to(self.dtype)
        x = rows * inside.unsqueeze(-1).to(self.dtype)
        return dist.all_reduce(x, self.group, self.tp)

    def _layer(self, layer, x, positions):
        p = "model.layers.%d." % layer
        h = rms_norm(x, self.w[p + "input_layernorm.weight"], self.cfg.eps)
        x = x + self._attention(p, h, layer, positions)
        h = rms_norm(x, self.w[p + "post_attention_layernorm.weight"], self.cfg.eps)
        return x + self._mlp(p, h)

    def _attention(self, p, h, layer, positions):
        hd, nh, nkv = self.cfg.head_dim, self.nh, self.nkv
        qkv = self._linear(h, p + "self_attn.qkv_proj", bias=self.cfg.family == "qwen2")
        q, k, v = qkv.split([nh * hd, nkv * hd, nkv * hd], dim=-1)
        q, k, v = q.reshape(-1, nh, hd), k.reshape(-1, nkv, hd), v.reshape(-1, nkv, hd)
        if self.cfg.family == "qwen3":
            q = rms_norm(q, self.w[p + "self_attn.q_norm.weight"], self.cfg.eps)
            k = rms_norm(k, self.w[p + "self_attn.k_norm.weight"], self.cfg.eps)
        cos, sin = self.cos[positions].unsqueeze(1).to(q.dtype), self.sin[positions].unsqueeze(1).to(q.dtype)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        kc, vc = self.cache[0][layer], self.cache[1][layer]
        kc.index_copy_(0, positions, k)
        vc.index_copy_(0, positions, v)
        out = self._attend(q, kc, vc, positions)
        o = self._linear(out.reshape(-1, nh * hd), p + "self_attn.o_proj")
        return dist.all_reduce(o, self.group, self.tp)

    def _attend(self, q, kc, vc, positions):
        """Causal GQA over the whole cache: slots after a query's position masked."""
        group = self.nh // self.nkv
        k = kc.repeat_interleave(group, dim=1).transpose(0, 1).float()  # [nh, L, hd]
        v = vc.repeat_interleave(group, dim=1).transpose(0, 1).float()
        scores = torch.matmul(q.transpose(0, 1).float(), k.transpose(1, 2)) / (self.cfg.head_dim ** 0.5)
        slots = torch.arange(self.max_len, device=q.device)
        mask = slots.unsqueeze(0) > positions.unsqueeze(1)  # [T, L]
        scores = scores.masked_fill(mask.unsqueeze(0), float("-inf"))
        out = torch.matmul(torch.softmax(scores, dim=-1), v)  # [nh, T, hd]
        return out.transpose(0, 1).to(q.dtype)

    def _mlp(self, p, h):
        gu = self._linear(h, p + "mlp.gate_up_proj")
        gate, up = gu.chunk(2, dim=-1)
        y = self._linear(torch.nn.functional.silu(gate) * up, p + "mlp.down_proj")
        return dist.all_reduce(y, self.group, self.tp)

    def _logits(self, x):
        name = "model.embed_tokens.weight" if self.cfg.tied else "lm_head.weight"
        local = x @ self.w[name].to(x.dtype).t()
        full = dist.all_gather_last(local.float(), self.group, self.tp)
        return full[..., :self.cfg.vocab]

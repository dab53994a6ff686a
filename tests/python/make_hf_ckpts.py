#!/usr/bin/env python3
"""Checkpoints saved by transformers (save_pretrained: several shards + index,
random init, tiny configs) for llama, mistral, qwen2, qwen3, two generations
each (seeds 1 and 2), and transformers' own forward of each over TOKENS:
OUT/<family>/gen<g>/ (the checkpoint) and OUT/<family>/gen<g>.logits.pt
({"bf16": [T, V], "fp32": [T, V]}: the bf16 model's forward, and the fp32
forward of the same bf16 weights).

usage: make_hf_ckpts.py OUT [FAMILY...]
Exit 77 without torch or transformers.
"""
import os
import sys

try:
    import torch
    import transformers
except ImportError as e:
    print("SKIP: make_hf_ckpts: %s (launch/install-deps.sh --with-python installs torch and transformers)" % e)
    sys.exit(77)

TOKENS = [1, 5, 77, 250, 3, 199, 42, 7, 256, 120, 8, 64]

# Tiny shapes that divide by tp 4 and still cover what SPEC §3 varies: kv heads
# fewer than tp (kv replication), qkv bias (qwen2), q/k norms and head_dim !=
# hidden/heads (qwen3), tied embeddings, vocabs needing 64-padding, a matrix
# over 128 rows/cols (several fp8 blocks). Dims are multiples of 16 so the GPU
# runs torch._scaled_mm.
CONFIGS = {
    "llama": dict(cls="LlamaConfig", hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=320, vocab_size=301, num_hidden_layers=2),
    "mistral": dict(cls="MistralConfig", hidden_size=64, num_attention_heads=4, num_key_value_heads=1,
                    intermediate_size=128, vocab_size=257, num_hidden_layers=2, sliding_window=None),
    "qwen2": dict(cls="Qwen2Config", hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=128, vocab_size=300, num_hidden_layers=2),
    "qwen3": dict(cls="Qwen3Config", hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                  intermediate_size=192, vocab_size=290, num_hidden_layers=2, tie_word_embeddings=True),
}


def build(family, seed):
    spec = dict(CONFIGS[family])
    cfg = getattr(transformers, spec.pop("cls"))(**spec, rms_norm_eps=1e-6, max_position_embeddings=64)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(cfg).to(torch.bfloat16).eval()
    with torch.no_grad():  # random init leaves norms at 1 and biases at 0: perturb them so they count
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or name.endswith(".bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return model


def logits(model, dtype):
    m = model.to(dtype)
    with torch.no_grad():
        out = m(torch.tensor([TOKENS])).logits[0].float()
    model.to(torch.bfloat16)
    return out


def main():
    out = sys.argv[1]
    families = sys.argv[2:] or list(CONFIGS)
    for family in families:
        for gen, seed in ((0, 1), (1, 2)):
            model = build(family, seed)
            d = os.path.join(out, family, "gen%d" % gen)
            model.save_pretrained(d, max_shard_size="60KB")
            ref = {"bf16": logits(model, torch.bfloat16), "fp32": logits(model, torch.float32), "tokens": TOKENS}
            torch.save(ref, os.path.join(out, family, "gen%d.logits.pt" % gen))
            n = len([f for f in os.listdir(d) if f.endswith(".safetensors")])
            print("%s gen%d: %d shards" % (family, gen, n))


if __name__ == "__main__":
    main()

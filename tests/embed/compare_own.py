#!/usr/bin/env python3
"""The engine's own buffers (test_embed.c writes them, in dump order: each
param's data, then its scales) must equal the tensors of the rank's dump
file byte for byte: the bound storage is what holds the committed
generation. usage: compare_own.py DUMP RANK WORLD"""
import json
import struct
import sys

dump, rank, world = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
path = f"{dump}/rank-{rank:05d}-of-{world:05d}.safetensors"
raw = open(path, "rb").read()
(hlen,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8 : 8 + hlen])
data = raw[8 + hlen :]
# dump order = the order the writer added tensors = their offsets' order
spans = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
want = b"".join(data[a:b] for a, b in spans)
own = open(f"{dump}/own-rank-{rank:05d}.bin", "rb").read()
if own != want:
    first = next((i for i in range(min(len(own), len(want))) if own[i] != want[i]), min(len(own), len(want)))
    sys.exit(f"{path}: {len(want)} tensor bytes, the engine holds {len(own)}; first difference at byte {first}")
print(f"engine buffers = dump tensors, {len(own)} bytes in {len(spans)} tensors")

#!/usr/bin/env python3
"""refit_param_digest against the Python reference (tests/ref/digest_ref.py,
written from kernels/digest.h's definition): for every rank, every "NAME HEX"
line the C test wrote must equal param_digest(digest(data), digest(scales))
over the bytes of the param's tensors in that rank's dump file (scales: the
NAME's .weight_scale / .weight_scale_inv tensor, none for bf16 params).

usage: param_digest_check.py DUMP_DIR DIGESTS_PREFIX WORLD"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import digest_ref  # noqa: E402


def tensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return {k: raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in header.items()}


def scale_of(name, table):
    base = name if name.endswith("weight") else name + "_weight"  # SPEC §4, §3a scale names
    for suffix in ("_scale", "_scale_inv"):
        if base + suffix in table:
            return table[base + suffix]
    return None


def main():
    dump, prefix, world = sys.argv[1], sys.argv[2], int(sys.argv[3])
    bad = checked = 0
    for r in range(world):
        table = tensors(os.path.join(dump, "rank-%05d-of-%05d.safetensors" % (r, world)))
        with open("%s.r%d" % (prefix, r)) as f:
            lines = [line.split() for line in f if line.strip()]
        if len(lines) != len([k for k in table if "_scale" not in k]):
            print("rank %d: %d digests for %d params in the dump" % (r, len(lines), len(table)))
            bad += 1
        for name, hexd in lines:
            scales = scale_of(name, table)
            want = digest_ref.param_digest(digest_ref.digest(table[name]),
                                           digest_ref.digest(scales) if scales is not None else digest_ref.digest(b""))
            checked += 1
            if want != int(hexd, 16):
                print("rank %d: %s: refit_param_digest %s, reference %016x" % (r, name, hexd, want))
                bad += 1
    print("%d param digests checked against the reference, %d differ" % (checked, bad))
    return 1 if bad or not checked else 0


if __name__ == "__main__":
    sys.exit(main())

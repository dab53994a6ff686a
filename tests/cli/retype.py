#!/usr/bin/env python3
"""Rewrite one BF16 tensor of a safetensors file as F64 (same values), for
the "unsupported dtype" test. Standard library only (SPEC §6 layout).
usage: retype.py FILE TENSOR"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
from corrupt_st import read_st, tensors_by_offset, write_st  # noqa: E402


def main(path, name):
    header, data = read_st(path)
    if name not in header:
        sys.exit("retype.py: %s: no tensor %s" % (path, name))
    parts = []
    for key in tensors_by_offset(header):
        e = header[key]
        b, end = e["data_offsets"]
        raw = data[b:end]
        if key == name:  # bf16 is the top half of an f32
            vals = [struct.unpack("<f", b"\0\0" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
            raw = struct.pack("<%dd" % len(vals), *vals)
            e["dtype"] = "F64"
        start = sum(len(p) for p in parts)
        e["data_offsets"] = [start, start + len(raw)]
        parts.append(raw)
    write_st(path, header, b"".join(parts))


if __name__ == "__main__":
    main(*sys.argv[1:])

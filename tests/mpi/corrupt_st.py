#!/usr/bin/env python3
"""Damage one safetensors file of a checkpoint in a chosen way (tests only).

usage: corrupt_st.py FILE truncate|header-length|overlap|hole|not-json
"""
import json
import struct
import sys


def read_st(path):
    """(header dict, data buffer) of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def write_st(path, header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def rewrite_header(path, edit):
    """Re-encode the header after `edit(header_dict)`, keeping the data buffer."""
    header, data = read_st(path)
    edit(header)
    write_st(path, header, data)


def tensors_by_offset(header):
    names = [k for k in header if k != "__metadata__"]
    return sorted(names, key=lambda k: header[k]["data_offsets"][0])


def overlap(header):
    """Second tensor starts 2 bytes early; its end moves too, leaving sizes right."""
    t = header[tensors_by_offset(header)[1]]
    t["data_offsets"] = [t["data_offsets"][0] - 2, t["data_offsets"][1] - 2]


def hole(header):
    """First tensor starts 2 bytes late: a hole at byte 0 (and sizes stay right)."""
    t = header[tensors_by_offset(header)[0]]
    t["data_offsets"] = [t["data_offsets"][0] + 2, t["data_offsets"][1] + 2]


def main():
    path, how = sys.argv[1], sys.argv[2]
    if how == "truncate":
        with open(path, "r+b") as f:
            f.seek(0, 2)
            f.truncate(f.tell() - 100)
    elif how == "header-length":
        with open(path, "r+b") as f:
            f.write(struct.pack("<Q", 0x7FFFFFFFFFFF0000))
    elif how == "not-json":
        with open(path, "r+b") as f:
            f.seek(9)
            f.write(b"\x01")
    elif how == "overlap":
        rewrite_header(path, overlap)
    elif how == "hole":
        rewrite_header(path, hole)
    else:
        sys.exit(f"corrupt_st.py: unknown damage '{how}'")


if __name__ == "__main__":
    main()

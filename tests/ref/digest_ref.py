#!/usr/bin/env python3
"""The parameter digest (kernels/digest.h's definition) in plain Python, with
XXH64 written from xxHash's specification (doc/xxhash_spec.md): no packages,
no C sources. It checks itself against XXH64's published sanity vectors and
prints the digests that tests/unit/test_digest.c pins (RF_REF_DIGESTS), so
the C and CUDA implementations are tied to the written definition, not only
to each other.

    python3 tests/ref/digest_ref.py                                # prints the C table
    python3 tests/ref/digest_ref.py --check tests/digest_vectors.h # compares it (CTest)
"""
import re
import struct
import sys

M = (1 << 64) - 1
P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
P4, P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5
CHUNK = 65536


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M


def rnd(acc, lane):
    return rotl((acc + lane * P2) & M, 31) * P1 & M


def merge(acc, v):
    return ((acc ^ rnd(0, v)) * P1 + P4) & M


def xxh64(b, seed=0):
    n, i = len(b), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M]
        while i + 32 <= n:
            for k in range(4):
                v[k] = rnd(v[k], struct.unpack_from("<Q", b, i + 8 * k)[0])
            i += 32
        acc = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for k in range(4):
            acc = merge(acc, v[k])
    else:
        acc = (seed + P5) & M
    acc = (acc + n) & M
    while i + 8 <= n:
        acc = (rotl(acc ^ rnd(0, struct.unpack_from("<Q", b, i)[0]), 27) * P1 + P4) & M
        i += 8
    if i + 4 <= n:
        acc = (rotl(acc ^ (struct.unpack_from("<I", b, i)[0] * P1 & M), 23) * P2 + P3) & M
        i += 4
    while i < n:
        acc = rotl(acc ^ (b[i] * P5 & M), 11) * P1 & M
        i += 1
    acc ^= acc >> 33
    acc = acc * P2 & M
    acc ^= acc >> 29
    acc = acc * P3 & M
    return acc ^ (acc >> 32)


def digest(b):
    hashes = b"".join(struct.pack("<Q", xxh64(b[i:i + CHUNK])) for i in range(0, len(b), CHUNK))
    return xxh64(hashes + struct.pack("<Q", len(b)))


def param_digest(data_digest, scale_digest):
    return xxh64(struct.pack("<QQ", data_digest, scale_digest))


def sanity_buffer(n):
    """xxHash's test buffer: byte i is the top byte of PRIME32 * PRIME64^i."""
    out, gen = bytearray(n), 2654435761
    for i in range(n):
        out[i] = gen >> 56
        gen = gen * 11400714785074694797 & M
    return bytes(out)


SANITY = [(0, 0, 0xEF46DB3751D8E999), (0, 2654435761, 0xAC75FDA2929B17EF),
          (1, 0, 0xE934A84ADB052768), (1, 2654435761, 0x5014607643A9B4C3),
          (4, 0, 0x9136A0DCA57457EE), (14, 0, 0x8282DCC4994E35C8),
          (14, 2654435761, 0xC3BD6BF63DEB6DF0), (222, 0, 0xB641AE8CB691C174),
          (222, 2654435761, 0x20CB8AB7AE10C14A)]
LENGTHS = [0, 1, 31, 32, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 4099]


def check(header, table, param):
    """The pinned values in the C header must be the ones computed here."""
    text = open(header).read()
    body = text[text.index("rf_ref_digests[]"):]
    pinned = {int(n): int(h, 16) for n, h in re.findall(r"\{(\d+)u, UINT64_C\(0x([0-9A-Fa-f]+)\)\}", body)}
    want = dict(table)
    pinned_param = int(re.search(r"RF_REF_PARAM_DIGEST UINT64_C\(0x([0-9A-Fa-f]+)\)", text).group(1), 16)
    bad = [f"{n} bytes: pinned {pinned.get(n, 0):#018x}, definition {d:#018x}"
           for n, d in want.items() if pinned.get(n) != d]
    bad += [f"{n} bytes pinned but not computed" for n in pinned if n not in want]
    if pinned_param != param:
        bad.append(f"param digest: pinned {pinned_param:#018x}, definition {param:#018x}")
    if bad:
        sys.exit(f"digest_ref: {header} disagrees with the definition: " + "; ".join(bad))
    print(f"digest_ref: {len(want)} digests and the param digest in {header} match the definition")


def main():
    buf = sanity_buffer(max(LENGTHS))
    for n, seed, want in SANITY:
        got = xxh64(buf[:n], seed)
        if got != want:
            sys.exit(f"digest_ref: XXH64 of {n} bytes, seed {seed}: {got:#018x}, published {want:#018x}")
    table = [(n, digest(buf[:n])) for n in LENGTHS]
    param = param_digest(table[-1][1], table[1][1])
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2], table, param)
        return
    print("/* tests/ref/digest_ref.py: digest of the first n bytes of the sanity buffer */")
    for n, d in table:
        print(f"    {{{n}u, UINT64_C(0x{d:016X})}},")
    print(f"/* param_digest(digest({LENGTHS[-1]}), digest({LENGTHS[1]})) = 0x{param:016X} */")


if __name__ == "__main__":
    main()

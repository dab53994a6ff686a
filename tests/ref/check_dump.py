#!/usr/bin/env python3
"""Check refit's dump byte for byte against the SPEC reference (SPEC §5).

    check_dump.py --checkpoint DIR --tp T --world W --quant Q --dump DUMPDIR
                  [--moe tp|ep] [--generation G] [--max-report N]

For every rank R < W it reads DUMPDIR/rank-RRRRR-of-WWWWW.safetensors (5-digit
zero padding, SPEC §5), validates it per SPEC §6, and checks that:
  - the set of tensor names equals the expected set exactly;
  - each tensor's dtype, shape and bytes are identical to spec_ref's;
  - __metadata__ holds generation (== G if given), tp_rank (== R % T),
    tp_size (== T) and scheme (== Q), all as decimal / plain strings, and
    for a MoE checkpoint moe_parallel (== the --moe mode, SPEC §3a).
MoE expert params are 3-D ([E_r, 2*I_r, H], [E_r, H, I_r]; fp8-block padded
to [E_r, 2*Ip, Hp], [E_r, Hp, Ip]) with the scale shapes of SPEC §3a.
Exit 0 only if everything matches; 1 on any mismatch; 2 when the reference
itself says the checkpoint must be rejected (nothing to compare against).
"""

import argparse
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spec_ref  # noqa: E402
import st  # noqa: E402


def dump_path(dump_dir, rank, world):
    """SPEC §5: DIR/rank-RRRRR-of-NNNNN.safetensors."""
    return os.path.join(dump_dir, f"rank-{rank:05d}-of-{world:05d}.safetensors")


def _decode(dtype, b):
    """Human-readable value of one element's bytes."""
    dt = st.DTYPES[dtype]
    v = np.frombuffer(bytes(b), dt)[0]
    return f"{float(v)!r}" if dtype in ("F8_E4M3", "BF16", "F16", "F32", "F64") else str(v)


def compare_bytes(exp, got_raw):
    """First differing byte (index) and how many bytes differ, or None."""
    got = np.asarray(got_raw)
    assert got.size == exp.data.size  # same dtype and shape in a valid file
    diff = np.flatnonzero(exp.data != got)
    if diff.size == 0:
        return None
    return (int(diff[0]), int(diff.size))


def describe_diff(name, exp, got_raw, first, count):
    """Message for a byte mismatch: byte index, element index/coords, values."""
    isz = st.DTYPES[exp.dtype].itemsize
    el = first // isz
    coords = np.unravel_index(el, exp.shape) if exp.shape else ()
    e_el = exp.data[el * isz:(el + 1) * isz]
    g_el = np.asarray(got_raw)[el * isz:(el + 1) * isz]
    return (f"tensor {name}: {count} bytes differ; first at byte {first} (element {el} "
            f"{list(map(int, coords))}): expected 0x{exp.data[first]:02x} got 0x{int(got_raw[first]):02x}"
            f" (value expected {_decode(exp.dtype, e_el)} got {_decode(exp.dtype, g_el)})")


def check_metadata(meta, rank, tp, scheme, generation, moe=None):
    """SPEC §5: __metadata__ has generation, tp_rank, tp_size, scheme; and
    moe_parallel when `moe` is given (a MoE checkpoint, SPEC §3a)."""
    errs = []
    want = {"tp_rank": str(rank % tp), "tp_size": str(tp), "scheme": scheme}
    if moe is not None:
        want["moe_parallel"] = moe
    for k, v in want.items():
        if k not in meta:
            errs.append(f"__metadata__ lacks {k!r}")
        elif meta[k] != v:
            errs.append(f"__metadata__ {k}={meta[k]!r}, expected {v!r}")
    g = meta.get("generation")
    if g is None:
        errs.append("__metadata__ lacks 'generation'")
    elif not re.fullmatch(r"0|[1-9][0-9]*", g):
        errs.append(f"__metadata__ generation={g!r} is not a decimal integer")
    elif generation is not None and int(g) != generation:
        errs.append(f"__metadata__ generation={g}, expected {generation}")
    return errs


def check_rank(path, exp, rank, tp, scheme, generation, stats, moe=None):
    """All mismatches of one rank's dump file, as a list of messages."""
    if not os.path.exists(path):
        return [f"missing dump file {path}"]
    try:
        f = st.load(path)
    except st.SafetensorsError as e:
        return [f"invalid safetensors: {e}"]
    errs = check_metadata(f.metadata, rank, tp, scheme, generation, moe)
    names = set(f.names())
    for n in sorted(set(exp) - names):
        errs.append(f"tensor {n}: missing from dump")
    for n in sorted(names - set(exp)):
        errs.append(f"tensor {n}: unexpected in dump")
    for n in exp:
        if n not in names:
            continue
        e, g = exp[n], f.entries[n]
        if g["dtype"] != e.dtype or tuple(g["shape"]) != tuple(e.shape):
            errs.append(f"tensor {n}: {g['dtype']} {list(g['shape'])}, expected {e.dtype} {list(e.shape)}")
            continue
        raw = f.raw(n)
        d = compare_bytes(e, raw)
        if d is None:
            stats["tensors"] += 1
            stats["bytes"] += int(e.data.size)
        else:
            errs.append(describe_diff(n, e, raw, *d))
    return errs


def stray_files(dump_dir, world):
    """rank-*.safetensors files in DUMPDIR that are not part of this world."""
    want = {os.path.basename(dump_path(dump_dir, r, world)) for r in range(world)}
    return sorted(fn for fn in os.listdir(dump_dir)
                  if fn.startswith("rank-") and fn.endswith(".safetensors") and fn not in want)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check a refit dump against the SPEC reference.")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tp", type=int, required=True)
    ap.add_argument("--world", type=int, required=True)
    ap.add_argument("--quant", default="fp8-tensor", choices=spec_ref.SCHEMES)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--moe", default="tp", choices=spec_ref.MOE_MODES, help="MoE parallel mode (SPEC §3a; default tp)")
    ap.add_argument("--generation", type=int, default=None)
    ap.add_argument("--max-report", type=int, default=50, help="mismatch lines printed per rank")
    a = ap.parse_args(argv)

    try:
        exp = spec_ref.expected_dump(a.checkpoint, a.tp, a.world, a.quant, a.moe)
    except spec_ref.SpecError as e:
        print(f"check_dump: reference rejects the checkpoint ({e.kind}): {e}")
        return 2
    if not os.path.isdir(a.dump):
        print(f"check_dump: no dump directory {a.dump}")
        return 1
    for fn in stray_files(a.dump, a.world):
        print(f"check_dump: warning: stray file {fn} (not of world {a.world})")

    moe = a.moe if spec_ref.is_moe(spec_ref.load_config(a.checkpoint)) else None
    stats = {"tensors": 0, "bytes": 0}
    bad = 0
    for rank in range(a.world):
        errs = check_rank(dump_path(a.dump, rank, a.world), exp[rank], rank, a.tp, a.quant, a.generation, stats,
                          moe)
        for m in errs[:a.max_report]:
            print(f"rank {rank}: {m}")
        if len(errs) > a.max_report:
            print(f"rank {rank}: ... {len(errs) - a.max_report} more mismatches")
        bad += len(errs)
    n_exp = sum(len(e) for e in exp)
    if bad:
        print(f"check_dump: FAIL: {bad} mismatches over {a.world} ranks "
              f"({stats['tensors']}/{n_exp} tensors identical)")
        return 1
    print(f"check_dump: {a.world} ranks, {stats['tensors']} tensors, {stats['bytes']} bytes identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())

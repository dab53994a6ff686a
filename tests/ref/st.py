"""Minimal safetensors reader/writer for the refit reference checker (SPEC §6).

Independent of the `safetensors` package: numpy only (plus ml_dtypes for the
bf16 / fp8 element types).

File layout (SPEC §6): 8-byte little-endian u64 header length N, then N bytes
of UTF-8 JSON starting with '{' (may be padded with spaces), then the data
buffer.  Header entries are {"dtype", "shape", "data_offsets": [begin, end)}
relative to the buffer; an optional "__metadata__" maps string -> string.

A valid file (SPEC §6): N <= 100,000,000; no duplicate names;
end - begin == nelem * dtype_size; the tensors sorted by offset tile the buffer
from 0 with no holes, and the buffer ends at end of file.  Every violation is
reported as a `SafetensorsError` naming the file and a byte offset.
"""

import json
import mmap
import os
import struct

import ml_dtypes
import numpy as np

MAX_HEADER = 100_000_000  # SPEC §6: N <= 100,000,000

# safetensors dtype string -> numpy dtype (all little-endian).
DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype("<u1"),
    "I8": np.dtype("<i1"),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
    "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
    "F64": np.dtype("<f8"),
}


class SafetensorsError(Exception):
    """A file that breaks the SPEC §6 rules; message names file and byte offset."""

    def __init__(self, path, offset, reason):
        super().__init__(f"{path}: byte {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


def dtype_name(arr):
    """safetensors dtype string of a numpy array (inverse of DTYPES)."""
    for name, dt in DTYPES.items():
        if arr.dtype == dt:
            return name
    raise ValueError(f"no safetensors dtype for numpy dtype {arr.dtype}")


def _no_duplicates(path):
    """json object_pairs_hook that rejects duplicate keys (SPEC §6)."""

    def hook(pairs):
        out = {}
        for k, v in pairs:
            if k in out:
                raise SafetensorsError(path, 8, f"duplicate header key {k!r}")
            out[k] = v
        return out

    return hook


def _parse_header(path, raw):
    """Decode and validate the JSON header bytes; return (entries, metadata)."""
    if not raw or raw[:1] != b"{":
        raise SafetensorsError(path, 8, "header does not start with '{'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafetensorsError(path, 8 + e.start, "header is not valid UTF-8")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates(path))
    except json.JSONDecodeError as e:
        raise SafetensorsError(path, 8 + e.pos, f"header JSON: {e.msg}")
    if not isinstance(obj, dict):
        raise SafetensorsError(path, 8, "header is not a JSON object")
    meta = obj.pop("__metadata__", None)
    if meta is None:
        meta = {}
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise SafetensorsError(path, 8, "__metadata__ is not a string->string map")
    entries = {name: _check_entry(path, name, e) for name, e in obj.items()}
    return entries, meta


def _check_entry(path, name, e):
    """Validate one header entry: dtype known, shape ints >= 0, offsets sized."""
    if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
        raise SafetensorsError(path, 8, f"tensor {name!r}: entry needs exactly dtype, shape, data_offsets")
    dt, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
    if dt not in DTYPES:
        raise SafetensorsError(path, 8, f"tensor {name!r}: unknown dtype {dt!r}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise SafetensorsError(path, 8, f"tensor {name!r}: bad shape {shape!r}")
    if (
        not isinstance(offs, list)
        or len(offs) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offs)
        or offs[0] > offs[1]
    ):
        raise SafetensorsError(path, 8, f"tensor {name!r}: bad data_offsets {offs!r}")
    nelem = 1
    for d in shape:
        nelem *= d
    if offs[1] - offs[0] != nelem * DTYPES[dt].itemsize:
        raise SafetensorsError(
            path, 8, f"tensor {name!r}: data_offsets span {offs[1] - offs[0]} bytes, "
            f"shape {shape} of {dt} needs {nelem * DTYPES[dt].itemsize}")
    return {"dtype": dt, "shape": tuple(shape), "begin": offs[0], "end": offs[1]}


def _check_tiling(path, entries, data_start, buf_len):
    """Sorted by offset, tensors tile [0, buf_len) with no hole or overlap (SPEC §6)."""
    pos = 0
    for name, e in sorted(entries.items(), key=lambda kv: (kv[1]["begin"], kv[1]["end"])):
        if e["begin"] != pos:
            what = "hole" if e["begin"] > pos else "overlap"
            raise SafetensorsError(path, data_start + pos, f"{what} before tensor {name!r} (begins at buffer offset {e['begin']}, expected {pos})")
        pos = e["end"]
    if pos != buf_len:
        raise SafetensorsError(path, data_start + pos, f"data buffer is {buf_len} bytes but tensors end at {pos}")


class File:
    """A validated, memory-mapped safetensors file.

    Attributes: path, metadata (dict str->str), entries (name -> dict with
    dtype, shape, begin, end), data_start (file offset of the buffer).
    """

    def __init__(self, path):
        self.path = path
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise SafetensorsError(path, 0, f"file is {size} bytes, shorter than the 8-byte header length")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER:
                raise SafetensorsError(path, 0, f"header length {n} exceeds {MAX_HEADER}")
            if 8 + n > size:
                raise SafetensorsError(path, 0, f"header length {n} runs past end of file ({size} bytes)")
            raw = f.read(n)
        self.entries, self.metadata = _parse_header(path, raw)
        self.data_start = 8 + n
        _check_tiling(path, self.entries, self.data_start, size - self.data_start)
        self._mm = None
        if size > self.data_start:
            with open(path, "rb") as f:
                self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def names(self):
        return list(self.entries)

    def raw(self, name):
        """The tensor's bytes as a read-only uint8 array (no copy)."""
        e = self.entries[name]
        if e["end"] == e["begin"]:
            return np.zeros(0, np.uint8)
        return np.frombuffer(self._mm, np.uint8, e["end"] - e["begin"], self.data_start + e["begin"])

    def tensor(self, name):
        """The tensor as a numpy array of its dtype and shape (read-only view)."""
        e = self.entries[name]
        return self.raw(name).view(DTYPES[e["dtype"]]).reshape(e["shape"])


def load(path):
    """Open and validate a safetensors file (SPEC §6)."""
    return File(path)


def save(path, tensors, metadata=None):
    """Write `tensors` (name -> numpy array, in dict order) as safetensors (SPEC §6)."""
    save_raw(path, {n: (dtype_name(a), a.shape, a) for n, a in tensors.items()}, metadata)


def save_raw(path, tensors, metadata=None):
    """Write name -> (dtype string, shape, array whose bytes are the data).

    Tensors are laid out in dict order; the header is padded with spaces so
    the data buffer starts on an 8-byte boundary (SPEC §6 allows the padding).
    """
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    pos = 0
    blobs = []
    for name, (dt, shape, arr) in tensors.items():
        raw = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
        nelem = int(np.prod(shape, dtype=np.int64))
        if raw.size != nelem * DTYPES[dt].itemsize:
            raise ValueError(f"{name}: {raw.size} bytes for {dt} {list(shape)}")
        header[name] = {"dtype": dt, "shape": [int(d) for d in shape], "data_offsets": [pos, pos + raw.size]}
        pos += raw.size
        blobs.append(raw)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for raw in blobs:
            f.write(raw.tobytes())

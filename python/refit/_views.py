"""Zero-copy views of refit's memory, and what a caller's tensor is.

Host backend: numpy arrays over the param's bytes (bf16 and fp8 as ml_dtypes'
bfloat16 / float8_e4m3fn when ml_dtypes is installed, else as uint16 /
uint8 raw storage); .torch() reinterprets them without a copy. cuda backend:
an object with __cuda_array_interface__ (v3; raw uint storage, since the
interface has no bf16/fp8 type string), and .torch() / the default view is
torch.as_tensor over it, then .view(dtype) to the real type.
"""
import ctypes

import numpy as np

from . import _lib

try:
    import ml_dtypes
except ImportError:  # raw storage then
    ml_dtypes = None

_ITEMSIZE = {_lib.DTYPE_BF16: 2, _lib.DTYPE_F8_E4M3: 1, _lib.DTYPE_F32: 4, _lib.DTYPE_F16: 2}
_RAW = {_lib.DTYPE_BF16: np.uint16, _lib.DTYPE_F8_E4M3: np.uint8, _lib.DTYPE_F32: np.float32,
        _lib.DTYPE_F16: np.float16}


def numpy_dtypes(dtype):
    """numpy dtypes a host tensor of refit dtype `dtype` may have (first: the view's)."""
    out = []
    if ml_dtypes is not None and dtype == _lib.DTYPE_BF16:
        out.append(np.dtype(ml_dtypes.bfloat16))
    if ml_dtypes is not None and dtype == _lib.DTYPE_F8_E4M3:
        out.append(np.dtype(ml_dtypes.float8_e4m3fn))
    out.append(np.dtype(_RAW[dtype]))
    return out


def torch_dtype(torch, dtype):
    return {_lib.DTYPE_BF16: torch.bfloat16, _lib.DTYPE_F8_E4M3: torch.float8_e4m3fn, _lib.DTYPE_F32: torch.float32,
            _lib.DTYPE_F16: torch.float16}[dtype]


def host_array(ptr, dtype, shape):
    n = int(np.prod(shape)) if shape else 1
    raw = (ctypes.c_uint8 * (n * _ITEMSIZE[dtype])).from_address(ptr)
    return np.frombuffer(raw, dtype=numpy_dtypes(dtype)[0]).reshape(shape)


class CudaArray:
    """Device memory refit owns, for any __cuda_array_interface__ consumer."""

    def __init__(self, ptr, dtype, shape):
        self.ptr, self.dtype, self.shape = ptr, dtype, tuple(shape)

    @property
    def __cuda_array_interface__(self):
        typestr = np.dtype(_RAW[self.dtype]).str
        return {"shape": self.shape, "typestr": typestr, "data": (self.ptr, False), "version": 3, "strides": None,
                "stream": None}

    def torch(self):
        import torch
        return torch.as_tensor(self, device="cuda").view(torch_dtype(torch, self.dtype))


def view(backend, ptr, dtype, shape):
    """The default view: numpy on host; torch (else the raw CudaArray) on cuda."""
    if not ptr:
        return None
    if backend != "cuda":
        return host_array(ptr, dtype, shape)
    arr = CudaArray(ptr, dtype, shape)
    try:
        return arr.torch()
    except ImportError:
        return arr


def as_torch(backend, ptr, dtype, shape):
    import torch
    if not ptr:
        return None
    if backend == "cuda":
        return CudaArray(ptr, dtype, shape).torch()
    a = host_array(ptr, dtype, shape)
    return torch.from_numpy(a.view(_RAW[dtype]) if a.dtype != _RAW[dtype] else a).view(torch_dtype(torch, dtype))


# ---- a caller's tensor: torch.Tensor or numpy.ndarray ----------------------
class Described:
    """What bind and stage need to know of a caller's tensor."""

    def __init__(self, kind, dtype_name, shape, contiguous, device, ptr, nbytes):
        self.kind, self.dtype_name, self.shape, self.contiguous = kind, dtype_name, shape, contiguous
        self.device, self.ptr, self.nbytes = device, ptr, nbytes


def describe(t):
    """Described for a torch tensor or a numpy array; None for anything else."""
    if isinstance(t, np.ndarray):
        return Described("numpy", str(t.dtype), tuple(t.shape), bool(t.flags.c_contiguous), "cpu",
                         t.ctypes.data, t.nbytes)
    mod = type(t).__module__
    if mod.startswith("torch") and hasattr(t, "data_ptr"):
        return Described("torch", str(t.dtype).replace("torch.", ""), tuple(t.shape), bool(t.is_contiguous()),
                         str(t.device), t.data_ptr(), t.numel() * t.element_size())
    return None


def refit_dtype_of(d):
    """refit dtype of a Described (sources: bf16, f16, f32), else None."""
    return {"bfloat16": _lib.DTYPE_BF16, "float16": _lib.DTYPE_F16, "float32": _lib.DTYPE_F32}.get(d.dtype_name)


def accepted_dtype_names(kind, dtype):
    if kind == "torch":
        return [_lib.DTYPE_NAMES[dtype]]
    return [str(d) for d in numpy_dtypes(dtype)]

"""A mapping {checkpoint name: tensor} as a refit_source (issue 11's memory kinds)."""
import ctypes

from . import _lib, _views


def memory_source(ctx, tensors, every_rank, config_dir):
    """(refit_source, objects to keep alive during the call). ROOT_MEMORY:
    rank 0's tensors, the other ranks pass none whatever their mapping holds;
    every_rank: RANK_MEMORY, each rank its own."""
    kind = _lib.SOURCE_RANK_MEMORY if every_rank else _lib.SOURCE_ROOT_MEMORY
    mine = dict(tensors) if every_rank or ctx.rank == 0 else {}
    arr = (_lib.Tensor * max(len(mine), 1))()
    keep = [arr, mine]
    for i, (name, t) in enumerate(mine.items()):
        arr[i] = _tensor(ctx, name, t, keep)
    src = _lib.Source()
    ctx._lib.refit_source_init(ctypes.byref(src), ctypes.sizeof(src))
    src.kind = kind
    src.tensors = ctypes.cast(arr, ctypes.POINTER(_lib.Tensor)) if mine else None
    src.n_tensors = len(mine)
    if config_dir is not None:
        cfg = str(config_dir).encode()
        keep.append(cfg)
        src.config_dir = cfg
    return src, keep


def _tensor(ctx, name, t, keep):
    d = _views.describe(t)
    where = "source tensor %s" % name
    if d is None:
        raise ctx._invalid("refit_stage_source", "%s is a %s, not a torch.Tensor or numpy.ndarray"
                           % (where, type(t).__name__))
    dtype = _views.refit_dtype_of(d)
    if dtype is None:
        raise ctx._invalid("refit_stage_source", "%s has dtype %s (bfloat16, float16 or float32 only)"
                           % (where, d.dtype_name))
    if not 1 <= len(d.shape) <= 3:
        raise ctx._invalid("refit_stage_source", "%s has %d dims (1 to 3)" % (where, len(d.shape)))
    if not d.contiguous:
        raise ctx._invalid("refit_stage_source", "%s is not contiguous (row-major)" % where)
    c_name = name.encode()
    keep.append(c_name)
    c = _lib.Tensor(name=c_name, dtype=dtype, ndim=len(d.shape), data=d.ptr,
                    where=_lib.MEM_DEVICE if d.device.startswith("cuda") else _lib.MEM_HOST)
    for i, n in enumerate(d.shape):
        c.shape[i] = n
    return c

"""refit.Context: one refit_ctx of this rank, the calls of include/refit.h.

Collective methods (open, stage, commit, abandon, load, dump, close) must be
called by every rank of the communicator in the same order, as the C calls.
"""
import ctypes
import os
from collections.abc import Mapping

from . import _lib, _mpi, _views, errors

_lib_handle = None


def _init(lib, mpi):
    global _lib_handle
    _lib_handle = (lib, mpi)


class ParamInfo:
    """One param of this rank (refit_param_info): name, dtype, shape, layout,
    scale_name/scale_dtype/scale_shape (None when not quantized), bound,
    generation, and zero-copy views of the live bytes: .data and .scales
    (None until the first stage, load or bind), .torch() / .scales_torch()."""

    def __init__(self, ctx, index, c):
        self._backend = ctx.backend
        self.index = index
        self.name = c.name.decode()
        self.dtype_code = c.dtype
        self.dtype = _lib.DTYPE_NAMES[c.dtype]
        self.shape = tuple(c.shape[i] for i in range(c.ndim))
        self.layout = c.layout.decode()
        self.scale_name = c.scale_name.decode() if c.scale_name else None
        self.scale_dtype_code = c.scale_dtype
        self.scale_dtype = _lib.DTYPE_NAMES.get(c.scale_dtype)
        self.scale_shape = tuple(c.scale_shape[i] for i in range(c.scale_ndim)) if c.scale_name else None
        self.data_ptr, self.scales_ptr = c.data or 0, c.scales or 0
        self.data_bytes, self.scale_bytes = c.data_bytes, c.scale_bytes
        self.generation, self.bound = c.generation, bool(c.bound)

    @property
    def data(self):
        return _views.view(self._backend, self.data_ptr, self.dtype_code, self.shape)

    @property
    def scales(self):
        return _views.view(self._backend, self.scales_ptr, self.scale_dtype_code, self.scale_shape)

    def torch(self):
        return _views.as_torch(self._backend, self.data_ptr, self.dtype_code, self.shape)

    def scales_torch(self):
        return _views.as_torch(self._backend, self.scales_ptr, self.scale_dtype_code, self.scale_shape)

    def __repr__(self):
        q = ", scales %s %s" % (self.scale_name, list(self.scale_shape)) if self.scale_name else ""
        return "ParamInfo(%s, %s %s, %s%s)" % (self.name, self.dtype, list(self.shape), self.layout, q)


class Context:
    """refit.Context(tp=0, quant="fp8-tensor", backend="auto", device=-1,
    comm=None, timeout=60.0, ...): refit_create over `comm` (None =
    MPI_COMM_WORLD, MPI initialised if nobody has; or an mpi4py
    communicator). Collective. A context manager: leaving the block
    destroys the context (collective too). The keywords are refit_options'
    fields (include/refit.h), enums by name: backend auto|host|cuda,
    commit_mode shadow|inplace, transfer scatter|bcast, moe tp|ep,
    on_timeout return|abort, readers root|all; timeout is timeout_s."""

    def __init__(self, tp=0, quant="fp8-tensor", backend="auto", device=-1, comm=None, timeout=60.0,
                 bucket_bytes=0, verify=False, on_timeout="return", readers="root", commit_mode="shadow",
                 transfer="scatter", moe="tp"):
        self._lib, self._mpi = _lib_handle
        self._ptr = None
        self._bound = []  # the caller's bound tensors, kept alive as long as refit writes them
        comm_ptr, self._comm_keep = _mpi.comm_pointer(self._mpi, comm)
        opt = self._options(tp, quant, device, timeout, bucket_bytes, verify,
                            dict(backend=backend, on_timeout=on_timeout, readers=readers, commit_mode=commit_mode,
                                 transfer=transfer, moe=moe))
        out = ctypes.c_void_p()
        st = self._lib.refit_create(comm_ptr, ctypes.byref(opt), ctypes.byref(out))
        if st != 0:
            self._raise("refit_create", st, self._lib.refit_last_error(None))
        self._ptr = out
        self.rank, self.world_size = self._comm_rank_size(comm)
        self.tp = opt.tp or self.world_size
        self.quant = quant
        self.tp_rank = self.rank % self.tp  # SPEC §1: tp_rank = rank % tp
        _mpi.track(self)

    _ENUMS = {"backend": _lib.BACKENDS, "on_timeout": _lib.ON_TIMEOUT, "readers": _lib.READERS,
              "commit_mode": _lib.COMMIT_MODES, "transfer": _lib.TRANSFERS, "moe": _lib.MOE_MODES}

    def _options(self, tp, quant, device, timeout, bucket_bytes, verify, enums):
        """refit_options from the library's defaults (refit_options_init with
        ctypes' sizeof), then the caller's values; enums by name."""
        opt = _lib.Options()
        self._lib.refit_options_init(ctypes.byref(opt), ctypes.sizeof(opt))
        for keyword, value in enums.items():
            table = self._ENUMS[keyword]
            if value not in table:
                raise errors.InvalidArgument("refit.Context", 1, "invalid argument",
                                             "%s %r is not one of %s" % (keyword, value, ", ".join(table)))
            setattr(opt, "commit" if keyword == "commit_mode" else keyword, table[value])
        self._quant = quant.encode()  # refit_create copies it; kept until then
        opt.tp, opt.quant, opt.device = tp, self._quant, device
        opt.timeout_s, opt.bucket_bytes, opt.verify = timeout, bucket_bytes, int(bool(verify))
        return opt

    def _comm_rank_size(self, comm):
        if comm is not None:
            return comm.Get_rank(), comm.Get_size()
        rank, size = ctypes.c_int(), ctypes.c_int()
        handle = self._comm_keep  # MPI_COMM_WORLD, by value (its C type: see _mpi._world_handle)
        self._mpi.MPI_Comm_rank.argtypes = [type(handle), ctypes.POINTER(ctypes.c_int)]
        self._mpi.MPI_Comm_size.argtypes = [type(handle), ctypes.POINTER(ctypes.c_int)]
        self._mpi.MPI_Comm_rank(handle, ctypes.byref(rank))
        self._mpi.MPI_Comm_size(handle, ctypes.byref(size))
        return rank.value, size.value

    # ---- errors -------------------------------------------------------------
    def _raise(self, call, st, cause_bytes):
        name = self._lib.refit_status_str(st).decode()
        raise errors.from_status(call, st, name, (cause_bytes or b"").decode(errors="replace"))

    def _check(self, call, st):
        if st != 0:
            self._raise(call, st, self._lib.refit_last_error(self._need()))

    def _need(self):
        if self._ptr is None:
            raise errors.StateError("refit.Context", 12, "state error", "the context is closed")
        return self._ptr

    def _invalid(self, call, msg):
        return errors.InvalidArgument(call, 1, "invalid argument", "rank %d: %s" % (self.rank, msg))

    # ---- life ---------------------------------------------------------------
    def close(self):
        """refit_destroy (collective); the views and bound tensors' use by refit end here."""
        if self._ptr is not None:
            self._lib.refit_destroy(self._ptr)
            self._ptr = None
            self._bound = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- accessors (local) --------------------------------------------------
    @property
    def generation(self):
        return self._lib.refit_generation(self._need())

    @property
    def model_valid(self):
        return bool(self._lib.refit_model_valid(self._need()))

    @property
    def backend(self):
        return self._lib.refit_backend_name(self._need()).decode()

    @property
    def last_error(self):
        return self._lib.refit_last_error(self._need()).decode(errors="replace")

    def last_stats(self):
        s = _lib.LoadStats()
        self._check("refit_last_stats", self._lib.refit_last_stats(self._need(), ctypes.byref(s)))
        return {"generation": s.generation, "status": self._lib.refit_status_str(s.status).decode(),
                "seconds": dict(zip(_lib.PHASES, s.seconds)), "bytes": dict(zip(_lib.PHASES, s.bytes)),
                "total_seconds": s.total_seconds, "peak_model_bytes": s.peak_model_bytes,
                "stage_seconds": s.stage_seconds, "pause_seconds": s.pause_seconds}

    def params(self):
        """Every param of this rank, in snapshot order (empty before open/load)."""
        n = self._lib.refit_param_count(self._need())
        return [self._info(i) for i in range(n)]

    def param(self, name):
        i = ctypes.c_size_t()
        self._check("refit_param_find", self._lib.refit_param_find(self._need(), name.encode(), ctypes.byref(i)))
        return self._info(i.value)

    def _info(self, i):
        c = _lib.ParamInfo()
        self._check("refit_param_info_get", self._lib.refit_param_info_get(self._need(), i, ctypes.byref(c)))
        return ParamInfo(self, i, c)

    def digest(self, name):
        out = ctypes.c_uint64()
        self._check("refit_param_digest",
                    self._lib.refit_param_digest(self._need(), 0, name.encode(), None, ctypes.byref(out)))
        return out.value

    # ---- collective calls ---------------------------------------------------
    def open(self, path):
        self._check("refit_open", self._lib.refit_open(self._need(), os.fsencode(path)))

    def stage(self, source, every_rank=False, config_dir=None):
        """Stage the next generation into the shadow (live is untouched).
        source: a checkpoint directory (str or PathLike), or a mapping
        {checkpoint name: tensor} (bf16/f16/f32, contiguous): rank 0's tensors,
        the other ranks pass any mapping (e.g. {}), REFIT_SOURCE_ROOT_MEMORY;
        every_rank=True: every rank passes every tensor (RANK_MEMORY)."""
        if isinstance(source, Mapping):
            self._from_memory("refit_stage_source", source, every_rank, config_dir)
        else:
            self._check("refit_stage", self._lib.refit_stage(self._need(), os.fsencode(source)))

    def load(self, source, every_rank=False, config_dir=None):
        """stage + commit(None), from a directory or a mapping as stage()."""
        if isinstance(source, Mapping):
            self._from_memory("refit_load_source", source, every_rank, config_dir)
        else:
            self._check("refit_load", self._lib.refit_load(self._need(), os.fsencode(source)))

    def commit(self, stream=None):
        """The pause: shadow -> live on every rank. stream: a torch.cuda.Stream,
        a raw cudaStream_t (int) or None (see refit_commit)."""
        handle = getattr(stream, "cuda_stream", stream)
        self._check("refit_commit", self._lib.refit_commit(self._need(), ctypes.c_void_p(handle or None)))

    def abandon(self):
        self._check("refit_abandon", self._lib.refit_abandon(self._need()))

    def dump(self, path):
        self._check("refit_dump", self._lib.refit_dump(self._need(), os.fsencode(path)))

    # ---- bind (local) ---------------------------------------------------------
    def bind(self, tensors):
        """Make the caller's tensors the live storage of params:
        {vllm name: data tensor, scale name: scales tensor}. Every entry is
        checked (name, dtype, shape, contiguity, device) before any is bound;
        a quantized param needs its scales in the same mapping."""
        from .bind import plan_binds
        plan = plan_binds(self, tensors)
        for info, data, scales in plan:
            st = self._lib.refit_bind(self._need(), info.index, data.ptr, data.nbytes,
                                      scales.ptr if scales else None, scales.nbytes if scales else 0)
            self._check("refit_bind", st)
        self._bound.append(dict(tensors))

    def _from_memory(self, call, tensors, every_rank, config_dir):
        from .memory_source import memory_source
        if not _lib.has(self._lib, "refit_stage_source"):
            raise errors.UnsupportedError(call, 5, "unsupported",
                                          "this librefit.so has no sources API (issue 11): stage a directory")
        src, keep = memory_source(self, tensors, every_rank, config_dir)
        fn = getattr(self._lib, call)
        st = fn(self._need(), ctypes.byref(src))
        del keep  # the tensors only had to stay valid until the call returned
        self._check(call, st)

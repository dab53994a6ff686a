"""refit from Python: a thin ctypes layer over librefit.so (include/refit.h).

    import refit
    with refit.Context(tp=2, quant="fp8-row") as ctx:   # MPI_COMM_WORLD
        ctx.open(ckpt); ctx.bind(engine_params); ctx.load(ckpt)
        ...; ctx.stage(new_ckpt); ctx.commit()

Importing needs librefit.so and the MPI library it links (no compiler);
where the library is looked for: refit._lib (REFIT_LIBRARY first).
"""
from . import _lib

try:
    _LIB, _MPI, LIBRARY_PATH = _lib.load()
except _lib.LibraryNotFound as e:
    raise ImportError(str(e)) from None

from . import context as _context  # noqa: E402
from .context import Context, ParamInfo  # noqa: E402,F401
from .errors import (BY_STATUS, CommError, DeviceError, Error, FormatError, InternalError,  # noqa: E402,F401
                     InvalidArgument, IOFailure, MismatchError, NumericError, OutOfMemory, RemoteError,
                     StateError, Timeout, UnsupportedError)

_context._init(_LIB, _MPI)
__version__ = _LIB.refit_version().decode()


def library_version():
    """refit_version() of the loaded librefit.so."""
    return __version__

"""The MPI communicator refit_create needs, through the MPI standard's C API only.

refit_create takes an MPI_Comm* as a void*. Two ways to get one:
  - an mpi4py communicator: MPI._addressof(comm) is the address of its MPI_Comm
    handle (mpi4py's documented interop), passed as is;
  - None: MPI_COMM_WORLD. The C constant is a macro (a pointer to a library
    object in Open MPI, an int in MPICH), so it is rebuilt from the Fortran
    handle of MPI_COMM_WORLD with MPI_Comm_f2c, which the standard provides for
    exactly that. The Fortran value of MPI_COMM_WORLD is a published constant
    of each implementation's mpif.h (Open MPI: 0; MPICH and its derivatives:
    0x44000000); which one runs is read from MPI_Get_library_version.
MPI is initialised here (MPI_Init_thread, MPI_THREAD_MULTIPLE requested) only
when nobody has (MPI_Initialized), and then finalised at exit, after the live
contexts are destroyed.
"""
import atexit
import ctypes
import weakref

MPI_THREAD_MULTIPLE = 3  # the same value in Open MPI and MPICH (mpi.h)
_MAX_LIBRARY_VERSION_STRING = 8192  # >= MPI_MAX_LIBRARY_VERSION_STRING of both

_state = {"initialised_by_us": False, "world": None}
_live = weakref.WeakSet()  # contexts to destroy before MPI_Finalize


def library_version(mpi):
    buf = ctypes.create_string_buffer(_MAX_LIBRARY_VERSION_STRING)
    n = ctypes.c_int(0)
    if mpi.MPI_Get_library_version(buf, ctypes.byref(n)) != 0:
        return ""
    return buf.value.decode(errors="replace")


def initialized(mpi):
    flag = ctypes.c_int(0)
    mpi.MPI_Initialized(ctypes.byref(flag))
    return bool(flag.value)


def finalized(mpi):
    flag = ctypes.c_int(0)
    mpi.MPI_Finalized(ctypes.byref(flag))
    return bool(flag.value)


def ensure_initialized(mpi):
    if finalized(mpi):
        raise RuntimeError("refit: MPI was already finalized in this process")
    if initialized(mpi):
        return
    provided = ctypes.c_int(0)
    rc = mpi.MPI_Init_thread(None, None, MPI_THREAD_MULTIPLE, ctypes.byref(provided))
    if rc != 0:
        raise RuntimeError("refit: MPI_Init_thread failed (error %d)" % rc)
    _state["initialised_by_us"] = True
    atexit.register(_finalize, mpi)


def _finalize(mpi):
    for ctx in list(_live):
        ctx.close()
    if not finalized(mpi):
        mpi.MPI_Finalize()


def _world_handle(mpi):
    """A ctypes buffer holding MPI_COMM_WORLD (kept for the process's life)."""
    if _state["world"] is not None:
        return _state["world"]
    version = library_version(mpi)
    ctype, fortran = _flavour(mpi)
    f2c = mpi.MPI_Comm_f2c
    f2c.restype, f2c.argtypes = ctype, [ctypes.c_int]
    handle = ctype(f2c(fortran["MPI_COMM_WORLD"]))
    _state["world"] = handle
    return handle


# C handle type and Fortran values (each implementation's mpif.h) of the
# predefined handles used here.
_OPEN_MPI = (ctypes.c_void_p, {"MPI_COMM_WORLD": 0, "MPI_BYTE": 1})
_MPICH = (ctypes.c_int, {"MPI_COMM_WORLD": 0x44000000, "MPI_BYTE": 0x4C00010D})


def _flavour(mpi):
    version = library_version(mpi)
    if "Open MPI" in version:
        return _OPEN_MPI
    if "MPICH" in version or "Intel(R) MPI" in version or "MVAPICH" in version:
        return _MPICH
    first = version.splitlines()[0] if version else "?"
    raise RuntimeError("refit: unknown MPI implementation (%r): pass an mpi4py communicator as comm=" % first)


def bcast_bytes(mpi, comm, data, size):
    """Rank 0's `data` (bytes, at most `size`) on every rank of `comm`
    (None = MPI_COMM_WORLD, or an mpi4py communicator): for the engine's
    rendezvous address."""
    if comm is not None:
        return comm.bcast(data, root=0)
    ctype, fortran = _flavour(mpi)
    f2c = mpi.MPI_Type_f2c
    f2c.restype, f2c.argtypes = ctype, [ctypes.c_int]
    byte = ctype(f2c(fortran["MPI_BYTE"]))
    buf = ctypes.create_string_buffer(data or b"", size)
    mpi.MPI_Bcast.argtypes = [ctypes.c_void_p, ctypes.c_int, ctype, ctypes.c_int, ctype]
    rc = mpi.MPI_Bcast(buf, size, byte, 0, _world_handle(mpi))
    if rc != 0:
        raise RuntimeError("refit: MPI_Bcast failed (error %d)" % rc)
    return buf.raw.rstrip(b"\0")


def comm_pointer(mpi, comm):
    """(void* to pass to refit_create, object to keep alive while it is used)."""
    ensure_initialized(mpi)
    if comm is None:
        h = _world_handle(mpi)
        return ctypes.addressof(h), h
    try:
        from mpi4py import MPI  # noqa: only when the caller passes an mpi4py communicator
    except ImportError:
        raise TypeError("refit: comm must be None or an mpi4py communicator (mpi4py is not installed)")
    if not isinstance(comm, MPI.Comm):
        raise TypeError("refit: comm must be None or an mpi4py communicator, not %s" % type(comm).__name__)
    return MPI._addressof(comm), comm


def track(ctx):
    _live.add(ctx)

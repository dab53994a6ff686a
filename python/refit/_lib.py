"""Finding and loading librefit.so, and its C types (ctypes mirrors of refit.h).

Where the library is looked for, first hit wins (README "Use from Python"):
  1. $REFIT_LIBRARY: the path of a librefit.so file;
  2. next to the package: refit/lib/librefit.so* (pip install ./python copies
     the clone's build/librefit.so there when it exists);
  3. the build tree of the clone this package sits in: <clone>/build/librefit.so*
     (running from the source tree, PYTHONPATH=python);
  4. pkg-config's libdir of refit (an installed refit, `cmake --install`);
  5. the system loader: librefit.so.MAJOR.
The structures below copy refit.h field by field, in order: ctypes lays them
out with the C compiler's rules, and tests/python/check_layout.py compares
every size and offset with what the compiler says (tests/python/layout_probe.c).
"""
import ctypes
import glob
import os
import subprocess

SOVERSION = 0  # librefit.so.MAJOR (CMake project VERSION's major)

_HERE = os.path.dirname(os.path.abspath(__file__))


class LibraryNotFound(ImportError):
    pass


def _candidates():
    env = os.environ.get("REFIT_LIBRARY")
    if env:
        # An explicit choice is the only one tried: silently loading another
        # library would hide a typo.
        yield "REFIT_LIBRARY", env
        return
    for d in (os.path.join(_HERE, "lib"), os.path.join(_HERE, "..", "..", "build")):
        for path in sorted(glob.glob(os.path.join(d, "librefit.so*")), key=len):
            yield "package" if d.endswith("lib") else "build tree", os.path.normpath(path)
    libdir = _pkg_config_libdir()
    if libdir:
        yield "pkg-config", os.path.join(libdir, "librefit.so.%d" % SOVERSION)
    yield "system loader", "librefit.so.%d" % SOVERSION


def _pkg_config_libdir():
    try:
        out = subprocess.run(["pkg-config", "--variable=libdir", "refit"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _loaded_mpi_path():
    """The libmpi the dynamic loader mapped for librefit (the very MPI it
    calls), from /proc/self/maps; None when it cannot tell."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rsplit(None, 1)[-1] if "/" in line else ""
                base = os.path.basename(path)
                if base.startswith("libmpi.so") or base.startswith("libmpich.so"):
                    return path
    except OSError:
        pass
    return None


def _torch_first():
    """Import torch, when installed, before librefit.so is loaded. A CUDA
    build of refit links libnccl.so.2 / libcudart by soname; loaded first
    (from the system), they would be the ones torch gets too (the loader
    reuses an object already mapped under the same soname) and an older
    system NCCL breaks torch's import (undefined symbol). Loaded after torch,
    refit uses torch's copies (NCCL keeps its ABI within 2.x)."""
    import importlib.util
    if os.environ.get("REFIT_NO_TORCH") == "1" or importlib.util.find_spec("torch") is None:
        return
    try:
        import torch  # noqa: F401
    except Exception:  # a broken torch is the caller's to meet when it imports it; refit works without
        pass


def load():
    """(librefit CDLL, libmpi CDLL, where). Raises LibraryNotFound with every
    place tried and why each failed."""
    _torch_first()
    tried = []
    for where, path in _candidates():
        try:
            lib = ctypes.CDLL(path)  # RTLD_LOCAL: refit's own symbols stay out of the global scope
        except OSError as e:
            why = str(e)
            if "libmpi" in why:  # the library is there, its MPI is not
                why += " (librefit.so needs the MPI library it was built with: install its runtime, e.g. Open MPI)"
            tried.append("%s %s: %s" % (where, path, why))
            continue
        mpi_path = _loaded_mpi_path()
        if mpi_path is None:
            raise LibraryNotFound("refit: %s loaded but no MPI library is mapped in this process: "
                                  "librefit.so must link libmpi (install Open MPI or MPICH)" % path)
        # RTLD_GLOBAL (the loaded libmpi promoted): Open MPI loads its components
        # with dlopen and they resolve libmpi's symbols globally (mpi4py does so too).
        mpi = ctypes.CDLL(mpi_path, mode=ctypes.RTLD_GLOBAL)
        _declare(lib)
        return lib, mpi, path
    raise LibraryNotFound("refit: cannot load librefit.so (build refit and set REFIT_LIBRARY, or install it); "
                          "tried:\n  " + "\n  ".join(tried))


# ---- refit.h, field by field ------------------------------------------------
PHASE_COUNT = 6
PHASES = ("open", "snapshot", "restore", "transfer", "quantize", "commit")

DTYPE_BF16, DTYPE_F8_E4M3, DTYPE_F32, DTYPE_F16 = 1, 2, 3, 4
DTYPE_NAMES = {DTYPE_BF16: "bfloat16", DTYPE_F8_E4M3: "float8_e4m3fn", DTYPE_F32: "float32",
               DTYPE_F16: "float16"}
BACKENDS = {"auto": 0, "host": 1, "cuda": 2}
ON_TIMEOUT = {"return": 0, "abort": 1}
READERS = {"root": 0, "all": 1}
COMMIT_MODES = {"shadow": 0, "inplace": 1}
TRANSFERS = {"scatter": 0, "bcast": 1}
MOE_MODES = {"tp": 0, "ep": 1}
SOURCE_DIR, SOURCE_ROOT_MEMORY, SOURCE_RANK_MEMORY = 0, 1, 2
MEM_HOST, MEM_DEVICE = 0, 1

c_enum = ctypes.c_int  # every refit enum fits an int (C gives them int's size here)


class Options(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("tp", ctypes.c_int),
        ("quant", ctypes.c_char_p),
        ("backend", c_enum),
        ("bucket_bytes", ctypes.c_uint64),
        ("commit", c_enum),
        ("transfer", c_enum),
        ("moe", c_enum),
        ("timeout_s", ctypes.c_double),
        ("device", ctypes.c_int),
        ("verify", ctypes.c_int),
        ("on_timeout", ctypes.c_int),
        ("readers", ctypes.c_int),
    ]


class ParamInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", c_enum),
        ("ndim", ctypes.c_int),
        ("shape", ctypes.c_int64 * 3),
        ("layout", ctypes.c_char_p),
        ("scale_name", ctypes.c_char_p),
        ("scale_dtype", c_enum),
        ("scale_ndim", ctypes.c_int),
        ("scale_shape", ctypes.c_int64 * 3),
        ("data", ctypes.c_void_p),
        ("scales", ctypes.c_void_p),
        ("data_bytes", ctypes.c_uint64),
        ("scale_bytes", ctypes.c_uint64),
        ("generation", ctypes.c_int64),
        ("bound", ctypes.c_int),
    ]


class LoadStats(ctypes.Structure):
    _fields_ = [
        ("generation", ctypes.c_int64),
        ("status", c_enum),
        ("seconds", ctypes.c_double * PHASE_COUNT),
        ("bytes", ctypes.c_uint64 * PHASE_COUNT),
        ("total_seconds", ctypes.c_double),
        ("peak_model_bytes", ctypes.c_uint64),
        ("stage_seconds", ctypes.c_double),
        ("pause_seconds", ctypes.c_double),
    ]


class Tensor(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", c_enum),
        ("ndim", ctypes.c_int),
        ("shape", ctypes.c_int64 * 3),
        ("data", ctypes.c_void_p),
        ("where", c_enum),
    ]


class Source(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("kind", c_enum),
        ("dir", ctypes.c_char_p),
        ("readers", ctypes.c_int),
        ("tensors", ctypes.POINTER(Tensor)),
        ("n_tensors", ctypes.c_size_t),
        ("config_dir", ctypes.c_char_p),
    ]


LAYOUTS = {"refit_options": Options, "refit_param_info": ParamInfo, "refit_load_stats": LoadStats,
           "refit_tensor": Tensor, "refit_source": Source}

P = ctypes.POINTER
_SIGNATURES = {
    # name: (restype, argtypes)
    "refit_status_str": (ctypes.c_char_p, [c_enum]),
    "refit_version": (ctypes.c_char_p, []),
    "refit_options_init": (None, [P(Options), ctypes.c_size_t]),
    "refit_create": (c_enum, [ctypes.c_void_p, P(Options), P(ctypes.c_void_p)]),
    "refit_destroy": (None, [ctypes.c_void_p]),
    "refit_load": (c_enum, [ctypes.c_void_p, ctypes.c_char_p]),
    "refit_generation": (ctypes.c_int64, [ctypes.c_void_p]),
    "refit_model_valid": (ctypes.c_int, [ctypes.c_void_p]),
    "refit_backend_name": (ctypes.c_char_p, [ctypes.c_void_p]),
    "refit_last_error": (ctypes.c_char_p, [ctypes.c_void_p]),
    "refit_dump": (c_enum, [ctypes.c_void_p, ctypes.c_char_p]),
    "refit_last_stats": (c_enum, [ctypes.c_void_p, P(LoadStats)]),
    "refit_open": (c_enum, [ctypes.c_void_p, ctypes.c_char_p]),
    "refit_param_count": (ctypes.c_size_t, [ctypes.c_void_p]),
    "refit_param_find": (c_enum, [ctypes.c_void_p, ctypes.c_char_p, P(ctypes.c_size_t)]),
    "refit_param_info_get": (c_enum, [ctypes.c_void_p, ctypes.c_size_t, P(ParamInfo)]),
    "refit_bind": (c_enum, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                            ctypes.c_void_p, ctypes.c_size_t]),
    "refit_stage": (c_enum, [ctypes.c_void_p, ctypes.c_char_p]),
    "refit_commit": (c_enum, [ctypes.c_void_p, ctypes.c_void_p]),
    "refit_abandon": (c_enum, [ctypes.c_void_p]),
    "refit_param_digest": (c_enum, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, P(ctypes.c_char_p),
                                    P(ctypes.c_uint64)]),
    # issue 11 (sources): absent from libraries older than it (see has()).
    "refit_source_init": (None, [P(Source), ctypes.c_size_t]),
    "refit_stage_source": (c_enum, [ctypes.c_void_p, P(Source)]),
    "refit_load_source": (c_enum, [ctypes.c_void_p, P(Source)]),
}


def _declare(lib):
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype, fn.argtypes = res, args


def has(lib, name):
    """Whether this librefit exports `name` (the sources API came later)."""
    return getattr(lib, name, None) is not None

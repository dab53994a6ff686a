#!/usr/bin/env python3
"""The ctypes mirrors of refit.h (python/refit/_lib.py) against the C
compiler's layout (layout_probe.c's JSON): every struct's size and every
field's offset, and the field lists themselves (a field added to refit.h
changes the struct's sizeof: this fails until _lib.py and the probe follow). Then refit_options_init with ctypes' sizeof must
give the library's defaults (struct_size kept, tp 0, quant NULL = the
default, timeout 0, device -1).

usage: check_layout.py LAYOUT_PROBE
"""
import ctypes
import glob
import json
import os
import re
import subprocess
import sys

import refit
from refit import _lib


# docs/architecture.md "The Python package": the MPI calls python/refit may make.
MPI_ALLOWED = {"MPI_Initialized", "MPI_Finalized", "MPI_Init_thread", "MPI_Finalize", "MPI_Get_library_version",
               "MPI_Comm_f2c", "MPI_Type_f2c", "MPI_Comm_rank", "MPI_Comm_size", "MPI_Bcast"}


def check_calls():
    """The package calls only REFIT_API functions and the allowed MPI calls."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(src, "include", "refit.h")) as f:
        api = set(re.findall(r"REFIT_API[^;(]*?\b(refit_\w+)\s*\(", f.read()))
    code = ""
    for path in glob.glob(os.path.join(src, "python", "refit", "**", "*.py"), recursive=True):
        with open(path) as f:
            code += f.read()
    used_refit = set(_lib._SIGNATURES) | set(re.findall(r"_lib\.(refit_\w+)", code))
    used_mpi = set(re.findall(r"mpi\.(MPI_\w+)", code))  # calls go through the libmpi handle
    bad = sorted((used_refit - api) | (used_mpi - MPI_ALLOWED))
    print("%s: python/refit calls %d refit.h functions and %d MPI calls%s" % (
        "FAIL" if bad else "PASS", len(used_refit), len(used_mpi), ": not allowed: " + ", ".join(bad) if bad else ""))
    return len(bad)


def main():
    c = json.loads(subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout)
    fails = 0
    for name, cls in _lib.LAYOUTS.items():
        want = c[name]
        got = {f[0]: getattr(cls, f[0]).offset for f in cls._fields_}
        ok = ctypes.sizeof(cls) == want["sizeof"] and got == want["fields"]
        fails += not ok
        print("%s: %s sizeof %d (C %d), %d fields%s" % ("PASS" if ok else "FAIL", name, ctypes.sizeof(cls),
                                                     want["sizeof"], len(got), "" if ok else
                                                     ": ctypes %s, C %s" % (got, want["fields"])))
    opt = _lib.Options()
    opt.tp, opt.device = 77, 77
    refit._LIB.refit_options_init(ctypes.byref(opt), ctypes.sizeof(opt))
    ok = opt.struct_size == ctypes.sizeof(opt) and opt.tp == 0 and opt.device == -1
    fails += not ok
    print("%s: refit_options_init(ctypes sizeof %d): struct_size %d, tp %d, quant %r, device %d, timeout_s %g"
          % ("PASS" if ok else "FAIL", ctypes.sizeof(opt), opt.struct_size, opt.tp, opt.quant, opt.device,
             opt.timeout_s))
    fails += check_calls()
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()

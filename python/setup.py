"""pip install ./python: a pure-Python package; when the clone's build tree
holds librefit.so (cmake --build build), a copy goes into refit/lib/ so the
installed package finds it wherever the clone moves (refit/_lib.py's search
order). No compiler runs here or at import."""
import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def built_library():
    env = os.environ.get("REFIT_LIBRARY")
    if env and os.path.isfile(env):
        return env
    found = sorted(glob.glob(os.path.join(HERE, "..", "build", "librefit.so.*.*.*")))
    return found[-1] if found else None


class BuildPy(build_py):
    def run(self):
        super().run()
        lib = built_library()
        if lib is None:
            print("refit: no build/librefit.so in this clone: the package will look for an installed one")
            return
        dest = os.path.join(self.build_lib, "refit", "lib")
        os.makedirs(dest, exist_ok=True)
        # Under the soname (librefit.so.MAJOR): what the loader and refit._lib look for.
        shutil.copy2(os.path.realpath(lib), os.path.join(dest, "librefit.so.0"))
        print("refit: bundled %s" % os.path.realpath(lib))


setup(cmdclass={"build_py": BuildPy})

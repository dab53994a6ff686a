# Environment of the Python tests: the package from the source tree, the
# library CTest built, and, when that library was built with ASan, the ASan
# runtime preloaded (a sanitized librefit.so cannot be dlopen'ed into a
# Python that did not start with it) without leak checks (the interpreter
# keeps its objects at exit on purpose).
# usage: . env.sh LIBREFIT
export REFIT_LIBRARY=$1
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../python" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
asan=$(ldd "$REFIT_LIBRARY" 2>/dev/null | awk '/libasan/ {print $3}')
if [ -n "$asan" ]; then
  export LD_PRELOAD="$asan${LD_PRELOAD:+ $LD_PRELOAD}"
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
  RF_MPI_EXTRA="${RF_MPI_EXTRA:-} -x LD_PRELOAD -x ASAN_OPTIONS"
fi

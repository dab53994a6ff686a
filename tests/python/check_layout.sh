#!/usr/bin/env bash
# The ctypes layouts against the compiler's (check_layout.py), and import
# refit's message when the library is missing.
# usage: check_layout.sh LIBREFIT LAYOUT_PROBE
. "$(dirname "$0")/env.sh" "$1"
PYTHON=${PYTHON:-python3}
"$PYTHON" "$(dirname "$0")/check_layout.py" "$2" || exit 1
out=$(REFIT_LIBRARY=/nonexistent/librefit.so "$PYTHON" -c "import refit" 2>&1)
if [[ $out == *"ImportError: refit: cannot load librefit.so"*"REFIT_LIBRARY /nonexistent/librefit.so"* ]]; then
  echo "PASS: import refit without the library: ${out##*ImportError: }" | head -3
else
  echo "FAIL: import refit without the library said: $out"
  exit 1
fi

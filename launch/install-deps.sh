#!/usr/bin/env bash
# Installs what refit needs on Debian/Ubuntu: compiler, CMake, Open MPI,
# hwloc, jansson, zlib, xxHash, and (--with-python) a Python venv for the
# tests: numpy + ml_dtypes for the independent SPEC reference, torch and
# transformers for the Python package's engine tests (tests/python: the
# engine's logits against transformers' own forward). Idempotent.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
pkgs="build-essential cmake pkg-config openmpi-bin libopenmpi-dev libhwloc-dev libjansson-dev libxxhash-dev zlib1g-dev python3 python3-venv"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "refit: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
if [ "${1:-}" = "--with-python" ]; then
  venv=${REFIT_VENV:-build/.venv}
  if ! "$venv/bin/python" -c "import numpy, ml_dtypes" 2>/dev/null; then
    echo "refit: creating $venv with numpy and ml_dtypes"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check numpy ml_dtypes
  fi
  if ! "$venv/bin/python" -c "import mpi4py" 2>/dev/null; then
    echo "refit: installing mpi4py into $venv" # the Python package's communicator test
    "$venv/bin/python" -m pip install -q --disable-pip-version-check mpi4py
  fi
  if ! "$venv/bin/python" -c "import torch, transformers, safetensors" 2>/dev/null; then
    # The default torch wheel (its nvidia-* dependencies too: it needs them
    # even to import on a CPU-only machine): a few GB, minutes.
    echo "refit: installing torch and transformers into $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check torch transformers safetensors
  fi
fi

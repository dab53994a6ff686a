#!/usr/bin/env bash
# Fresh machine to a first run: install dependencies, build, and run the
# embedded default (a small model synthesized on the fly, loaded as
# generation 0 and reloaded as generation 1) on 2 MPI ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
[ "$(id -u)" -ne 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec mpirun -np 2 --oversubscribe build/refit run "$@"

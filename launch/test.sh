#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test under CTest
# (unit, MPI at np 1/2/4, CLI; GPU tests skip without a GPU).
# REFIT_BUILD_DIR and extra cmake arguments (REFIT_CMAKE_ARGS) are optional.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install-deps.sh --with-python
build=${REFIT_BUILD_DIR:-build}
venv=${REFIT_VENV:-build/.venv}
# shellcheck disable=SC2086
cmake -S . -B "$build" -DPython3_EXECUTABLE="$PWD/$venv/bin/python" ${REFIT_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
rc=0
ctest --output-on-failure -j"${REFIT_TEST_JOBS:-2}" ${REFIT_CTEST_ARGS:-} || rc=$?
# CTest does not show why a test skipped; the tests print "SKIP: reason".
grep -h "^SKIP: " Testing/Temporary/LastTest.log 2>/dev/null | sed 's/^/skipped test: /' || true
exit "$rc"

#!/usr/bin/env bash
# test_device at np 1 on a tiny checkpoint (refit synth); 77 = skipped.
# usage: check_device.sh REFIT TEST_DEVICE
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/refit-device.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$1" synth --preset tiny --out "$work/ckpt" >/dev/null
rc=0
$RF_MPIEXEC 1 "$2" "$work/ckpt" "$work/dump" || rc=$?
exit "$rc"

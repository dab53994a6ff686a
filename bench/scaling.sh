#!/usr/bin/env bash
# Reload time and achieved/floor against rank count. Synthesizes two
# generations of a model (refit synth), runs `refit run --report` at
# np = 1, 2, 4, ... (one machine: oversubscribed past its cores), and writes
# OUT/scaling-BACKEND.csv (one row per np, columns in scaling_report.py) and
# OUT/scaling-BACKEND.png (time per reload; achieved/floor).
#
#   bench/scaling.sh                                   # host backend, this machine
#   bench/scaling.sh --backend cuda --np "1 2 4 8" --preset llama3-8b --bucket-mb 256
#                                                      # GPU machine: one rank per GPU
# Options (defaults): --backend host --np "1 2 4 8 16" --preset bench-160m --tp-max 8
#   --reloads 3 --bucket-mb 16 --quant fp8-tensor --out bench --refit build/refit
#   --work DIR (checkpoints; default a temp dir under /dev/shm or TMPDIR) --no-plot
# MPIRUN overrides the launcher (default: mpirun, with --oversubscribe on the host backend).
# Plotting uses matplotlib: from PYTHON if it has it, else a venv in build/.venv-bench.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
backend=host nps="1 2 4 8 16" preset=bench-160m tpmax=8 reloads=3 bucket=16 quant=fp8-tensor
out=$here refit=$here/../build/refit work="" plot=1
while [ $# -gt 0 ]; do
  case $1 in
    --backend) backend=$2; shift ;;
    --np) nps=$2; shift ;;
    --preset) preset=$2; shift ;;
    --tp-max) tpmax=$2; shift ;;
    --reloads) reloads=$2; shift ;;
    --bucket-mb) bucket=$2; shift ;;
    --quant) quant=$2; shift ;;
    --out) out=$2; shift ;;
    --refit) refit=$2; shift ;;
    --work) work=$2; shift ;;
    --no-plot) plot=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "scaling.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
PYTHON=${PYTHON:-python3}
[ "$(id -u)" -ne 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ -z "${MPIRUN:-}" ]; then
  MPIRUN="mpirun"
  [ "$backend" != host ] || MPIRUN="mpirun --oversubscribe"
fi
mkdir -p "$out"
own_work=0
if [ -z "$work" ]; then
  base=/dev/shm
  [ -w "$base" ] || base=${TMPDIR:-/tmp}
  work=$(mktemp -d "$base/refit-scaling-XXXXXX")
  own_work=1
fi
cleanup() { [ "$own_work" -eq 0 ] || rm -rf "$work"; }
trap cleanup EXIT

[ -d "$work/g0" ] || "$refit" synth --out "$work/g0" --preset "$preset" --seed 1 >/dev/null
[ -d "$work/g1" ] || "$refit" synth --out "$work/g1" --preset "$preset" --seed 2 >/dev/null
cores=$(nproc)
csv="$out/scaling-$backend.csv"
"$PYTHON" "$here/scaling_report.py" header >"$csv"
for np in $nps; do
  tp=$((np < tpmax ? np : tpmax))
  echo "scaling.sh: np $np (tp $tp, dp $((np / tp))), $preset, $backend backend, $reloads reloads"
  # shellcheck disable=SC2086
  $MPIRUN -np "$np" "$refit" run --checkpoint "$work/g0" --checkpoint "$work/g1" --reloads $((reloads - 1)) \
    --tp "$tp" --quant "$quant" --backend "$backend" --bucket-mb "$bucket" --report "$work/report-$np.json" \
    >"$work/run-$np.log" 2>&1 || { cat "$work/run-$np.log"; exit 1; }
  cp "$work/report-$np.json" "$out/scaling-$backend-np$np.json"
  "$PYTHON" "$here/scaling_report.py" row "$work/report-$np.json" --np "$np" --preset "$preset" --cores "$cores" >>"$csv"
  tail -n 1 "$csv"
done
echo "scaling.sh: wrote $csv"
[ "$plot" -eq 1 ] || exit 0

py=$PYTHON
if ! "$py" -c "import matplotlib" 2>/dev/null; then
  venv=$here/../build/.venv-bench
  if ! "$venv/bin/python" -c "import matplotlib" 2>/dev/null; then
    echo "scaling.sh: installing matplotlib into $venv"
    python3 -m venv "$venv" && "$venv/bin/python" -m pip install -q --disable-pip-version-check matplotlib
  fi
  py=$venv/bin/python
fi
title="refit $backend backend, $preset ($(awk -F, 'NR==2{printf "%.0f MB", $8/1e6}' "$csv")), tp = min(np, $tpmax), bucket $bucket MiB, $cores cores on $(hostname)"
"$py" "$here/scaling_report.py" plot "$csv" "$out/scaling-$backend.png" --title "$title"
echo "scaling.sh: wrote $out/scaling-$backend.png"

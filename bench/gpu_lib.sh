# shellcheck shell=bash disable=SC2034  # (MPI, XRC: for the scripts that source it)
# Shared by the multi-GPU device-call scripts (bench/gpu_multi.sh, issue 15;
# tests/gpu/multi_faults.sh, issue 16): sections chosen by STEPS, each
# command printed before it runs (and only printed under DRY_RUN=1, which
# needs no GPU: `NGPU` then stands for the GPU count, default 4), logs in
# $O, a wall-clock budget (BUDGET_S, default 570 s: one device call is at
# most 600 s) that skips what no longer fits, and every skip said and kept
# in $O/skipped.txt. Source it after setting O and STEPS.
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
DRY=${DRY_RUN:-0}
B=${BUILD:-build-gpu}
BUDGET_S=${BUDGET_S:-570}
# one rank per GPU; NVLink multicast off (it can take a shared host's GPUs down)
MPI="mpirun --oversubscribe -x NCCL_NVLS_ENABLE --bind-to none"
mkdir -p "$O"
: >"$O/skipped.txt"

want() { [[ " $STEPS " == *" $1 "* ]]; }
step() { echo; echo "== $1 ($(date +%T), ${SECONDS}s of ${BUDGET_S}s)"; }

# The GPUs this machine shows (nvidia-smi -L, one line each).
gpu_count() {
  if [ "$DRY" = 1 ]; then echo "${NGPU:-4}"; else nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true; fi
}

skip() { # WHAT WHY
  echo "skipped: $1: $2"
  echo "$1: $2" >>"$O/skipped.txt"
}

# Whether N GPUs are there for WHAT; says so when not.
fits() { # N WHAT
  [ "$1" -le "$NGPU_SEEN" ] && return 0
  skip "$2" "needs $1 GPUs, this machine has $NGPU_SEEN"
  return 1
}

# Whether SECS more seconds fit in the budget for WHAT; says so when not.
room() { # SECS WHAT
  [ "$DRY" = 1 ] && return 0
  [ $((SECONDS + $1)) -le "$BUDGET_S" ] && return 0
  skip "$2" "budget: ${SECONDS}s used of ${BUDGET_S}s, it needs about $1 s (run it in a call of its own: STEPS)"
  return 1
}

# The words of a command as a shell would need them typed: a word with
# blanks in single quotes (so a printed command can be pasted back).
shown() {
  local w out=""
  for w in "$@"; do
    if [[ $w =~ [[:space:]] ]]; then out+="'$w' "; else out+="$w "; fi
  done
  echo "${out% }"
}

# Prints the command; runs it (unless DRY_RUN) under `timeout LIMIT`, its
# output in $O/LOG.log, and prints its exit status. Returns that status,
# also kept in XRC (0 in a dry run).
XRC=0
x() { # LOG LIMIT CMD...
  local log=$1 lim=$2 rc=0
  shift 2
  echo "+ $(shown "$@") > $O/$log.log"
  XRC=0
  [ "$DRY" = 1 ] && return 0
  # never past the call's budget: what is cut still leaves its log and the tables
  local left=$((BUDGET_S - SECONDS))
  [ "$left" -ge "$lim" ] || lim=$((left > 10 ? left : 10))
  timeout "$lim" "$@" >"$O/$log.log" 2>&1 || rc=$?
  XRC=$rc
  echo "  $log: exit $rc$([ "$rc" -eq 124 ] && echo " (cut at ${lim}s)")"
  return "$rc"
}

# Configure and build $B as bench/gpu_wave.sh does (Release, .gpu-deps).
build_step() {
  step build
  [ "$B" = build-gpu ] || { echo "BUILD=$B: bench/gpu_wave.sh builds build-gpu only"; exit 2; }
  # gpu_wave.sh writes cmake.log and build.log into $O itself
  x wave-build 400 env STEPS=build OUT="$O" bash bench/gpu_wave.sh || { tail -n 20 "$O/wave-build.log"; exit 1; }
  [ "$DRY" = 1 ] || tail -n 3 "$O/wave-build.log"
}

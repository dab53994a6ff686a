# Shared helpers of the shell tests: mpirun wrapper, model configs, checks.
set -u
REF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../ref" && pwd)
PYTHON=${PYTHON:-python3}
RF_MPIEXEC=${RF_MPIEXEC:-mpiexec -n}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/refit-test-XXXXXX")
# Open MPI's session directory inside WORK: mpiruns of tests running side by
# side otherwise race on /tmp/ompi.HOST.UID (one removes it as another makes it).
export OMPI_MCA_orte_tmpdir_base="$WORK"
trap 'rm -rf "$WORK"' EXIT
FAILS=0
PASSES=0

RF_MPI_EXTRA=${RF_MPI_EXTRA:-} # launcher flags that go after the rank count (e.g. -x VAR)
mpirun_np() { # NP ARGS...
  local np=$1; shift
  # shellcheck disable=SC2086
  $RF_MPIEXEC "$np" $RF_MPI_EXTRA "$@"
}

pass() { PASSES=$((PASSES + 1)); echo "PASS: $*"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL: $*"; }

# Model shapes the tests run, as make_ckpt.py arguments. Between them: odd
# vocab sizes needing padding, kv heads fewer than tp, tied embeddings, qkv
# bias, q/k norms, head_dim != hidden/heads, several files, a vocab large
# enough to span several 1 MiB buckets.
model_args() { # NAME
  case $1 in
    llama)   echo "--family llama --hidden 128 --heads 4 --kv 2 --inter 256 --vocab 1001 --layers 2 --files 3 --inv-freq" ;;
    qwen2)   echo "--family qwen2 --hidden 128 --heads 8 --kv 2 --inter 384 --vocab 517 --layers 2 --files 2" ;;
    qwen3)   echo "--family qwen3 --hidden 128 --heads 8 --kv 4 --head-dim 32 --inter 256 --vocab 300 --layers 2 --tied --tied-lm-head --files 1" ;;
    mistral) echo "--family mistral --hidden 320 --heads 4 --kv 4 --inter 768 --vocab 32001 --layers 1 --files 2" ;;
    # MoE (SPEC §3a): tests/ref's tiny shapes: expert sizes that fp8-block
    # pads at tp 1, 2 and 4, E not divisible by 4 (the ep remainder), dense
    # layers between MoE ones, a shared expert, several files.
    qwen3_moe|qwen2_moe|mixtral) echo "--family $1 --preset tiny" ;;
  esac
}
MODELS=${MODELS:-"llama qwen2 qwen3 mistral qwen3_moe qwen2_moe mixtral"}
MOE_MODES=${MOE_MODES:-"tp ep"}

is_moe() { case $1 in qwen3_moe|qwen2_moe|mixtral) return 0 ;; esac; return 1; }

# --moe modes a model is run in: both for MoE models, the default for dense ones.
moe_modes() { if is_moe "$1"; then echo "$MOE_MODES"; else echo "-"; fi; }

make_model() { # NAME SEED OUTDIR [extra make_ckpt args]
  local name=$1 seed=$2 out=$3; shift 3
  # shellcheck disable=SC2046
  "$PYTHON" "$REF_DIR/make_ckpt.py" --out "$out" $(model_args "$name") --seed "$seed" "$@" >/dev/null
}

finish() {
  echo "$PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}

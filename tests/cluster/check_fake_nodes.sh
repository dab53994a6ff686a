#!/usr/bin/env bash
# The two-level slice groups on one machine: each rank gets a REFIT_NODE_ID
# so ranks fall into 2-3 "nodes" (the network is shared memory, but the
# broadcast tree is the one a cluster gets). Runs wherever MPI runs, under
# the sanitizers too; the dumps must equal the SPEC reference byte for byte
# and every rank must see the node layout it was given.
# usage: check_fake_nodes.sh REFIT
REFIT=$1
source "$(dirname "$0")/../mpi/lib.sh"

for model in llama qwen2; do
  make_model "$model" 11 "$WORK/$model-g0"
  make_model "$model" 12 "$WORK/$model-g1"
done

run_case() { # NP TP NODE_EXPR MODEL QUANT NODES  (NODE_EXPR: shell arithmetic of $r)
  local np=$1 tp=$2 expr=$3 model=$4 quant=$5 nodes=$6
  local tag="np $np, tp $tp, node = $expr, $model $quant" out="$WORK/out-$np-$tp-$model-$quant"
  # shellcheck disable=SC2016
  if ! REFIT_LOG=info REFIT_LOG_SUBSYS=comm mpirun_np "$np" sh -c \
       'r=$OMPI_COMM_WORLD_RANK; REFIT_NODE_ID=n$(('"$expr"')) exec "$0" "$@"' "$REFIT" run \
       --checkpoint "$WORK/$model-g0" --checkpoint "$WORK/$model-g1" --tp "$tp" --quant "$quant" \
       --bucket-mb 1 --dump "$out.dump" >"$out.log" 2>&1; then
    fail "$tag: refit run failed"; tail -n 30 "$out.log"; return
  fi
  local seen
  seen=$(grep -o "r[0-9]*/$np .* node [0-9]* of $nodes " "$out.log" | sed "s/ .*//" | sort -u | wc -l)
  if [ "$seen" -ne "$np" ]; then
    fail "$tag: $seen of $np ranks report $nodes nodes"; grep "node " "$out.log"; return
  fi
  if "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$WORK/$model-g1" --tp "$tp" --world "$np" \
       --quant "$quant" --dump "$out.dump" --generation 1 >"$out.check" 2>&1; then
    pass "$tag: $nodes nodes, dumps exact"
  else
    fail "$tag: dump differs from the SPEC reference"; head -n 20 "$out.check"
  fi
}

run_case 4 1 'r % 2' llama fp8-tensor 2   # two replicas per node, round robin
run_case 4 2 'r / 2' qwen2 fp8-block 2    # one replica per node
run_case 6 2 'r % 3' llama fp8-row 3      # tp groups span three nodes
run_case 6 2 '(r + 1) / 2 % 3' qwen2 none 3 # uneven nodes: {0,5} {1,2} {3,4}
finish

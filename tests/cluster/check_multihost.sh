#!/usr/bin/env bash
# refit across several hosts over real MPI: 2-3 network-namespace hosts on
# this machine (netns_hosts.sh), Open MPI launching through a remote agent
# and talking TCP between them, dp x tp spanning the hosts on the host
# backend. For each layout: the dumps equal the SPEC reference byte for
# byte, and each host's network interface received each byte its ranks
# need about once (the bucket crosses to a host once, then fans out in it).
# Skips (77) where network namespaces cannot be made.
# usage: check_multihost.sh REFIT
REFIT=$1
source "$(dirname "$0")/../mpi/lib.sh"
source "$(dirname "$0")/netns_hosts.sh"
trap 'hosts_down; rm -rf "$WORK"' EXIT
hosts_up 3

# What refit sees of the hosts: one host name each, local ranks per host.
if hosts_mpirun 2 2 -np 4 --map-by node "$REFIT" topo >"$WORK/topo.log" 2>&1 &&
   grep -q "4 ranks on 2 hosts" "$WORK/topo.log" && grep -qE "^ +1  $HOST_PREFIX-h1 +0/2 " "$WORK/topo.log" &&
   grep -qE "^ +2  $HOST_PREFIX-h0 +1/2 " "$WORK/topo.log"; then
  pass "refit topo over 2 hosts: $(grep -c "^ *[0-9]  $HOST_PREFIX-h" "$WORK/topo.log") ranks placed by host"
else
  fail "refit topo over 2 hosts"; cat "$WORK/topo.log"
fi

for model in mistral qwen3; do
  make_model "$model" 11 "$WORK/$model-g0"
  make_model "$model" 12 "$WORK/$model-g1"
done

# Bytes host h must receive: for each tp rank held on h (h > 0), one stream
# per load (a receiver's transfer bytes in a report). The report comes from
# the same run on one host: a --report run also times a floor broadcast,
# whose bytes would count here.
received_ok() { # REPORT HOSTS SLOTS MAP RX... -> prints per host "got/needed", fails when off
  "$PYTHON" - "$@" <<'PY'
import json, sys
rep, hosts, slots, mapping = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rx = [int(x) for x in sys.argv[5:]]
r = json.load(open(rep)); W, T = r['world_size'], r['tp']
host = lambda k: k % hosts if mapping == 'node' else k // slots
need = [0] * hosts
for load in r['loads']:
    for h in range(1, hosts):
        tps = {k % T: k for k in range(1, W) if host(k) == h}
        need[h] += sum(load['ranks'][k]['phases']['transfer']['bytes'] for k in tps.values())
ok, out = True, []
for h in range(1, hosts):
    ratio = rx[h] / need[h]
    out.append('host%d %.2f MB / %.2f MB needed (x%.2f)' % (h, rx[h] / 1e6, need[h] / 1e6, ratio))
    ok &= 1.0 <= ratio <= 1.25
print('; '.join(out))
sys.exit(0 if ok else 1)
PY
}

run_case() { # HOSTS SLOTS MAP NP TP MODEL QUANT [ENV=VALUE]
  local hosts=$1 slots=$2 map=$3 np=$4 tp=$5 model=$6 quant=$7 env=${8:-REFIT_XFER_TOPO=node}
  local tag="$hosts hosts, np $np, tp $tp, map-by $map, $model $quant, $env"
  local out="$WORK/out-$np-$tp-$map-$model-$quant-${env#*=}" rx0=() rx=() h
  local args=(--checkpoint "$WORK/$model-g0" --checkpoint "$WORK/$model-g1" --tp "$tp" --quant "$quant" --bucket-mb 1)
  if ! mpirun_np "$np" "$REFIT" run "${args[@]}" --report "$out.json" >"$out.ref.log" 2>&1; then
    fail "$tag: refit run on one host failed"; tail -n 30 "$out.ref.log"; return
  fi
  for ((h = 0; h < hosts; h++)); do rx0[h]=$(host_rx_bytes "$h"); done
  if ! (export "${env?}"; hosts_mpirun "$hosts" "$slots" -np "$np" --map-by "$map" -x "${env%%=*}" \
       "$REFIT" run "${args[@]}" --dump "$out.dump") >"$out.log" 2>&1; then
    fail "$tag: refit run failed"; tail -n 30 "$out.log"; return
  fi
  for ((h = 0; h < hosts; h++)); do rx[h]=$(($(host_rx_bytes "$h") - rx0[h])); done
  if ! "$PYTHON" "$REF_DIR/check_dump.py" --checkpoint "$WORK/$model-g1" --tp "$tp" --world "$np" \
       --quant "$quant" --dump "$out.dump" --generation 1 >"$out.check" 2>&1; then
    fail "$tag: dump differs from the SPEC reference"; head -n 20 "$out.check"; return
  fi
  if [ "${env#*=}" = flat ]; then # the single-level broadcast, for comparison only
    pass "$tag: dumps exact; $(received_ok "$out.json" "$hosts" "$slots" "$map" "${rx[@]}")"
  elif msg=$(received_ok "$out.json" "$hosts" "$slots" "$map" "${rx[@]}"); then
    pass "$tag: dumps exact; $msg"
  else
    fail "$tag: a host received its bytes more than once or not at all: $msg"
  fi
}

# dp 4 x tp 1 over 2 hosts, round robin: two replicas per host; each bucket
# must cross to host 1 once (the single-level broadcast sends it twice).
run_case 2 2 node 4 1 mistral fp8-tensor
run_case 2 2 node 4 1 mistral fp8-tensor REFIT_XFER_TOPO=flat
# dp 3 x tp 2 over 3 hosts, round robin: every tp group spans hosts.
run_case 3 2 node 6 2 qwen3 fp8-block
# dp 2 x tp 2 over 2 hosts, by slot: one whole replica per host.
run_case 2 2 slot 4 2 mistral fp8-row
# dp 3 x tp 2 over 2 hosts, 3 slots each, by slot: host 0 holds ranks 0-2,
# host 1 ranks 3-5: a replica split across the hosts, tp rank 0 and 1 on each.
run_case 2 3 slot 6 2 qwen3 none
finish

#!/usr/bin/env bash
# `refit topo` and the binding `refit run` makes at start: host, local rank,
# GPU or none, bound CPUs, NUMA nodes, and the warnings for an unbound rank
# and for CPUs spanning NUMA nodes. Machines with several NUMA nodes are
# simulated with hwloc's synthetic topologies (HWLOC_SYNTHETIC, whose CPU
# numbers map onto this machine's CPUs with HWLOC_THISSYSTEM=1).
# usage: check_topo.sh REFIT
REFIT=$1
source "$(dirname "$0")/../mpi/lib.sh"

expect() { # DESCRIPTION WANT_RC PATTERN... -- CMD...  (every PATTERN must match a line)
  local what=$1 want=$2 pats=() rc=0; shift 2
  while [ "$1" != "--" ]; do pats+=("$1"); shift; done
  shift
  "$@" >"$WORK/out" 2>&1 || rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$what: exit $rc, wanted $want"; cat "$WORK/out"; return; fi
  for p in "${pats[@]}"; do
    if ! grep -qE -- "$p" "$WORK/out"; then fail "$what: output lacks /$p/"; cat "$WORK/out"; return; fi
  done
  pass "$what"
}
host=$(hostname)
gpu=none
[ -e /dev/nvidiactl ] && gpu='[0-9]+ [0-9a-f]{4}:' # a GPU machine: a device and its PCI id

expect "topo --help" 0 "usage: mpirun -np W refit topo" -- "$REFIT" topo --help
expect "topo --bind bogus" 2 "--bind: 'bogus' is not one of auto, none" -- mpirun_np 1 "$REFIT" topo --bind bogus
expect "topo np 2 bound by mpirun" 0 "2 ranks on 1 host" "^ +0  $host +0/2 +$gpu" "^ +1  $host +1/2 +$gpu" \
  "every rank bound inside one NUMA node" -- mpirun_np 2 --bind-to core "$REFIT" topo --bind none
expect "topo unbound warns" 0 "^ +1  $host +1/2 .* nobody" "warning: rank 1 on $host: not bound" \
  -- mpirun_np 2 --bind-to none "$REFIT" topo --bind none

# Two NUMA nodes of one CPU each (CPU 0 on node 0, CPU 1 on node 1).
export HWLOC_THISSYSTEM=1
two() { HWLOC_SYNTHETIC="numa:2 core:1 pu:1" mpirun_np "$@"; }
logged() { REFIT_LOG=info REFIT_LOG_SUBSYS=launch two "$@"; }
# Nodes {0,2} and {1,3}: a rank on CPUs 0-1 spans both.
crossed() { HWLOC_SYNTHETIC="numa:2 core:2 pu:1(indexes=0,2,1,3)" mpirun_np "$@"; }
expect "auto binds to a NUMA node by local rank" 0 "^ +0  .* 0 +0 +refit" "^ +1  .* 1 +1 +refit" \
  "^ +2  .* 0 +0 +refit" "every rank bound inside one NUMA node" \
  -- two 3 --bind-to none "$REFIT" topo
expect "unbound over two NUMA nodes warns" 0 "not bound: .* and their NUMA nodes" \
  -- two 1 --bind-to none "$REFIT" topo --bind none
expect "binding across NUMA nodes warns" 0 "^ +0  .* 0-1 +0-1 +launcher" \
  "warning: rank 0 on $host: bound to CPUs 0-1, which span NUMA nodes 0-1" \
  -- crossed 1 --bind-to none "$REFIT" topo --bind none
expect "run binds at start and says so" 0 "launch: local rank 1 of 2, gpu $gpu.*cpus 1, numa 1, bound by refit" \
  "generation 1 committed" \
  -- logged 2 --bind-to none "$REFIT" run
unset HWLOC_THISSYSTEM
expect "run --bind bogus" 2 "--bind: 'bogus' is not one of auto, none" -- mpirun_np 1 "$REFIT" run --bind bogus
finish

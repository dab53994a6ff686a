# Several "hosts" on one machine: network namespaces joined by veth pairs to
# a bridge in a switch namespace, one TCP network 10.77.0.0/24 between them.
# Source it, then:
#   hosts_up N          make hosts $HOST_PREFIX-h0 .. -h(N-1) (exit 77 when the machine can't)
#   hosts_mpirun H K ARGS  mpirun from host 0 over hosts 0..H-1, K slots each (TCP between hosts)
#   host_rx_bytes I     bytes host I has received on its network interface
#   hosts_down          remove them (also run at exit)
# The namespaces share the kernel, the file system and the memory; only the
# network and the host names are per host, which is what MPI and refit see.
HOST_PREFIX=${HOST_PREFIX:-rf$$}
HOSTS_N=0
HOSTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

hosts_skip() { echo "SKIP: $*"; exit 77; }

hosts_down() {
  local i
  for ((i = 0; i < HOSTS_N; i++)); do ip netns del "$HOST_PREFIX-h$i" 2>/dev/null; done
  ip netns del "$HOST_PREFIX-sw" 2>/dev/null
  HOSTS_N=0
  return 0
}

hosts_up() { # N
  local n=$1 i sw="$HOST_PREFIX-sw"
  command -v ip >/dev/null || hosts_skip "no 'ip' command (apt-get install iproute2)"
  command -v unshare >/dev/null || hosts_skip "no 'unshare' command (util-linux)"
  [ "$(id -u)" -eq 0 ] || hosts_skip "network namespaces need root (running as uid $(id -u))"
  ip netns add "$sw" 2>"$WORK/netns.err" || hosts_skip "cannot create a network namespace: $(cat "$WORK/netns.err")"
  unshare --uts true 2>"$WORK/uts.err" || { ip netns del "$sw"; hosts_skip "cannot create a UTS namespace: $(cat "$WORK/uts.err")"; }
  ip -n "$sw" link add br0 type bridge && ip -n "$sw" link set br0 up || { ip netns del "$sw"; hosts_skip "no bridge support in this kernel"; }
  for ((i = 0; i < n; i++)); do
    local h="$HOST_PREFIX-h$i"
    ip netns add "$h" && HOSTS_N=$((i + 1)) &&
      ip link add "${HOST_PREFIX}v$i" type veth peer name eth0 netns "$h" &&
      ip link set "${HOST_PREFIX}v$i" netns "$sw" &&
      ip -n "$sw" link set "${HOST_PREFIX}v$i" master br0 up &&
      ip -n "$h" addr add "10.77.0.$((i + 1))/24" dev eth0 &&
      ip -n "$h" link set eth0 up && ip -n "$h" link set lo up ||
      { hosts_down; ip netns del "$sw" 2>/dev/null; hosts_skip "cannot wire host $h (veth pairs)"; }
  done
}

hosts_mpirun() { # H K ARGS... (run from host 0, which has its own host name too)
  local list="" i
  for ((i = 0; i < $1; i++)); do list="$list${list:+,}$HOST_PREFIX-h$i:$2"; done
  shift 2
  ip netns exec "$HOST_PREFIX-h0" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$HOST_PREFIX-h0" \
    mpirun --host "$list" --mca plm_rsh_agent "$HOSTS_DIR/netns_agent.sh" \
    --mca pml ob1 --mca btl self,vader,tcp --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 "$@"
}

host_rx_bytes() { # I
  ip netns exec "$HOST_PREFIX-h$1" cat /sys/class/net/eth0/statistics/rx_bytes
}

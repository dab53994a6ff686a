#!/bin/sh
# Open MPI's remote agent (plm_rsh_agent) for the network-namespace "hosts"
# of netns_hosts.sh: called like ssh, `netns_agent.sh HOST COMMAND...`, it
# runs COMMAND in network namespace HOST with its own UTS namespace whose
# host name is HOST, so refit sees one host name per "host".
host=$1
shift
exec ip netns exec "$host" unshare --uts sh -c 'hostname "$0" && exec sh -c "$1"' "$host" "$*"

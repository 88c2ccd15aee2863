#!/bin/sh
# Expected: `flakebox diagnose -- examples/shell/needs_network.sh`
#   -> environment, net: breaks
# Models: a script that checks "are we online?" before doing its work and
# refuses to run offline. It looks for an IPv4 default route in
# /proc/net/route (which shows the routes of the caller's network namespace;
# no packet is sent). The host has one; a network namespace with only `lo`
# has none. On a host without a default route it fails everywhere (stable).
if awk 'NR > 1 && $2 == "00000000" { found = 1 } END { exit !found }' /proc/net/route; then
    echo "online: default route present"
else
    echo "offline: no default route - refusing to run" >&2
    exit 1
fi

#!/usr/bin/env bash
# Replicas behind real load balancers (issue 22): three debug tensorwire-server replicas behind Debian's nginx
# (deploy/nginx/tensorwire.conf: grpc_pass, upstream keepalive) and behind HAProxy (deploy/haproxy/tensorwire.cfg:
# HTTP/2 to the replicas, retry-on conn-failure), each balancer run by the check as its own process on free loopback
# ports with its deploy/ file re-pointed at the replicas (a system nginx or haproxy service is never used or
# touched). Per balancer: tritonclient answers through it equal a replica's own; kill -9 of one replica under load
# fails at most 2 x callers calls and the rest flow again within 1 s; a rolling restart (SIGTERM, exit 0, restart,
# ready, one replica at a time) under grpcio callers with default settings fails 0 calls. Every answer under load is
# checked (Tools/interop/balancers/balancers_check.py). 16 to 35 s on 2 shared cores (13 s of CPU).
# Run from the repository root after the debug build and `Tools/setup --python` (which installs nginx and haproxy).
source "$(dirname "$0")/lib.sh"

for tool in nginx haproxy; do
    if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
        echo "balancers: $tool is missing; Tools/setup installs it" >&2
        exit 1
    fi
done
PATH="$PATH:/usr/sbin" "$PYTHON" Tools/interop/balancers/balancers_check.py --server "$SERVER_BIN" "$@"

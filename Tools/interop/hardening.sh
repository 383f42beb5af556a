#!/usr/bin/env bash
# Hardening (issue 3, point 8): a raw HTTP/2 adversary (Tools/interop/hardening/cases.py, h2 + raw sockets) against
# a live tensorwire-server started with a small receive limit. After every case the server must answer a valid
# Predict correctly, and at the end its RSS must be back near the baseline. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tools/interop/lib.sh

limit=4096
# The resource-limit cases (issue 25) need these; cases.py names the same figures.
start_server --max-receive-message-bytes "$limit" --drain-seconds 2 \
    --max-buffered-request-bytes-per-connection 65536 --handshake-timeout-seconds 2
echo "hardening: $SERVER_BIN on port $SERVER_PORT (pid $SERVER_PID)"
status=0
PYTHONPATH=Tools/interop/hardening "$PYTHON" Tools/interop/hardening/cases.py \
    --port "$SERVER_PORT" --pid "$SERVER_PID" --max-receive-message-bytes "$limit" --server-log "$SERVER_LOG" ${HARDENING_ONLY:+--only "$HARDENING_ONLY"} \
    || status=$?
if [ "$status" -ne 0 ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "hardening: the server exited; its log:" >&2
    cat "$SERVER_LOG" >&2
    exit 1
fi
# The server survived everything; it must still drain and exit 0 on SIGTERM.
if ! stop_server; then
    echo "hardening: the server did not exit 0 on SIGTERM; its log:" >&2
    cat "$SERVER_LOG" >&2
    exit 1
fi
exit "$status"

#!/usr/bin/env bash
# gRPC interop (interop-cases.md, grpc-wire.md §10 test matrix): tensorwire-interop-server (grpc.testing.TestService
# on our transport) against three clients —
#   1. grpcio: every case (Tools/interop/grpc_interop/client.py, stubs generated now into a temporary directory),
#   2. our ClientConnection: the same cases plus the compressed-flag checks grpcio cannot make (--client mode),
#   3. grpcurl (grpc-go): empty_unary, large_unary, status, unimplemented method/service, server streaming,
#   4. a raw HTTP/2 peer (h2): W-17 rejections (unknown encoding, flag without encoding, corrupt gzip), W-18.
# Run from the repository root after the debug build and Tools/setup --python (Tools/test does both).
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tools/interop/lib.sh
INTEROP_BIN=${INTEROP_BIN:-.build/debug/tensorwire-interop-server}
SERVER_BIN=$INTEROP_BIN
HERE=Tools/interop/grpc_interop

STUBS=$(mktemp -d)
trap 'rm -rf "$STUBS"; cleanup_servers' EXIT
"$PYTHON" -m grpc_tools.protoc -I "$HERE/protos" --python_out="$STUBS" --grpc_python_out="$STUBS" \
    "$HERE"/protos/src/proto/grpc/testing/*.proto

start_server
echo "tensorwire-interop-server on port $SERVER_PORT"
status=0

echo "-- grpcio client"
"$PYTHON" "$HERE/client.py" --port "$SERVER_PORT" --stubs "$STUBS" || status=1

echo "-- Swift client (ClientConnection)"
"$INTEROP_BIN" --client --port "$SERVER_PORT" || status=1

echo "-- grpcurl (grpc-go)"
"$PYTHON" "$HERE/grpcurl_cases.py" --grpcurl "$VENV_BIN/grpcurl" --port "$SERVER_PORT" || status=1

echo "-- raw HTTP/2 (h2): compression rejections"
"$PYTHON" "$HERE/compression_raw.py" --port "$SERVER_PORT" || status=1

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "tensorwire-interop-server died during the run:" >&2
    cat "$SERVER_LOG" >&2
    status=1
elif ! stop_server; then
    echo "tensorwire-interop-server did not stop cleanly on SIGTERM" >&2
    status=1
fi
exit $status

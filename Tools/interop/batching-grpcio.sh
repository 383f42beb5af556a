#!/usr/bin/env bash
# Batching with grpcio as the client (issue 5): single requests equal onnxruntime on the digits model; many
# concurrent unary callers and PredictStreams get exactly their own rows (1e-5 of the single-request results);
# a queue delay yields batches > 1 and GetModel shows the flags; a flooded PredictStream is held back by HTTP/2 flow
# control instead of being refused; tiny deadlines and a full queue give the documented statuses. The results also
# with --inline-batches on (a pass's queued batches computed on the loop thread).
# Run from the repository root after the debug build and Tools/setup --python.
source Tools/interop/lib.sh
CHECKS=Tools/interop/batching/batching_grpcio.py

run_check() {
    local check=$1
    shift
    echo "batching-grpcio: $check (tensorwire-server $*)"
    start_server "$@"
    "$PYTHON" "$CHECKS" --server "127.0.0.1:$SERVER_PORT" --check "$check"
    stop_server || { echo "FAIL: the server did not exit cleanly on SIGTERM" >&2; exit 1; }
}

run_check results
# The same with a pass's queued batches computed on the loop thread (what --inline-batches auto does on one CPU).
run_check results --inline-batches on
run_check batched --max-queue-delay-us 200000 --preferred-batch-sizes 8 --max-batch-size 32
run_check flood
run_check limits --max-queue-size 1 --max-batch-size 1
echo "batching-grpcio: all checks passed"

#!/usr/bin/env bash
# Live model updates and draining (issue 21) against grpcio: 20 version swaps in poll mode under 8 callers (unary and
# streamed) with 0 failed requests and no response mixing versions; broken new versions (truncated file,
# unsupported operator) leave the old one serving and are reported; `tensorwire models reload`; SIGHUP rescans in
# mode none; SIGTERM under load
# answers every accepted call; systemd notify (READY, WATCHDOG, STOPPING) on a test socket.
# Run from the repository root after the debug build and Tools/setup --python.
source Tools/interop/lib.sh
CHECKS=Tools/interop/lifecycle/lifecycle.py
CLI=.build/debug/tensorwire
SWAPS=${LIFECYCLE_SWAPS:-20}
work=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$work"' EXIT

fresh_repo() {  # fresh_repo DIR: model `ver`, version 1 (every output 1)
    rm -rf "$1"
    "$PYTHON" "$CHECKS" --write-model "$1/ver/1/model.onnx" --value 1
}

echo "lifecycle: $SWAPS swaps under load (--model-control poll --repository-poll-secs 0.2)"
fresh_repo "$work/swaps"
start_server --models "$work/swaps" --model-control poll --repository-poll-secs 0.2 --max-batch-size 8
"$PYTHON" "$CHECKS" --check swaps --server "127.0.0.1:$SERVER_PORT" --repo "$work/swaps" --swaps "$SWAPS"
stop_server || { echo "FAIL: the server did not exit cleanly on SIGTERM" >&2; cat "$SERVER_LOG" >&2; exit 1; }

echo "lifecycle: broken versions and the CLI"
fresh_repo "$work/broken"
start_server --models "$work/broken" --model-control poll --repository-poll-secs 0.2 --max-batch-size 8
"$PYTHON" "$CHECKS" --check broken --server "127.0.0.1:$SERVER_PORT" --repo "$work/broken" --cli "$CLI"
stop_server || { echo "FAIL: the server did not exit cleanly on SIGTERM" >&2; exit 1; }

echo "lifecycle: SIGHUP rescans in mode none"
fresh_repo "$work/hup"
start_server --models "$work/hup" --max-batch-size 8
"$PYTHON" "$CHECKS" --check sighup --server "127.0.0.1:$SERVER_PORT" --repo "$work/hup" --pid "$SERVER_PID"
stop_server || { echo "FAIL: the server did not exit cleanly on SIGTERM" >&2; exit 1; }

echo "lifecycle: SIGTERM under load (--drain-seconds 10 --access-log)"
fresh_repo "$work/drain"
start_server --models "$work/drain" --access-log --drain-seconds 10 --max-batch-size 8
"$PYTHON" "$CHECKS" --check sigterm --server "127.0.0.1:$SERVER_PORT" --pid "$SERVER_PID" --log "$SERVER_LOG" &
checker=$!
status=0
wait "$SERVER_PID" || status=$?
wait "$checker" || { echo "FAIL: sigterm check" >&2; exit 1; }
[ "$status" -eq 0 ] || { echo "FAIL: the server exited $status after SIGTERM" >&2; exit 1; }
echo "  ok: the server exited 0"

echo "lifecycle: systemd notify"
"$PYTHON" "$CHECKS" --check notify --binary "$SERVER_BIN" --repo "$work/drain"
echo "lifecycle: all checks passed"

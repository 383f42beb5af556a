#!/usr/bin/env bash
# Live model updates and draining (issue 21) against grpcio: 20 version swaps in poll mode under 8 callers (unary and
# streamed) with 0 failed requests and no response mixing versions; broken new versions (truncated file,
# unsupported operator) leave the old one serving and are reported; `tensorwire models reload`; SIGHUP rescans in
# mode none; SIGTERM under load
# answers every accepted call; the allocator setting's one re-execution in place (--malloc-tcache-count);
# --inline-batches auto under taskset; systemd notify (READY, WATCHDOG, STOPPING) on a test socket.
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

echo "lifecycle: the allocator setting (--malloc-tcache-count: one re-execution in place)"
tunables_of() {  # the process's GLIBC_TUNABLES text (glibc splits its copy at ':' with NULs, so NULs become ':')
    tr '\0' ':' < "/proc/$1/environ" | grep -o 'GLIBC_TUNABLES=[^ ]*' || true
}
start_server
case "$(tunables_of "$SERVER_PID")" in
    *glibc.malloc.tcache_count=1000*) ;;
    *) echo "FAIL: the default start did not set glibc.malloc.tcache_count=1000: $(tunables_of "$SERVER_PID")" >&2; exit 1 ;;
esac
[ "$(readlink "/proc/$SERVER_PID/exe")" = "$(readlink -f "$SERVER_BIN")" ] \
    || { echo "FAIL: the started process is not the server re-executed in place" >&2; exit 1; }
[ "$(grep -c ' starting' "$SERVER_LOG")" = 1 ] || { echo "FAIL: the start-up was logged twice" >&2; exit 1; }
# The kernel names a program run through /proc/self/exe "exe"; the server takes its own name back (ps, pgrep).
expected_name=$(basename "$(readlink -f "$SERVER_BIN")" | cut -c1-15)
[ "$(cat "/proc/$SERVER_PID/comm")" = "$expected_name" ] \
    || { echo "FAIL: the re-executed server is named '$(cat "/proc/$SERVER_PID/comm")', not '$expected_name'" >&2; exit 1; }
stop_server || { echo "FAIL: the re-executed server did not exit cleanly on SIGTERM" >&2; exit 1; }
start_server --malloc-tcache-count 0
[ -z "$(tunables_of "$SERVER_PID")" ] || { echo "FAIL: --malloc-tcache-count 0 still set GLIBC_TUNABLES" >&2; exit 1; }
stop_server
GLIBC_TUNABLES=glibc.malloc.tcache_count=7 start_server
case "$(tunables_of "$SERVER_PID")" in
    GLIBC_TUNABLES=glibc.malloc.tcache_count=7:*) ;;
    *) echo "FAIL: the operator's glibc.malloc.tcache_count was not kept: $(tunables_of "$SERVER_PID")" >&2; exit 1 ;;
esac
stop_server
GLIBC_TUNABLES=glibc.malloc.mxfast=64 start_server
case "$(tunables_of "$SERVER_PID")" in
    GLIBC_TUNABLES=glibc.malloc.mxfast=64:glibc.malloc.tcache_count=1000:*) ;;
    *) echo "FAIL: the setting was not appended to the operator's tunables: $(tunables_of "$SERVER_PID")" >&2; exit 1 ;;
esac
stop_server
echo "  ok: set once by default (the process keeps its name), kept when the operator names it, appended to other" \
     "tunables, off with 0"

echo "lifecycle: --inline-batches auto follows the CPUs the process may use (taskset)"
printf '#!/bin/sh\nexec taskset -c 0 "%s" "$@"\n' "$SERVER_BIN" > "$work/pinned"
chmod +x "$work/pinned"
SERVER_BIN="$work/pinned" start_server --log-level debug
grep -q 'inline-batches=auto (on)' "$SERVER_LOG" \
    || { echo "FAIL: pinned to one CPU, auto did not turn inline batches on:" >&2; grep 'inline-batches' "$SERVER_LOG" >&2; exit 1; }
stop_server
if [ "$(nproc)" -gt 1 ]; then
    start_server --log-level debug
    grep -q 'inline-batches=auto (off)' "$SERVER_LOG" \
        || { echo "FAIL: on $(nproc) CPUs, auto turned inline batches on:" >&2; grep 'inline-batches' "$SERVER_LOG" >&2; exit 1; }
    stop_server
fi
echo "  ok: on with one CPU allowed, off with $(nproc)"

echo "lifecycle: systemd notify"
"$PYTHON" "$CHECKS" --check notify --binary "$SERVER_BIN" --repo "$work/drain"
echo "lifecycle: all checks passed"

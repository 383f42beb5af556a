# Shared by the interop scripts (source it; not run on its own). Each script runs from the repository root after
# `Tools/test` has built the debug products and created .venv.
#   start_server [tensorwire-server args...]   starts .build/debug/tensorwire-server on an ephemeral port and
#                                             sets SERVER_PID and SERVER_PORT; the server is stopped on exit.
#   stop_server                                SIGTERM, then wait for the exit status (returned).
set -euo pipefail
PYTHON=.venv/bin/python
VENV_BIN=.venv/bin
SERVER_BIN=${SERVER_BIN:-.build/debug/tensorwire-server}
SERVER_PIDS=()

cleanup_servers() {
    for pid in "${SERVER_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
}
trap cleanup_servers EXIT

start_server() {
    local log
    log=$(mktemp)
    "$SERVER_BIN" --port 0 "$@" > "$log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    for _ in $(seq 1 200); do
        if grep -q 'listening on' "$log"; then
            SERVER_PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$log" | head -1)
            SERVER_LOG=$log
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server exited during start-up:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "server did not report its port within 10 s:" >&2
    cat "$log" >&2
    return 1
}

stop_server() {
    kill -TERM "$SERVER_PID"
    local status=0
    wait "$SERVER_PID" || status=$?
    return $status
}

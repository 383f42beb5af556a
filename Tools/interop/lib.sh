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

# perf_analyzer_check PROTOCOL MODEL MODE CONCURRENCY: one short perf_analyzer run (Tools/perf-analyzer sets the
# library path it needs) against SERVER_PORT; MODE is sync, --async or --streaming. Prints an ok line with the
# throughput and the server-side statistics perf_analyzer read (queue and compute times), or FAIL with its output's
# tail; returns non-zero on failure. Count-based windows keep it short on a loaded machine, and a huge stability
# percentage accepts any three windows: this checks that the protocol works, not the speed.
perf_analyzer_check() {
    local protocol=$1 model=$2 mode=$3 concurrency=$4 log rc=0 line server
    local flags=()
    [ "$mode" != sync ] && flags+=("$mode")
    log=$(mktemp)
    timeout 120 Tools/perf-analyzer -i "$protocol" -u "127.0.0.1:$SERVER_PORT" -m "$model" "${flags[@]}" \
        --concurrency-range "$concurrency" --measurement-mode count_windows --measurement-request-count 100 \
        --stability-percentage 1000 --max-trials 5 > "$log" 2>&1 || rc=$?
    line=$(grep -E '^Concurrency: [0-9]+, throughput' "$log" | tail -1 || true)
    # With `statistics` advertised, perf_analyzer prints a "Server:" block from ModelStatistics.
    server=$(grep -E 'queue [0-9]+ usec \+ compute input [0-9]+ usec \+ compute infer [0-9]+ usec' "$log" | tail -1 | sed 's/^ *//' || true)
    if [ "$rc" -eq 0 ] && [ -n "$line" ] && [ -n "$server" ]; then
        echo "  ok   perf_analyzer -i $protocol $mode c=$concurrency: $line"
        echo "       server side: $server"
        rm -f "$log"
        return 0
    fi
    echo "  FAIL perf_analyzer -i $protocol $mode c=$concurrency: rc=$rc"
    [ -z "$server" ] && echo "       no server-side statistics (queue/compute) in perf_analyzer's output"
    tail -20 "$log"
    rm -f "$log"
    return 1
}

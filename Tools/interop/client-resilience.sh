#!/usr/bin/env bash
# The client's retries and balancing against real servers (issues 21.4 and 22.2, docs/client.md), with
# `tensorwire bench` as the load:
#   (a) kill -9 the server under load (8 callers), restart it on the same port: the retries carry the load, so bench
#       reports retries > 0, 0 errors and exit 0, and the restarted server answers requests;
#   (b) three servers, bench over all three (--server A,B --server C): each server's own request count
#       (tensorwire_requests_total on its /metrics) shows the load spread evenly; kill -9 one mid-run and the other
#       two carry on with 0 errors surfaced;
#   (c) dns:///localhost:PORT resolves and serves (a name with several records is spread like a list).
# About 25 s. Run from the repository root after the debug build.
source Tools/interop/lib.sh
CLI_BIN=${CLI_BIN:-.build/debug/tensorwire}
WORK=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$WORK"' EXIT

# start_on_port PORT: a server on a fixed port (a restart); sets SERVER_PID.
start_on_port() {
    local log=$WORK/server-$1-$RANDOM.log
    "$SERVER_BIN" --port "$1" > "$log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    for _ in $(seq 1 400); do
        grep -q 'listening on' "$log" && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; return 1; }
        sleep 0.025
    done
    echo "server on port $1 did not start within 10 s" >&2
    cat "$log" >&2
    return 1
}

# served PORT: the Predict calls the server on PORT has answered (its own count, from /metrics).
served() {
    curl -s "http://127.0.0.1:$1/metrics" | "$PYTHON" -c '
import re, sys
total = 0
for line in sys.stdin:
    if line.startswith("tensorwire_requests_total{") and "model=\"digits\"" in line and "api=\"native\"" in line:
        total += int(float(line.rsplit(" ", 1)[1]))
print(total)'
}

# wait_served PORT N: until the server on PORT has answered at least N calls (at most 20 s).
wait_served() {
    for _ in $(seq 1 400); do
        [ "$(served "$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    echo "FAIL: the server on port $1 did not reach $2 calls" >&2
    return 1
}

# check_report FILE EXIT WHAT: bench exited 0 with no errors and some retries; prints the figures.
check_report() {
    "$PYTHON" - "$1" "$2" "$3" <<'PY'
import json, sys
path, status, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
report = json.load(open(path))
print("client-resilience: %s: %d requests, %d errors %s, %d retries (%d transparent), %d connects, "
      "%.0f req/s, max latency %.1f ms, attempts by server %s (exit %d)" % (
          what, report["requests"], report["errors"], report["errors_by_code"], report["retries"],
          report["transparent_retries"], report["connects"], report["throughput_rps"], report["latency_ms"]["max"],
          report["attempts_by_server"], status))
if status != 0 or report["errors"] != 0 or report["requests"] == 0:
    sys.exit("client-resilience: FAIL: %s surfaced errors" % what)
if report["retries"] == 0:
    sys.exit("client-resilience: FAIL: %s made no retries, so the failure was not exercised" % what)
PY
}

# (a) kill -9 and restart under load.
start_server
port=$SERVER_PORT
status=0
"$CLI_BIN" --server "127.0.0.1:$port" --timeout 10s --wait-for-ready bench digits -c 8 -d 6s --warmup 0 --json \
    > "$WORK/a.json" 2> "$WORK/a.err" &
bench=$!
wait_served "$port" 2000
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
started=$(date +%s%N)
start_on_port "$port"
echo "client-resilience: (a) killed the server with -9 under load; restarted on port $port in $((($(date +%s%N) - started) / 1000000)) ms"
wait "$bench" || status=$?
cat "$WORK/a.err" >&2
check_report "$WORK/a.json" "$status" "(a) restart under load"
after=$(served "$port")
[ "$after" -gt 0 ] || { echo "client-resilience: FAIL: the restarted server answered nothing" >&2; exit 1; }
echo "client-resilience: (a) the restarted server answered $after calls"
kill -TERM "$SERVER_PID"

# (b) three servers, one killed mid-run.
ports=()
pids=()
for _ in 1 2 3; do
    start_server
    ports+=("$SERVER_PORT")
    pids+=("$SERVER_PID")
done
status=0
"$CLI_BIN" --server "127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}" --server "127.0.0.1:${ports[2]}" \
    bench digits -c 8 -d 6s --warmup 0 --json > "$WORK/b.json" 2> "$WORK/b.err" &
bench=$!
for port in "${ports[@]}"; do wait_served "$port" 1000; done
before=()
for port in "${ports[@]}"; do before+=("$(served "$port")"); done
echo "client-resilience: (b) calls answered by each server before the kill: ${before[*]}"
kill -9 "${pids[1]}"
wait "${pids[1]}" 2>/dev/null || true
wait "$bench" || status=$?
cat "$WORK/b.err" >&2
check_report "$WORK/b.json" "$status" "(b) three servers, one killed"
final=("$(served "${ports[0]}")" "$(served "${ports[2]}")")
echo "client-resilience: (b) calls answered at the end by the two survivors: ${final[*]}"
"$PYTHON" - "${before[@]}" "${final[@]}" <<'PY'
import sys
a, b, c, a_end, c_end = map(int, sys.argv[1:])
# Round robin: before the kill the three counts are close (each within 25 % of their mean); afterwards the two
# survivors took the rest between them, evenly, and both went on serving after the kill.
mean = (a + b + c) / 3
if any(abs(x - mean) > 0.25 * mean for x in (a, b, c)):
    sys.exit("client-resilience: FAIL: the load was not spread evenly before the kill: %d %d %d" % (a, b, c))
if a_end <= a or c_end <= c:
    sys.exit("client-resilience: FAIL: a survivor stopped serving after the kill")
if abs(a_end - c_end) > 0.25 * max(a_end, c_end):
    sys.exit("client-resilience: FAIL: the survivors' counts differ by more than 25 %%: %d %d" % (a_end, c_end))
print("client-resilience: (b) spread before the kill %d/%d/%d; survivors %d and %d" % (a, b, c, a_end, c_end))
PY
kill -TERM "${pids[0]}" "${pids[2]}"

# (c) a DNS target: every A/AAAA record of the name is a server (here localhost's records).
start_server
"$CLI_BIN" --server "dns:///localhost:$SERVER_PORT" bench digits -n 200 --warmup 0 --json > "$WORK/c.json"
"$PYTHON" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("client-resilience: (c) dns:///localhost: %d requests, %d errors, servers %s" % (r["requests"], r["errors"], r["attempts_by_server"])); sys.exit(r["errors"] != 0 or r["requests"] != 200)' "$WORK/c.json"
stop_server || true
echo "client-resilience: all checks passed"

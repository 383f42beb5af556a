#!/usr/bin/env bash
# Health and reflection with real peers (issue 6, health-reflection.md): grpcurl 1.8.6 (.venv/bin/grpcurl, which
# speaks reflection v1alpha only) with no proto files, then grpcio's own clients (grpcio-health-checking,
# grpcio-reflection over v1alpha and v1: Tools/interop/health_reflection/grpcio_peers.py), then a drain: watchers
# of "" see NOT_SERVING and their streams end with OK before the server's connections close on SIGTERM.
# Run from the repository root after the debug build and Tools/setup --python.
source Tools/interop/lib.sh

GRPCURL=$VENV_BIN/grpcurl
PEERS=Tools/interop/health_reflection/grpcio_peers.py
WORK=$(mktemp -d)
WATCH_PIDS=()
cleanup() {
    for pid in "${WATCH_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    cleanup_servers
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
ok() { echo "  ok: $*"; }

# Runs grpcurl against the server; stdout and stderr go to $WORK/out, the exit status to $RC.
grpcurl_run() {
    RC=0
    "$GRPCURL" -plaintext "$@" > "$WORK/out" 2>&1 || RC=$?
}

# Evaluates a Python expression over the JSON document in $WORK/out (bound to `d`); fails unless it is true.
json_expect() {
    "$PYTHON" - "$WORK/out" "$1" <<'EOF' || fail "$2: $(cat "$WORK/out")"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)
EOF
}

# Waits (up to a minute) until file $1 has a line equal to $2 (a watcher's first message).
wait_for_line() {
    for _ in $(seq 1 600); do
        grep -qx -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "no line '$2' in $1: $(cat "$1")"
}

echo "grpcurl-health-reflection: $("$GRPCURL" -version 2>&1) against $SERVER_BIN"
start_server
ADDRESS=127.0.0.1:$SERVER_PORT

# --- grpcurl: list and describe, no proto files ---
echo "reflection with grpcurl (v1alpha):"
grpcurl_run "$ADDRESS" list
[ "$RC" -eq 0 ] || fail "list exited $RC: $(cat "$WORK/out")"
sort "$WORK/out" > "$WORK/listed"
"$PYTHON" "$PEERS" symbols --port "$SERVER_PORT" > "$WORK/symbols"
# The services reflection reports over grpcio's client (v1alpha) are the symbols' services; the grpcio checks below
# prove that this list equals the services the router serves.
grep -v '\.' "$WORK/listed" && fail "list printed a name with no package"
for core in grpc.health.v1.Health grpc.reflection.v1.ServerReflection grpc.reflection.v1alpha.ServerReflection \
    tensorwire.v1.Inference; do
    grep -qx "$core" "$WORK/listed" || fail "list lacks $core: $(cat "$WORK/listed")"
done
ok "list: $(paste -sd' ' "$WORK/listed")"

grpcurl_run "$ADDRESS" describe
[ "$RC" -eq 0 ] || fail "describe (every service) exited $RC: $(cat "$WORK/out")"
ok "describe (no arguments: every listed service)"

# Three grpcurl processes at a time; each writes $WORK/describe/<symbol> and its exit status to <symbol>.rc.
mkdir "$WORK/describe"
xargs -P 3 -n 1 sh -c 'rc=0; "$1" -plaintext "$2" describe "$4" > "$3/$4" 2>&1 || rc=$?; echo $rc > "$3/$4.rc"' \
    describe "$GRPCURL" "$ADDRESS" "$WORK/describe" < "$WORK/symbols"
described=0
while read -r symbol; do
    [ "$(cat "$WORK/describe/$symbol.rc")" = 0 ] || fail "describe $symbol: $(cat "$WORK/describe/$symbol")"
    head -1 "$WORK/describe/$symbol" \
        | grep -Eq "^$symbol is (an? (service|method|message|enum)|the entry type for a map field):$" \
        || fail "describe $symbol printed: $(head -3 "$WORK/describe/$symbol")"
    described=$((described + 1))
done < "$WORK/symbols"
ok "describe of each of the $described services, methods, messages and enums reachable from the listed services"

while read -r service; do
    grpcurl_run "$ADDRESS" list "$service"
    [ "$RC" -eq 0 ] || fail "list $service exited $RC: $(cat "$WORK/out")"
    diff <(sort "$WORK/out") <(grep "^$service\.[A-Za-z0-9_]*$" "$WORK/symbols" | sort) > /dev/null \
        || fail "list $service printed $(cat "$WORK/out")"
done < "$WORK/listed"
ok "list SERVICE names every method of each listed service"

grpcurl_run "$ADDRESS" describe tensorwire.v1.Tensor.float_data
[ "$RC" -eq 0 ] && grep -q "repeated float float_data = 4;" "$WORK/out" \
    || fail "describe of a field: $(cat "$WORK/out")"
grpcurl_run "$ADDRESS" describe no.such.Symbol
[ "$RC" -ne 0 ] && grep -q 'Symbol not found: no.such.Symbol' "$WORK/out" \
    || fail "describe of an unknown symbol: exit $RC, $(cat "$WORK/out")"
ok "describe of a field works; of an unknown symbol fails with 'Symbol not found'"

# --- grpcurl: calls written in JSON, schema from reflection ---
echo "tensorwire.v1.Inference with grpcurl (JSON, no -proto):"
# sklearn's digits.data[0]: an 8x8 zero. Typed floatData, dtype left out.
PIXELS='0,0,5,13,9,1,0,0, 0,0,13,15,10,15,5,0, 0,3,15,2,0,11,8,0, 0,4,12,0,0,8,8,0,
        0,5,8,0,0,9,8,0, 0,4,11,0,1,12,7,0, 0,2,14,5,10,12,0,0, 0,0,6,13,10,0,0,0'
grpcurl_run -d "{\"model\": \"digits\", \"inputs\": [{\"name\": \"X\", \"shape\": [1, 64], \"floatData\": [$PIXELS]}]}" \
    "$ADDRESS" tensorwire.v1.Inference/Predict
[ "$RC" -eq 0 ] || fail "Predict exited $RC: $(cat "$WORK/out")"
json_expect '{o["name"] for o in d["outputs"]} == {"label", "probabilities"}' "Predict outputs"
json_expect '[o for o in d["outputs"] if o["name"] == "label"][0]["int64Data"] == ["0"]' "Predict label"
json_expect '[o for o in d["outputs"] if o["name"] == "label"][0]["dtype"] == "DATA_TYPE_INT64"' "label dtype"
json_expect '(lambda p: p["shape"] == ["1", "10"] and len(p["floatData"]) == 10
             and abs(sum(p["floatData"]) - 1) < 1e-3)([o for o in d["outputs"] if o["name"] == "probabilities"][0])' \
    "Predict probabilities"
json_expect 'd["batch"]["batchSize"] >= 1' "Predict batch facts"
ok "Predict (floatData, no dtype): label [0] INT64, probabilities [1,10] summing to 1, batch facts"

grpcurl_run -d '{"model": "digits"}' "$ADDRESS" tensorwire.v1.Inference/GetModel
[ "$RC" -eq 0 ] || fail "GetModel exited $RC: $(cat "$WORK/out")"
json_expect 'd["name"] == "digits" and d["state"] == "MODEL_STATE_READY"
             and d["inputs"][0]["name"] == "X" and d["inputs"][0]["shape"] == ["-1", "64"]' "GetModel"
ok "GetModel digits: READY, input X [-1, 64]"

grpcurl_run "$ADDRESS" tensorwire.v1.Inference/ListModels
[ "$RC" -eq 0 ] || fail "ListModels exited $RC: $(cat "$WORK/out")"
json_expect '[m["name"] for m in d["models"]] == ["digits"]' "ListModels"
ok "ListModels: [digits]"

# grpcurl exits 64 + the status code.
grpcurl_run -d '{"model": "digits", "inputs": [{"name": "X", "shape": [1, 64], "floatData": [1, 2, 3]}]}' \
    "$ADDRESS" tensorwire.v1.Inference/Predict
[ "$RC" -eq 67 ] && grep -q "Code: InvalidArgument" "$WORK/out" && grep -q 'input "X"' "$WORK/out" \
    || fail "Predict with 3 of 64 values: exit $RC, $(cat "$WORK/out")"
grpcurl_run -d '{"model": "nope"}' "$ADDRESS" tensorwire.v1.Inference/GetModel
[ "$RC" -eq 69 ] && grep -q "Code: NotFound" "$WORK/out" || fail "GetModel nope: exit $RC, $(cat "$WORK/out")"
ok "Predict with a short input: InvalidArgument (exit 67); GetModel of an unknown model: NotFound (exit 69)"

# --- grpcurl: health ---
echo "grpc.health.v1.Health with grpcurl:"
grpcurl_run "$ADDRESS" grpc.health.v1.Health/Check
[ "$RC" -eq 0 ] || fail "Check {} exited $RC: $(cat "$WORK/out")"
json_expect 'd == {"status": "SERVING"}' "Check {}"
while read -r service; do
    grpcurl_run -d "{\"service\": \"$service\"}" "$ADDRESS" grpc.health.v1.Health/Check
    [ "$RC" -eq 0 ] || fail "Check $service exited $RC: $(cat "$WORK/out")"
    json_expect 'd == {"status": "SERVING"}' "Check $service"
done < <(echo; cat "$WORK/listed")
ok "Check of {}, \"\" and each listed service: SERVING"
grpcurl_run -d '{"service": "no.such.Service"}' "$ADDRESS" grpc.health.v1.Health/Check
[ "$RC" -eq 69 ] && grep -q "Code: NotFound" "$WORK/out" \
    || fail "Check of an unknown service: exit $RC, $(cat "$WORK/out")"
ok "Check of an unknown service: NotFound (exit 69)"

# Watch streams until cancelled: read the first message, then stop grpcurl.
watch_first() {
    local out=$WORK/watch-$1.out
    "$GRPCURL" -plaintext -d "{\"service\": \"$2\"}" "$ADDRESS" grpc.health.v1.Health/Watch > "$out" 2>&1 &
    local pid=$!
    WATCH_PIDS+=("$pid")
    wait_for_line "$out" "  \"status\": \"$3\""
    kill -0 "$pid" 2>/dev/null || fail "Watch $2 ended after its first message: $(cat "$out")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}
watch_first all "" SERVING
watch_first inference tensorwire.v1.Inference SERVING
watch_first unknown no.such.Service SERVICE_UNKNOWN
ok "Watch of \"\" and tensorwire.v1.Inference: SERVING first; of an unknown service: SERVICE_UNKNOWN, stream open"

# --- grpcio's health and reflection clients ---
echo "grpcio clients (grpcio-health-checking, grpcio-reflection v1alpha and v1):"
"$PYTHON" "$PEERS" check --port "$SERVER_PORT" --proto-dir Proto || fail "grpcio peers"
stop_server || fail "server exited with status $? on SIGTERM"

# --- drain: watchers see NOT_SERVING, then their streams end with OK (they do not hold the drain open: with a 30 s
# grace period a watch that stayed open would be cut when the connection is force-closed, and grpcurl would print an
# error) ---
echo "drain on SIGTERM:"
start_server --drain-seconds 30
ADDRESS=127.0.0.1:$SERVER_PORT
"$GRPCURL" -plaintext -d '{"service": ""}' "$ADDRESS" grpc.health.v1.Health/Watch > "$WORK/drain-grpcurl.out" 2>&1 &
WATCH_PIDS+=("$!")
GRPCURL_WATCH=$!
"$PYTHON" "$PEERS" watch --port "$SERVER_PORT" > "$WORK/drain-grpcio.out" 2>&1 &
WATCH_PIDS+=("$!")
GRPCIO_WATCH=$!
wait_for_line "$WORK/drain-grpcurl.out" '  "status": "SERVING"'
wait_for_line "$WORK/drain-grpcio.out" SERVING
stop_server || fail "server exited with status $? on SIGTERM"
# Both streams have ended once the server is gone; their outputs are complete.
wait "$GRPCURL_WATCH" 2>/dev/null || true
wait "$GRPCIO_WATCH" 2>/dev/null || true
tr -d ' \n' < "$WORK/drain-grpcurl.out" | grep -qx '{"status":"SERVING"}{"status":"NOT_SERVING"}' \
    || fail "grpcurl watcher during the drain: $(cat "$WORK/drain-grpcurl.out")"
paste -sd' ' "$WORK/drain-grpcio.out" | grep -Eq '^SERVING NOT_SERVING END OK$' \
    || fail "grpcio watcher during the drain: $(cat "$WORK/drain-grpcio.out")"
ok "grpcurl and grpcio watchers of \"\": SERVING, then NOT_SERVING, then the stream ends with OK; server exit 0"
echo "grpcurl-health-reflection: all checks passed"

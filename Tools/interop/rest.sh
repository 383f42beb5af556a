#!/usr/bin/env bash
# REST beside gRPC on one port (issue 17), with real HTTP peers:
#  1. curl (HTTP/1.1 and h2c prior knowledge), Python requests and raw sockets against the built-in digits model:
#     every KServe v2 HTTP route and the native /v1 routes, JSON and binary tensors against onnxruntime, /v1 answers
#     equal to gRPC Predict bit for bit, keep-alive, pipelining, Expect: 100-continue, chunked bodies, 413, and the
#     hostile HTTP/1.1 corpus (Tools/fixtures/http1/hostile.json) after which the server still answers
#     (Tools/interop/rest/check_rest.py); tritonclient.http sync and async.
#  2. Slow clients: a request head that does not complete and a body that stalls are closed after
#     --http-head-timeout-seconds / --http-body-timeout-seconds (1 s here), and other clients are served meanwhile.
#  3. --http-port: the second port answers REST.
#  4. perf_analyzer -i http (sync and --async, concurrency 1 and 4) against digits: exit 0, a throughput, and the
#     server-side statistics it reads over HTTP.
# Run from the repository root after the debug build and `Tools/setup --python`. Never asserts timings.
source "$(dirname "$0")/lib.sh"

FIXTURES=Tests/InferenceTests/Fixtures
status=0

echo "== rest: curl, requests, tritonclient.http, raw HTTP/1.1 against the built-in digits model"
start_server
"$PYTHON" Tools/interop/rest/check_rest.py --url "127.0.0.1:$SERVER_PORT" --onnx "$FIXTURES/digits.onnx" || status=1
stop_server || { echo "rest: the server did not drain cleanly"; status=1; }

echo "== rest: slow clients are closed (head and body timeouts of 1 s)"
start_server --http-head-timeout-seconds 1 --http-body-timeout-seconds 1
"$PYTHON" Tools/interop/rest/slow_clients.py --url "127.0.0.1:$SERVER_PORT" || status=1
stop_server || { echo "rest: the slow-client server did not drain cleanly"; status=1; }

echo "== rest: --http-port serves REST on a second port"
start_server --http-port 0
http_port=$(sed -n 's/.* and [^ ]*:\([0-9]*\) (REST).*/\1/p' "$SERVER_LOG" | head -1)
if [ -n "$http_port" ] && curl -sf "http://127.0.0.1:$http_port/v2/health/ready" | grep -q '"ready":true'; then
    echo "  ok   GET /v2/health/ready on --http-port $http_port"
else
    echo "  FAIL --http-port: no answer on '$http_port'"; cat "$SERVER_LOG"; status=1
fi
stop_server || { echo "rest: the --http-port server did not drain cleanly"; status=1; }

echo "== rest: perf_analyzer -i http against digits"
start_server
for mode in sync --async; do
    for concurrency in 1 4; do
        perf_analyzer_check http digits "$mode" "$concurrency" || status=1
    done
done
stop_server || { echo "rest: the perf_analyzer server did not drain cleanly"; status=1; }

if [ "$status" -eq 0 ]; then echo "rest: all checks passed"; else echo "rest: FAILED"; fi
exit $status

#!/usr/bin/env bash
# Observability (issue 18) with real peers: a server with --access-log --log-format json and --metrics-port, driven
# by grpcio and requests with known outcomes (OK, INVALID_ARGUMENT, NOT_FOUND; gRPC and HTTP; native and KServe), a
# real Prometheus (Debian's) scraping /metrics, PromQL counts through its HTTP API, promtool on both expositions, the
# JSON log lines and the access log, traceparent round trips (Tools/interop/metrics/check_observability.py); and the
# Grafana dashboard against the metric catalogue (Tools/check-dashboard). Never asserts timings.
source "$(dirname "$0")/lib.sh"

status=0
echo "== metrics: Prometheus, promtool, JSON and access logs, traceparent"
start_server --access-log --log-format json --metrics-port 0
# The JSON start-up line names the metrics port: "... and 127.0.0.1:PORT (metrics), ...".
metrics_port=$(sed -n 's/.* and [^ ]*:\([0-9]*\) (metrics).*/\1/p' "$SERVER_LOG" | head -1)
"$PYTHON" Tools/interop/metrics/check_observability.py --url "127.0.0.1:$SERVER_PORT" --metrics-port "$metrics_port" \
    --server-log "$SERVER_LOG" || status=1
stop_server || { echo "metrics: the server did not drain cleanly"; status=1; }

echo "== metrics: the Grafana dashboard names only catalogued metrics"
Tools/check-dashboard || status=1

if [ "$status" -eq 0 ]; then echo "metrics: all checks passed"; else echo "metrics: FAILED"; fi
exit $status

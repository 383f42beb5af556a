"""Observability against a running tensorwire-server (started with --access-log --log-format json, its stderr in
--server-log) and a real Prometheus (Debian's) scraping it: after a known set of requests over gRPC (grpcio) and HTTP
(requests), native and KServe, successes, INVALID_ARGUMENT and NOT_FOUND, PromQL through Prometheus's HTTP API
returns exactly those counts and every histogram's _count equals them; `promtool check metrics` accepts both
expositions; every JSON log line parses, the access log has one line per request with the keys of docs/operations.md;
W3C traceparent round-trips (same trace id back, a new span id, the trace id on the access line). Exits non-zero on
failure. Waits for Prometheus by polling its API under a deadline (a guard), never by sleeping a fixed time.

  check_observability.py --url 127.0.0.1:PORT --metrics-port PORT --server-log FILE
"""
import argparse
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import grpc
import requests
from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ACCESS_KEYS = {"peer", "protocol", "route", "model", "version", "status", "duration_us", "queue_us", "compute_us",
               "batch_size", "request_id", "trace_id"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
failures = []


def check(condition, what):
    print(f"  {'ok  ' if condition else 'FAIL'} {what}")
    if not condition:
        failures.append(what)


def native_stubs():
    out = tempfile.mkdtemp()
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    # KServe's files import each other by bare name, so their folder is an include root of its own.
    for root, files in ((f"{ROOT}/Proto", ["tensorwire/v1/inference.proto"]),
                        (f"{ROOT}/Proto/inference", ["grpc_service.proto", "model_config.proto"])):
        if protoc.main(["protoc", f"-I{root}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}",
                        *files]) != 0:
            raise SystemExit("protoc failed")
    sys.path.insert(0, out)
    return (importlib.import_module("tensorwire.v1.inference_pb2"), importlib.import_module("tensorwire.v1.inference_pb2_grpc"),
            importlib.import_module("grpc_service_pb2"), importlib.import_module("grpc_service_pb2_grpc"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def traceparent(span):
    return f"00-{TRACE_ID}-{span}-01"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--server-log", required=True)
    args = parser.parse_args()
    host, port = args.url.rsplit(":", 1)
    base = f"http://{args.url}"
    pb, pb_grpc, kpb, kpb_grpc = native_stubs()
    row = [float(i % 16) for i in range(64)]
    expected = {}  # (protocol, api, code) -> count

    def count(protocol, api, code, n=1):
        expected[(protocol, api, code)] = expected.get((protocol, api, code), 0) + n

    print("== requests with known outcomes")
    spans = []
    with grpc.insecure_channel(args.url) as channel:
        native = pb_grpc.InferenceStub(channel)
        kserve = kpb_grpc.GRPCInferenceServiceStub(channel)
        good = pb.PredictRequest(model="digits", inputs=[pb.Tensor(name="X", dtype=pb.DATA_TYPE_FLOAT32, shape=[1, 64],
                                                                    float_data=row)])
        for i in range(5):
            _, call = native.Predict.with_call(good, metadata=[("traceparent", traceparent("00f067aa0ba902b7"))])
            spans += [v for k, v in call.initial_metadata() if k == "traceparent"]
            count("grpc", "native", "OK")
        bad = pb.PredictRequest(model="digits", inputs=[pb.Tensor(name="X", dtype=pb.DATA_TYPE_FLOAT32, shape=[1, 3],
                                                                   float_data=[1, 2, 3])])
        for _ in range(2):
            try:
                native.Predict(bad)
            except grpc.RpcError as error:
                check(error.code() == grpc.StatusCode.INVALID_ARGUMENT, f"gRPC wrong shape: {error.code()}")
            count("grpc", "native", "INVALID_ARGUMENT")
        for _ in range(3):
            try:
                native.Predict(pb.PredictRequest(model="nope"))
            except grpc.RpcError as error:
                check(error.code() == grpc.StatusCode.NOT_FOUND, f"gRPC unknown model: {error.code()}")
            count("grpc", "native", "NOT_FOUND")
        infer = kpb.ModelInferRequest(model_name="digits", inputs=[kpb.ModelInferRequest.InferInputTensor(
            name="X", datatype="FP32", shape=[1, 64], contents=kpb.InferTensorContents(fp32_contents=row))])
        for _ in range(2):
            kserve.ModelInfer(infer)
            count("grpc", "kserve", "OK")
    with requests.Session() as http:
        body = {"inputs": [{"name": "X", "shape": [1, 64], "floatData": row}]}
        for _ in range(4):
            reply = http.post(base + "/v1/models/digits:predict", json=body, timeout=10,
                              headers={"traceparent": traceparent("b7ad6b7169203331")})
            check(reply.status_code == 200, f"HTTP predict {reply.status_code}")
            spans.append(reply.headers.get("traceparent", ""))
            count("http", "native", "OK")
        kbody = {"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": row}]}
        for _ in range(3):
            check(http.post(base + "/v2/models/digits/infer", json=kbody, timeout=10).status_code == 200, "HTTP infer")
            count("http", "kserve", "OK")
        wrong = {"inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
        check(http.post(base + "/v2/models/digits/infer", json=wrong, timeout=10).status_code == 400, "HTTP wrong shape")
        count("http", "kserve", "INVALID_ARGUMENT")
        for _ in range(2):
            check(http.post(base + "/v2/models/nope/infer", json=kbody, timeout=10).status_code == 404, "HTTP unknown")
            count("http", "kserve", "NOT_FOUND")
    total = sum(expected.values())

    print("== traceparent round-trips")
    check(len(spans) == 9 and all(s.startswith(f"00-{TRACE_ID}-") for s in spans),
          f"9 answers carry the caller's trace id: {spans[:2]}")
    check(all(s.split("-")[2] not in ("00f067aa0ba902b7", "b7ad6b7169203331") for s in spans) and len(set(spans)) == 9,
          "each answer has a new span id of the server's")

    print("== /metrics and promtool")
    text = requests.get(base + "/metrics", timeout=10).text
    on_port = requests.get(f"http://{host}:{args.metrics_port}/metrics", timeout=10)
    check(on_port.status_code == 200 and "tensorwire_requests_total" in on_port.text, "--metrics-port serves /metrics")
    check(requests.get(f"http://{host}:{args.metrics_port}/v2/health/ready", timeout=10).status_code == 404,
          "--metrics-port serves nothing else")
    for name, body in (("text 0.0.4", text), ("from --metrics-port", on_port.text)):
        result = subprocess.run(["promtool", "check", "metrics"], input=body.encode(), capture_output=True)
        check(result.returncode == 0, f"promtool check metrics ({name}): {result.stdout.decode()[:200]}{result.stderr.decode()[:200]}")
    openmetrics = requests.get(base + "/metrics", timeout=10, headers={
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"})
    check(openmetrics.headers.get("content-type", "").startswith("application/openmetrics-text")
          and openmetrics.text.rstrip().endswith("# EOF"), "OpenMetrics by Accept")

    print("== a real Prometheus scrapes it")
    workdir = tempfile.mkdtemp()
    prom_port = free_port()
    with open(os.path.join(workdir, "prometheus.yml"), "w") as f:
        f.write(f"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tensorwire\n"
                f"    static_configs:\n      - targets: ['{args.url}']\n")
    prom = subprocess.Popen(["prometheus", f"--config.file={workdir}/prometheus.yml", f"--storage.tsdb.path={workdir}/data",
                             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(workdir, "prometheus.log"), "w"))
    api = f"http://127.0.0.1:{prom_port}/api/v1/query"

    def query(expression):
        reply = requests.get(api, params={"query": expression}, timeout=5).json()
        return reply["data"]["result"]

    try:
        deadline = time.monotonic() + 60
        result = []
        while time.monotonic() < deadline:
            try:
                result = query("sum(tensorwire_requests_total)")
                if result and float(result[0]["value"][1]) >= total:
                    break
            except (requests.ConnectionError, KeyError, ValueError):
                pass
            time.sleep(0.2)  # polling Prometheus under the deadline above; the deadline is only a failure guard
        check(bool(result) and float(result[0]["value"][1]) == total, f"sum(tensorwire_requests_total) == {total}: {result}")
        by_outcome = query("sum by (protocol, api, code) (tensorwire_requests_total)")
        got = {(r["metric"]["protocol"], r["metric"]["api"], r["metric"]["code"]): int(float(r["value"][1]))
               for r in by_outcome}
        check(got == expected, f"by protocol, api, code: {sorted(got.items())} want {sorted(expected.items())}")
        unknown = query('sum(tensorwire_requests_total{model=""})')
        check(unknown and float(unknown[0]["value"][1]) == 5, f"unknown models counted under model=\"\": {unknown}")
        counts = query("sum(tensorwire_request_duration_seconds_count)")
        check(counts and float(counts[0]["value"][1]) == total, f"request_duration _count == {total}: {counts}")
        ok = sum(v for (p, a, c), v in expected.items() if c == "OK")
        queued = query("sum(tensorwire_queue_duration_seconds_count)")
        check(queued and float(queued[0]["value"][1]) == ok, f"queue_duration _count == {ok} successes: {queued}")
        rows = query("sum(tensorwire_inference_rows_total)")
        sizes = query("sum(tensorwire_batch_size_sum)")
        check(rows and sizes and float(rows[0]["value"][1]) == float(sizes[0]["value"][1]) == ok,
              f"rows inferred == batch_size sum == {ok}: {rows} {sizes}")
        for name in ("tensorwire_batches_total", "tensorwire_queue_depth", "tensorwire_inflight_requests",
                     "tensorwire_model_state", "tensorwire_open_connections", "tensorwire_active_streams",
                     "tensorwire_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_start_time_seconds"):
            check(bool(query(name)), f"Prometheus has {name}")
        state = query('tensorwire_model_state{model="digits",state="READY"}')
        check(state and float(state[0]["value"][1]) == 1, "digits is READY")
    finally:
        prom.terminate()
        prom.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    print("== logs: JSON lines, one access line per request")
    with open(args.server_log, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            check(False, f"log line is JSON: {line[:120]!r}")
    check(all({"ts", "level", "component", "msg"} <= set(p) for p in parsed), f"{len(parsed)} lines carry ts, level, component, msg")
    access = [p for p in parsed if p.get("component") == "access"]
    inference = [a for a in access if a.get("route", "").endswith(("/Predict", "/ModelInfer", ":predict", "/infer"))]
    check(len(inference) == total, f"one access line per inference request: {len(inference)} for {total}")
    check(all(ACCESS_KEYS <= set(a) for a in access), "access lines carry " + ", ".join(sorted(ACCESS_KEYS)))
    traced = [a for a in access if a.get("trace_id") == TRACE_ID]
    check(len(traced) == 9, f"the trace id is on the 9 traced requests' lines: {len(traced)}")
    statuses = sorted({a["status"] for a in inference})
    check(statuses == ["INVALID_ARGUMENT", "NOT_FOUND", "OK"], f"access statuses {statuses}")
    startup = [p["msg"] for p in parsed if p.get("component") == "server"]
    check(any("listening on" in m for m in startup) and any(m.startswith("model digits version 1: READY") for m in startup)
          and any(m.startswith("options: ") for m in startup), "start-up logs the addresses, each model, the options")

    if failures:
        print(f"check_observability: {len(failures)} FAILED")
        return 1
    print("check_observability: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

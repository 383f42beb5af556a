"""REST against a running tensorwire-server serving the built-in `digits` model: every route with curl (HTTP/1.1 and
h2c prior knowledge) and Python `requests`, JSON and binary tensors compared with onnxruntime, native /v1 answers
equal to gRPC Predict bit for bit, tritonclient.http (sync and async), HTTP/1.1 keep-alive, pipelining,
`Expect: 100-continue`, and the hostile HTTP/1.1 corpus (Tools/fixtures/http1/hostile.json), after which the server
must still answer. Exits non-zero on failure.

  check_rest.py --url 127.0.0.1:PORT --onnx PATH/digits.onnx
"""
import argparse
import importlib
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile

import grpc
import numpy as np
import onnxruntime as ort
import requests
import tritonclient.http as httpclient
from grpc_tools import protoc
from tritonclient.utils import InferenceServerException

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TOLERANCE = 1e-5
failures = []


def check(condition, what):
    print(f"  {'ok  ' if condition else 'FAIL'} {what}")
    if not condition:
        failures.append(what)


def curl(*args, data=None):
    """curl -s with the status code appended on its own line; returns (status, body bytes)."""
    command = ["curl", "-s", "-S", "--max-time", "20", "-w", "\n%{http_code}", *args]
    result = subprocess.run(command, input=data, capture_output=True, timeout=30)
    body, _, code = result.stdout.rpartition(b"\n")
    return int(code or b"0"), body


def native_stubs():
    out = tempfile.mkdtemp()
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    if protoc.main(["protoc", f"-I{ROOT}/Proto", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}",
                    "tensorwire/v1/inference.proto"]) != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, out)
    return importlib.import_module("tensorwire.v1.inference_pb2"), importlib.import_module(
        "tensorwire.v1.inference_pb2_grpc")


def raw_exchange(host, port, payload, read_timeout=10.0, until_close=False):
    """Sends raw bytes, returns what came back (until the server closes, or a read times out when it keeps the
    connection open)."""
    with socket.create_connection((host, port), timeout=read_timeout) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if not until_close and b"\r\n\r\n" in b"".join(chunks):
                    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if len(rest) >= length:
                        break
        except socket.timeout:
            pass
        return b"".join(chunks)


def parse_responses(data):
    """Splits HTTP/1.1 responses (content-length framed); returns [(status, headers dict, body)]."""
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode()] = value.strip().decode()
        if status == 100:
            responses.append((100, headers, b""))
            data = rest
            continue
        length = int(headers.get("content-length", "0"))
        responses.append((status, headers, rest[:length]))
        data = rest[length:]
    return responses


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--corpus", default=os.path.join(ROOT, "Tools/fixtures/http1/hostile.json"))
    args = parser.parse_args()
    host, port = args.url.rsplit(":", 1)
    port = int(port)
    base = f"http://{args.url}"
    session = ort.InferenceSession(args.onnx)
    rng = np.random.default_rng(17)
    x = rng.uniform(0, 16, size=(3, 64)).astype(np.float32)
    expected = session.run(None, {"X": x})
    labels, probabilities = expected[0], expected[1]

    print("== routes with curl (HTTP/1.1)")
    for path, status in [("/v2", 200), ("/v2/health/live", 200), ("/v2/health/ready", 200),
                         ("/v2/models/digits", 200), ("/v2/models/digits/versions/1", 200),
                         ("/v2/models/digits/ready", 200), ("/v2/models/digits/config", 200),
                         ("/v2/models/digits/stats", 200), ("/v2/models/stats", 200), ("/v1/models", 200),
                         ("/v1/models/digits", 200), ("/v2/models/nope", 404), ("/v2/models/nope/ready", 400),
                         ("/v1/models/nope", 404), ("/no/such/route", 404)]:
        code, body = curl(base + path)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        check(code == status and parsed is not None, f"GET {path} -> {code} (want {status}), JSON body")
        if path.endswith("/ready") and status >= 400:
            check(parsed == {"ready": False}, f"GET {path}: {parsed}")
        elif status >= 400:
            check(isinstance(parsed, dict) and isinstance(parsed.get("error"), str), f"GET {path}: {{\"error\": ...}}")
    code, body = curl("-X", "POST", base + "/v2/health/ready")
    check(code == 405, f"POST /v2/health/ready -> {code} (want 405)")
    meta = json.loads(curl(base + "/v2")[1])
    check(meta.get("name") == "tensorwire" and "extensions" in meta, f"server metadata {meta}")
    model_meta = json.loads(curl(base + "/v2/models/digits")[1])
    check(model_meta.get("name") == "digits" and model_meta["inputs"][0]["name"] == "X"
          and model_meta["inputs"][0]["datatype"] == "FP32", f"model metadata names input X FP32")
    config = json.loads(curl(base + "/v2/models/digits/config")[1])
    check(isinstance(config.get("max_batch_size"), int) and config["max_batch_size"] > 0,
          f"config max_batch_size is a number: {config.get('max_batch_size')!r}")
    code, body = curl("-X", "POST", "-d", "{}", base + "/v2/repository/index")
    index = json.loads(body) if code == 200 else None
    check(code == 200 and isinstance(index, list) and index[0]["name"] == "digits", f"repository index {body[:100]!r}")
    code, body = curl("-X", "POST", base + "/v2/repository/models/digits/unload")
    check(code >= 400 and "error" in json.loads(body), f"unload without --model-control explicit refused: {code}")

    print("== KServe infer with JSON tensors (curl) and binary tensors (requests)")
    request = {"inputs": [{"name": "X", "shape": [3, 64], "datatype": "FP32", "data": x.flatten().tolist()}]}
    code, body = curl("-X", "POST", "-H", "Content-Type: application/json", "-d", json.dumps(request),
                      "-D", "-", base + "/v2/models/digits/infer")
    head, _, payload = body.partition(b"\r\n\r\n")
    answer = json.loads(payload)
    outputs = {o["name"]: o for o in answer["outputs"]}
    got = np.array(outputs["probabilities"]["data"], dtype=np.float32).reshape(outputs["probabilities"]["shape"])
    check(code == 200 and np.allclose(got, probabilities, atol=TOLERANCE), "JSON infer probabilities = onnxruntime")
    check(list(outputs["label"]["data"]) == labels.tolist(), "JSON infer labels = onnxruntime")
    check(b"tw-batch-size:" in head.lower() and b"tw-queue-us:" in head.lower() and b"tw-compute-us:" in head.lower(),
          "batching facts in tw-* headers")
    header = json.dumps({"inputs": [{"name": "X", "shape": [3, 64], "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}).encode()
    reply = requests.post(base + "/v2/models/digits/infer", data=header + x.tobytes(),
                          headers={"Inference-Header-Content-Length": str(len(header)),
                                   "Content-Type": "application/octet-stream"}, timeout=20)
    length = int(reply.headers.get("Inference-Header-Content-Length", "-1"))
    check(reply.status_code == 200 and length > 0, f"binary infer -> {reply.status_code}, JSON part {length} bytes")
    if length > 0:
        meta_part = json.loads(reply.content[:length])
        out = meta_part["outputs"][0]
        size = out["parameters"]["binary_data_size"]
        got = np.frombuffer(reply.content[length:length + size], dtype="<f4").reshape(out["shape"])
        check(np.allclose(got, probabilities, atol=TOLERANCE), "binary infer probabilities = onnxruntime")
    bad = requests.post(base + "/v2/models/digits/infer", json={"inputs": [{"name": "X", "shape": [1, 3],
                        "datatype": "FP32", "data": [1, 2, 3]}]}, timeout=20)
    check(bad.status_code == 400 and "error" in bad.json(), f"wrong shape -> {bad.status_code} {bad.text[:120]!r}")
    bad = requests.post(base + "/v2/models/digits/infer", data=b"{not json", timeout=20)
    check(bad.status_code == 400 and "error" in bad.json(), f"broken JSON -> {bad.status_code}")
    missing = requests.post(base + "/v2/models/nope/infer", json=request, timeout=20)
    check(missing.status_code == 404, f"unknown model infer -> {missing.status_code}")

    print("== native /v1 predict: the grpcurl JSON, equal to gRPC Predict bit for bit")
    pb, pb_grpc = native_stubs()
    row = x[:1]
    native_json = {"model": "digits", "inputs": [{"name": "X", "shape": [1, 64], "floatData": row.flatten().tolist()}]}
    code, body = curl("-d", json.dumps(native_json), base + "/v1/models/digits:predict")
    check(code == 200, f"curl -d predict -> {code} {body[:120]!r}")
    rest_answer = json.loads(body)
    with grpc.insecure_channel(args.url) as channel:
        stub = pb_grpc.InferenceStub(channel)
        grpc_answer = stub.Predict(pb.PredictRequest(model="digits", inputs=[pb.Tensor(
            name="X", dtype=pb.DATA_TYPE_FLOAT32, shape=[1, 64], float_data=row.flatten().tolist())]))
    from google.protobuf import json_format
    parsed = json_format.Parse(body, pb.PredictResponse(), ignore_unknown_fields=False)
    for message in (parsed, grpc_answer):
        message.ClearField("batch")
    check(parsed == grpc_answer, "native JSON answer == gRPC answer (floats bit for bit)")
    check("batch" in rest_answer, "native answer carries batch facts")
    body_only = dict(native_json)
    del body_only["model"]
    code, _ = curl("-d", json.dumps(body_only), base + "/v1/models/digits:predict")
    check(code == 200, f"model may be left out of the body -> {code}")
    code, body = curl("-d", json.dumps(dict(native_json, model="other")), base + "/v1/models/digits:predict")
    check(code == 400 and b"URL" in body, f"body model must match the URL -> {code}")
    code, body = curl("-d", json.dumps({"model": "digits", "bogus": 1}), base + "/v1/models/digits:predict")
    check(code == 400, f"unknown JSON field -> {code}")

    print("== h2c (curl --http2-prior-knowledge)")
    code, body = curl("--http2-prior-knowledge", base + "/v2/health/ready")
    check(code == 200 and json.loads(body).get("ready") is True, f"h2c GET ready -> {code} {body!r}")
    code, body = curl("--http2-prior-knowledge", "-H", "Content-Type: application/json", "-d", json.dumps(request),
                      base + "/v2/models/digits/infer")
    check(code == 200 and len(json.loads(body)["outputs"]) == 2, f"h2c POST infer -> {code}")

    print("== tritonclient.http (sync and async)")
    client = httpclient.InferenceServerClient(url=args.url, concurrency=4)
    check(client.is_server_live() and client.is_server_ready() and client.is_model_ready("digits"), "live/ready")
    check(client.get_model_metadata("digits")["name"] == "digits", "get_model_metadata")
    check(client.get_model_config("digits").get("name") == "digits", "get_model_config")
    before = client.get_inference_statistics("digits")["model_stats"][0]["inference_stats"]["success"]["count"]
    for binary in (False, True):
        inp = httpclient.InferInput("X", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        outs = [httpclient.InferRequestedOutput("probabilities", binary_data=binary),
                httpclient.InferRequestedOutput("label", binary_data=binary)]
        result = client.infer("digits", [inp], outputs=outs)
        check(np.allclose(result.as_numpy("probabilities"), probabilities, atol=TOLERANCE)
              and result.as_numpy("label").tolist() == labels.tolist(), f"tritonclient.http infer binary={binary}")
    pending = []
    for i in range(8):
        inp = httpclient.InferInput("X", [1, 64], "FP32")
        inp.set_data_from_numpy(x[i % 3:i % 3 + 1], binary_data=True)
        pending.append((i % 3, client.async_infer("digits", [inp])))
    ok = all(np.allclose(p.get_result().as_numpy("probabilities"), probabilities[r:r + 1], atol=TOLERANCE)
             for r, p in pending)
    check(ok, "tritonclient.http async_infer x8")
    after = client.get_inference_statistics("digits")["model_stats"][0]["inference_stats"]["success"]["count"]
    check(int(after) - int(before) == 10, f"statistics count the HTTP requests: {before} -> {after}")
    try:
        client.infer("nope", [inp])
        check(False, "unknown model raises")
    except InferenceServerException as error:
        check("nope" in (error.message() or ""), f"unknown model: {error.message()!r}")
    client.close()

    print("== HTTP/1.1 keep-alive, pipelining, Expect: 100-continue, HTTP/1.0")
    with requests.Session() as keep:
        replies = [keep.get(base + "/v2/health/live", timeout=10) for _ in range(5)]
        check(all(r.status_code == 200 for r in replies), "5 requests on one keep-alive session")
    one = f"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    infer_body = json.dumps(request).encode()
    post = (f"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {len(infer_body)}\r\n\r\n").encode()
    last = b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = raw_exchange(host, port, one + post + infer_body + one + last, until_close=True)
    responses = parse_responses(data)
    statuses = [r[0] for r in responses]
    check(statuses == [200, 200, 200, 200], f"4 pipelined requests answered in order: {statuses}")
    if len(responses) == 4:
        check(b'"outputs"' in responses[1][2] and b'"live"' in responses[0][2] and b'"ready"' in responses[3][2],
              "pipelined answers are the right ones, in order")
        check(responses[3][1].get("connection") == "close", "Connection: close is honoured")
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall((f"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      f"Content-Length: {len(infer_body)}\r\n\r\n").encode())
        interim = sock.recv(4096)
        check(interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), f"100 Continue before the body: {interim[:40]!r}")
        sock.sendall(infer_body)
        rest = b""
        while b'"outputs"' not in rest:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        check(rest.startswith(b"HTTP/1.1 200"), "then 200")
    data = raw_exchange(host, port, b"GET /v2/health/live HTTP/1.0\r\n\r\n", until_close=True)
    check(data.startswith(b"HTTP/1.1 200") and b"connection: close" in data.lower(), "HTTP/1.0 answered, then closed")
    chunked = (b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + f"{len(infer_body):x}\r\n".encode() + infer_body + b"\r\n0\r\n\r\n")
    data = raw_exchange(host, port, chunked)
    check(data.startswith(b"HTTP/1.1 200") and b'"outputs"' in data, "chunked request body")
    data = raw_exchange(host, port, b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: 999999999999\r\n\r\n", until_close=True)
    check(data.startswith(b"HTTP/1.1 413"), f"Content-Length over the limit -> 413 before the body: {data[:30]!r}")

    print("== hostile HTTP/1.1 corpus")
    with open(args.corpus, encoding="utf-8") as f:
        corpus = json.load(f)
    wrong = []
    sent = 0
    for case in corpus:
        payload = case["request"].encode("latin-1")
        if not re.match(rb"[A-Z]{1,16} ", payload) or payload.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
            # Only bytes that start like a request line reach the HTTP/1.1 parser on the shared port; the rest
            # (garbage, a TLS hello, the HTTP/2 preface) belong to HTTP/2 there. Tests/HTTP1Tests replays them all.
            continue
        sent += 1
        if case["status"] == 0:
            # An unfinished request is not an error: the server waits for the rest (the head/body timeouts end
            # it; slow_clients.py checks those), so nothing comes back within a short read.
            data = raw_exchange(host, port, payload, read_timeout=1, until_close=True)
            if data:
                wrong.append(f"{case['name']}: answered {data[:40]!r} before the request was complete")
            continue
        data = raw_exchange(host, port, payload, read_timeout=10, until_close=True)
        status = int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else None
        if status != case["status"]:
            wrong.append(f"{case['name']}: got {status}, want {case['status']}")
        elif b'{"error":' not in data:
            wrong.append(f"{case['name']}: no {{\"error\"}} body")
    check(not wrong, f"{sent} hostile requests each get their status and an error body, then close"
          + "".join("\n       " + w for w in wrong[:20]))
    code, _ = curl(base + "/v2/health/live")
    check(code == 200, "the server still answers after the corpus")

    if failures:
        print(f"check_rest: {len(failures)} FAILED")
        return 1
    print("check_rest: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Batching against grpcio (issue 5): many concurrent unary callers and PredictStreams get exactly their own rows.

  batching_grpcio.py --server 127.0.0.1:PORT --check CHECK [--onnx PATH]

Checks (each prints `ok: ...` lines and exits non-zero on the first failure):
  results     single requests equal onnxruntime (1e-5); 32 concurrent unary callers and 4 concurrent streams of
              pipelined requests equal the single-request results (1e-5), ids echoed, responses in request order
  batched     (server started with a queue delay) concurrent unary callers report tw-batch-size > 1, and
              GetModel shows the flags the server was started with
  flood       one PredictStream with 3000 requests written as fast as grpcio will take them: flow control holds the
              client back, and no response is an in-stream RESOURCE_EXHAUSTED
  limits      a tiny grpc-timeout is DEADLINE_EXCEEDED; with --max-queue-size 1 every refused request is
              RESOURCE_EXHAUSTED naming the model and the limit
The tensorwire.v1 stubs are generated into a temporary directory with grpcio-tools.
"""
import argparse
import concurrent.futures
import importlib
import os
import sys
import tempfile

import grpc
import numpy as np
from grpc_tools import protoc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TOLERANCE = 1e-5


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def ok(message):
    print(f"  ok: {message}", flush=True)


def stubs(out_dir):
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = ["protoc", f"-I{os.path.join(ROOT, 'Proto')}", f"-I{include}", f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}", "tensorwire/v1/inference.proto"]
    if protoc.main(args) != 0:
        fail("protoc failed")
    sys.path.insert(0, out_dir)
    return importlib.import_module("tensorwire.v1.inference_pb2"), importlib.import_module("tensorwire.v1.inference_pb2_grpc")


class Digits:
    def __init__(self, pb, stub):
        self.pb, self.stub = pb, stub

    def request(self, index, rows):
        rng = np.random.default_rng(index)
        x = rng.integers(0, 17, size=(rows, 64)).astype("<f4")
        tensor = self.pb.Tensor(name="X", dtype=self.pb.DATA_TYPE_FLOAT32, shape=[rows, 64], raw_data=x.tobytes())
        return self.pb.PredictRequest(model="digits", id=f"r{index}", inputs=[tensor]), x

    def outputs(self, response):
        named = {}
        for tensor in response.outputs:
            if tensor.raw_data:
                dtype = "<f4" if tensor.dtype == self.pb.DATA_TYPE_FLOAT32 else "<i8"
                named[tensor.name] = np.frombuffer(tensor.raw_data, dtype=dtype).reshape(tensor.shape)
            elif len(tensor.float_data):
                named[tensor.name] = np.array(tensor.float_data, dtype=np.float32).reshape(tensor.shape)
            else:
                named[tensor.name] = np.array(tensor.int64_data, dtype=np.int64).reshape(tensor.shape)
        return named

    def same(self, a, b):
        """True when two responses (or output dicts) carry the same rows."""
        a = a if isinstance(a, dict) else self.outputs(a)
        b = b if isinstance(b, dict) else self.outputs(b)
        return (a["probabilities"].shape == b["probabilities"].shape
                and np.abs(a["probabilities"] - b["probabilities"]).max() <= TOLERANCE
                and np.array_equal(a["label"], b["label"]))


def requests_for(digits, count, offset=0):
    return [digits.request(offset + i, 1 + (offset + i) % 4) for i in range(count)]


def single_results(digits, requests):
    return [digits.stub.Predict(request, timeout=60) for request, _ in requests]


def check_results(digits, onnx_path):
    import onnxruntime as ort

    requests = requests_for(digits, 240)
    single = single_results(digits, requests)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for index, ((_, x), response) in enumerate(zip(requests, single)):
        reference = dict(zip(names, session.run(None, {session.get_inputs()[0].name: x})))
        if not digits.same(response, reference):
            fail(f"request {index}: Tensorwire differs from onnxruntime")
    ok(f"{len(requests)} single requests equal onnxruntime within {TOLERANCE}")

    channels = [grpc.insecure_channel(digits.address) for _ in range(4)]
    stubs_ = [digits.pb_grpc.InferenceStub(channel) for channel in channels]

    def call(index):
        response, rpc = stubs_[index % 4].Predict.with_call(requests[index][0], timeout=60)
        trailers = dict(rpc.trailing_metadata())
        return index, response, int(trailers.get("tw-batch-size", "0"))

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(call, range(len(requests))))
    sizes = []
    for index, response, size in results:
        if response.id != requests[index][0].id or not digits.same(response, single[index]):
            fail(f"concurrent unary request {index} differs from the single-request result")
        sizes.append(size)
    ok(f"{len(results)} concurrent unary calls (32 callers, 4 channels) equal single-request results; "
       f"tw-batch-size mean {np.mean(sizes):.1f}, max {max(sizes)}")

    def stream(part):
        chosen = list(range(part, len(requests), 4))
        responses = list(stubs_[part].PredictStream(iter([requests[i][0] for i in chosen]), timeout=120))
        return chosen, responses

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        streamed = list(pool.map(stream, range(4)))
    batch_sizes = []
    for chosen, responses in streamed:
        if [r.id for r in responses] != [requests[i][0].id for i in chosen]:
            fail("PredictStream responses are not in request order")
        for index, response in zip(chosen, responses):
            if response.HasField("error"):
                fail(f"stream request {index}: {response.error}")
            if not digits.same(response, single[index]):
                fail(f"stream request {index} differs from the single-request result")
            batch_sizes.append(response.batch.batch_size)
    ok(f"4 concurrent PredictStreams ({len(batch_sizes)} requests) equal single-request results, in order; "
       f"batch size mean {np.mean(batch_sizes):.1f}, max {max(batch_sizes)}")


def check_batched(digits):
    info = digits.stub.GetModel(digits.pb.GetModelRequest(model="digits"), timeout=30)
    if info.batching.max_queue_delay_us != 200000 or list(info.batching.preferred_batch_sizes) != [8]:
        fail(f"GetModel does not show the flags: {info.batching}")
    ok(f"GetModel shows the flags: max_batch_size {info.batching.max_batch_size}, max_queue_delay_us "
       f"{info.batching.max_queue_delay_us}, preferred {list(info.batching.preferred_batch_sizes)}")
    requests = requests_for(digits, 128, offset=5000)
    single = single_results(digits, requests)

    def call(index):
        response, rpc = digits.stub.Predict.with_call(requests[index][0], timeout=60)
        return index, response, int(dict(rpc.trailing_metadata()).get("tw-batch-size", "0"))

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(call, range(len(requests))))
    sizes = [size for _, _, size in results]
    for index, response, _ in results:
        if not digits.same(response, single[index]):
            fail(f"batched request {index} differs from the single-request result")
    if max(sizes) <= 1:
        fail(f"no batch larger than 1 with a 200 ms queue delay and 32 callers: {sizes}")
    ok(f"32 concurrent callers with a queue delay: batches up to {max(sizes)} rows (mean {np.mean(sizes):.1f}), "
       f"results equal single-request results")


def check_flood(digits):
    count = 3000
    requests = [digits.request(9000 + i, 1)[0] for i in range(count)]
    sent = [0]

    def generate():
        for request in requests:
            sent[0] += 1
            yield request

    responses = list(digits.stub.PredictStream(generate(), timeout=120))
    if len(responses) != count:
        fail(f"{len(responses)} responses for {count} requests")
    refused = [r for r in responses if r.HasField("error")]
    if refused:
        fail(f"{len(refused)} in-stream errors, first: {refused[0].error}")
    if [r.id for r in responses] != [r.id for r in requests]:
        fail("flooded stream answered out of order")
    ok(f"one PredictStream with {count} requests written at once: all answered in order, no RESOURCE_EXHAUSTED")


def check_limits(digits):
    request, _ = digits.request(1, 1)
    try:
        digits.stub.Predict(request, timeout=0.000001)
        fail("a 1 µs deadline succeeded")
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            fail(f"1 µs deadline: {error.code()} {error.details()}")
    ok("a 1 µs grpc-timeout is DEADLINE_EXCEEDED")

    def call(index):
        try:
            digits.stub.Predict(digits.request(index, 4)[0], timeout=60)
            return "ok", ""
        except grpc.RpcError as error:
            return error.code(), error.details()

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        outcomes = list(pool.map(call, range(256)))
    refused = [details for code, details in outcomes if code == grpc.StatusCode.RESOURCE_EXHAUSTED]
    other = [(code, details) for code, details in outcomes if code not in ("ok", grpc.StatusCode.RESOURCE_EXHAUSTED)]
    if other:
        fail(f"unexpected statuses: {other[:3]}")
    for details in refused:
        if "digits" not in details or "max_queue_size 1" not in details:
            fail(f"RESOURCE_EXHAUSTED does not name the model and the limit: {details}")
    ok(f"--max-queue-size 1 under 64 callers: {len(refused)} of {len(outcomes)} refused, each naming the model and "
       f"max_queue_size 1; the rest answered")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--check", required=True, choices=["results", "batched", "flood", "limits"])
    parser.add_argument("--onnx", default=os.path.join(ROOT, "Tests", "InferenceTests", "Fixtures", "digits.onnx"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        pb, pb_grpc = stubs(out)
        channel = grpc.insecure_channel(args.server)
        digits = Digits(pb, pb_grpc.InferenceStub(channel))
        digits.address, digits.pb_grpc = args.server, pb_grpc
        if args.check == "results":
            check_results(digits, args.onnx)
        elif args.check == "batched":
            check_batched(digits)
        elif args.check == "flood":
            check_flood(digits)
        else:
            check_limits(digits)


if __name__ == "__main__":
    main()

"""tritonclient (gRPC) against a running tensorwire-server: health, metadata, config, unary, async and streamed
inference compared with onnxruntime, the datatype conversions, inference statistics (get_inference_statistics counts
match the requests made), and the error cases (model control refused without --model-control explicit). Exits
non-zero on failure.

  check_clients.py --url 127.0.0.1:PORT --model digits=PATH.onnx [--model NAME=PATH.onnx ...] [--builtin]
"""
import argparse
import queue
import sys
import threading
import time

import grpc
import numpy as np
import onnxruntime as ort
import tritonclient.grpc as tc
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

TOLERANCE = 1e-5
failures = []
checks = 0


def check(condition, what):
    global checks
    checks += 1
    if condition:
        print(f"  ok   {what}")
    else:
        print(f"  FAIL {what}")
        failures.append(what)


def expect_error(call, status, contains, what):
    try:
        call()
    except InferenceServerException as error:
        ok = error.status() == status and contains in (error.message() or "")
        check(ok, f"{what}: {error.status()} {error.message()!r}")
        return
    check(False, f"{what}: no error raised")


class Model:
    """A served model and its onnxruntime twin."""

    def __init__(self, name, path):
        self.name = name
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def sample(self, rows, seed):
        shape = [rows] + [d for d in self.input.shape[1:]]
        rng = np.random.default_rng(seed)
        # Small whole numbers: exact in every datatype the conversions test (FP16, INT32, ...).
        return rng.integers(0, 16, size=shape).astype(np.float32)

    def expected(self, x):
        return dict(zip(self.outputs, self.session.run(None, {self.input.name: x})))


def compare(model, result, x, what):
    expected = model.expected(x)
    for name, want in expected.items():
        got = result.as_numpy(name)
        if got is None:
            check(False, f"{what}: output {name} missing")
            continue
        if want.dtype.kind in "OSU":
            same = [g.decode() if isinstance(g, bytes) else g for g in got.reshape(-1)] == [str(w) for w in want.reshape(-1)]
            check(got.shape == want.shape and same, f"{what}: {name} strings equal onnxruntime's")
        elif want.dtype.kind in "iu":
            check(got.shape == want.shape and np.array_equal(got, want), f"{what}: {name} equals onnxruntime's")
        else:
            close = got.shape == want.shape and np.allclose(got, want, atol=TOLERANCE, rtol=TOLERANCE)
            diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("nan")
            check(close, f"{what}: {name} within {TOLERANCE} of onnxruntime's (max diff {diff:.2e})")


def make_input(model, x, datatype="FP32"):
    tensor = tc.InferInput(model.input.name, list(x.shape), datatype)
    numpy_type = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT32": np.int32,
                  "INT64": np.int64, "UINT8": np.uint8, "INT8": np.int8, "UINT16": np.uint16,
                  "INT16": np.int16, "UINT32": np.uint32, "UINT64": np.uint64}.get(datatype)
    if datatype == "BF16":
        tensor.set_data_from_numpy(x.astype(np.float32))
    else:
        tensor.set_data_from_numpy(x.astype(numpy_type))
    return tensor


def check_model(client, url, model, builtin):
    print(f"model {model.name}")
    check(client.is_model_ready(model.name), "is_model_ready")
    metadata = client.get_model_metadata(model.name, as_json=True)
    inputs = metadata["inputs"]
    check(inputs[0]["name"] == model.input.name and inputs[0]["shape"][0] == "-1",
          f"metadata input {inputs[0]['name']} shape {inputs[0]['shape']} has a leading -1")
    check([o["name"] for o in metadata["outputs"]] == model.outputs, "metadata outputs in model order")
    config = client.get_model_config(model.name, as_json=True)["config"]
    check(int(config["max_batch_size"]) > 0, f"config max_batch_size {config['max_batch_size']}")
    check([str(d) for d in config["input"][0]["dims"]] == [str(d) for d in inputs[0]["shape"][1:]],
          f"config input dims {config['input'][0]['dims']} leave out the batch dimension")
    check("dynamic_batching" in config and "sequence_batching" not in config, "config has dynamic_batching only")
    check(config["platform"] != "ensemble", "config platform is not ensemble")

    x = model.sample(3, 1)
    result = client.infer(model.name, [make_input(model, x)], request_id="unary-1")
    check(result.get_response().id == "unary-1", "unary: id echoed")
    compare(model, result, x, "unary FP32 raw")

    # Requested outputs come back in the requested order.
    order = list(reversed(model.outputs))
    result = client.infer(model.name, [make_input(model, x)],
                          outputs=[tc.InferRequestedOutput(n) for n in order])
    check([o.name for o in result.get_response().outputs] == order, f"outputs in the requested order {order}")
    if len(model.outputs) > 1:
        result = client.infer(model.name, [make_input(model, x)], outputs=[tc.InferRequestedOutput(model.outputs[-1])])
        check([o.name for o in result.get_response().outputs] == [model.outputs[-1]], "only the requested output")

    for datatype in ["FP64", "FP16", "BF16", "INT32", "INT64", "UINT8", "INT8", "UINT16", "INT16", "UINT32", "UINT64"]:
        compare(model, client.infer(model.name, [make_input(model, x, datatype)]), x, f"unary {datatype} raw")

    # async_infer
    done = queue.Queue()
    xs = [model.sample(1 + i % 4, 100 + i) for i in range(16)]
    for i, xi in enumerate(xs):
        client.async_infer(model.name, [make_input(model, xi)], lambda result, error: done.put((result, error)), request_id=f"a{i}")
    got = {}
    errors = []
    for _ in xs:
        result, error = done.get(timeout=60)
        if error is not None:
            errors.append(str(error))
        if result is not None:
            got[result.get_response().id] = result
    check(not errors, f"async: no errors {errors[:2]}")
    check(sorted(got) == sorted(f"a{i}" for i in range(len(xs))), "async: every id answered")
    for i, xi in enumerate(xs):
        if f"a{i}" in got:
            compare(model, got[f"a{i}"], xi, f"async a{i}")

    # Streaming: in order, ids echoed, an in-band error does not end the stream.
    responses = queue.Queue()
    client.start_stream(lambda result, error: responses.put((result, error)))
    xs = [model.sample(1 + i % 3, 200 + i) for i in range(30)]
    for i, xi in enumerate(xs):
        if i == 10:
            bad = tc.InferInput(model.input.name, [1, 3], "FP32")
            bad.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
            client.async_stream_infer(model.name, [bad], request_id="s-bad")
        client.async_stream_infer(model.name, [make_input(model, xi)], request_id=f"s{i}")
    answers = [responses.get(timeout=60) for _ in range(len(xs) + 1)]
    client.stop_stream()
    ids = []
    for result, error in answers:
        if error is not None:
            ids.append("s-bad")
            check("s-bad" not in ids[:-1] and "expected shape" in str(error), f"stream: in-band error {str(error)[:90]!r}")
        else:
            ids.append(result.get_response().id)
    want = [f"s{i}" for i in range(10)] + ["s-bad"] + [f"s{i}" for i in range(10, 30)]
    check(ids == want, "stream: one answer per request, in request order, ids echoed")
    by_id = {r.get_response().id: r for r, e in answers if e is None}
    for i, xi in enumerate(xs):
        if f"s{i}" in by_id and i % 7 == 0:
            compare(model, by_id[f"s{i}"], xi, f"stream s{i}")

    # Typed contents (other KServe clients send these; tritonclient never does), through the raw gRPC stub.
    channel = grpc.insecure_channel(url)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    request = service_pb2.ModelInferRequest(model_name=model.name, id="typed")
    tensor = request.inputs.add(name=model.input.name, datatype="FP32", shape=list(x.shape))
    tensor.contents.fp32_contents.extend(x.reshape(-1).tolist())
    response = stub.ModelInfer(request)
    check(response.id == "typed" and len(response.raw_output_contents) == len(model.outputs),
          "typed fp32_contents: answered with raw_output_contents")
    first = response.outputs[0]
    if first.datatype == "FP32":
        got = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(list(first.shape))
        want = model.expected(x)[first.name]
        check(np.allclose(got, want, atol=TOLERANCE, rtol=TOLERANCE), "typed fp32_contents: values match onnxruntime")
    request.raw_input_contents.append(x.astype("<f4").tobytes())
    try:
        stub.ModelInfer(request)
        check(False, "contents together with raw_input_contents refused")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.INVALID_ARGUMENT, f"contents + raw refused: {error.details()[:80]!r}")
    typed64 = service_pb2.ModelInferRequest(model_name=model.name)
    tensor = typed64.inputs.add(name=model.input.name, datatype="INT64", shape=list(x.shape))
    tensor.contents.int64_contents.extend(x.reshape(-1).astype(np.int64).tolist())
    check(len(stub.ModelInfer(typed64).raw_output_contents) == len(model.outputs), "typed int64_contents accepted")
    channel.close()


def version_stats(client, model):
    stats = client.get_inference_statistics(model.name, as_json=True).get("model_stats", [])
    return stats[-1] if stats else {}


def count(stats, *path):
    value = stats
    for key in path:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return int(value) if not isinstance(value, dict) else 0


def check_statistics(client, model):
    """Counts grow by exactly the requests made here (nothing else runs against the server meanwhile)."""
    print(f"statistics {model.name}")
    before = version_stats(client, model)
    check(before.get("name") == model.name and before.get("version", "").isdigit(),
          f"statistics name {before.get('name')!r} and numeric version {before.get('version')!r}")
    rows = [1, 2, 3, 1]
    for i, n in enumerate(rows):
        client.infer(model.name, [make_input(model, model.sample(n, 300 + i))])
    bad = tc.InferInput(model.input.name, [1, 3], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
    try:
        client.infer(model.name, [bad])
    except InferenceServerException:
        pass
    after = version_stats(client, model)
    delta = lambda *path: count(after, *path) - count(before, *path)
    check(delta("inference_stats", "success", "count") == len(rows), f"statistics: success +{delta('inference_stats', 'success', 'count')} == {len(rows)}")
    check(delta("inference_stats", "fail", "count") == 1, f"statistics: fail +{delta('inference_stats', 'fail', 'count')} == 1")
    check(delta("inference_count") == sum(rows), f"statistics: inference_count +{delta('inference_count')} == {sum(rows)} rows")
    check(delta("execution_count") == len(rows), f"statistics: execution_count +{delta('execution_count')} == {len(rows)}")
    for part in ["queue", "compute_input", "compute_infer", "compute_output"]:
        check(delta("inference_stats", part, "count") == len(rows), f"statistics: {part}.count +{delta('inference_stats', part, 'count')}")
    check(delta("inference_stats", "compute_infer", "ns") > 0, "statistics: compute_infer ns grew")
    batches = {int(b.get("batch_size", 0)): count(b, "compute_infer", "count") for b in after.get("batch_stats", [])}
    check(sum(batches.values()) == count(after, "execution_count") and all(k >= 1 for k in batches),
          f"statistics: batch_stats {batches} add up to execution_count")
    check(int(after.get("last_inference", 0)) >= int(time.time() * 1000) - 60_000, "statistics: last_inference is recent (ms)")


def check_errors(client, url, model):
    print("error cases")
    x = model.sample(2, 7)
    expect_error(lambda: client.infer("no-such-model", [make_input(model, x)]), "StatusCode.NOT_FOUND", "no-such-model",
                 "unknown model")
    expect_error(lambda: client.infer(model.name, [make_input(model, x)], model_version="99"), "StatusCode.NOT_FOUND",
                 "99", "unknown version")
    expect_error(lambda: client.get_model_metadata("no-such-model"), "StatusCode.NOT_FOUND", "no-such-model",
                 "metadata of an unknown model")
    check(not client.is_model_ready("no-such-model"), "unknown model is not ready (OK status, ready=false)")
    wrong = model.sample(2, 7)[..., :-1] if model.sample(1, 0).ndim == 2 else model.sample(2, 7)[:, :, :-1]
    expect_error(lambda: client.infer(model.name, [make_input(model, np.ascontiguousarray(wrong))]),
                 "StatusCode.INVALID_ARGUMENT", "expected shape", "wrong shape")
    boolean = tc.InferInput(model.input.name, list(x.shape), "BOOL")
    boolean.set_data_from_numpy(x > 3)
    expect_error(lambda: client.infer(model.name, [boolean]), "StatusCode.INVALID_ARGUMENT", "accepts FP32",
                 "wrong dtype BOOL names what the input accepts")
    text = tc.InferInput(model.input.name, list(x.shape), "BYTES")
    text.set_data_from_numpy(np.full(x.shape, b"1", dtype=np.object_))
    expect_error(lambda: client.infer(model.name, [text]), "StatusCode.INVALID_ARGUMENT", "not accepted",
                 "wrong dtype BYTES")
    wrong_name = tc.InferInput("nope", list(x.shape), "FP32")
    wrong_name.set_data_from_numpy(x)
    expect_error(lambda: client.infer(model.name, [wrong_name]), "StatusCode.INVALID_ARGUMENT", "nope",
                 "unknown input name")
    expect_error(lambda: client.infer(model.name, [make_input(model, x)], outputs=[tc.InferRequestedOutput("nope")]),
                 "StatusCode.INVALID_ARGUMENT", "nope", "unknown output name")
    channel = grpc.insecure_channel(url)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    short = service_pb2.ModelInferRequest(model_name=model.name)
    short.inputs.add(name=model.input.name, datatype="FP32", shape=list(x.shape))
    short.raw_input_contents.append(b"\0" * 12)
    try:
        stub.ModelInfer(short)
        check(False, "short raw_input_contents refused")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.INVALID_ARGUMENT and "bytes" in error.details(),
              f"short raw_input_contents: {error.details()[:90]!r}")
    for rpc, request in [("RepositoryModelLoad", service_pb2.RepositoryModelLoadRequest(model_name=model.name)),
                         ("RepositoryModelUnload", service_pb2.RepositoryModelUnloadRequest(model_name=model.name))]:
        try:
            getattr(stub, rpc)(request)
            check(False, f"{rpc} refused")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.UNAVAILABLE and "--model-control explicit" in error.details(),
                  f"{rpc} refused without the flag: {error.details()[:110]!r}")
    expect_error(lambda: client.load_model(model.name), "StatusCode.UNAVAILABLE", "--model-control explicit",
                 "load_model refused without --model-control explicit")
    expect_error(lambda: client.get_inference_statistics("no-such-model"), "StatusCode.NOT_FOUND", "no-such-model",
                 "get_inference_statistics of an unknown model")
    channel.close()
    # The server still serves after all of that.
    result = client.infer(model.name, [make_input(model, x)])
    compare(model, result, x, "after the errors")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH.onnx")
    args = parser.parse_args()
    client = tc.InferenceServerClient(args.url)
    print(f"tritonclient against {args.url}")
    check(client.is_server_live(), "is_server_live")
    check(client.is_server_ready(), "is_server_ready")
    metadata = client.get_server_metadata(as_json=True)
    check(metadata["name"] == "tensorwire" and "statistics" in metadata.get("extensions", []),
          f"server metadata {metadata}")
    models = [Model(*spec.split("=", 1)) for spec in args.model]
    index = client.get_model_repository_index(as_json=True).get("models", [])
    check(sorted(m["name"] for m in index) == sorted(m.name for m in models)
          and all(m.get("state") == "READY" for m in index), f"repository index {index}")
    for model in models:
        check_model(client, args.url, model, builtin=False)
        check_statistics(client, model)
    check_errors(client, args.url, models[0])
    client.close()
    print(f"{checks - len(failures)}/{checks} checks passed")
    if failures:
        print("failed:\n  " + "\n  ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()

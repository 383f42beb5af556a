#!/usr/bin/env python3
"""A short grpcio client for Tensorwire: health check, list models, one Predict, and a pipelined PredictStream.

The tensorwire.v1 stubs are generated from the repository's Proto/ files into a temporary directory at run time
(grpcio-tools), so nothing generated is committed; the health stubs come from grpcio-health-checking. Usage (from the repository root, with the server running):

    .venv/bin/python Clients/python/tensorwire_client.py --server localhost:50051 [--model digits] [--stream N]

It prints one line per step and exits non-zero when a step fails, so the interop tests run it as a check.
"""
import argparse
import importlib
import os
import sys
import tempfile

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_tools import protoc

PROTO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Proto")
PROTOS = ["tensorwire/v1/inference.proto"]


def generate_stubs(out_dir):
    """Runs protoc (from grpcio-tools) on PROTOS and makes the generated modules importable."""
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")  # well-known types
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    if protoc.main(args + PROTOS) != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, out_dir)
    pb = importlib.import_module("tensorwire.v1.inference_pb2")
    grpc_pb = importlib.import_module("tensorwire.v1.inference_pb2_grpc")
    return pb, grpc_pb


def tensor_from_numpy(pb, name, array):
    """A Tensor carrying a float32 array in raw_data (little-endian, row-major): the fast path."""
    array = np.ascontiguousarray(array, dtype="<f4")
    return pb.Tensor(name=name, dtype=pb.DATA_TYPE_FLOAT32, shape=list(array.shape), raw_data=array.tobytes())


def tensor_to_numpy(pb, tensor):
    """A response Tensor as a numpy array (typed fields or raw_data)."""
    if tensor.raw_data:
        dtype = {pb.DATA_TYPE_FLOAT32: "<f4", pb.DATA_TYPE_FLOAT64: "<f8", pb.DATA_TYPE_INT64: "<i8",
                 pb.DATA_TYPE_INT32: "<i4"}[tensor.dtype]
        return np.frombuffer(tensor.raw_data, dtype=dtype).reshape(tensor.shape)
    for field in ("float_data", "double_data", "int64_data", "int32_data", "bool_data"):
        values = getattr(tensor, field)
        if len(values):
            return np.array(values).reshape(tensor.shape)
    return np.array(list(tensor.string_data)).reshape(tensor.shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("TENSORWIRE_SERVER", "localhost:50051"))
    parser.add_argument("--model", default="digits")
    parser.add_argument("--stream", type=int, default=32, help="requests to pipeline over one PredictStream")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline of each RPC in seconds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as out_dir:
        pb, grpc_pb = generate_stubs(out_dir)
        health_pb, health_grpc = health_pb2, health_pb2_grpc
        with grpc.insecure_channel(args.server) as channel:
            # 1. Health: the whole server must be SERVING.
            health = health_grpc.HealthStub(channel).Check(health_pb.HealthCheckRequest(), timeout=args.timeout)
            print("health:", health_pb.HealthCheckResponse.ServingStatus.Name(health.status))
            if health.status != health_pb.HealthCheckResponse.SERVING:
                return 1

            stub = grpc_pb.InferenceStub(channel)
            # 2. Models and the signature of the one we call.
            models = stub.ListModels(pb.ListModelsRequest(), timeout=args.timeout).models
            print("models:", ", ".join(m.name for m in models))
            info = stub.GetModel(pb.GetModelRequest(model=args.model), timeout=args.timeout)
            spec = info.inputs[0]
            features = [d for d in spec.shape[1:]]
            print(f"input: {spec.name} {pb.DataType.Name(spec.dtype)} {list(spec.shape)}")

            # 3. One Predict of 4 rows; the batch facts come back in the response (and in trailers).
            rng = np.random.default_rng(7)
            x = rng.uniform(0, 16, size=[4] + features).astype(np.float32)
            response, call = stub.Predict.with_call(
                pb.PredictRequest(model=args.model, id="py-1", inputs=[tensor_from_numpy(pb, spec.name, x)]),
                timeout=args.timeout, metadata=[("x-client", "tensorwire-python-example")])
            outputs = {t.name: tensor_to_numpy(pb, t) for t in response.outputs}
            trailers = dict(call.trailing_metadata())
            print("predict:", {name: value.tolist() if value.ndim == 1 else list(value.shape)
                               for name, value in outputs.items()},
                  f"batch_size={response.batch.batch_size} tw-batch-size={trailers.get('tw-batch-size')}")

            # 4. PredictStream: send N requests without waiting; responses come back in order, ids echoed.
            def requests():
                for i in range(args.stream):
                    row = rng.uniform(0, 16, size=[1] + features).astype(np.float32)
                    yield pb.PredictRequest(model=args.model, id=str(i), inputs=[tensor_from_numpy(pb, spec.name, row)])

            ids = [r.id for r in stub.PredictStream(requests(), timeout=args.timeout) if not r.HasField("error")]
            in_order = ids == [str(i) for i in range(args.stream)]
            print(f"stream: {len(ids)} responses, in order: {in_order}")
            if not in_order:
                return 1

            # 5. An unknown model is NOT_FOUND.
            try:
                stub.Predict(pb.PredictRequest(model="no-such-model"), timeout=args.timeout)
                print("unknown model: unexpectedly succeeded")
                return 1
            except grpc.RpcError as error:
                print("unknown model:", error.code().name)
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes the benchmarks' MLPs as ONNX with numpy alone (the `onnx` package is not pinned).

  batching_models.py [--mlp-large DIR/mlp-large/1/model.onnx] [--mlp-small DIR/mlp_small/1/model.onnx]

mlp-large is 1024→4096→4096→1024 with relu, the same graph and weights as Tools/bench/engine_onnxruntime.py's
--write-mlp-large (numpy default_rng(1024), PyTorch-style Gemm with transB=1), so the engine benchmark and this one
measure the same model. mlp-small is 64→128→64→10 with relu (default_rng(64)), the REST benchmark's model
(Tools/bench/rest). Both take `input` [N, in] and answer `output` [N, out]. The protobuf is encoded by hand: a
ModelProto needs only varints and length-delimited fields, and the weights go into raw_data.
"""
import argparse
import os

import numpy as np


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return varint((number << 3) | 2) + varint(len(payload)) + payload


# onnx.proto field numbers
FLOAT = 1          # TensorProto.DataType.FLOAT
ATTR_INT = 2       # AttributeProto.AttributeType.INT


def tensor(name, array):
    array = np.ascontiguousarray(array, dtype="<f4")
    body = b"".join(field_varint(1, d) for d in array.shape)   # dims
    body += field_varint(2, FLOAT)                               # data_type
    body += field_bytes(8, name)                                 # name
    body += field_bytes(9, array.tobytes())                      # raw_data
    return body


def node(op, inputs, outputs, name, int_attributes=()):
    body = b"".join(field_bytes(1, i) for i in inputs) + b"".join(field_bytes(2, o) for o in outputs)
    body += field_bytes(3, name) + field_bytes(4, op)
    for key, value in int_attributes:
        body += field_bytes(5, field_bytes(1, key) + field_varint(3, value) + field_varint(20, ATTR_INT))
    return body


def value_info(name, dims):
    shape = b""
    for dim in dims:
        shape += field_bytes(1, field_bytes(2, dim) if isinstance(dim, str) else field_varint(1, dim))
    tensor_type = field_varint(1, FLOAT) + field_bytes(2, shape)
    return field_bytes(1, name) + field_bytes(2, field_bytes(1, tensor_type))


def mlp(name, sizes, seed):
    """A relu MLP over `sizes` with PyTorch's default uniform initialisation drawn from default_rng(seed)."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    x = "input"
    last = len(sizes) - 2
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        bound = 1 / np.sqrt(a)
        inits.append(tensor(f"fc{i}.weight", rng.uniform(-bound, bound, (b, a)).astype(np.float32)))
        inits.append(tensor(f"fc{i}.bias", rng.uniform(-bound, bound, (b,)).astype(np.float32)))
        y = f"h{i}" if i < last else "output"
        nodes.append(node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [y], f"fc{i}", [("transB", 1)]))
        if i < last:
            nodes.append(node("Relu", [y], [f"r{i}"], f"relu{i}"))
            x = f"r{i}"
    graph = b"".join(field_bytes(1, n) for n in nodes) + field_bytes(2, name)
    graph += b"".join(field_bytes(5, t) for t in inits)
    graph += field_bytes(11, value_info("input", ["N", sizes[0]]))
    graph += field_bytes(12, value_info("output", ["N", sizes[-1]]))
    model = field_varint(1, 8)                                      # ir_version
    model += field_bytes(2, "pytorch")                              # producer_name
    model += field_bytes(7, graph)                                  # graph
    model += field_bytes(8, field_bytes(1, "") + field_varint(2, 17))  # opset_import {domain "", version 17}
    return model


MODELS = {
    "mlp_large": lambda: mlp("mlp_large", [1024, 4096, 4096, 1024], 1024),
    "mlp_small": lambda: mlp("mlp_small", [64, 128, 64, 10], 64),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mlp-large")
    parser.add_argument("--mlp-small")
    args = parser.parse_args()
    if not (args.mlp_large or args.mlp_small):
        parser.error("name at least one of --mlp-large, --mlp-small")
    for key, path in (("mlp_large", args.mlp_large), ("mlp_small", args.mlp_small)):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "wb") as f:
                f.write(MODELS[key]())


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Python's side of Tools/interop/sealed.sh (docs/sealed-models.md).

  seal-from-doc DOC MODEL KEY OUT CHUNK   runs the Python sealer printed in DOC (the one python block there) on MODEL
                                          with the raw key file KEY, writes OUT; prints the model's SHA-256
  compare PLAIN SEALED FIXTURES NAME...   Predict with every fixture's recorded inputs against both servers over
                                          grpcio: the sealed server's outputs must equal the plain server's exactly,
                                          and onnxruntime's recorded outputs within 1e-5 + 1e-4·|x|; NAME may be
                                          sealed_name=fixture to serve a fixture under another name
  getmodel SEALED NAME=SHA256...          GetModel on the sealed server: each version sealed, with that digest
  failed SEALED NAME=TEXT...              GetModel: the model failed, its error contains TEXT
"""
import json
import os
import re
import sys

import grpc
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "Clients", "python", "src"))
# The Python package's committed stubs and tensor helpers (Clients/python), from the source tree.
from tensorwire import tensors  # noqa: E402
from tensorwire.v1 import inference_pb2, inference_pb2_grpc  # noqa: E402


def seal_from_doc(doc, model, key_file, out, chunk):
    text = open(doc).read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    if len(blocks) != 1:
        raise SystemExit(f"{doc}: expected one python block, found {len(blocks)}")
    namespace = {}
    exec(compile(blocks[0], doc, "exec"), namespace)
    plaintext = open(model, "rb").read()
    key = open(key_file, "rb").read()
    open(out, "wb").write(namespace["seal"](plaintext, key, int(chunk)))
    import hashlib
    print(hashlib.sha256(plaintext).hexdigest())
    return 0


def request_for(pb, record, model):
    request = pb.PredictRequest(model=model)
    for spec in record["inputs"]:
        assert spec["dtype"] == "float32", spec["dtype"]
        request.inputs.add(name=spec["name"], dtype=pb.DATA_TYPE_FLOAT32, shape=spec["shape"],
                           float_data=np.asarray(spec["data"], dtype=np.float32).tolist())
    return request


def compare(pb, grpc_pb, plain, sealed, fixtures, names):
    failures = 0
    with grpc.insecure_channel(f"127.0.0.1:{plain}") as a, grpc.insecure_channel(f"127.0.0.1:{sealed}") as b:
        plain_stub, sealed_stub = grpc_pb.InferenceStub(a), grpc_pb.InferenceStub(b)
        for item in names:
            served, _, fixture = item.partition("=")
            fixture = fixture or served
            record = json.load(open(os.path.join(fixtures, fixture + ".json")))
            want = plain_stub.Predict(request_for(pb, record, fixture), timeout=30)
            got = sealed_stub.Predict(request_for(pb, record, served), timeout=30)
            problems = []
            if list(got.outputs) != list(want.outputs):
                problems.append("outputs differ from the plain model's")
            outputs = {t.name: tensors.from_tensor(t) for t in got.outputs}
            for expected in record["outputs"]:
                actual = outputs.get(expected["name"])
                if actual is None:
                    problems.append(f"no output {expected['name']}")
                elif expected["dtype"] == "float32":
                    reference = np.asarray(expected["data"], dtype=np.float32).reshape(expected["shape"])
                    if actual.shape != reference.shape or not np.allclose(actual, reference, rtol=1e-4, atol=1e-5):
                        problems.append(f"{expected['name']} differs from onnxruntime's")
                elif [str(v) for v in actual.reshape(-1).tolist()] != [str(v) for v in expected["data"]]:
                    problems.append(f"{expected['name']} differs from onnxruntime's")
            print(("  FAIL " if problems else "  ok   ") + f"{served}: sealed == plain, == onnxruntime"
                  + (": " + "; ".join(problems) if problems else ""))
            failures += bool(problems)
    return 1 if failures else 0


def get_model(pb, grpc_pb, port, name):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return grpc_pb.InferenceStub(channel).GetModel(pb.GetModelRequest(model=name), timeout=10)


def main(argv):
    command = argv[1]
    if command == "seal-from-doc":
        return seal_from_doc(*argv[2:7])
    pb, grpc_pb = inference_pb2, inference_pb2_grpc
    if command == "compare":
        return compare(pb, grpc_pb, argv[2], argv[3], argv[4], argv[5:])
    failures = 0
    for item in argv[3:]:
        name, _, want = item.partition("=")
        info = get_model(pb, grpc_pb, argv[2], name)
        if command == "getmodel":
            ok = info.versions and all(v.sealed and v.sha256 == want for v in info.versions)
            detail = [(v.version, v.sealed, v.sha256) for v in info.versions]
        else:
            ok = info.state == pb.MODEL_STATE_FAILED and want in info.versions[0].error
            detail = info.versions[0].error if info.versions else info.error
        print(("  ok   " if ok else "  FAIL ") + f"GetModel {name}: {detail}")
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

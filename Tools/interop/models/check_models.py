"""Sends each model's inputs (DIR/<model>/inputs.npz, written by exports.py) to a running Tensorwire over KServe v2
gRPC with tritonclient, and compares every output with onnxruntime's on the same file: floats within 1e-5 relative
plus 1e-6 times the batch's largest magnitude (tree sums near zero carry float32 rounding whatever the order),
FP64 outputs of double graphs within 1e-9 relative plus 1e-12 times the largest, labels exactly (int64, or strings
as BYTES). A ZipMap output is compared as [N, classes] in class order.
Prints one line per model and exits non-zero if any differs.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import tritonclient.grpc as grpcclient

sys.path.insert(0, os.path.dirname(__file__))
from exports import reference  # noqa: E402


def compare(name, actual, expected):
    if expected.dtype.kind in "OUS":
        got = [v.decode() if isinstance(v, bytes) else str(v) for v in actual.reshape(-1)]
        want = [str(v) for v in expected.reshape(-1)]
        return None if got == want else f"{name}: labels differ: {got[:6]} vs {want[:6]}"
    if expected.dtype.kind in "iub":  # bool outputs come back as INT64 0/1
        ok = actual.shape == expected.shape and np.array_equal(actual.astype(np.int64), expected.astype(np.int64))
        return None if ok else f"{name}: labels differ: {actual.reshape(-1)[:8]} vs {expected.reshape(-1)[:8]}"
    if actual.shape != expected.shape:
        return f"{name}: shape {actual.shape} vs {expected.shape}"
    if expected.dtype == np.float64:
        # Both engines compute in double: agreement to 1e-9 relative, floor 1e-12 × the batch's largest magnitude.
        if actual.dtype != np.float64:
            return f"{name}: served as {actual.dtype}, onnxruntime gives float64"
        relative, floor_scale = 1e-9, 1e-12
    else:
        expected = expected.astype(np.float32)
        relative, floor_scale = 1e-5, 1e-6
    finite = np.abs(expected[np.isfinite(expected)])
    floor = floor_scale * float(finite.max()) if finite.size else 0.0
    excess = np.abs(actual - expected) - (relative * np.abs(expected) + floor)
    bad = np.argwhere((excess > 0) | (np.isnan(actual) != np.isnan(expected)))
    if len(bad):
        where = tuple(bad[0])
        return f"{name}: {len(bad)} element(s) differ, first at {where}: {actual[where]} vs {expected[where]}"
    return None


def check_cli(cli, url, folder, name):
    """`tensorwire predict NAME --input JSON` (every input by name) against onnxruntime: the CLI's multi-input path."""
    model = onnx.load(os.path.join(folder, "1", "model.onnx"))
    inputs = dict(np.load(os.path.join(folder, "inputs.npz")))
    expected = reference(model, inputs)
    text = json.dumps({key: value.tolist() for key, value in inputs.items()})
    run = subprocess.run([cli, "--server", url, "predict", name, "--input", text], capture_output=True, text=True)
    if run.returncode != 0:
        return [f"tensorwire predict exited {run.returncode}: {run.stderr.strip()[:300]}"]
    outputs = json.loads(run.stdout)["outputs"]
    problems = []
    for key, value in expected.items():
        got = np.array(outputs[key], dtype=value.dtype if value.dtype.kind in "iu" else None)
        problems.append(compare(key, got.astype(np.float32) if value.dtype.kind == "f" else got, value))
    return [p for p in problems if p]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--repository", required=True)
    parser.add_argument("--cli", help="the tensorwire CLI, to run --cli-model models through it as well")
    parser.add_argument("--cli-model", action="append", default=[])
    args = parser.parse_args()
    client = grpcclient.InferenceServerClient(args.url)
    failures = 0
    for name in sorted(os.listdir(args.repository)):
        folder = os.path.join(args.repository, name)
        model = onnx.load(os.path.join(folder, "1", "model.onnx"))
        inputs = dict(np.load(os.path.join(folder, "inputs.npz")))
        expected = reference(model, inputs)
        requests = []
        for key, value in inputs.items():
            datatype = {np.dtype(np.int64): "INT64", np.dtype(np.float64): "FP64"}.get(value.dtype, "FP32")
            tensor = grpcclient.InferInput(key, list(value.shape), datatype)
            tensor.set_data_from_numpy(value)
            requests.append(tensor)
        outputs = [grpcclient.InferRequestedOutput(key) for key in expected]
        try:
            result = client.infer(name, requests, outputs=outputs)
            problems = [compare(key, result.as_numpy(key), value) for key, value in expected.items()]
        except Exception as error:  # a refused request is a failure to report, not a crash of the check
            problems = [f"request failed: {error}"]
        problems = [p for p in problems if p]
        failures += bool(problems)
        rows = next(iter(inputs.values())).shape[0]
        status = "FAIL" if problems else "ok  "
        print(f"  {status} {name}: {rows} rows, outputs {', '.join(expected)}" + "".join(f"\n       {p}" for p in problems))
    for name in args.cli_model:
        problems = check_cli(args.cli, args.url, os.path.join(args.repository, name), name)
        failures += bool(problems)
        status = "FAIL" if problems else "ok  "
        print(f"  {status} tensorwire predict {name}" + "".join(f"\n       {p}" for p in problems))
    total = len(os.listdir(args.repository)) + len(args.cli_model)
    print(f"{total - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

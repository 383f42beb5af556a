"""tritonclient (gRPC) model control against a tensorwire-server started with `--model-control explicit` on a
repository holding MODEL (a good model, not loaded at start-up), BROKEN (a model.onnx that does not decode) and
PRELOADED (named by --load-model): get_model_repository_index, load_model then infer (compared with onnxruntime),
unload_model then infer (an error), reload, a bad model's load error text, and get_inference_statistics after a
reload. Exits non-zero on failure.

  model_control.py --url 127.0.0.1:PORT --model NAME=PATH.onnx --broken NAME --preloaded NAME
"""
import argparse
import sys

import tritonclient.grpc as tc
from tritonclient.utils import InferenceServerException

from check_clients import Model, check, compare, expect_error, make_input
import check_clients


def index(client):
    return {(m["name"], m.get("version", ""), m.get("state", ""), m.get("reason", ""))
            for m in client.get_model_repository_index(as_json=True).get("models", [])}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True, help="NAME=PATH.onnx")
    parser.add_argument("--broken", required=True)
    parser.add_argument("--preloaded", required=True)
    args = parser.parse_args()
    model = Model(*args.model.split("=", 1))
    client = tc.InferenceServerClient(args.url)
    print(f"tritonclient model control against {args.url}")
    x = model.sample(3, 11)

    rows = index(client)
    check((model.name, "", "", "") in rows and (args.broken, "", "", "") in rows,
          f"index before any load lists the repository models by name only: {sorted(rows)}")
    check((args.preloaded, "1", "READY", "") in rows, f"--load-model {args.preloaded} is READY at start-up")
    check(client.is_server_ready(), "server ready with models not loaded")
    check(not client.is_model_ready(model.name), f"{model.name} not ready before load_model")
    expect_error(lambda: client.infer(model.name, [make_input(model, x)]), "StatusCode.NOT_FOUND", model.name,
                 "infer before load_model")

    client.load_model(model.name)
    check(client.is_model_ready(model.name), "load_model: is_model_ready")
    check((model.name, "1", "READY", "") in index(client), "load_model: index READY")
    compare(model, client.infer(model.name, [make_input(model, x)]), x, "infer after load_model")

    client.unload_model(model.name)
    check(not client.is_model_ready(model.name), "unload_model: not ready")
    check((model.name, "", "UNAVAILABLE", "unloaded") in index(client), "unload_model: index UNAVAILABLE unloaded")
    expect_error(lambda: client.infer(model.name, [make_input(model, x)]), "StatusCode.UNAVAILABLE", "not loaded",
                 "infer after unload_model")

    client.load_model(model.name)
    client.load_model(model.name)  # A reload of a loaded model.
    compare(model, client.infer(model.name, [make_input(model, x)]), x, "infer after load, unload, load, reload")
    stats = client.get_inference_statistics(model.name, as_json=True)["model_stats"]
    check(len(stats) == 1 and check_clients.count(stats[0], "inference_stats", "success", "count") == 1,
          f"statistics start again at a reload: {stats[0].get('inference_stats', {}).get('success')}")

    expect_error(lambda: client.load_model(args.broken), "StatusCode.INVALID_ARGUMENT",
                 f"{args.broken}/1/model.onnx", "load_model of a bad model names the file")
    broken = [r for r in index(client) if r[0] == args.broken]
    check(len(broken) == 1 and broken[0][2] == "UNAVAILABLE" and "load failed" in broken[0][3],
          f"index: the bad model is UNAVAILABLE with the reason {broken}")
    check(not client.is_model_ready(args.broken), "the bad model is not ready")
    expect_error(lambda: client.load_model("no-such-model"), "StatusCode.NOT_FOUND", "not in the repository",
                 "load_model of a model not in the repository")
    compare(model, client.infer(model.name, [make_input(model, x)]), x, "the loaded model still serves")
    check(client.is_server_ready(), "server still ready")
    client.close()
    print(f"{check_clients.checks - len(check_clients.failures)}/{check_clients.checks} checks passed")
    if check_clients.failures:
        print("failed:\n  " + "\n  ".join(check_clients.failures))
        sys.exit(1)


if __name__ == "__main__":
    main()

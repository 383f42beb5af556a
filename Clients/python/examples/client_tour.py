#!/usr/bin/env python3
"""A tour of the tensorwire package: health, the model list, a model's signature, one predict, a pipelined
predict_stream and an error, against a running server.

    pip install ./Clients/python        # or PYTHONPATH=Clients/python/src from the repository root
    python Clients/python/examples/client_tour.py --server localhost:50051 [--model digits] [--stream N]

It prints one line per step and exits non-zero when a step fails, so Tools/interop/cli.sh runs it as a check.
"""
import argparse
import os
import sys

import numpy as np

import tensorwire


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("TENSORWIRE_SERVER", "localhost:50051"))
    parser.add_argument("--model", default="digits")
    parser.add_argument("--stream", type=int, default=32, help="requests to pipeline over one PredictStream")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline of each call in seconds")
    args = parser.parse_args()

    with tensorwire.Client(args.server, timeout=args.timeout) as client:
        # 1. Health: the whole server must be SERVING (health needs no API key).
        health = client.health()
        print("health:", health)
        if health != "SERVING":
            return 1

        # 2. Models, and the signature of the one we call (-1 marks the batch dimension).
        print("models:", ", ".join(m.name for m in client.list_models()))
        spec = client.get_model(args.model).inputs[0]
        print(f"input: {spec.name} {tensorwire.pb.DataType.Name(spec.dtype)} {list(spec.shape)}")

        # 3. One predict of 4 rows: numpy in (sent as raw_data), numpy out, by output name.
        rng = np.random.default_rng(7)
        x = rng.uniform(0, 16, size=[4] + list(spec.shape[1:])).astype(np.float32)
        outputs = client.predict(args.model, {spec.name: x})
        print("predict:", {name: value.tolist() if value.ndim == 1 else list(value.shape)
                           for name, value in outputs.items()})

        # 4. predict_stream: many requests in flight on one stream, answers in order (retried as a whole if the
        # connection drops: unanswered requests are sent again).
        rows = ({spec.name: rng.uniform(0, 16, size=[1] + list(spec.shape[1:])).astype(np.float32)}
                for _ in range(args.stream))
        answered = sum(1 for _ in client.predict_stream(args.model, rows, max_in_flight=8))
        print(f"stream: {answered} responses, in order: {answered == args.stream}")
        if answered != args.stream:
            return 1

        # 5. Errors are exceptions with the gRPC code and the server's message.
        try:
            client.predict("no-such-model", {spec.name: x})
            print("unknown model: unexpectedly succeeded")
            return 1
        except tensorwire.NotFoundError as error:
            print("unknown model:", error.code.name, "-", error.message)
    return 0


if __name__ == "__main__":
    sys.exit(main())

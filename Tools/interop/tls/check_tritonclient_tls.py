#!/usr/bin/env python3
"""tritonclient over TLS with an API key (issue 19): gRPC (`ssl=True, root_certificates=`) and HTTP (`ssl=True`
with a context that trusts the test CA) against a running tensorwire-server with --tls-cert and --auth-keys.
Each client: is_server_live without a key, model metadata and one digits inference with the key (probabilities
for two rows; their values are the kserve script's check), and an inference without the key
refused as unauthenticated.

    check_tritonclient_tls.py --port P --ca CA.pem --key KEY
"""
import argparse
import sys

import gevent.ssl
import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    url = "localhost:%d" % args.port
    clients = {
        "grpc": (grpcclient, grpcclient.InferenceServerClient(url=url, ssl=True, root_certificates=args.ca)),
        "http": (httpclient, httpclient.InferenceServerClient(
            url=url, ssl=True, ssl_options={"server_hostname": "localhost"},
            ssl_context_factory=lambda: gevent.ssl.create_default_context(cafile=args.ca))),
    }
    headers = {"authorization": "Bearer " + args.key}
    failed = False
    for name, (module, client) in clients.items():
        try:
            assert client.is_server_live(), "not live"
            metadata = client.get_model_metadata("digits", headers=headers)
            x = module.InferInput("X", [2, 64], "FP32")
            x.set_data_from_numpy(np.linspace(0, 16, 128, dtype=np.float32).reshape(2, 64))
            result = client.infer("digits", [x], headers=headers)
            probabilities = result.as_numpy("probabilities")
            assert probabilities is not None and probabilities.shape == (2, 10), "probabilities %r" % (probabilities,)
            print("  ok   tritonclient %s over TLS with the key: metadata (%s) and inference %s" % (
                name, metadata["name"] if isinstance(metadata, dict) else metadata.name, probabilities.shape))
        except (InferenceServerException, AssertionError) as error:
            print("  FAIL tritonclient %s over TLS: %s" % (name, error)); failed = True
            continue
        try:
            client.infer("digits", [x])
            print("  FAIL tritonclient %s over TLS: inference without a key succeeded" % name); failed = True
        except InferenceServerException as error:
            print("  ok   tritonclient %s over TLS without a key refused: %s" % (name, error.status()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

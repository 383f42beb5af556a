#!/usr/bin/env python3
"""TLS against a running tensorwire-server (Tools/interop/tls.sh starts it): grpcio over ssl_channel_credentials
(health Check, raw bytes so no generated stubs are needed), with and without a client certificate.

    check_tls.py --target localhost:PORT --ca CA.pem [--cert C.pem --key K.pem] [--expect ok|fail]
"""
import argparse
import sys

import grpc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--expect", default="ok", choices=["ok", "fail"])
    args = parser.parse_args()
    ca = open(args.ca, "rb").read()
    cert = open(args.cert, "rb").read() if args.cert else None
    key = open(args.key, "rb").read() if args.key else None
    credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    with grpc.secure_channel(args.target, credentials) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        try:
            # HealthCheckRequest{service: ""} is the empty message; SERVING is field 1 = 1 (bytes 08 01).
            reply = check(b"", timeout=10)
            outcome = "ok" if reply == b"\x08\x01" else "unexpected reply %r" % reply
        except grpc.RpcError as error:
            outcome = "fail"
            detail = "%s %s" % (error.code(), error.details())
    label = "grpcio TLS health Check" + (" with a client certificate" if cert else "")
    if outcome == args.expect:
        print("  ok   %s: %s as expected" % (label, outcome))
        return 0
    print("  FAIL %s: %s (expected %s)%s" % (label, outcome, args.expect, ": " + detail if outcome == "fail" else ""))
    return 1


if __name__ == "__main__":
    sys.exit(main())

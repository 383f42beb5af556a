"""Interop cases with grpcurl (grpc-go, the strict client, W-53) against grpc.testing.TestService, using the test
protos (-proto; the interop server serves no reflection): empty_unary, large_unary, status_code_and_message,
unimplemented_method, unimplemented_service, server_streaming. Exits 1 if any fails.

    python grpcurl_cases.py --grpcurl PATH --port N [--host H]
"""

import argparse
import base64
import json
import os
import subprocess
import sys

PROTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protos")
SERVICE = "grpc.testing.TestService"


def grpcurl(args, target, method, data):
    command = [args.grpcurl, "-plaintext", "-max-time", "60", "-import-path", PROTOS,
               "-proto", "src/proto/grpc/testing/test.proto", "-d", "@", target, method]
    done = subprocess.run(command, input=json.dumps(data).encode(), capture_output=True, timeout=120)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def messages(text):
    """The JSON objects grpcurl printed, one per response message."""
    decoder = json.JSONDecoder()
    found, index = [], 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return found
        value, index = decoder.raw_decode(text, index)
        found.append(value)


def body_size(message):
    return len(base64.b64decode(message.get("payload", {}).get("body", "")))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grpcurl", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    target = f"{args.host}:{args.port}"

    def empty_unary():
        code, out, err = grpcurl(args, target, f"{SERVICE}/EmptyCall", {})
        assert code == 0, err
        assert messages(out) == [{}], out

    def large_unary():
        zeros = base64.b64encode(bytes(271828)).decode()
        code, out, err = grpcurl(args, target, f"{SERVICE}/UnaryCall",
                                 {"responseSize": 314159, "payload": {"body": zeros}})
        assert code == 0, err
        found = messages(out)
        assert len(found) == 1 and body_size(found[0]) == 314159, f"{len(found)} messages"

    def status_code_and_message():
        code, out, err = grpcurl(args, target, f"{SERVICE}/UnaryCall",
                                 {"responseStatus": {"code": 2, "message": "test status message"}})
        assert code != 0, out
        assert "Code: Unknown" in err and "Message: test status message" in err, err

    def unimplemented(method):
        def case():
            code, out, err = grpcurl(args, target, method, {})
            assert code != 0, out
            assert "Code: Unimplemented" in err, err
        return case

    def server_streaming():
        sizes = [31415, 9, 2653, 58979]
        code, out, err = grpcurl(args, target, f"{SERVICE}/StreamingOutputCall",
                                 {"responseParameters": [{"size": size} for size in sizes]})
        assert code == 0, err
        assert [body_size(m) for m in messages(out)] == sizes, out[:200]

    cases = [
        ("empty_unary", empty_unary),
        ("large_unary", large_unary),
        ("status_code_and_message", status_code_and_message),
        ("unimplemented_method", unimplemented(f"{SERVICE}/UnimplementedCall")),
        ("unimplemented_service", unimplemented("grpc.testing.UnimplementedService/UnimplementedCall")),
        ("server_streaming", server_streaming),
    ]
    failures = 0
    for name, case in cases:
        try:
            case()
            print(f"PASS {name}", flush=True)
        except (AssertionError, subprocess.TimeoutExpired, ValueError) as error:
            failures += 1
            print(f"FAIL {name}: {str(error)[:500]}", flush=True)
    print(f"{len(cases) - failures} of {len(cases)} interop cases passed (grpcurl)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

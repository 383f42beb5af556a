"""gRPC interop client cases (interop-cases.md) on grpcio, against grpc.testing.TestService.

Written for Tensorwire from the interop case descriptions. Stubs are generated at run time (grpc-interop.sh runs
grpc_tools.protoc into a temporary directory and passes it with --stubs). Exits 1 if any case fails.

    python client.py --port N --stubs DIR [--host H] [--test-cases a,b,...]
"""

import argparse
import queue
import sys
import threading


CASES = [
    "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
    "custom_metadata", "status_code_and_message", "special_status_message", "unimplemented_method",
    "unimplemented_service", "cancel_after_begin", "cancel_after_first_response", "timeout_on_sleeping_server",
    "client_compressed_unary", "server_compressed_unary", "client_compressed_streaming",
    "server_compressed_streaming",
]

REQUEST_SIZES = [27182, 8, 1828, 45904]
RESPONSE_SIZES = [31415, 9, 2653, 58979]
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
TIMEOUT = 60


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Pipe:
    """A request iterator fed one message at a time (for ping-pong and cancellation cases)."""

    _END = object()

    def __init__(self):
        self._queue = queue.Queue()

    def add(self, request):
        self._queue.put(request)

    def close(self):
        self._queue.put(self._END)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is self._END:
            raise StopIteration
        return item


class Cases:
    def __init__(self, grpc, channel, empty_pb2, messages_pb2, test_pb2_grpc):
        self.grpc = grpc
        self.empty = empty_pb2
        self.m = messages_pb2
        self.stub = test_pb2_grpc.TestServiceStub(channel)
        self.unimplemented_stub = test_pb2_grpc.UnimplementedServiceStub(channel)

    # Helpers

    def payload(self, size):
        return self.m.Payload(type=self.m.COMPRESSABLE, body=b"\x00" * size)

    def simple_request(self, **fields):
        return self.m.SimpleRequest(
            response_type=self.m.COMPRESSABLE, response_size=314159, payload=self.payload(271828), **fields)

    def duplex_request(self, response_size, payload_size):
        return self.m.StreamingOutputCallRequest(
            response_type=self.m.COMPRESSABLE,
            response_parameters=[self.m.ResponseParameters(size=response_size)],
            payload=self.payload(payload_size))

    def expect_error(self, code, call, details=None):
        try:
            result = call()
            if hasattr(result, "__iter__") and not isinstance(result, (bytes, str)):
                list(result)
        except self.grpc.RpcError as error:
            check(error.code() == code, f"expected {code}, got {error.code()}: {error.details()!r}")
            if details is not None:
                check(error.details() == details, f"expected details {details!r}, got {error.details()!r}")
            return error
        raise Failure(f"expected {code}, the call succeeded")

    # Cases

    def empty_unary(self):
        response = self.stub.EmptyCall(self.empty.Empty(), timeout=TIMEOUT)
        check(isinstance(response, self.empty.Empty), f"unexpected response {response!r}")

    def large_unary(self):
        response = self.stub.UnaryCall(self.simple_request(), timeout=TIMEOUT)
        check(len(response.payload.body) == 314159, f"payload of {len(response.payload.body)} bytes")

    def client_streaming(self):
        requests = [self.m.StreamingInputCallRequest(payload=self.payload(size)) for size in REQUEST_SIZES]
        response = self.stub.StreamingInputCall(iter(requests), timeout=TIMEOUT)
        check(response.aggregated_payload_size == 74922, f"aggregate {response.aggregated_payload_size}")

    def server_streaming(self):
        request = self.m.StreamingOutputCallRequest(
            response_type=self.m.COMPRESSABLE,
            response_parameters=[self.m.ResponseParameters(size=size) for size in RESPONSE_SIZES])
        sizes = [len(r.payload.body) for r in self.stub.StreamingOutputCall(request, timeout=TIMEOUT)]
        check(sizes == RESPONSE_SIZES, f"response sizes {sizes}")

    def ping_pong(self):
        pipe = Pipe()
        responses = self.stub.FullDuplexCall(pipe, timeout=TIMEOUT)
        try:
            for response_size, payload_size in zip(RESPONSE_SIZES, REQUEST_SIZES):
                pipe.add(self.duplex_request(response_size, payload_size))
                response = next(responses)
                check(len(response.payload.body) == response_size,
                      f"response of {len(response.payload.body)} bytes, expected {response_size}")
        finally:
            pipe.close()
        check(list(responses) == [], "responses after the half-close")

    def empty_stream(self):
        responses = list(self.stub.FullDuplexCall(iter([]), timeout=TIMEOUT))
        check(responses == [], f"{len(responses)} responses")

    def custom_metadata(self):
        initial = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
        trailing = ("x-grpc-test-echo-trailing-bin", b"\x0a\x0b\x0a\x0b\x0a\x0b")
        metadata = (initial, trailing)

        def verify(name, initial_metadata, trailing_metadata):
            check(initial in list(initial_metadata), f"{name}: initial metadata {initial_metadata}")
            check(trailing in list(trailing_metadata), f"{name}: trailing metadata {trailing_metadata}")

        request = self.m.SimpleRequest(response_type=self.m.COMPRESSABLE, response_size=1, payload=self.payload(1))
        _, call = self.stub.UnaryCall.with_call(request, metadata=metadata, timeout=TIMEOUT)
        verify("UnaryCall", call.initial_metadata(), call.trailing_metadata())

        responses = self.stub.FullDuplexCall(iter([self.duplex_request(1, 1)]), metadata=metadata, timeout=TIMEOUT)
        check(len(list(responses)) == 1, "FullDuplexCall: expected one response")
        verify("FullDuplexCall", responses.initial_metadata(), responses.trailing_metadata())

    def _status(self, message):
        status = self.m.EchoStatus(code=2, message=message)
        self.expect_error(
            self.grpc.StatusCode.UNKNOWN,
            lambda: self.stub.UnaryCall(self.m.SimpleRequest(response_status=status), timeout=TIMEOUT),
            details=message)
        return status

    def status_code_and_message(self):
        status = self._status("test status message")
        request = self.m.StreamingOutputCallRequest(response_status=status)
        self.expect_error(
            self.grpc.StatusCode.UNKNOWN,
            lambda: self.stub.FullDuplexCall(iter([request]), timeout=TIMEOUT),
            details="test status message")

    def special_status_message(self):
        self._status(SPECIAL_MESSAGE)

    def unimplemented_method(self):
        self.expect_error(self.grpc.StatusCode.UNIMPLEMENTED,
                          lambda: self.stub.UnimplementedCall(self.empty.Empty(), timeout=TIMEOUT))

    def unimplemented_service(self):
        self.expect_error(self.grpc.StatusCode.UNIMPLEMENTED,
                          lambda: self.unimplemented_stub.UnimplementedCall(self.empty.Empty(), timeout=TIMEOUT))

    def cancel_after_begin(self):
        pipe = Pipe()
        future = self.stub.StreamingInputCall.future(pipe, timeout=TIMEOUT)
        future.cancel()
        check(future.cancelled(), "the future is not cancelled")
        check(future.code() == self.grpc.StatusCode.CANCELLED, f"code {future.code()}")
        pipe.close()

    def cancel_after_first_response(self):
        pipe = Pipe()
        responses = self.stub.FullDuplexCall(pipe, timeout=TIMEOUT)
        pipe.add(self.duplex_request(31415, 27182))
        response = next(responses)
        check(len(response.payload.body) == 31415, f"first response of {len(response.payload.body)} bytes")
        responses.cancel()
        self.expect_error(self.grpc.StatusCode.CANCELLED, lambda: next(responses))
        pipe.close()

    def timeout_on_sleeping_server(self):
        pipe = Pipe()
        responses = self.stub.FullDuplexCall(pipe, timeout=0.001)
        pipe.add(self.m.StreamingOutputCallRequest(response_type=self.m.COMPRESSABLE, payload=self.payload(27182)))
        self.expect_error(self.grpc.StatusCode.DEADLINE_EXCEEDED, lambda: next(responses))
        pipe.close()

    def client_compressed_unary(self):
        # Probe: an uncompressed request that expects compression must be refused.
        self.expect_error(
            self.grpc.StatusCode.INVALID_ARGUMENT,
            lambda: self.stub.UnaryCall(
                self.simple_request(expect_compressed=self.m.BoolValue(value=True)), timeout=TIMEOUT))
        for compressed in (True, False):
            response = self.stub.UnaryCall(
                self.simple_request(expect_compressed=self.m.BoolValue(value=compressed)), timeout=TIMEOUT,
                compression=self.grpc.Compression.Gzip if compressed else self.grpc.Compression.NoCompression)
            check(len(response.payload.body) == 314159, f"payload of {len(response.payload.body)} bytes")

    def server_compressed_unary(self):
        # grpcio does not show the message flag; the Swift client checks it.
        for compressed in (True, False):
            response = self.stub.UnaryCall(
                self.simple_request(response_compressed=self.m.BoolValue(value=compressed)), timeout=TIMEOUT)
            check(len(response.payload.body) == 314159, f"payload of {len(response.payload.body)} bytes")

    def client_compressed_streaming(self):
        probe = self.m.StreamingInputCallRequest(
            payload=self.payload(27182), expect_compressed=self.m.BoolValue(value=True))
        self.expect_error(
            self.grpc.StatusCode.INVALID_ARGUMENT,
            lambda: self.stub.StreamingInputCall(iter([probe]), timeout=TIMEOUT))
        # grpcio compresses every message of a compressed call, so the second (expect false) arrives compressed too,
        # which the case allows.
        requests = [
            probe,
            self.m.StreamingInputCallRequest(payload=self.payload(45904), expect_compressed=self.m.BoolValue()),
        ]
        response = self.stub.StreamingInputCall(iter(requests), timeout=TIMEOUT, compression=self.grpc.Compression.Gzip)
        check(response.aggregated_payload_size == 73086, f"aggregate {response.aggregated_payload_size}")

    def server_compressed_streaming(self):
        request = self.m.StreamingOutputCallRequest(
            response_type=self.m.COMPRESSABLE,
            response_parameters=[
                self.m.ResponseParameters(size=31415, compressed=self.m.BoolValue(value=True)),
                self.m.ResponseParameters(size=92653, compressed=self.m.BoolValue(value=False)),
            ])
        sizes = [len(r.payload.body) for r in self.stub.StreamingOutputCall(request, timeout=TIMEOUT)]
        check(sizes == [31415, 92653], f"response sizes {sizes}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stubs", required=True, help="directory holding src/proto/grpc/testing/*_pb2*.py")
    parser.add_argument("--test-cases", default="all")
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)

    import grpc
    from src.proto.grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc

    names = CASES if args.test_cases == "all" else args.test_cases.split(",")
    failures = 0
    with grpc.insecure_channel(f"{args.host}:{args.port}") as channel:
        cases = Cases(grpc, channel, empty_pb2, messages_pb2, test_pb2_grpc)
        for name in names:
            try:
                getattr(cases, name)()
                print(f"PASS {name}", flush=True)
            except Exception as error:  # noqa: BLE001 (report every failure, keep going)
                failures += 1
                print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
    print(f"{len(names) - failures} of {len(names)} interop cases passed (grpcio {grpc.__version__})")
    return 1 if failures else 0


if __name__ == "__main__":
    threading.current_thread().name = "interop-client"
    sys.exit(main())

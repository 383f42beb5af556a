"""W-17/W-18 over the wire with a raw HTTP/2 peer (h2), against tensorwire-interop-server: an unsupported
grpc-encoding is UNIMPLEMENTED with grpc-accept-encoding; the compressed flag with identity or no encoding is
INTERNAL; corrupt gzip is INTERNAL; a gzip request is answered with grpc-encoding gzip when asked. Exits 1 on failure.

    python compression_raw.py --port N [--host H]
"""

import argparse
import gzip
import socket
import struct
import sys

import h2.config
import h2.connection
import h2.events

PATH = "/grpc.testing.TestService/UnaryCall"


def frame(message, compressed=False):
    return struct.pack(">BI", 1 if compressed else 0, len(message)) + message


def call(host, port, extra_headers, body):
    """One request; returns (headers, data, trailers) as dicts/bytes once the stream ends."""
    sock = socket.create_connection((host, port), timeout=30)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    headers = [(":method", "POST"), (":scheme", "http"), (":path", PATH), (":authority", f"{host}:{port}"),
               ("content-type", "application/grpc"), ("te", "trailers")] + extra_headers
    conn.send_headers(1, headers)
    conn.send_data(1, body, end_stream=True)
    sock.sendall(conn.data_to_send())
    response, data, trailers = {}, b"", {}
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    response = dict(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    data += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.TrailersReceived):
                    trailers = dict(event.headers)
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    sock.sendall(conn.data_to_send())
                    return response, data, trailers
            sock.sendall(conn.data_to_send())
    finally:
        sock.close()
    return response, data, trailers


def simple_request(response_size, response_compressed):
    # SimpleRequest{response_size (2), response_compressed (6) = BoolValue{value (1)}}, encoded by hand.
    message = bytes([0x10]) + varint(response_size)
    if response_compressed:
        message += bytes([0x32, 0x02, 0x08, 0x01])
    return message


def varint(value):
    out = b""
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    request = simple_request(1000, True)
    failures = 0

    def status_of(headers, trailers):
        fields = trailers or headers
        return fields.get("grpc-status"), fields

    checks = []

    headers, _, trailers = call(args.host, args.port, [("grpc-encoding", "snappy")], frame(request))
    code, fields = status_of(headers, trailers)
    checks.append(("unsupported grpc-encoding is UNIMPLEMENTED with grpc-accept-encoding",
                   code == "12" and fields.get("grpc-accept-encoding") == "identity, deflate, gzip", fields))

    for name, extra in (("absent", []), ("identity", [("grpc-encoding", "identity")])):
        headers, _, trailers = call(args.host, args.port, extra, frame(request, compressed=True))
        code, fields = status_of(headers, trailers)
        checks.append((f"compressed flag with {name} encoding is INTERNAL", code == "13", fields))

    headers, _, trailers = call(args.host, args.port, [("grpc-encoding", "gzip")],
                                frame(b"\x1f\x8b\x08\x00garbage", compressed=True))
    code, fields = status_of(headers, trailers)
    checks.append(("corrupt gzip is INTERNAL", code == "13", fields))

    headers, data, trailers = call(
        args.host, args.port, [("grpc-encoding", "gzip"), ("grpc-accept-encoding", "identity, gzip")],
        frame(gzip.compress(request), compressed=True))
    ok = (trailers.get("grpc-status") == "0" and headers.get("grpc-encoding") == "gzip"
          and headers.get("grpc-accept-encoding") == "identity, deflate, gzip" and data[:1] == b"\x01")
    if ok:
        length = struct.unpack(">I", data[1:5])[0]
        body = gzip.decompress(data[5:5 + length])
        ok = len(body) > 1000 and body.count(0) >= 1000
    checks.append(("gzip request answered with a gzip response and grpc-encoding", ok, (headers, trailers)))

    for name, passed, detail in checks:
        if passed:
            print(f"PASS {name}", flush=True)
        else:
            failures += 1
            print(f"FAIL {name}: {detail}", flush=True)
    print(f"{len(checks) - failures} of {len(checks)} raw compression checks passed (h2)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

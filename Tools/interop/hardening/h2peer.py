"""A raw HTTP/2 adversary for the hardening tests: a blocking socket driven by h2 (sans-I/O), gRPC framing, a
hand-written encoding of tensorwire.v1.PredictRequest and a decoder of PredictResponse, and /proc RSS readings.

Used by cases.py; nothing here talks to the server except through a socket."""

import os
import select
import socket
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

PREDICT_PATH = "/tensorwire.v1.Inference/Predict"
PREDICT_STREAM_PATH = "/tensorwire.v1.Inference/PredictStream"


# MARK: protobuf, by hand (the fields the tests need)

def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, wire_type, payload):
    key = _varint(number << 3 | wire_type)
    if wire_type == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


def predict_request(floats, model="digits", request_id=""):
    """PredictRequest{model, inputs: [Tensor{name "X", dtype FLOAT32, shape [rows, 64], raw_data}], id}."""
    rows = len(floats) // 64
    shape = b"".join(_varint(d) for d in (rows, 64))
    tensor = (_field(1, 2, b"X") + _field(2, 0, _varint(1)) + _field(3, 2, shape)
              + _field(10, 2, struct.pack("<%df" % len(floats), *floats)))
    message = _field(1, 2, model.encode()) + _field(3, 2, tensor)
    if request_id:
        message += _field(5, 2, request_id.encode())
    return message


def parse_message(data):
    """Generic decode: {field number: [values]}; length-delimited values stay bytes."""
    fields = {}
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = _read_varint(data, i)
        elif wire_type == 1:
            value, i = data[i:i + 8], i + 8
        elif wire_type == 5:
            value, i = data[i:i + 4], i + 4
        elif wire_type == 2:
            length, i = _read_varint(data, i)
            value, i = data[i:i + length], i + length
        else:
            raise ValueError("wire type %d" % wire_type)
        fields.setdefault(number, []).append(value)
    return fields


def _read_varint(data, i):
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def predict_outputs(response_bytes):
    """The comparable part of a PredictResponse: the model and, per output tensor, (name, dtype, shape, values)
    with floats as floats; compare with `outputs_match`."""
    fields = parse_message(response_bytes)
    if 6 in fields:
        raise AssertionError("PredictResponse.error set: %r" % parse_message(fields[6][0]))
    outputs = []
    for tensor_bytes in fields.get(3, []):
        t = parse_message(tensor_bytes)
        values = []
        for packed in t.get(4, []):  # float_data, packed
            values += list(struct.unpack("<%df" % (len(packed) // 4), packed))
        for raw in t.get(10, []):
            values.append(raw.hex())
        for number in (6, 7, 11):  # int32/int64/uint64 data, packed or not
            for item in t.get(number, []):
                values += _varints(item) if isinstance(item, bytes) else [item]
        outputs.append((t.get(1, [b""])[0], t.get(2, [0])[0], tuple(_varints(b"".join(
            x if isinstance(x, bytes) else _varint(x) for x in t.get(3, [])))), tuple(values)))
    if not outputs:
        raise AssertionError("PredictResponse without outputs")
    return (fields.get(1, [b""])[0], tuple(sorted(outputs)))


def outputs_match(a, b):
    """Equal up to float rounding: a row computed inside a larger batch may differ from the same row alone in the
    last bits (the GEMM kernel and summation order depend on the batch size)."""
    if a[0] != b[0] or len(a[1]) != len(b[1]):
        return False
    for x, y in zip(a[1], b[1]):
        if x[:3] != y[:3] or len(x[3]) != len(y[3]):
            return False
        for u, v in zip(x[3], y[3]):
            if isinstance(u, float):
                if abs(u - v) > 1e-6 + 1e-4 * abs(v):
                    return False
            elif u != v:
                return False
    return True


def _varints(data):
    values, i = [], 0
    while i < len(data):
        value, i = _read_varint(data, i)
        values.append(value)
    return values


def sample_input(seed, rows=1):
    """Deterministic digits-like input: 64 pixel values in 0..16 per row."""
    return [float((seed * 7 + i * 13 + r * 5) % 17) for r in range(rows) for i in range(64)]


# MARK: gRPC framing

def grpc_frame(message, flag=0):
    return bytes([flag]) + struct.pack(">I", len(message)) + message


def grpc_unframe(data):
    messages = []
    i = 0
    while i + 5 <= len(data):
        length = struct.unpack(">I", data[i + 1:i + 5])[0]
        messages.append(data[i + 5:i + 5 + length])
        i += 5 + length
    if i != len(data):
        raise AssertionError("response DATA is not whole gRPC messages (%d stray bytes)" % (len(data) - i))
    return messages


def request_headers(path=PREDICT_PATH, content_type="application/grpc", extra=(), method="POST"):
    headers = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1")]
    if content_type is not None:
        headers.append(("content-type", content_type))
    headers.append(("te", "trailers"))
    headers.extend(extra)
    return headers


# MARK: the peer

class Response:
    def __init__(self):
        self.headers = None
        self.trailers = None
        self.data = bytearray()
        self.ended = False
        self.reset_code = None

    @property
    def done(self):
        return self.ended or self.reset_code is not None

    def field(self, name):
        for block in (self.trailers, self.headers):
            if block:
                for k, v in block:
                    if k == name:
                        return v
        return None

    @property
    def http_status(self):
        return self.field(":status")

    @property
    def grpc_status(self):
        value = self.field("grpc-status")
        return int(value) if value is not None else None

    def describe(self):
        reset = " then RST_STREAM(%d)" % self.reset_code if self.reset_code is not None else ""
        if self.headers is None and reset:
            return reset[len(" then "):]
        return ":status %s grpc-status %s %r%s" % (
            self.http_status, self.field("grpc-status"), self.field("grpc-message") or "",
            " (Trailers-Only)" if self.trailers is None and self.ended else "") + reset


class Peer:
    """One HTTP/2 connection (prior knowledge) over a blocking socket."""

    def __init__(self, port, timeout=20.0, preface=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        config = h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8", validate_outbound_headers=False,
            normalize_outbound_headers=False, validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=config)
        self.responses = {}
        self.goaway = None
        self.eof = False
        if preface:
            self.conn.initiate_connection()
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
            self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data):
        self.sock.sendall(data)

    def start(self, headers, end_stream=False):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        self.responses[sid] = Response()
        return sid

    def send(self, sid, data, end_stream=False):
        # DATA frames of at most the peer's max frame size; the stream window is 1 MiB, so tests stay below it.
        size = self.conn.max_outbound_frame_size
        for i in range(0, max(len(data), 1), size):
            chunk = data[i:i + size]
            self.conn.send_data(sid, chunk, end_stream=end_stream and i + size >= len(data))

    def reset(self, sid, code=8):
        self.conn.reset_stream(sid, error_code=code)

    def call(self, message_bytes, path=PREDICT_PATH, extra=()):
        """A whole unary request (HEADERS, one DATA with END_STREAM); returns the stream id."""
        sid = self.start(request_headers(path, extra=extra))
        self.send(sid, message_bytes, end_stream=True)
        return sid

    def pump(self, until, timeout=None):
        """Reads and handles frames until `until()` is true; False on timeout or connection end."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not until():
            if self.eof:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                continue
            try:
                data = self.sock.recv(1 << 16)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if not data:
                self.eof = True
                continue
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError as error:
                raise AssertionError("the server broke HTTP/2 (h2 says: %r)" % error)
            for event in events:
                self._handle(event)
            try:
                self.flush()
            except OSError:
                self.eof = True
        return True

    def wait(self, sid, timeout=None):
        response = self.responses[sid]
        self.pump(lambda: response.done or self.goaway is not None and sid > self.goaway[0], timeout)
        return response

    def read_raw_until_closed(self, timeout=10.0):
        """Every byte the server sends until it closes (no HTTP/2 parsing), for replies in another protocol."""
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.sock], [], [], deadline - time.monotonic())
            if not ready:
                continue
            try:
                chunk = self.sock.recv(1 << 16)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.eof = True
                return data
            data += chunk
        raise AssertionError("the server kept the connection open for %.0f s (read %r)" % (timeout, data[:80]))

    def wait_closed(self, timeout=10.0):
        """True once the server has closed the connection (EOF or reset), after a GOAWAY or not."""
        self.pump(lambda: False, timeout)
        return self.eof

    def close(self, abort=False):
        if abort:
            # RST instead of FIN: the client vanished.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def _handle(self, event):
        if isinstance(event, h2.events.ResponseReceived):
            self._response(event.stream_id).headers = event.headers
        elif isinstance(event, h2.events.TrailersReceived):
            self._response(event.stream_id).trailers = event.headers
        elif isinstance(event, h2.events.DataReceived):
            self._response(event.stream_id).data += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self._response(event.stream_id).ended = True
        elif isinstance(event, h2.events.StreamReset):
            self._response(event.stream_id).reset_code = int(event.error_code)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = (event.last_stream_id, int(event.error_code), event.additional_data)

    def _response(self, sid):
        return self.responses.setdefault(sid, Response())


# MARK: the server process

def rss_kib(pid):
    """(VmRSS, VmHWM) in KiB from /proc/PID/status."""
    values = {}
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                values[key] = int(value.split()[0])
    return values["VmRSS"], values["VmHWM"]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"

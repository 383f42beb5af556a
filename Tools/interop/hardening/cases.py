"""Hardening cases against a live tensorwire-server (issue 3, point 8), run by Tools/interop/hardening.sh.

Each case attacks the server over raw sockets (h2 as a sans-I/O HTTP/2 peer), checks what the server answered, and
is followed by a valid Predict over grpcio on a fresh connection whose outputs must equal the reference answer for
that input. The server's RSS is read from /proc before and after; at the end it must be back near its baseline
(generous slack; the figures are printed). Exit status 1 if any case failed.

usage: cases.py --port P --pid PID --max-receive-message-bytes N [--server-log FILE] [--only NAME[,NAME]] [--rounds N]"""

import argparse
import os
import random
import socket
import struct
import sys
import time
import traceback

import grpc
import h2.exceptions

from h2peer import (PREDICT_PATH, PREDICT_STREAM_PATH, Peer, alive, grpc_frame, outputs_match, grpc_unframe, predict_outputs,
                    predict_request, request_headers, rss_kib, sample_input)

SEEDS = range(10)
RSS_SLACK_KIB = 48 * 1024


class Context:
    def __init__(self, port, pid, limit, server_log=None):
        self.server_log = server_log
        self.port = port
        self.pid = pid
        self.limit = limit
        self.reference = {}

    def peer(self, **kwargs):
        return Peer(self.port, **kwargs)

    def grpc_predict(self, seed):
        channel = grpc.insecure_channel("127.0.0.1:%d" % self.port, options=[("grpc.use_local_subchannel_pool", 1)])
        try:
            call = channel.unary_unary(PREDICT_PATH, request_serializer=None, response_deserializer=None)
            return predict_outputs(call(predict_request(sample_input(seed)), timeout=30))
        finally:
            channel.close()

    def check_ok(self, response, seed, what):
        """A raw-h2 unary response: 200, grpc-status 0, exactly one message equal to the reference."""
        assert response.done, "%s: no response" % what
        assert response.grpc_status == 0 and response.http_status == "200", "%s: %s" % (what, response.describe())
        messages = grpc_unframe(bytes(response.data))
        assert len(messages) == 1, "%s: %d response messages" % (what, len(messages))
        assert outputs_match(predict_outputs(messages[0]), self.reference[seed]), "%s: outputs differ from the reference" % what

    def valid_call_on(self, peer, seed=3, what="a valid call on the same connection"):
        sid = peer.call(grpc_frame(predict_request(sample_input(seed))))
        peer.flush()
        self.check_ok(peer.wait(sid), seed, what)

    def expect_status(self, response, grpc_status, http_status="200", what="", message_contains=None):
        assert response.done, "%s: no response within the timeout" % what
        assert response.grpc_status == grpc_status and response.http_status == http_status, \
            "%s: want :status %s grpc-status %d, got %s" % (what, http_status, grpc_status, response.describe())
        content_type = response.field("content-type") or ""
        assert content_type.startswith("application/grpc"), "%s: response content-type %r" % (what, content_type)
        if message_contains:
            message = response.field("grpc-message") or ""
            assert message_contains in message, "%s: grpc-message %r lacks %r" % (what, message, message_contains)


def expect_closed(peer, what, timeout=10.0):
    assert peer.wait_closed(timeout), "%s: the server kept the connection open for %.0f s" % (what, timeout)
    return "closed" + (" after GOAWAY(%d)" % peer.goaway[1] if peer.goaway else "")


# MARK: cases

def case_bad_preface(ctx):
    p = ctx.peer(preface=False)
    p.send_raw(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    return expect_closed(p, "bad preface")


def case_http11_request(ctx):
    """HTTP/1.1 on the gRPC port reaches the REST side: a readable HTTP/1.1 answer (404 and a JSON error for these
    paths, which name no REST route; h2c Upgrade is not offered), no HTTP/2 bytes; Connection: close is honoured."""
    for request in (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    b"POST /tensorwire.v1.Inference/Predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\n"
                    b"Content-Length: 5\r\nConnection: close\r\n\r\n\x00\x00\x00\x00\x00",
                    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\n"
                    b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"):
        p = ctx.peer(preface=False)
        p.send_raw(request)
        reply = p.read_raw_until_closed()
        what = "HTTP/1.1 %r" % request[:20]
        assert reply.startswith(b"HTTP/1.1 404 "), "%s: reply starts %r" % (what, reply[:40])
        assert b'{"error":' in reply and b"connection: close" in reply.lower(), "%s: reply %r" % (what, reply)
    return "3 requests, each answered HTTP/1.1 404 {\"error\"} and closed"


def case_random_bytes(ctx):
    rng = random.Random(1234)
    for i in range(20):
        junk = bytes(rng.getrandbits(8) for _ in range(rng.choice((1, 24, 100, 4096, 65536))))
        p = ctx.peer(preface=False)
        if i % 2:
            # A valid preface and SETTINGS, then garbage frames.
            p.conn.initiate_connection()
            p.flush()
        try:
            p.send_raw(junk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        expect_closed(p, "random bytes #%d" % i)
    return "20 connections (half after a valid preface), all closed"


def _headers_then_rst(ctx, connections, streams, body):
    for c in range(connections):
        p = ctx.peer()
        for i in range(streams):
            sid = p.start(request_headers())
            if body:
                p.send(sid, body)
            p.reset(sid)
            if i % 20 == 19:
                p.flush()
        p.flush()
        ctx.valid_call_on(p, seed=c % 10)
        p.close()
    return "%d streams reset over %d connections; each connection still serves" % (connections * streams, connections)


def case_rst_before_data(ctx):
    return _headers_then_rst(ctx, 5, 200, None)


def case_rst_during_data(ctx):
    whole = grpc_frame(predict_request(sample_input(1)))
    return _headers_then_rst(ctx, 5, 200, whole[:len(whole) // 2])


def case_rst_after_request(ctx):
    # The handler is running (queued in the batcher) when the cancel arrives.
    whole = grpc_frame(predict_request(sample_input(2)))
    connections, streams = 5, 100
    for c in range(connections):
        p = ctx.peer()
        sids = []
        for _ in range(streams):
            sid = p.start(request_headers())
            p.send(sid, whole, end_stream=True)
            sids.append(sid)
        p.flush()
        for sid in sids:
            p.reset(sid)
        p.flush()
        ctx.valid_call_on(p)
        p.close()
    return "%d whole requests cancelled while in flight" % (connections * streams)


def _one_stream(ctx, headers, body, end_stream=True):
    p = ctx.peer()
    sid = p.start(headers, end_stream=body is None and end_stream)
    if body is not None:
        p.send(sid, body, end_stream=end_stream)
    p.flush()
    return p, p.wait(sid)


def case_flag_byte_2(ctx):
    message = predict_request(sample_input(4))
    p, r = _one_stream(ctx, request_headers(), grpc_frame(message, flag=2))
    ctx.expect_status(r, 13, what="flag byte 2")
    ctx.valid_call_on(p)
    return r.describe()


def case_over_limit(ctx):
    limit = ctx.limit
    # (a) the whole oversize message is sent.
    p, r = _one_stream(ctx, request_headers(), grpc_frame(b"\x0a" + bytes(limit + 10)))
    ctx.expect_status(r, 8, what="message over the limit", message_contains="--max-receive-message-bytes")
    first = r.describe()
    # (b) only the prefix, declaring 1 GiB, with no END_STREAM: the answer must come from the declared length.
    sid = p.start(request_headers())
    p.send(sid, b"\x00" + struct.pack(">I", 1 << 30))
    p.flush()
    r2 = p.wait(sid, timeout=10)
    ctx.expect_status(r2, 8, what="declared 1 GiB, body never sent")
    ctx.valid_call_on(p)
    return "%s; 1 GiB declared: %s" % (first, r2.describe())


def case_truncated_at_end_stream(ctx):
    whole = grpc_frame(predict_request(sample_input(5)))
    p, r = _one_stream(ctx, request_headers(), whole[:len(whole) - 7])
    ctx.expect_status(r, 13, what="message truncated at END_STREAM")
    sid = p.start(request_headers())
    p.send(sid, whole[:3], end_stream=True)  # inside the 5-byte prefix
    p.flush()
    ctx.expect_status(p.wait(sid), 13, what="prefix truncated at END_STREAM")
    ctx.valid_call_on(p)
    return r.describe()


def case_bad_grpc_timeout(ctx):
    body = grpc_frame(predict_request(sample_input(6)))
    seen = []
    p = ctx.peer()
    for value in ("abc", "123456789S", "1x", "S", "-1S", ""):
        sid = p.start(request_headers(extra=[("grpc-timeout", value)]))
        p.send(sid, body, end_stream=True)
        p.flush()
        r = p.wait(sid)
        ctx.expect_status(r, 13, http_status="400", what="grpc-timeout %r" % value)
        seen.append(value)
    ctx.valid_call_on(p)
    return "%d malformed values → :status 400, INTERNAL" % len(seen)


def case_wrong_content_type(ctx):
    body = grpc_frame(predict_request(sample_input(7)))
    p = ctx.peer()
    results = []
    for content_type, http_status, code in (("text/plain", "415", 3), ("application/json", "415", 3),
                                            (None, "415", 3), ("application/grpc-web", "415", 3),
                                            ("application/grpc+json", "200", 12)):
        sid = p.start(request_headers(content_type=content_type))
        p.send(sid, body, end_stream=True)
        p.flush()
        r = p.wait(sid)
        ctx.expect_status(r, code, http_status=http_status, what="content-type %r" % content_type)
        results.append(r)
    # The accepted forms (W-14).
    for seed, content_type in ((7, "application/grpc+proto"), (8, "application/grpc;charset=utf-8")):
        sid = p.start(request_headers(content_type=content_type))
        p.send(sid, grpc_frame(predict_request(sample_input(seed))), end_stream=True)
        p.flush()
        ctx.check_ok(p.wait(sid), seed, "content-type %s" % content_type)
    # W-10: not POST.
    sid = p.start(request_headers(method="GET"), end_stream=True)
    p.flush()
    ctx.expect_status(p.wait(sid), 13, http_status="405", what="GET")
    ctx.valid_call_on(p)
    return "text/plain: %s" % results[0].describe()


def case_header_list_200k(ctx):
    outcomes = []
    # (a) 200 KB of distinct fields: large on the wire too (many CONTINUATION frames).
    p = ctx.peer()
    rng = random.Random(7)
    extra = [("x-pad-%d" % i, "%064x" % rng.getrandbits(256)) for i in range(2000)]
    sid = p.start(request_headers(extra=extra))
    p.send(sid, grpc_frame(predict_request(sample_input(0))), end_stream=True)
    try:
        p.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = p.wait(sid, timeout=10)
    if r.done:
        assert r.reset_code is not None or (r.grpc_status not in (None, 0)), "200 KB header list accepted: %s" % (
            r.describe())
        outcomes.append("distinct fields: " + r.describe())
    else:
        assert p.eof or p.goaway, "200 KB header list: neither refused nor the connection ended"
        outcomes.append("distinct fields: connection ended" + (" GOAWAY(%d)" % p.goaway[1] if p.goaway else ""))
    p.close()
    # (b) 200 KB decoded from a small HPACK block (one indexed field repeated): only our own cap (W-19) sees it.
    p = ctx.peer()
    extra = [("x-pad", "a" * 68)] * 2000
    sid = p.start(request_headers(extra=extra))
    p.send(sid, grpc_frame(predict_request(sample_input(0))), end_stream=True)
    p.flush()
    r = p.wait(sid, timeout=10)
    assert r.done, "HPACK-indexed 200 KB header list: no answer"
    assert r.reset_code is not None or r.grpc_status not in (None, 0), "HPACK-indexed 200 KB list accepted"
    outcomes.append("HPACK-indexed: " + r.describe())
    ctx.valid_call_on(p)
    p.close()
    return "; ".join(outcomes)


def case_rejected_uploads_keep_window(ctx):
    # 24 MiB of request bytes the server refuses (over the size limit, or to an unknown path), more than the 16 MiB
    # connection window: credit for refused and ignored DATA must come back, or the connection starves.
    p = ctx.peer()
    chunk = bytes(16384)
    total = 0
    for i in range(24):
        path = PREDICT_PATH if i % 2 == 0 else "/nope.Service/Upload"
        sid = p.start(request_headers(path=path))
        p.send(sid, b"\x00" + struct.pack(">I", 1 << 20))
        sent = 0
        while sent < (1 << 20) - 16384:
            if p.conn.local_flow_control_window(sid) < len(chunk):
                p.flush()
                if not p.pump(lambda: p.responses[sid].done or p.conn.local_flow_control_window(sid) >= len(chunk),
                              timeout=10):
                    raise AssertionError("stream %d: no flow-control credit after %d bytes in all" % (sid, total))
                if p.responses[sid].done:
                    break
            p.conn.send_data(sid, chunk)
            sent += len(chunk)
            total += len(chunk)
        p.flush()
        r = p.wait(sid, timeout=10)
        assert r.done and r.grpc_status in (8, 12), "stream %d: %s" % (sid, r.describe())
    ctx.valid_call_on(p)
    return "%.1f MiB of refused DATA on one connection; it still serves" % (total / (1 << 20))


def case_rapid_reset_flood(ctx):
    p = ctx.peer()
    sent = 0
    try:
        for i in range(20000):
            sid = p.start(request_headers())
            p.reset(sid)
            sent += 1
            if i % 100 == 99:
                p.flush()
                p.pump(lambda: False, timeout=0.001)
                if p.goaway or p.eof:
                    break
        p.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    except h2.exceptions.ProtocolError:
        assert p.goaway, "h2 refused to send without a GOAWAY"
    outcome = expect_closed(p, "rapid reset flood", timeout=15)
    assert sent < 20000, "20000 HEADERS+RST_STREAM pairs were accepted"
    return "connection ended after %d HEADERS+RST_STREAM pairs: %s" % (sent, outcome)


def case_ping_flood(ctx):
    # W-70/W-72: PINGs far sooner than the policy allows; the server must end the connection, not queue ACKs forever.
    p = ctx.peer()
    sent = 0
    try:
        for i in range(20000):
            p.conn.ping(struct.pack(">Q", i))
            sent += 1
            if i % 500 == 499:
                p.flush()
                p.pump(lambda: False, timeout=0.001)
                if p.goaway or p.eof:
                    break
        p.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    except h2.exceptions.ProtocolError:
        assert p.goaway, "h2 refused to send without a GOAWAY"
    outcome = expect_closed(p, "PING flood", timeout=15)
    detail = " %r" % p.goaway[2] if p.goaway and p.goaway[2] else ""
    return "%d PINGs, then %s%s" % (sent, outcome, detail)


def case_continuation_flood(ctx):
    # CVE-2024-28182: HEADERS without END_HEADERS, then endless empty CONTINUATION frames.
    p = ctx.peer()
    sid = p.conn.get_next_available_stream_id()
    block = p.conn.encoder.encode(request_headers())
    frames = struct.pack(">I", len(block))[1:] + bytes([0x1, 0x0]) + struct.pack(">I", sid) + block
    continuation = struct.pack(">I", 0)[1:] + bytes([0x9, 0x0]) + struct.pack(">I", sid)
    try:
        p.send_raw(frames + continuation * 5000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    p.conn = None  # the h2 state machine no longer matches what went out; only closure is checked
    p.eof = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            data = p.sock.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            return "closed after HEADERS + 5000 empty CONTINUATION frames"
    raise AssertionError("CONTINUATION flood: the connection stayed open")


def case_client_vanishes(ctx):
    whole = grpc_frame(predict_request(sample_input(9)))
    for i in range(60):
        p = ctx.peer()
        a = p.start(request_headers())
        p.send(a, whole, end_stream=True)           # a whole unary request: its answer has nowhere to go
        b = p.start(request_headers())
        p.send(b, whole[:len(whole) // 3])          # half a message
        c = p.start(request_headers(path=PREDICT_STREAM_PATH))
        p.send(c, whole * 3)                         # a stream with three requests, never half-closed
        p.flush()
        if i % 3 == 0:
            p.pump(lambda: p.responses[a].done, timeout=5)  # sometimes after a response has started flowing
        p.close(abort=i % 2 == 0)
    return "60 clients vanished (RST or FIN) with unary, partial and streaming calls open"


def case_concurrent_1000(ctx):
    peers = [ctx.peer() for _ in range(50)]
    expected = {}
    for n, p in enumerate(peers):
        for k in range(20):
            seed = (n + k) % 10
            sid = p.call(grpc_frame(predict_request(sample_input(seed))))
            expected[(n, sid)] = seed
        p.flush()
    # All 1000 requests are on the wire before any answer is read.
    answered = 0
    for n, p in enumerate(peers):
        for (m, sid), seed in expected.items():
            if m == n:
                ctx.check_ok(p.wait(sid, timeout=60), seed, "stream %d on connection %d" % (sid, n))
                answered += 1
        p.close()
    assert answered == 1000
    return "1000 answers over 50 connections, all equal to the reference"


def case_unknown_paths(ctx):
    p = ctx.peer()
    body = grpc_frame(predict_request(sample_input(0)))
    paths = ["/", "//", "/tensorwire.v1.Inference", "/tensorwire.v1.Inference/", "/tensorwire.v1.Inference/Nope",
             "/nope.Service/Predict", "/tensorwire.v1.Inference/Predict/extra", "/Tensorwire.V1.Inference/predict",
             "/tensorwire.v1.Inference//Predict", "/%74ensorwire.v1.Inference/Predict",
             "/tensorwire.v1.Inference/Predict?x=1", "/" + "a" * 2000 + "/b"]
    for path in paths:
        sid = p.start(request_headers(path=path))
        p.send(sid, body, end_stream=True)
        p.flush()
        r = p.wait(sid)
        assert r.headers is not None and r.trailers is None, "path %r: not Trailers-Only: %s" % (path, r.describe())
        ctx.expect_status(r, 12, what="path %r" % path)
    # Forms nghttp2 itself rejects before we see them (RFC 9113 §8.3.1): any stream error is fine.
    rejected = []
    for path in ("tensorwire.v1.Inference/Predict", "*", ""):
        sid = p.start(request_headers(path=path))
        p.send(sid, body, end_stream=True)
        p.flush()
        r = p.wait(sid)
        assert r.done and (r.reset_code is not None or r.grpc_status not in (None, 0)), \
            "path %r: %s" % (path, r.describe())
        rejected.append("%r→%s" % (path, r.describe()))
    ctx.valid_call_on(p)
    return "%d forms → 12 Trailers-Only; %s" % (len(paths), ", ".join(rejected))


# MARK: resource limits (issue 25); hardening.sh starts the server with the limits these cases name

BUFFERED_PER_CONNECTION = 65536      # --max-buffered-request-bytes-per-connection
HANDSHAKE_TIMEOUT = 2.0              # --handshake-timeout-seconds


def case_unfinished_messages(ctx):
    """Point 2, sized down: 40 streams on one connection each declare a message of the receive limit and send all
    but 96 bytes of it, never finishing. Past the per-connection budget the streams end RESOURCE_EXHAUSTED naming
    the flag (none hangs), and the connection serves on."""
    p = ctx.peer()
    assert p.pump(lambda: p.conn.outbound_flow_control_window > 1 << 20, timeout=5), "no connection window update"
    declared = ctx.limit
    sids = []
    for _ in range(40):
        sid = p.start(request_headers(path=PREDICT_STREAM_PATH))
        p.send(sid, struct.pack(">BI", 0, declared) + b"\x2a" * (declared - 96))
        sids.append(sid)
    p.flush()
    held_max = BUFFERED_PER_CONNECTION // (declared + 5 - 96) + 1
    p.pump(lambda: sum(1 for sid in sids if p.responses[sid].done) >= len(sids) - held_max, timeout=20)
    refused = [sid for sid in sids if p.responses[sid].done]
    assert len(refused) >= len(sids) - held_max, "only %d of %d streams ended" % (len(refused), len(sids))
    for sid in refused:
        ctx.expect_status(p.responses[sid], 8, what="stream %d" % sid,
                          message_contains="max-buffered-request-bytes-per-connection")
    ctx.valid_call_on(p)
    p.close()
    return "%d of %d unfinished streams refused RESOURCE_EXHAUSTED; the connection still serves" % (len(refused), len(sids))


def case_silent_connections(ctx):
    """Point 4: 200 connections that never send the preface are closed after the handshake timeout."""
    socks = [socket.create_connection(("127.0.0.1", ctx.port), timeout=30) for _ in range(200)]
    started = time.monotonic()
    try:
        for sock in socks:
            try:
                data = sock.recv(1)
            except (ConnectionResetError, socket.timeout):
                data = None
            assert data == b"", "a silent connection got %r instead of being closed" % data
        waited = time.monotonic() - started
    finally:
        for sock in socks:
            sock.close()
    assert waited < HANDSHAKE_TIMEOUT + 10, "closed only after %.1f s" % waited
    return "200 silent connections closed after %.1f s (timeout %.0f s)" % (waited, HANDSHAKE_TIMEOUT)


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def case_emfile_no_spin(ctx):
    """Point 4: out of descriptors. The server's RLIMIT_NOFILE is lowered (prlimit) to 24 above what it has open
    and 40 idle clients connect: accept() fails with EMFILE. The server must not spin (it burnt 86% of a core),
    must log it once, and must serve the waiting clients once descriptors free."""
    import resource
    soft, hard = resource.prlimit(ctx.pid, resource.RLIMIT_NOFILE)
    log_lines_before = _log_count(ctx, "out of file descriptors")
    resource.prlimit(ctx.pid, resource.RLIMIT_NOFILE, (_open_fds(ctx.pid) + 24, hard))
    idle = []
    try:
        for _ in range(40):
            peer = ctx.peer()
            idle.append(peer)
        time.sleep(0.5)
        cpu_before, wall_before = _cpu_seconds(ctx.pid), time.monotonic()
        time.sleep(2.0)
        share = (_cpu_seconds(ctx.pid) - cpu_before) / (time.monotonic() - wall_before)
        waiting = ctx.peer()
        sid = waiting.call(grpc_frame(predict_request(sample_input(4))))
        waiting.flush()
        for peer in idle:
            peer.close()
        idle = []
        ctx.check_ok(waiting.wait(sid, timeout=30), 4, "a client that waited in the backlog")
        waiting.close()
    finally:
        for peer in idle:
            peer.close()
        resource.prlimit(ctx.pid, resource.RLIMIT_NOFILE, (soft, hard))
    assert share < 0.25, "the server used %.0f%% of a core while out of descriptors" % (share * 100)
    logged = _log_count(ctx, "out of file descriptors") - log_lines_before
    if ctx.server_log:
        assert logged == 1, "EMFILE logged %d times in one episode" % logged
    return "out of descriptors: %.1f%% of a core, logged %d time(s); the waiting client was served" % (
        share * 100, logged)


def _log_count(ctx, text):
    if not ctx.server_log:
        return 0
    with open(ctx.server_log, errors="replace") as f:
        return sum(1 for line in f if text in line)


def case_reflection_not_read(ctx):
    """Issue 25, finding 3: a reflection stream whose client never reads (receive window 0) while it sends 40,000
    file_containing_symbol requests. The server stops reading the stream once its unread answers pass the
    per-stream queue bound, so HTTP/2 flow control stops the client: far fewer requests get through, and the
    server's memory stays flat (before: RSS 25 MB -> 1.16 GB)."""
    p = ctx.peer()
    p.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    p.flush()
    before, _ = rss_kib(ctx.pid)
    sid = p.start(request_headers("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"))
    symbol = b"tensorwire.v1.Inference"
    request = grpc_frame(bytes([0x22, len(symbol)]) + symbol)  # ServerReflectionRequest.file_containing_symbol
    total, sent, stalled_since = 40000, 0, None
    while sent < total:
        room = min(p.conn.local_flow_control_window(sid), p.conn.max_outbound_frame_size)
        count = min(room // len(request), total - sent)
        if count > 0:
            p.conn.send_data(sid, request * count)
            p.flush()
            sent += count
            stalled_since = None
            continue
        stalled_since = stalled_since or time.monotonic()
        if time.monotonic() - stalled_since > 3.0:
            break  # flow control holds the client: the server stopped reading
        p.pump(lambda: p.conn.local_flow_control_window(sid) >= len(request), timeout=0.2)
    after, _ = rss_kib(ctx.pid)
    p.close(abort=True)
    grown_mib = (after - before) / 1024
    assert sent < total, "all %d requests were read although no answer was: no backpressure" % total
    assert grown_mib < 64, "RSS grew %.1f MiB while answers were not read" % grown_mib
    return "%d of %d requests read before flow control held the client; RSS %+.1f MiB" % (sent, total, grown_mib)


CASES = [
    ("bad_preface", case_bad_preface),
    ("http11_request", case_http11_request),
    ("random_bytes", case_random_bytes),
    ("rst_before_data", case_rst_before_data),
    ("rst_during_data", case_rst_during_data),
    ("rst_after_request", case_rst_after_request),
    ("flag_byte_2", case_flag_byte_2),
    ("over_limit", case_over_limit),
    ("truncated_at_end_stream", case_truncated_at_end_stream),
    ("bad_grpc_timeout", case_bad_grpc_timeout),
    ("wrong_content_type", case_wrong_content_type),
    ("header_list_200k", case_header_list_200k),
    ("rejected_uploads_keep_window", case_rejected_uploads_keep_window),
    ("rapid_reset_flood", case_rapid_reset_flood),
    ("ping_flood", case_ping_flood),
    ("continuation_flood", case_continuation_flood),
    ("client_vanishes", case_client_vanishes),
    ("concurrent_1000", case_concurrent_1000),
    ("unknown_paths", case_unknown_paths),
    ("unfinished_messages", case_unfinished_messages),
    ("silent_connections", case_silent_connections),
    ("emfile_no_spin", case_emfile_no_spin),
    ("reflection_not_read", case_reflection_not_read),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--max-receive-message-bytes", type=int, required=True)
    parser.add_argument("--only", default="")
    parser.add_argument("--server-log", default=None, help="the server's log file (for once-per-episode checks)")
    parser.add_argument("--rounds", type=int, default=3, help="run every case this many times (leaks show as growth)")
    args = parser.parse_args()
    ctx = Context(args.port, args.pid, args.max_receive_message_bytes, args.server_log)
    only = set(filter(None, args.only.split(",")))

    for seed in SEEDS:
        ctx.reference[seed] = ctx.grpc_predict(seed)
    assert len(set(ctx.reference.values())) > 1, "every input gave the same answer; the reference is useless"
    # Warm up (allocator arenas, batcher buffers) before the baseline: the 1000-stream load once.
    case_concurrent_1000(ctx)
    time.sleep(0.5)
    baseline, _ = rss_kib(args.pid)
    print("hardening: server pid %d, RSS baseline %.1f MiB (after warm-up)" % (args.pid, baseline / 1024))

    failures = []
    after_round = []
    for round_number in range(1, args.rounds + 1):
        for name, case in CASES:
            if only and name not in only:
                continue
            started = time.monotonic()
            try:
                outcome = case(ctx)
                assert alive(args.pid), "the server died"
                for seed in (0, 5):
                    assert outputs_match(ctx.grpc_predict(seed), ctx.reference[seed]), \
                        "the next valid Predict answered wrongly"
                verdict = "ok"
            except Exception as error:  # noqa: BLE001 - report every failure and go on
                verdict = "FAIL"
                outcome = "%s: %s" % (type(error).__name__, error)
                failures.append("%s (round %d)" % (name, round_number))
                if os.environ.get("HARDENING_TRACE"):
                    traceback.print_exc()
                if not alive(args.pid):
                    print("%-24s %-4s %s" % (name, verdict, outcome))
                    print("hardening: the server is gone; stopping")
                    return 1
            if round_number == 1 or verdict != "ok":
                rss, _ = rss_kib(args.pid)
                print("%-24s %-4s %5.1fs RSS %6.1f MiB  %s" % (name, verdict, time.monotonic() - started,
                                                             rss / 1024, outcome))
                sys.stdout.flush()
        after_round.append(rss_kib(args.pid)[0])
    print("hardening: %d rounds; RSS after each: %s MiB" % (
        args.rounds, ", ".join("%.1f" % (kib / 1024) for kib in after_round)))

    time.sleep(1.0)
    final, peak = rss_kib(args.pid)
    grown = final - baseline
    print("hardening: RSS baseline %.1f MiB, final %.1f MiB (%+.1f MiB), peak %.1f MiB; slack %d MiB" % (
        baseline / 1024, final / 1024, grown / 1024, peak / 1024, RSS_SLACK_KIB // 1024))
    if grown > RSS_SLACK_KIB:
        failures.append("rss")
        print("hardening: FAIL: RSS did not return near its baseline")
    if failures:
        print("hardening: FAILED: %s" % ", ".join(failures))
        return 1
    print("hardening: all cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

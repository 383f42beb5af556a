#!/usr/bin/env python3
"""Key-file and certificate reload under load (issue 19): a tensorwire-server with --tls-cert/--tls-key (files at
LIVE.pem/LIVE.key) and --auth-keys KEYS.json is driven by four grpcio callers over TLS with the `steady` key for the
whole run (two keep one channel, two open a fresh channel, so a fresh TLS handshake, every 10 calls), while this
script, in turn:
  1. rewrites the key file in place adding key `added`, and waits until `added` is accepted;
  2. replaces the key file by rename without key `retired`, and waits until `retired` is UNAUTHENTICATED;
  3. renames a malformed key file over it (the old keys must stay), then puts a valid one back;
  4. replaces the certificate pair and sends SIGHUP, and waits until a new connection sees CN=reloaded;
  5. replaces the pair again without a signal, and waits until a new connection sees CN=localhost.
Passes when every caller's every call was OK with the probabilities, each caller completed calls after every step,
and each step's effect was seen within 15 s. Never decides by a timing of the server's; the waits are bounds.

    reload_under_load.py --port P --pid PID --ca CA.pem --live DIR/live --pki DIR --keys KEYS.json --log SERVER.log \
        --steady K --added K --retired K
"""
import argparse
import hashlib
import json
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time

import grpc

PREDICT = "/tensorwire.v1.Inference/Predict"


def field(number, payload):
    def varint(value):
        out = bytearray()
        while True:
            out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
            value >>= 7
            if not value:
                return bytes(out)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


# PredictRequest{model: "digits", inputs: [Tensor{name: "X", dtype: FLOAT32, shape: [1, 64], raw_data}]}
ROW = struct.pack("<64f", *[(i % 9) / 8.0 for i in range(64)])
REQUEST = field(1, b"digits") + field(3, field(1, b"X") + b"\x10\x01" + field(3, b"\x01\x40") + field(10, ROW))


class Caller(threading.Thread):
    def __init__(self, port, ca, key, fresh_every):
        super().__init__(daemon=True)
        self.port, self.ca, self.key, self.fresh_every = port, ca, key, fresh_every
        self.calls = 0
        self.failures = []
        self.stop = threading.Event()

    def channel(self):
        credentials = grpc.ssl_channel_credentials(root_certificates=self.ca)
        # A new channel must not reuse the previous one's subchannel (and so its TLS connection).
        return grpc.secure_channel("localhost:%d" % self.port, credentials,
                                   options=[("grpc.use_local_subchannel_pool", 1)])

    def run(self):
        channel = self.channel()
        metadata = [("authorization", "Bearer " + self.key)]
        while not self.stop.is_set():
            if self.fresh_every and self.calls and self.calls % self.fresh_every == 0:
                channel.close()
                channel = self.channel()
            predict = channel.unary_unary(PREDICT, request_serializer=None, response_deserializer=None)
            try:
                reply = predict(REQUEST, timeout=10, metadata=metadata)
                if b"probabilities" not in reply:
                    self.failures.append("reply without probabilities: %r" % reply[:60])
            except grpc.RpcError as error:
                self.failures.append("%s %s" % (error.code(), error.details()))
            self.calls += 1
        channel.close()


def call_with(port, ca, key):
    """One Predict on a fresh channel with `key`: the status code's name."""
    credentials = grpc.ssl_channel_credentials(root_certificates=ca)
    with grpc.secure_channel("localhost:%d" % port, credentials,
                             options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        predict = channel.unary_unary(PREDICT, request_serializer=None, response_deserializer=None)
        try:
            predict(REQUEST, timeout=10, metadata=[("authorization", "Bearer " + key)])
            return "OK"
        except grpc.RpcError as error:
            return error.code().name


def subject_cn(port, ca_path):
    context = ssl.create_default_context(cafile=ca_path)
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            subject = dict(item[0] for item in tls.getpeercert()["subject"])
            return subject.get("commonName")


def server_log(path):
    with open(path, errors="replace") as f:
        return f.read()


def wait_for(what, predicate, bound=15.0):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if predicate():
            print("  ok   %s" % what)
            return True
        time.sleep(0.1)
    print("  FAIL %s: not seen within %g s" % (what, bound))
    return False


def key_file(entries):
    return json.dumps({"keys": [{"id": name, "sha256": hashlib.sha256(key.encode()).hexdigest(),
                                 "scopes": ["infer:digits"]} for name, key in entries]}) + "\n"


def replace(path, text_or_bytes):
    temporary = path + ".new"
    with open(temporary, "wb") as f:
        f.write(text_or_bytes if isinstance(text_or_bytes, bytes) else text_or_bytes.encode())
    os.rename(temporary, path)


def main():
    parser = argparse.ArgumentParser()
    for name in ("--port", "--pid"):
        parser.add_argument(name, type=int, required=True)
    for name in ("--ca", "--live", "--pki", "--keys", "--log", "--steady", "--added", "--retired"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    ca = open(args.ca, "rb").read()

    callers = [Caller(args.port, ca, args.steady, fresh) for fresh in (0, 0, 10, 10)]
    for caller in callers:
        caller.start()
    progress = []

    def step_done():
        progress.append([c.calls for c in callers])

    ok = wait_for("the callers are running", lambda: all(c.calls > 5 for c in callers))
    step_done()

    # 1. In place: the same inode, new contents (an editor's save without a rename).
    with open(args.keys, "w") as f:
        f.write(key_file([("steady", args.steady), ("retired", args.retired), ("added", args.added)]))
    ok &= wait_for("key file rewritten in place: the added key is accepted",
                   lambda: call_with(args.port, ca, args.added) == "OK")
    step_done()
    # 2. By rename, without the retired key.
    replace(args.keys, key_file([("steady", args.steady), ("added", args.added)]))
    ok &= wait_for("key file replaced by rename: the retired key is refused",
                   lambda: call_with(args.port, ca, args.retired) == "UNAUTHENTICATED")
    step_done()
    # 3. A malformed file keeps the keys in force; then a valid one again.
    refusals = server_log(args.log).count("the key file did not reload")
    replace(args.keys, '{"keys": [{"id": "broken", "sha256": "not hex"')
    ok &= wait_for("the malformed key file is refused (the server's log says so)",
                   lambda: server_log(args.log).count("the key file did not reload") > refusals)
    if call_with(args.port, ca, args.added) == "OK":
        print("  ok   a malformed key file keeps the old keys")
    else:
        print("  FAIL a malformed key file dropped the old keys"); ok = False
    replace(args.keys, key_file([("steady", args.steady), ("added", args.added)]))
    step_done()
    # 4. A new certificate pair and SIGHUP.
    replace(args.live + ".pem", open(os.path.join(args.pki, "server2.pem"), "rb").read())
    replace(args.live + ".key", open(os.path.join(args.pki, "server2.key"), "rb").read())
    os.kill(args.pid, signal.SIGHUP)
    ok &= wait_for("SIGHUP: new connections see CN=reloaded", lambda: subject_cn(args.port, args.ca) == "reloaded")
    step_done()
    # 5. The first pair back, no signal: the file watcher.
    replace(args.live + ".key", open(os.path.join(args.pki, "server.key"), "rb").read())
    replace(args.live + ".pem", open(os.path.join(args.pki, "server.pem"), "rb").read())
    ok &= wait_for("files replaced: new connections see CN=localhost",
                   lambda: subject_cn(args.port, args.ca) == "localhost")
    step_done()
    wait_for("every caller completed calls after the last step",
             lambda: all(c.calls > progress[-1][i] + 5 for i, c in enumerate(callers)))
    step_done()

    for caller in callers:
        caller.stop.set()
    for caller in callers:
        caller.join(timeout=30)
    for i in range(1, len(progress)):
        stalled = [n for n, (before, after) in enumerate(zip(progress[i - 1], progress[i])) if after <= before]
        if stalled:
            print("  FAIL callers %s made no call during step %d" % (stalled, i)); ok = False
    calls = sum(c.calls for c in callers)
    failures = [f for c in callers for f in c.failures]
    if failures:
        print("  FAIL %d of %d calls failed under reload, first: %s" % (len(failures), calls, failures[0]))
        ok = False
    else:
        print("  ok   %d calls from 4 callers over TLS with a key across 5 reloads: 0 failed" % calls)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

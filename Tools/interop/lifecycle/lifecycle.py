#!/usr/bin/env python3
"""Live model updates, draining and systemd notify against grpcio (issue 21).

  lifecycle.py --check swaps   --server 127.0.0.1:PORT --repo DIR [--swaps N]
  lifecycle.py --check broken  --server 127.0.0.1:PORT --repo DIR --cli PATH
  lifecycle.py --check sighup  --server 127.0.0.1:PORT --repo DIR --pid PID
  lifecycle.py --check sigterm --server 127.0.0.1:PORT --pid PID --log FILE
  lifecycle.py --check notify  --binary PATH --repo DIR
  lifecycle.py --write-model PATH --value V        (a model whose every output is V)

Model `ver` takes `input` [N, 4] and answers `output` [N, 3] filled with its version number, so a response says by
its values which version computed it. `swaps`: 8 callers (4 unary, 4 PredictStreams of 16 requests) run throughout
while N new versions are published (atomic rename) into a server polling its repository: every request succeeds,
every response's rows all carry the version it names, each caller's versions never go back, and each version is
served. `broken`: a truncated model.onnx and an unsupported operator as new versions leave the old one serving, with
the failure in GetModel, RepositoryIndex-style reasons and /metrics; `tensorwire models reload` exits 0 and 1.
`sighup`: in mode none a new version loads on SIGHUP only. `sigterm`: SIGTERM under the same load: every request the server logged (--access-log) was answered OK, and the
callers received exactly those answers. `notify`: the server started with NOTIFY_SOCKET (abstract) and
WATCHDOG_USEC sends READY=1 once it serves, WATCHDOG=1 repeatedly, STOPPING=1 on SIGTERM, and exits 0.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tools", "bench"))
sys.path.insert(0, os.path.join(ROOT, "Tools", "interop", "batching"))
from batching_models import field_bytes, field_varint, node, tensor, value_info  # noqa: E402
from batching_grpcio import stubs  # noqa: E402  (tensorwire.v1 stubs generated with grpcio-tools)


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    os._exit(1)


def ok(message):
    print(f"  ok: {message}", flush=True)


def model_bytes(value, op="Gemm"):
    """input [N,4] -> output [N,3] = value (Gemm with zero weights and bias `value`); `op` other than Gemm names an
    operator the engine does not run."""
    inits = [tensor("w", np.zeros((3, 4), np.float32)), tensor("b", np.full((3,), value, np.float32))]
    graph = field_bytes(1, node(op, ["input", "w", "b"], ["output"], "fc", [("transB", 1)])) + field_bytes(2, "ver")
    graph += b"".join(field_bytes(5, t) for t in inits)
    graph += field_bytes(11, value_info("input", ["N", 4])) + field_bytes(12, value_info("output", ["N", 3]))
    return field_varint(1, 8) + field_bytes(2, "lifecycle") + field_bytes(7, graph) + field_bytes(
        8, field_bytes(1, "") + field_varint(2, 17))


def publish(repo, version, data):
    """The atomic publish of docs/operations.md: write a hidden temporary folder, then rename it into place."""
    temporary = os.path.join(repo, "ver", f".incoming-{version}")
    os.makedirs(temporary, exist_ok=True)
    with open(os.path.join(temporary, "model.onnx"), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(temporary, os.path.join(repo, "ver", str(version)))


PB, PB_GRPC = stubs(tempfile.mkdtemp())


def request(index, rows=4):
    x = np.full((rows, 4), float(index % 7), np.float32)
    t = PB.Tensor(name="input", dtype=PB.DATA_TYPE_FLOAT32, shape=[rows, 4], raw_data=x.tobytes())
    return PB.PredictRequest(model="ver", id=f"r{index}", inputs=[t])


def served_version(response):
    """The version a response names, after checking that all its values carry that same version (no mix)."""
    out = response.outputs[0]
    values = np.frombuffer(out.raw_data, "<f4") if out.raw_data else np.array(out.float_data, np.float32)
    version = int(response.version)
    if values.size == 0 or not np.all(values == version):
        fail(f"response of version {version} holds {sorted(set(values.tolist()))}: a mix of versions")
    return version


class Load:
    """8 callers on their own channels: 4 unary Predict loops, 4 PredictStream loops (16 requests per stream)."""

    def __init__(self, server, stop_on_error=False):
        self.server, self.stop_on_error = server, stop_on_error
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = []
        self.seen = set()
        self.calls = []          # (kind, sent, answered, code)
        self.threads = [threading.Thread(target=self.unary, args=(i,)) for i in range(4)]
        self.threads += [threading.Thread(target=self.stream, args=(i,)) for i in range(4)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(120)

    def record(self, kind, sent, answered, code, versions):
        with self.lock:
            self.calls.append((kind, sent, answered, code))
            self.ok += answered
            self.seen.update(versions)
            if code != grpc.StatusCode.OK:
                self.errors.append((kind, code))

    def unary(self, index):
        stub = PB_GRPC.InferenceStub(grpc.insecure_channel(self.server))
        last = 0
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                version = served_version(stub.Predict(request(index * 100000 + n), timeout=30))
            except grpc.RpcError as error:
                self.record("unary", 1, 0, error.code(), ())
                if self.stop_on_error:
                    return
                continue
            if version < last:
                fail(f"unary caller {index}: version {version} after {last}")
            last = version
            self.record("unary", 1, 1, grpc.StatusCode.OK, (version,))

    def stream(self, index):
        stub = PB_GRPC.InferenceStub(grpc.insecure_channel(self.server))
        last = 0
        n = 0
        while not self.stop.is_set():
            n += 1
            requests = [request(index * 100000 + n * 16 + i, rows=1 + i % 4) for i in range(16)]
            answered, versions = 0, []
            try:
                for response in stub.PredictStream(iter(requests), timeout=30):
                    if response.HasField("error"):
                        fail(f"stream caller {index}: in-stream error {response.error}")
                    version = served_version(response)
                    if version < last:
                        fail(f"stream caller {index}: version {version} after {last}")
                    last = version
                    versions.append(version)
                    answered += 1
            except grpc.RpcError as error:
                self.record("stream", 16, answered, error.code(), versions)
                if self.stop_on_error:
                    return
                continue
            if answered != 16:
                fail(f"stream caller {index}: {answered} answers to 16 requests")
            self.record("stream", 16, answered, grpc.StatusCode.OK, versions)


def default_version(stub):
    return stub.GetModel(PB.GetModelRequest(model="ver"), timeout=10)


def wait_served(stub, version, seconds=30):
    """Seconds until GetModel's default version is `version`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if default_version(stub).default_version == str(version):
            return time.monotonic() - start
        time.sleep(0.01)
    fail(f"version {version} not served within {seconds} s: {default_version(stub)}")


def check_swaps(args):
    stub = PB_GRPC.InferenceStub(grpc.insecure_channel(args.server))
    wait_served(stub, 1)
    load = Load(args.server)
    load.start()
    delays = []
    for version in range(2, args.swaps + 2):
        time.sleep(0.15)
        publish(args.repo, version, model_bytes(version))
        delays.append(wait_served(stub, version))
        if version >= 3:
            # An old folder leaves the repository too (it serves nothing under latest(1)).
            subprocess.run(["rm", "-rf", os.path.join(args.repo, "ver", str(version - 2))], check=True)
    time.sleep(0.3)
    load.finish()
    if load.errors:
        fail(f"{len(load.errors)} failed requests, first {load.errors[:3]}")
    expected = set(range(1, args.swaps + 2))
    missing = expected - load.seen
    # A version served for a moment may be skipped by every caller; the last must be seen.
    if args.swaps + 1 not in load.seen or len(missing) > args.swaps // 4:
        fail(f"versions never seen by a caller: {sorted(missing)}")
    ok(f"{args.swaps} swaps under 8 callers (4 unary, 4 streams): {load.ok} answers, 0 failed, no response mixes "
       f"versions, no caller goes back; versions seen {len(load.seen)}/{len(expected)}")
    delays.sort()
    ok(f"publish to served (GetModel): median {delays[len(delays) // 2] * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")


def get_metrics(server):
    with urllib.request.urlopen(f"http://{server}/metrics", timeout=10) as response:
        return response.read().decode()


def check_broken(args):
    stub = PB_GRPC.InferenceStub(grpc.insecure_channel(args.server))
    wait_served(stub, 1)
    good = model_bytes(1)
    cases = [(2, good[: len(good) // 2], "truncated model.onnx"), (3, model_bytes(3, op="Einsum"), "unsupported operator")]
    for version, data, what in cases:
        load = Load(args.server)
        load.start()
        publish(args.repo, version, data)
        deadline = time.monotonic() + 30
        while True:
            info = default_version(stub)
            states = {v.version: v for v in info.versions}
            if str(version) in states and states[str(version)].state == PB.MODEL_STATE_FAILED:
                break
            if time.monotonic() > deadline:
                fail(f"{what}: version {version} not reported FAILED: {info}")
            time.sleep(0.02)
        load.finish()
        if load.errors or load.seen != {1}:
            fail(f"{what}: errors {load.errors[:3]}, versions seen {load.seen}")
        if info.default_version != "1" or states["1"].state != PB.MODEL_STATE_READY:
            fail(f"{what}: version 1 does not serve: {info}")
        ok(f"{what} as version {version}: FAILED ({states[str(version)].error[:90]}…); version 1 keeps serving "
           f"({load.ok} answers under load, 0 failed)")
        subprocess.run(["rm", "-rf", os.path.join(args.repo, "ver", str(version))], check=True)
    text = get_metrics(args.server)
    if not re.search(r'tensorwire_model_loads_total\{model="ver",version="2",result="failed"\} 1', text):
        fail("tensorwire_model_loads_total has no failed load of version 2:\n"
             + "\n".join(l for l in text.splitlines() if "loads_total" in l))
    ok("/metrics: tensorwire_model_loads_total{model=\"ver\",version=\"2\",result=\"failed\"} 1")
    # The CLI: reload with good files exits 0; with a version that fails, non-zero.
    publish(args.repo, 4, model_bytes(4))
    cli = [args.cli, "--server", args.server]
    done = subprocess.run(cli + ["models", "reload", "ver"], capture_output=True, text=True)
    if done.returncode != 0 or default_version(stub).default_version != "4":
        fail(f"tensorwire models reload ver: exit {done.returncode}: {done.stdout}{done.stderr}")
    ok("tensorwire models reload ver: exit 0, version 4 serves on return")
    publish(args.repo, 5, good[:10])
    done = subprocess.run(cli + ["models", "reload", "ver"], capture_output=True, text=True)
    if done.returncode == 0 or default_version(stub).default_version != "4":
        fail(f"tensorwire models reload ver with a broken version 5: exit {done.returncode}: {done.stderr}")
    ok(f"tensorwire models reload ver with a broken version 5: exit {done.returncode} ({done.stderr.strip()[:100]}…), "
       "version 4 keeps serving")
    subprocess.run(["rm", "-rf", os.path.join(args.repo, "ver", "5")], check=True)
    done = subprocess.run(cli + ["models", "reload"], capture_output=True, text=True)
    info = default_version(stub)
    if done.returncode != 0 or [v.version for v in info.versions] != ["4"]:
        fail(f"tensorwire models reload (every model) after removing version 5: exit {done.returncode} "
             f"{done.stderr}; versions {[(v.version, v.state) for v in info.versions]}")
    ok("tensorwire models reload (every model) once the broken version 5 is removed: exit 0, version 4 alone")


def check_sighup(args):
    stub = PB_GRPC.InferenceStub(grpc.insecure_channel(args.server))
    wait_served(stub, 1)
    publish(args.repo, 2, model_bytes(2))
    time.sleep(0.5)
    if default_version(stub).default_version != "1":
        fail("mode none loaded version 2 without a SIGHUP")
    os.kill(args.pid, signal.SIGHUP)
    delay = wait_served(stub, 2)
    ok(f"mode none: version 2 is not loaded until SIGHUP, then serves {delay * 1000:.0f} ms after it")


def check_sigterm(args):
    stub = PB_GRPC.InferenceStub(grpc.insecure_channel(args.server))
    wait_served(stub, 1)
    load = Load(args.server, stop_on_error=True)
    load.start()
    time.sleep(1.0)
    os.kill(args.pid, signal.SIGTERM)
    for t in load.threads:
        t.join(60)
    load.stop.set()
    # The server has exited (the shell script waits for it); its access log lists every call it accepted.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "stopped" not in open(args.log).read():
        time.sleep(0.05)
    lines = [l for l in open(args.log) if "access:" in l and "/tensorwire.v1.Inference/Predict" in l]
    statuses = [re.search(r"status=(\S+)", l).group(1) for l in lines]
    bad = [s for s in statuses if s != "OK"]
    if bad:
        fail(f"the server logged {len(bad)} accepted calls that did not end OK: {sorted(set(bad))}")
    answered_calls = [c for c in load.calls if c[3] == grpc.StatusCode.OK]
    partial = [c for c in load.calls if c[3] != grpc.StatusCode.OK and c[2] > 0]
    if partial:
        fail(f"{len(partial)} calls lost answers after being accepted: {partial[:3]}")
    refused = [c for c in load.calls if c[3] != grpc.StatusCode.OK]
    if any(c[3] != grpc.StatusCode.UNAVAILABLE for c in refused):
        fail(f"calls ended with codes other than UNAVAILABLE: {refused}")
    if len(answered_calls) != len(lines):
        fail(f"the server logged {len(lines)} calls, the callers got {len(answered_calls)} complete answers")
    ok(f"SIGTERM under load: {len(lines)} accepted calls ({load.ok} answers), every one answered OK; "
       f"{len(refused)} later calls refused with UNAVAILABLE before being accepted")


def check_notify(args):
    name = f"tw-notify-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    listener.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="400000")
    log = tempfile.NamedTemporaryFile(delete=False)
    server = subprocess.Popen([args.binary, "--port", "0", "--models", args.repo], stderr=log, env=env)

    def receive():
        try:
            return listener.recv(4096).decode()
        except socket.timeout:
            server.kill()
            fail(f"no notification within 30 s; log:\n{open(log.name).read()}")

    messages = [receive()]
    while not messages[-1].startswith("READY=1"):
        messages.append(receive())
    port = re.search(r"listening on [^ ]*:(\d+)", open(log.name).read()).group(1)
    stub = PB_GRPC.InferenceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    served = default_version(stub).default_version
    if f"MAINPID={server.pid}" not in messages[-1]:
        fail(f"READY without our MAINPID: {messages[-1]!r}")
    ok(f"READY=1 once serving (GetModel answers at once, version {served}): {messages[-1].strip()!r}")
    watchdogs = 0
    while watchdogs < 3:
        message = receive()
        if message.startswith("WATCHDOG=1"):
            watchdogs += 1
    ok("WATCHDOG=1 three times (WATCHDOG_USEC=400000)")
    server.send_signal(signal.SIGTERM)
    while True:
        message = receive()
        if message.startswith("STOPPING=1"):
            break
    code = server.wait(30)
    if code != 0:
        fail(f"server exited {code}")
    ok(f"STOPPING=1 on SIGTERM ({message.strip()!r}), exit 0")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check")
    parser.add_argument("--server")
    parser.add_argument("--repo")
    parser.add_argument("--swaps", type=int, default=20)
    parser.add_argument("--pid", type=int)
    parser.add_argument("--log")
    parser.add_argument("--cli")
    parser.add_argument("--binary")
    parser.add_argument("--write-model")
    parser.add_argument("--value", type=float, default=1)
    args = parser.parse_args()
    if args.write_model:
        os.makedirs(os.path.dirname(os.path.abspath(args.write_model)), exist_ok=True)
        with open(args.write_model, "wb") as f:
            f.write(model_bytes(args.value))
        return
    {"swaps": check_swaps, "broken": check_broken, "sighup": check_sighup, "sigterm": check_sigterm, "notify": check_notify}[args.check](args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Tensorwire replicas behind real load balancers (issue 22): nginx (grpc_pass, upstream keepalive) and HAProxy
(HTTP/2 to the replicas), each run from its deploy/ file with the `# replica` and `# listen` lines re-pointed at
loopback.

  balancers_check.py --server PATH [--balancers nginx,haproxy] [--callers N]

For each balancer, in front of three replicas of `tensorwire-server` (the built-in digits model):
  equal     tritonclient (gRPC, and KServe v2 REST through the balancer's HTTP/1.1 port) answers through the
            balancer equal a replica's own answers, and every replica served some of the calls
  kill -9   N grpcio callers (default channel settings, every answer checked) while one replica is killed with
            SIGKILL: at most 2 x N calls fail (those in flight on it) and every caller is answered again within
            1 s of its last failure; the replica then comes back on its port
  rolling   the same callers while each replica in turn gets SIGTERM (it drains: health NOT_SERVING, GOAWAY, its
            port closed), exits 0, is restarted on its port and is ready before the next: 0 failed calls
Prints `ok:` lines with the figures; exits non-zero on the first failed check. The balancers run as processes of
this script on free loopback ports (never a system service).
"""
import argparse
import shutil
import sys
import tempfile
import threading
import time

import grpc
import numpy as np
import requests
import tritonclient.grpc as triton_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from balancers import BalancerError, HAProxy, Nginx, Replica, wait_for

TOLERANCE = 1e-5
INPUTS = 24          # distinct requests, 1 to 3 rows each
DRAIN_SECONDS = 5


WORKDIR = tempfile.mkdtemp(prefix="tw-balancers-")


def fail(message):
    print("FAIL: %s\n(replica and balancer logs: %s)" % (message, WORKDIR), file=sys.stderr, flush=True)
    sys.exit(1)


def ok(message):
    print("  ok: " + message, flush=True)


# ------------------------------------------------------------------------------------------------ replicas --

def calls_served(replica):
    """Successful digits inferences since the replica's process started (KServe ModelStatistics: calls, not rows)."""
    client = triton_grpc.InferenceServerClient("127.0.0.1:%d" % replica.port)
    stats = client.get_inference_statistics("digits", as_json=True)
    return sum(int(m["inference_stats"]["success"].get("count", 0)) for m in stats.get("model_stats", []))


def wait_in_rotation(balancer, replicas):
    """Under load, until the balancer sends calls to every replica again: each one's served count grows. This is
    the balancer's own view (nginx shows none other: a replica it marked failed gets calls after fail_timeout)."""
    balancer.wait_replicas_up(replicas)
    for replica in replicas:
        before = calls_served(replica)
        wait_for(lambda: calls_served(replica) > before, "%s to send calls to replica %d again"
                 % (balancer.name, replica.index + 1))


# ------------------------------------------------------------------------------------------------- calls --

def make_inputs():
    rng = np.random.default_rng(22)
    return [rng.integers(0, 17, size=(1 + i % 3, 64)).astype(np.float32) for i in range(INPUTS)]


def infer_request(x):
    request = service_pb2.ModelInferRequest(model_name="digits")
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = "X", "FP32"
    tensor.shape.extend(x.shape)
    request.raw_input_contents.append(x.tobytes())
    return request


def outputs_of(response):
    named = {}
    for tensor, raw in zip(response.outputs, response.raw_output_contents):
        dtype = {"FP32": np.float32, "INT64": np.int64}[tensor.datatype]
        named[tensor.name] = np.frombuffer(raw, dtype=dtype).reshape(tuple(tensor.shape))
    return named


def same(a, b):
    return (a["probabilities"].shape == b["probabilities"].shape
            and np.abs(a["probabilities"] - b["probabilities"]).max() <= TOLERANCE
            and np.array_equal(a["label"], b["label"]))


def triton_infer(address, x):
    client = triton_grpc.InferenceServerClient(address)
    tensor = triton_grpc.InferInput("X", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer("digits", [tensor])
    return {"probabilities": result.as_numpy("probabilities"), "label": result.as_numpy("label")}


def rest_infer(port, x):
    body = {"inputs": [{"name": "X", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
    answer = requests.post("http://127.0.0.1:%d/v2/models/digits/infer" % port, json=body, timeout=10)
    if answer.status_code != 200:
        fail("REST through the balancer answered %d: %s" % (answer.status_code, answer.text[:200]))
    named = {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in answer.json()["outputs"]}
    return {"probabilities": named["probabilities"].astype(np.float32), "label": named["label"].astype(np.int64)}


class Load:
    """N callers, each on its own grpcio channel with default settings, calling ModelInfer in a loop and checking
    every answer against the expected one. Records (end time, caller, ok, status) per call."""

    def __init__(self, address, callers, inputs, expected):
        self.address, self.inputs, self.expected = address, inputs, expected
        self.requests = [infer_request(x) for x in inputs]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.records, self.wrong = [], []
        self.threads = [threading.Thread(target=self.caller, args=(i,), daemon=True) for i in range(callers)]

    def caller(self, index):
        with grpc.insecure_channel(self.address) as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            n = index
            while not self.stopping.is_set():
                k = n % len(self.requests)
                n += 1
                try:
                    response = stub.ModelInfer(self.requests[k], timeout=10)
                    good, status = True, "OK"
                    if not same(outputs_of(response), self.expected[k]):
                        with self.lock:
                            self.wrong.append(k)
                except grpc.RpcError as error:
                    good, status = False, "%s: %s" % (error.code().name, (error.details() or "")[:120])
                with self.lock:
                    self.records.append((time.monotonic(), index, good, status))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def successes(self):
        with self.lock:
            return sum(1 for r in self.records if r[2])

    def wait_successes(self, count, what):
        start = self.successes()
        wait_for(lambda: self.successes() >= start + count, what)

    def summary(self):
        with self.lock:
            records = list(self.records)
        failed = [r for r in records if not r[2]]
        return records, failed


# --------------------------------------------------------------------------------------------------- checks --

def check_equal(balancer, replicas, inputs, expected):
    before = [calls_served(r) for r in replicas]
    address = "127.0.0.1:%d" % balancer.grpc_port
    for round_ in range(3):
        for k, x in enumerate(inputs):
            if not same(triton_infer(address, x), expected[k]):
                fail("%s: tritonclient's answer %d through the balancer differs from the replica's" % (balancer.name, k))
    for k, x in enumerate(inputs[:6]):
        if not same(rest_infer(balancer.http_port, x), expected[k]):
            fail("%s: the REST answer %d through the balancer differs from the replica's" % (balancer.name, k))
    served = [calls_served(r) - b for r, b in zip(replicas, before)]
    if min(served) == 0:
        fail("%s: not every replica served calls (calls per replica: %s)" % (balancer.name, served))
    ok("%s: %d tritonclient gRPC and 6 REST answers through the balancer equal replica 1's own; calls per "
       "replica %s" % (balancer.name, 3 * len(inputs), served))


def check_kill(balancer, replicas, inputs, expected, callers):
    victim = replicas[1]
    with Load("127.0.0.1:%d" % balancer.grpc_port, callers, inputs, expected) as load:
        load.wait_successes(200, "calls to flow before the kill")
        t_kill = time.monotonic()
        victim.kill()
        load.wait_successes(400, "calls to flow after the kill")
    records, failed = load.summary()
    if load.wrong:
        fail("%s: %d answers under load differed from the expected ones" % (balancer.name, len(load.wrong)))
    after = [r for r in records if r[0] >= t_kill]
    if len(failed) > 2 * callers:
        fail("%s: %d calls failed after kill -9 of one replica (at most %d allowed): %s"
             % (balancer.name, len(failed), 2 * callers, sorted({r[3] for r in failed})))
    # Flowing again: each caller's next success comes within 1 s of its last failure, and the first success after
    # the kill within 1 s of it.
    worst = 0.0
    for caller in range(callers):
        mine = [r for r in after if r[1] == caller]
        last_failure = max((r[0] for r in mine if not r[2]), default=None)
        if last_failure is None:
            continue
        next_ok = min((r[0] for r in mine if r[2] and r[0] > last_failure), default=None)
        if next_ok is None:
            fail("%s: caller %d had no success after its last failure" % (balancer.name, caller))
        worst = max(worst, next_ok - last_failure)
    first_ok = min(r[0] for r in after if r[2]) - t_kill
    if worst > 1.0 or first_ok > 1.0:
        fail("%s: calls resumed %.3f s after a failure, %.3f s after the kill (limit 1 s)" % (balancer.name, worst, first_ok))
    ok("%s: kill -9 of one replica under %d callers: %d of %d calls failed (limit %d; %s), all %d answers checked, "
       "every caller answered again within %.0f ms of its last failure"
       % (balancer.name, callers, len(failed), len(records), 2 * callers,
          ", ".join(sorted({r[3].split(":")[0] for r in failed})) or "none", len(records) - len(failed), worst * 1000))
    victim.start()


def check_rolling(balancer, replicas, inputs, expected, callers):
    started = time.monotonic()
    codes = []
    with Load("127.0.0.1:%d" % balancer.grpc_port, callers, inputs, expected) as load:
        wait_in_rotation(balancer, replicas)
        for replica in replicas:
            codes.append(replica.terminate(DRAIN_SECONDS + 15))
            replica.start()
            wait_in_rotation(balancer, [replica])
    records, failed = load.summary()
    if load.wrong:
        fail("%s: %d answers under load differed from the expected ones" % (balancer.name, len(load.wrong)))
    if any(code != 0 for code in codes):
        fail("%s: a replica exited %s after SIGTERM (expected 0 after the drain)" % (balancer.name, codes))
    if failed:
        statuses = {}
        for r in failed:
            statuses[r[3]] = statuses.get(r[3], 0) + 1
        fail("%s: %d of %d calls failed during the rolling restart (expected 0): %s"
             % (balancer.name, len(failed), len(records), statuses))
    ok("%s: rolling restart (SIGTERM, exit 0, restart, ready; 3 replicas) under %d grpcio callers with default "
       "settings: 0 of %d calls failed, all answers checked, %.1f s" % (balancer.name, callers, len(records),
                                                                       time.monotonic() - started))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--balancers", default="nginx,haproxy")
    parser.add_argument("--callers", type=int, default=4)
    parser.add_argument("--checks", default="equal,kill,rolling")
    parser.add_argument("--replica-args", default="", help="more tensorwire-server flags, e.g. --access-log")
    args = parser.parse_args()
    checks = args.checks.split(",")

    workdir = WORKDIR
    replica_args = ["--drain-seconds", str(DRAIN_SECONDS)] + args.replica_args.split()
    replicas = [Replica(args.server, workdir, i, replica_args) for i in range(3)]
    balancer = None
    try:
        for replica in replicas:
            replica.start()
        inputs = make_inputs()
        expected = [triton_infer("127.0.0.1:%d" % replicas[0].port, x) for x in inputs]
        for replica in replicas[1:]:
            for k, x in enumerate(inputs):
                if not same(triton_infer("127.0.0.1:%d" % replica.port, x), expected[k]):
                    fail("replica %d's answer %d differs from replica 1's" % (replica.index + 1, k))
        ok("3 replicas on ports %s answer the %d inputs alike" % ([r.port for r in replicas], len(inputs)))
        for name in args.balancers.split(","):
            balancer = {"nginx": Nginx, "haproxy": HAProxy}[name](workdir, replicas)
            balancer.wait_replicas_up(replicas)
            if "equal" in checks:
                check_equal(balancer, replicas, inputs, expected)
            if "kill" in checks:
                check_kill(balancer, replicas, inputs, expected, args.callers)
            if "rolling" in checks:
                check_rolling(balancer, replicas, inputs, expected, args.callers)
            balancer.stop()
            balancer = None
    except BalancerError as error:
        fail(str(error))
    finally:
        if balancer is not None:
            balancer.stop()
        for replica in replicas:
            replica.kill()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Latency during live version swaps (issue 21), on mlp-large at concurrency 8.

  swaps_bench.py --server BIN --load BIN [--seconds S] [--swap-seconds S] [--swaps N] [--poll P] [--concurrency C]
                 [--warmup 1,8,64]

A release tensorwire-server polls a repository holding mlp-large (1024→4096→4096→1024, 100 MB of weights). The
closed-loop load generator (tensorwire-grpc-load, unary Predict) runs three windows: steady, swaps, steady. In the
swaps window up to N new versions are published one after another by the atomic rename of docs/operations.md (each
a copy whose producer name differs, so its digest differs and it loads, compiles and warms like a new model), the next
a second after the previous one serves; the last steady window starts once every published version serves.
Printed: p50/p99 and throughput of each window, p99 during swaps over the mean steady p99 (target ≤ 2), the errors
(target 0), the time from each rename to the server's "serving version N" log line, and the load generator's CPU
time against the window (when it nears the machine's cores, the client is the bottleneck). Not a test.
"""
import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from batching_models import MODELS  # noqa: E402


def start_server(binary, repo, poll, log_path):
    log = open(log_path, "w")
    server = subprocess.Popen([binary, "--port", "0", "--models", repo, "--model-control", "poll",
                               "--repository-poll-secs", str(poll)], stderr=log)
    for _ in range(1200):
        text = open(log_path).read()
        match = re.search(r"listening on [^ ]*:(\d+)", text)
        if match:
            return server, int(match.group(1))
        if server.poll() is not None:
            sys.exit(f"server exited:\n{text}")
        time.sleep(0.1)
    sys.exit("server did not start")


def run_load(binary, port, seconds, concurrency):
    """One window: (rps, p50 µs, p99 µs, errors, client CPU seconds)."""
    process = subprocess.Popen([binary, "--server", f"127.0.0.1:{port}", "--model", "mlp-large", "--input", "input",
                                "--features", "1024", "--mode", "unary", "--concurrency", str(concurrency),
                                "--seconds", str(seconds), "--warmup", "0.5"], stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    fields = output.strip().splitlines()[-1].split("\t")
    return int(fields[2]), int(fields[3]), int(fields[4]), int(fields[6]), usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--load", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--swap-seconds", type=float, default=40)
    parser.add_argument("--swaps", type=int, default=3)
    parser.add_argument("--poll", type=float, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", help="config.json warmup sizes, e.g. 1,8,64 (default: every size 1…64)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tw-swaps-")
    try:
        folder = os.path.join(work, "mlp-large")
        os.makedirs(os.path.join(folder, "1"))
        model = MODELS["mlp_large"]()
        with open(os.path.join(folder, "1", "model.onnx"), "wb") as f:
            f.write(model)
        if args.warmup:
            with open(os.path.join(folder, "config.json"), "w") as f:
                f.write('{"warmup": [%s]}' % args.warmup)
        for version in range(2, args.swaps + 2):
            staging = os.path.join(folder, f".staging-{version}")
            os.makedirs(staging)
            with open(os.path.join(staging, "model.onnx"), "wb") as f:
                f.write(model.replace(b"pytorch", b"pytor%02d" % version, 1))
        log_path = os.path.join(work, "server.log")
        server, port = start_server(args.server, work, args.poll, log_path)
        published = {}
        window_over = threading.Event()

        def log_times(pattern):
            """Version → wall time of the first log line matching `pattern` (group 1: time, group 2: version)."""
            times = {}
            for line in open(log_path):
                match = re.match(pattern, line)
                if match and int(match.group(2)) not in times:
                    stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
                    times[int(match.group(2))] = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
            return times

        def served_times():
            return log_times(r"(\S+Z) .*model mlp-large: serving version (\d+) \(loaded and warmed")

        def publish():
            # One version at a time: the next lands a second after the previous one serves.
            for version in range(2, args.swaps + 2):
                if window_over.wait(1.0):
                    return
                os.rename(os.path.join(folder, f".staging-{version}"), os.path.join(folder, str(version)))
                published[version] = time.time()
                while version not in served_times():
                    if window_over.wait(0.05):
                        return

        def wait_all_served():
            deadline = time.time() + 120
            while any(v not in served_times() for v in published) and time.time() < deadline:
                time.sleep(0.1)

        windows = []
        for name in ("steady", "swaps", "steady"):
            publisher = threading.Thread(target=publish) if name == "swaps" else None
            if publisher:
                publisher.start()
            seconds = args.swap_seconds if publisher else args.seconds
            windows.append((name,) + run_load(args.load, port, seconds, args.concurrency))
            if publisher:
                window_over.set()
                publisher.join()
                wait_all_served()
        server.terminate()
        server.wait(60)
        served = served_times()
        compiled = log_times(r"(\S+Z) .*model mlp-large version (\d+): READY \(")
        print(f"machine: {os.cpu_count()} cores, load {open('/proc/loadavg').read().split()[:3]}; mlp-large, unary, "
              f"concurrency {args.concurrency}, steady windows {args.seconds:.0f} s, swap window "
              f"{args.swap_seconds:.0f} s, poll {args.poll} s, warm-up {args.warmup or 'every size 1…64'}")
        print(f"{'window':8} {'req/s':>7} {'p50 µs':>8} {'p99 µs':>8} {'errors':>6} {'client CPU':>10}")
        for (name, rps, p50, p99, errors, cpu), seconds in zip(windows, (args.seconds, args.swap_seconds, args.seconds)):
            print(f"{name:8} {rps:7d} {p50:8d} {p99:8d} {errors:6d} {cpu / seconds:9.2f}c")
        steady = (windows[0][3] + windows[2][3]) / 2
        swapped = [v for v in sorted(published) if v in served and served[v] - published[v] < args.swap_seconds]
        print(f"target: p99 during {len(published)} swaps / steady p99 = {windows[1][3] / steady:.2f}x (target ≤ 2x); "
              f"errors {sum(w[4] for w in windows)} (target 0)")
        for v in sorted(published):
            if v in served:
                split = f" (read + digest + compile {(compiled[v] - published[v]) * 1000:.0f} ms, warm-up "
                split += f"{(served[v] - compiled[v]) * 1000:.0f} ms)" if v in compiled else ")"
                print(f"version {v}: on disk → serving {(served[v] - published[v]) * 1000:.0f} ms{split}")
            else:
                print(f"version {v}: never served")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Soak test (issue 25, not in CI): valid and hostile traffic against one live tensorwire-server for a long run,
with its RSS sampled every second. Valid callers (grpcio unary and PredictStream) check every answer against the
first one for the same input; hostile rounds replay the hardening cases (Tools/interop/hardening/cases.py) in turn.
At the end it prints the RSS curve's summary and exits 1 when RSS after warm-up grew by more than --max-growth-mib,
when any valid call failed, or when the server died. Writes the samples to --csv."""
import argparse
import os
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop", "hardening"))
import cases  # noqa: E402
from h2peer import PREDICT_PATH, alive, predict_outputs, predict_request, rss_kib, sample_input  # noqa: E402

# Hostile cases that leave the server as they found it and do not change process limits (emfile_no_spin lowers
# the descriptor limit; silent_connections waits out the handshake timeout and is slow).
HOSTILE = [name for name, _ in cases.CASES if name not in ("emfile_no_spin", "silent_connections")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--max-receive-message-bytes", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--warmup-seconds", type=float, default=60)
    parser.add_argument("--max-growth-mib", type=float, default=32)
    parser.add_argument("--csv", default="soak-rss.csv")
    parser.add_argument("--valid-threads", type=int, default=4)
    args = parser.parse_args()

    ctx = cases.Context(args.port, args.pid, args.max_receive_message_bytes)
    for seed in cases.SEEDS:
        ctx.reference[seed] = ctx.grpc_predict(seed)
    deadline = time.monotonic() + args.seconds
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"valid": 0, "valid_failed": 0, "hostile": 0, "hostile_failed": 0}
    failures = []

    def valid_worker(index):
        channel = grpc.insecure_channel("127.0.0.1:%d" % args.port)
        predict = channel.unary_unary(PREDICT_PATH, request_serializer=None, response_deserializer=None)
        seed = index
        while not stop.is_set():
            seed = (seed + 1) % len(cases.SEEDS)
            try:
                ok = cases.outputs_match(predict_outputs(predict(predict_request(sample_input(seed)), timeout=30)),
                                         ctx.reference[seed])
            except grpc.RpcError as error:
                ok = False
                with lock:
                    failures.append("valid call: %s %s" % (error.code(), error.details()))
            with lock:
                counts["valid"] += 1
                if not ok:
                    counts["valid_failed"] += 1
        channel.close()

    def hostile_worker():
        table = dict(cases.CASES)
        index = 0
        while not stop.is_set():
            name = HOSTILE[index % len(HOSTILE)]
            index += 1
            try:
                table[name](ctx)
                ok = True
            except Exception as error:  # noqa: BLE001 - counted and reported
                ok = False
                with lock:
                    failures.append("hostile %s: %s" % (name, error))
            with lock:
                counts["hostile"] += 1
                if not ok:
                    counts["hostile_failed"] += 1

    threads = [threading.Thread(target=valid_worker, args=(i,), daemon=True) for i in range(args.valid_threads)]
    threads.append(threading.Thread(target=hostile_worker, daemon=True))
    for thread in threads:
        thread.start()

    started = time.monotonic()
    samples = []
    with open(args.csv, "w") as csv:
        csv.write("seconds,rss_kib,valid_calls,hostile_cases\n")
        while time.monotonic() < deadline:
            if not alive(args.pid):
                print("soak: the server died")
                stop.set()
                return 1
            rss, _ = rss_kib(args.pid)
            elapsed = time.monotonic() - started
            with lock:
                row = (elapsed, rss, counts["valid"], counts["hostile"])
            samples.append(row)
            csv.write("%.1f,%d,%d,%d\n" % row)
            csv.flush()
            time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    after = [rss for seconds, rss, _, _ in samples if seconds >= args.warmup_seconds]
    if not after:
        after = [rss for _, rss, _, _ in samples]
    first_minute = after[:60]
    last_minute = after[-60:]
    start_mib = sum(first_minute) / len(first_minute) / 1024
    end_mib = sum(last_minute) / len(last_minute) / 1024
    growth = end_mib - start_mib
    print("soak: %.0f s, %d samples; valid calls %d (%d failed), hostile cases %d (%d failed)" % (
        samples[-1][0], len(samples), counts["valid"], counts["valid_failed"], counts["hostile"],
        counts["hostile_failed"]))
    print("soak: RSS after warm-up: first minute %.1f MiB, last minute %.1f MiB (%+.1f MiB), min %.1f, max %.1f MiB" % (
        start_mib, end_mib, growth, min(after) / 1024, max(after) / 1024))
    for failure in failures[:10]:
        print("soak: failure: %s" % failure)
    if counts["valid_failed"] or growth > args.max_growth_mib:
        print("soak: FAIL")
        return 1
    print("soak: ok (RSS flat within %.0f MiB after warm-up)" % args.max_growth_mib)
    return 0


if __name__ == "__main__":
    sys.exit(main())

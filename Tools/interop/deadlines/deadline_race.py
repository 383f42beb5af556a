"""Deadline race (issue 15, point 1): grpcio clients call digits Predict with a deadline close to the service time,
from several threads, so that deadlines expire at every step of a call (queued, computing, while the response is
written). Every call must end OK or DEADLINE_EXCEEDED; before the fix some ended INTERNAL ("Received RST_STREAM
with error code 2"). Prints the count of each status and exits 1 on any other status."""
import argparse
import collections
import sys
import threading

import grpc

sys.path.insert(0, "Tools/interop/hardening")
from h2peer import predict_request, sample_input  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout-ms", type=float, default=1.0)
    args = parser.parse_args()

    channel = grpc.insecure_channel(args.server)
    predict = channel.unary_unary("/tensorwire.v1.Inference/Predict",
                                  request_serializer=None, response_deserializer=None)
    request = predict_request(sample_input(3))
    # Warm up (the connection, the model) without a deadline.
    predict(request, timeout=30)

    counts = collections.Counter()
    examples = {}
    lock = threading.Lock()
    per_thread = args.calls // args.threads

    def worker():
        for _ in range(per_thread):
            try:
                predict(request, timeout=args.timeout_ms / 1000.0)
                code, detail = grpc.StatusCode.OK, ""
            except grpc.RpcError as error:
                code, detail = error.code(), error.details()
            with lock:
                counts[code.name] += 1
                examples.setdefault(code.name, detail)

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(counts.values())
    summary = ", ".join("%s %d" % (name, count) for name, count in counts.most_common())
    print("deadline-race: %d calls at %.1f ms from %d threads: %s" % (total, args.timeout_ms, args.threads, summary))
    others = {name: examples[name] for name in counts if name not in ("OK", "DEADLINE_EXCEEDED")}
    if others:
        print("deadline-race: FAIL: statuses other than OK and DEADLINE_EXCEEDED: %r" % others)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scale-out benchmark (issue 22, point 3): throughput of N tensorwire-server replicas (N = 1, 2, 3) behind nginx and
behind HAProxy, against one replica without a balancer, measured in the same run, in alternating rounds.

  direct       h2load -> one replica
  nginx N      h2load -> nginx (deploy/nginx/tensorwire.conf: grpc_pass, upstream keepalive) -> N replicas
  haproxy N    h2load -> HAProxy (deploy/haproxy/tensorwire.cfg: HTTP/2 to the replicas) -> N replicas

The load is h2load -t 1 -c C -m M (default 8 x 8) of unary tensorwire.v1.Inference/Predict on the built-in digits
model (one fixed 64-float request, the one Tools/bench/security sends); each configuration is first checked with a
grpcio call through it, and after each window the replicas' own counters must show every call answered OK (h2load
counts a gRPC error as a success). Every process runs on all cores (no pinning: sharing the cores is what this
measures), and each row records the CPU of the load generator, the balancer and the replicas as a share of one core:
when their sum reaches the machine's core count, the cores are the bound, not the replicas. Figures are reported,
never asserted.

usage: scaleout_bench.py --server PATH [--rounds N] [--seconds S] [--replicas 1,2,3] [--balancers nginx,haproxy]
                         [--clients C] [--streams M]"""

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop", "balancers"))
from balancers import HAProxy, Nginx, Replica  # noqa: E402
from rest_bench import cpu_seconds  # noqa: E402
from security_bench import PREDICT, check_predict, predict_body  # noqa: E402
from transport_bench import h2load_figures  # noqa: E402


def requests_by_code(port):
    """{code: count} of tensorwire_requests_total on one replica's /metrics (the native API over gRPC: Predict)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as answer:
        text = answer.read().decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith("tensorwire_requests_total{") and 'protocol="grpc",api="native"' in line:
            code = re.search(r'code="([^"]*)"', line).group(1)
            counts[code] = counts.get(code, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def resident_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        match = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    return int(match.group(1)) / 1024.0 if match else 0.0


def measure(args, workdir, replicas, balancer, port, body_path):
    """One h2load window at `port`; rate, the CPU of each party (share of one core) and the replicas' answers."""
    before_codes = [requests_by_code(r.port) for r in replicas]
    pids = {"replicas": [r.process.pid for r in replicas], "balancer": [balancer.process.pid] if balancer else []}
    before = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
    argv = ["h2load", "-t", "1", "-c", str(args.clients), "-m", str(args.streams), "-D",
            "%dms" % int(args.seconds * 1000), "--warm-up-time", "500ms", "-d", body_path,
            "-H", "content-type: application/grpc", "-H", "te: trailers", "http://127.0.0.1:%d%s" % (port, PREDICT)]
    t0, children0 = time.monotonic(), os.times()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = process.communicate(timeout=args.seconds + 60)
    wall, children1 = time.monotonic() - t0, os.times()
    # h2load is the one child reaped in the window, so the children's times are its CPU.
    client = (children1.children_user - children0.children_user) + (children1.children_system - children0.children_system)
    after = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
    if process.returncode != 0:
        raise SystemExit("h2load exited %d:\n%s" % (process.returncode, out))
    rate, done = h2load_figures(out)
    answered = [requests_by_code(r.port) for r in replicas]
    ok = sum(a.get("OK", 0) - b.get("OK", 0) for a, b in zip(answered, before_codes))
    errors = {}
    for a, b in zip(answered, before_codes):
        for code in a:
            if code != "OK" and a[code] - b.get(code, 0):
                errors[code] = errors.get(code, 0) + a[code] - b.get(code, 0)
    # h2load resets the calls still in flight when its time is up: at most connections x streams CANCELLED.
    cancelled = errors.pop("CANCELLED", 0)
    if errors or cancelled > args.clients * args.streams:
        raise SystemExit("replicas answered calls with errors during the window: %s, CANCELLED %d"
                         % (errors, cancelled))
    shares = [a.get("OK", 0) - b.get("OK", 0) for a, b in zip(answered, before_codes)]
    return {"rate": rate, "requests": done, "replica_ok": int(ok), "client_cpu_pct": 100.0 * client / wall,
            "replica_share": "/".join("%.0f%%" % (100.0 * s / max(ok, 1)) for s in shares),
            "balancer_cpu_pct": 100.0 * (after["balancer"] - before["balancer"]) / wall,
            "replicas_cpu_pct": 100.0 * (after["replicas"] - before["replicas"]) / wall,
            "replica_rss_mib": max(resident_mib(p) for p in pids["replicas"])}


def run_config(args, workdir, body, body_path, kind, count):
    replicas = [Replica(args.server, workdir, i, ["--loops", "1"]) for i in range(count)]
    balancer = None
    try:
        for replica in replicas:
            replica.start()
        if kind == "nginx":
            balancer = Nginx(workdir, replicas, workers="auto")
        elif kind == "haproxy":
            balancer = HAProxy(workdir, replicas)
            balancer.wait_replicas_up(replicas)
        port = balancer.grpc_port if balancer else replicas[0].port
        check_predict(port, body)
        return measure(args, workdir, replicas, balancer, port, body_path)
    finally:
        if balancer:
            balancer.stop()
        for replica in replicas:
            if replica.process and replica.process.poll() is None:
                replica.terminate()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--rounds", type=int, default=1 if os.environ.get("BENCH_QUICK") else 3)
    parser.add_argument("--seconds", type=float, default=2.0 if os.environ.get("BENCH_QUICK") else 4.0)
    parser.add_argument("--replicas", default="1,2,3")
    parser.add_argument("--balancers", default="nginx,haproxy")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--streams", type=int, default=8)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="tw-scaleout-bench-")
    body = predict_body()
    body_path = os.path.join(workdir, "predict.bin")
    with open(body_path, "wb") as f:
        f.write(body)
    configs = [("direct", 1)] + [(b, int(n)) for b in args.balancers.split(",") for n in args.replicas.split(",")]
    rows = []
    load_before = os.getloadavg()[0]
    for round_index in range(args.rounds):
        for kind, count in (configs if round_index % 2 == 0 else list(reversed(configs))):
            figures = run_config(args, workdir, body, body_path, kind, count)
            rows.append(dict(config=kind, replicas=count, round=round_index + 1, **figures))
            print("round %d %-8s N=%d %8.0f req/s" % (round_index + 1, kind, count, figures["rate"]),
                  file=sys.stderr, flush=True)

    out_dir = os.environ.get("BENCH_CSV_DIR")
    if out_dir:
        with open(os.path.join(out_dir, "scaleout.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    cores = os.cpu_count() or 1
    direct = [r["rate"] for r in rows if r["config"] == "direct"]
    print("Scale-out: h2load -t1 -c%d -m%d -D %gs unary digits Predict; %d round(s); %d cores, nothing pinned; "
          "load average %.1f before, %.1f after" % (args.clients, args.streams, args.seconds, args.rounds, cores,
                                                     load_before, os.getloadavg()[0]))
    print("%-8s %2s %20s %8s %8s %9s %9s %6s %12s %12s %7s  %s" % (
        "config", "N", "req/s med [min-max]", "/ direct", "client%", "balancer%", "replicas%", "cores",
        "bal. us/call", "repl. us/call", "RSS MiB", "calls per replica"))
    for kind, count in configs:
        mine = [r for r in rows if r["config"] == kind and r["replicas"] == count]
        rates = [r["rate"] for r in mine]
        client = statistics.median(r["client_cpu_pct"] for r in mine)
        bal = statistics.median(r["balancer_cpu_pct"] for r in mine)
        reps = statistics.median(r["replicas_cpu_pct"] for r in mine)
        # CPU per call: a cost that the other processes' load moves less than it moves rates.
        per_call = [statistics.median(r[key] / 100.0 / r["rate"] * 1e6 for r in mine)
                    for key in ("balancer_cpu_pct", "replicas_cpu_pct")]
        print("%-8s %2d %7.0f [%5.0f-%5.0f] %7.2fx %8.0f %9.0f %9.0f %6.2f %12.1f %12.1f %7.0f  %s" % (
            kind, count, statistics.median(rates), min(rates), max(rates),
            statistics.median(rates) / statistics.median(direct), client, bal, reps, (client + bal + reps) / 100.0,
            per_call[0], per_call[1], max(r["replica_rss_mib"] for r in mine), mine[-1]["replica_share"]))


if __name__ == "__main__":
    main()

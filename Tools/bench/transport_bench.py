"""Transport benchmark (issue 3, Performance): unary RPCs with an empty and a 64-float (256-byte) payload at
concurrency 1, 16x16 and 64x16, driven by h2load, against three servers started by this script in the same run:

  tensorwire  tensorwire-echo-server (GRPCServer + HTTP2 + RPCCore; the handler echoes the request bytes)
  nghttpd     nghttpd serving a static file of the same size as the gRPC response body (the baseline)
  grpcio      a Python grpc.aio server with a generic echo handler

requests/s, p50 and p99 (from h2load's per-request log), medians over the repeats. h2load counts a gRPC error as a
success (the HTTP status is 200), so each gRPC server's answer is checked with a grpcio call before and after its
runs: status OK and the payload echoed. Run by Tools/bench/transport; figures are reported, never asserted.

usage: transport_bench.py --echo-server PATH [--seconds S] [--repeats N]"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ECHO_PATH = "/tensorwire.bench.Echo/Echo"
PAYLOADS = {"empty": b"", "64 floats": bytes(range(256))}
LOADS = [("c=1", 1, 1), ("16x16", 16, 16), ("64x16", 64, 16)]

GRPCIO_SERVER = r'''
import asyncio, sys
import grpc

async def echo(request, context):
    return request

async def main():
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.method_handlers_generic_handler(
        "tensorwire.bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print("grpcio listening on 127.0.0.1:%d" % port, flush=True)
    await server.wait_for_termination()

asyncio.run(main())
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, pattern, log_path):
    log = open(log_path, "w")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(log_path) as f:
            match = re.search(pattern, f.read())
        if match:
            return process, int(match.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit("could not start %s:\n%s" % (argv[0], open(log_path).read()))


def wait_listening(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing listens on port %d" % port)


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def check_grpc(port, payload):
    """The echo answers with status OK and the same bytes (what h2load cannot see)."""
    import grpc
    with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
        call = channel.unary_unary(ECHO_PATH, request_serializer=None, response_deserializer=None)
        response, rpc = call.with_call(payload, timeout=10)
        if rpc.code() != grpc.StatusCode.OK or response != payload:
            raise SystemExit("port %d: the echo answered %s with %d bytes" % (port, rpc.code(), len(response)))


def h2load(url, body_path, headers, clients, streams, seconds, workdir):
    log_path = os.path.join(workdir, "h2load.log")
    if os.path.exists(log_path):
        os.remove(log_path)  # h2load appends to its log file
    argv = ["h2load", "-t", "1", "-c", str(clients), "-m", str(streams), "-D", "%dms" % int(seconds * 1000),
            "--warm-up-time", "500ms", "-d", body_path, "--log-file", log_path]
    for header in headers:
        argv += ["-H", header]
    argv.append(url)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    rate, _ = h2load_figures(out)
    durations = []
    with open(log_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "200":
                durations.append(int(parts[2]))
    durations.sort()
    if not durations:
        raise SystemExit("h2load logged no requests:\n" + out)
    p50 = durations[len(durations) // 2] / 1000.0
    p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))] / 1000.0
    return rate, p50, p99


def h2load_figures(out):
    """(req/s, succeeded requests) from h2load's summary; exits when a request failed or an answer was not 2xx/3xx."""
    finished = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    requests = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                         r"(\d+) errored", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not finished or not requests or not codes:
        raise SystemExit("h2load output not understood:\n" + out)
    if int(requests.group(4)) or int(requests.group(5)) or int(codes.group(3)) or int(codes.group(4)):
        raise SystemExit("h2load saw failures:\n" + out)
    return float(finished.group(1)), int(requests.group(3))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--echo-server", required=True)
    quick = os.environ.get("BENCH_QUICK") == "1"  # Tools/bench/run --quick
    parser.add_argument("--seconds", type=float, default=1.0 if quick else 2.0)
    parser.add_argument("--repeats", type=int, default=2 if quick else 3)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="tw-transport-bench-")
    try:
        run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir):
    bodies, files = {}, {}
    for name, payload in PAYLOADS.items():
        framed = b"\x00" + len(payload).to_bytes(4, "big") + payload
        bodies[name] = os.path.join(workdir, "body-%d.bin" % len(payload))
        with open(bodies[name], "wb") as f:
            f.write(framed)
        # nghttpd serves a file as large as the gRPC response body (the same framed bytes).
        files[name] = "static-%d.bin" % len(payload)
        with open(os.path.join(workdir, files[name]), "wb") as f:
            f.write(framed)

    grpc_headers = ["content-type: application/grpc", "te: trailers"]
    servers = []
    tw, tw_port = start([args.echo_server, "--port", "0"], r"listening on [\d.]+:(\d+)",
                        os.path.join(workdir, "tensorwire.log"))
    servers.append(("tensorwire", tw, tw_port, lambda name: "http://127.0.0.1:%d%s" % (tw_port, ECHO_PATH),
                    grpc_headers))
    ng_port = free_port()
    ng = subprocess.Popen(["nghttpd", "--no-tls", "-d", workdir, str(ng_port)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    wait_listening(ng_port)
    servers.append(("nghttpd", ng, ng_port, lambda name: "http://127.0.0.1:%d/%s" % (ng_port, files[name]), []))
    py, py_port = start([sys.executable, "-c", GRPCIO_SERVER], r"listening on [\d.]+:(\d+)",
                        os.path.join(workdir, "grpcio.log"))
    servers.append(("grpcio", py, py_port, lambda name: "http://127.0.0.1:%d%s" % (py_port, ECHO_PATH),
                    grpc_headers))

    results = {}
    try:
        for name in ("tensorwire", "grpcio"):
            port = dict((s[0], s[2]) for s in servers)[name]
            for payload in PAYLOADS.values():
                check_grpc(port, payload)
        for repeat in range(args.repeats):
            for payload_name in PAYLOADS:
                for load_name, clients, streams in LOADS:
                    for server_name, _, _, url, headers in servers:
                        figures = h2load(url(payload_name), bodies[payload_name], headers, clients, streams,
                                         args.seconds, workdir)
                        results.setdefault((payload_name, load_name, server_name), []).append(figures)
            print("repeat %d of %d done" % (repeat + 1, args.repeats), file=sys.stderr, flush=True)
        for name in ("tensorwire", "grpcio"):
            port = dict((s[0], s[2]) for s in servers)[name]
            for payload in PAYLOADS.values():
                check_grpc(port, payload)
    finally:
        for _, process, _, _, _ in servers:
            stop(process)

    print("Transport: unary echo, h2load -t1 -D %gs (after 0.5 s warm-up), median of %d repeats; p50/p99 in ms" % (
        args.seconds, args.repeats))
    print("%-10s %-6s | %-24s | %-24s | %-24s | %s" % ("payload", "load", "tensorwire req/s p50 p99",
                                                      "nghttpd req/s p50 p99", "grpcio req/s p50 p99",
                                                      "tw/nghttpd req/s, p50"))
    for payload_name in PAYLOADS:
        for load_name, _, _ in LOADS:
            cells, med = [], {}
            for server_name in ("tensorwire", "nghttpd", "grpcio"):
                runs = results[(payload_name, load_name, server_name)]
                med[server_name] = tuple(statistics.median(r[i] for r in runs) for i in range(3))
                cells.append("%8.0f %6.3f %7.3f" % med[server_name])
            ratio = "%.2fx, %.2fx" % (med["tensorwire"][0] / med["nghttpd"][0], med["tensorwire"][1] / med["nghttpd"][1])
            print("%-10s %-6s | %-24s | %-24s | %-24s | %s" % (payload_name, load_name, cells[0], cells[1], cells[2],
                                                              ratio))
    print("targets (2 cores): at 16x16 tensorwire >= 0.8x nghttpd's req/s; at c=1 p50 <= 1.5x nghttpd's")
    csv_dir = os.environ.get("BENCH_CSV_DIR")
    if csv_dir:  # every run, for Tools/bench/run's report
        with open(os.path.join(csv_dir, "transport.csv"), "w") as f:
            f.write("payload,load,clients,streams,server,repeat,req_per_s,p50_ms,p99_ms,seconds\n")
            for payload_name in PAYLOADS:
                for load_name, clients, streams in LOADS:
                    for server_name in ("tensorwire", "nghttpd", "grpcio"):
                        for repeat, (rps, p50, p99) in enumerate(results[(payload_name, load_name, server_name)]):
                            f.write("%s,%s,%d,%d,%s,%d,%.1f,%.4f,%.4f,%g\n" % (
                                payload_name, load_name, clients, streams, server_name, repeat + 1, rps, p50, p99,
                                args.seconds))


if __name__ == "__main__":
    main()

"""Transport benchmark (issues 3 and 26, Performance): unary gRPC under h2load against servers started by this script
in the same run, with the load generator's CPU recorded on every run.

  echo     tensorwire-echo-server (GRPCServer + HTTP2 + RPCCore; the handler echoes the request bytes) with an empty
           and a 64-float (256-byte) payload at 16x16 and 64x16 streams; nghttpd answering the same POST with a
           static file as large as the gRPC response body (the baseline); a Python grpc.aio echo server.
  digits   tensorwire-server on its built-in `digits` model: h2load POSTs one fixed, hand-encoded request body
           (`predict_body`) to Predict, to PredictStream (one message per stream) and to KServe ModelInfer at 16x16;
           nghttpd answers the same POST with a file holding Tensorwire's framed Predict response. With
           --grpc-load, tensorwire-grpc-load adds unary Predict against a pipelined PredictStream (256 requests in
           flight over 16 connections), the streaming case h2load cannot drive.
  latency  c=1 runs, separate from the throughput runs: h2load's --log-file gives every request's time, from which
           p50 and p99 come. The log costs h2load enough CPU to cap it near 270k req/s on the development machine,
           so no throughput figure is ever taken from a logged run.

Every run records the CPU the load generator used (user+system from wait4, as a share of one core) and the CPU the
server used over the same wall time, and the server's CPU per request (which moves much less with the machine's
load than the rates). A run whose load generator used >= SATURATED of its core measured the client, not the
server: its row says "client-bound" and no ratio is formed from it. With two or more cores the servers run on CPU 0
and the load generators on CPU 1 (taskset) unless --no-pin. Each gRPC server's answers are checked with grpcio
before the runs (h2load counts a gRPC error as a success: the HTTP status is 200). Figures are reported, never
asserted. Run by Tools/bench/transport.

usage: transport_bench.py --echo-server PATH [--server PATH] [--grpc-load PATH] [--seconds S] [--repeats N]
                          [--parts echo,digits,latency] [--no-pin]"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ECHO_PATH = "/tensorwire.bench.Echo/Echo"
PREDICT = "/tensorwire.v1.Inference/Predict"
PREDICT_STREAM = "/tensorwire.v1.Inference/PredictStream"
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
PAYLOADS = {"empty": b"", "64 floats": bytes(range(256))}
THROUGHPUT_LOADS = [("16x16", 16, 16), ("64x16", 64, 16)]
GRPC_HEADERS = ["content-type: application/grpc", "te: trailers"]
# A load generator at this share of its core (or more) is the limit of the run, not the server.
SATURATED = 90.0
# One digits row (sklearn's first 8x8 image), the row the README sends.
DIGIT = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
         0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]

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


# ------------------------------------------------------------------------------------- request bodies --

def wire():
    """batching_models' protobuf wire helpers (field_bytes, field_varint, varint), imported when first needed:
    that module imports numpy, which report.py (importing this one) need not have."""
    import batching_models
    return batching_models.field_bytes, batching_models.field_varint, batching_models.varint


def packed(number, values):
    field, _, varint = wire()
    return field(number, b"".join(varint(v) for v in values))


def grpc_frame(message):
    return b"\x00" + struct.pack(">I", len(message)) + message


def predict_body():
    """PredictRequest{model: "digits", inputs: [Tensor{name: "X", dtype: FLOAT32 (1), shape: [1, 64], raw_data}]}."""
    field, field_varint, _ = wire()
    tensor = field(1, b"X") + field_varint(2, 1) + packed(3, [1, 64]) + field(10, struct.pack("<64f", *DIGIT))
    return field(1, b"digits") + field(3, tensor)


def model_infer_body():
    """ModelInferRequest{model_name: "digits", inputs: [{name: "X", datatype: "FP32", shape: [1, 64]}],
    raw_input_contents: [64 little-endian floats]}."""
    field, _, _ = wire()
    tensor = field(1, b"X") + field(2, b"FP32") + packed(3, [1, 64])
    return field(1, b"digits") + field(5, tensor) + field(7, struct.pack("<64f", *DIGIT))


def grpc_call(port, path, request):
    """The raw response message of a unary call (status OK), via grpcio."""
    import grpc
    with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
        call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
        response, rpc = call.with_call(request, timeout=10)
        if rpc.code() != grpc.StatusCode.OK:
            raise SystemExit("port %d %s: status %s" % (port, path, rpc.code()))
        return response


def grpc_stream_call(port, request):
    """The responses of a PredictStream carrying one request."""
    import grpc
    with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
        call = channel.stream_stream(PREDICT_STREAM, request_serializer=None, response_deserializer=None)
        responses = list(call(iter([request]), timeout=10))
        if len(responses) != 1:
            raise SystemExit("PredictStream answered %d messages to one request" % len(responses))
        return responses[0]


# ----------------------------------------------------------------------------------------- measuring --

def h2load(args, workdir, server_pid, url, body_path, headers, clients, streams, log=False):
    """One h2load run. Returns a dict: req_per_s, client/server CPU %, and p50/p99 (ms) when `log`."""
    log_path = os.path.join(workdir, "h2load-requests.log")
    if os.path.exists(log_path):
        os.remove(log_path)  # h2load appends to its log file
    argv = args.client_prefix + [
        "h2load", "-t", "1", "-c", str(clients), "-m", str(streams), "-D", "%dms" % int(args.seconds * 1000),
        "--warm-up-time", "500ms", "-d", body_path]
    if log:
        argv += ["--log-file", log_path]
    for header in headers:
        argv += ["-H", header]
    argv.append(url)
    from rest_bench import run_client  # here, not at the top: rest_bench imports this module
    rc, out, client_cpu, server_cpu, wall = run_client(argv, os.path.join(workdir, "h2load.out"), server_pid,
                                                       timeout=args.seconds + 60)
    if rc != 0:
        raise SystemExit("h2load exited %d:\n%s" % (rc, out))
    rate, done = h2load_figures(out)
    figures = dict(req_per_s=rate, client_cpu=client_cpu, server_cpu=server_cpu, p50_ms=None, p99_ms=None,
                   wall=wall)
    if log:
        durations = []
        with open(log_path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] == "200":
                    durations.append(int(parts[2]))
        durations.sort()
        if not durations:
            raise SystemExit("h2load logged no requests:\n" + out)
        figures["p50_ms"] = durations[len(durations) // 2] / 1000.0
        figures["p99_ms"] = durations[min(len(durations) - 1, int(len(durations) * 0.99))] / 1000.0
    return figures


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


def grpc_load(args, workdir, server_pid, port, mode):
    """tensorwire-grpc-load at 256 requests in flight over 16 connections (unary or one pipelined PredictStream
    per connection)."""
    argv = args.client_prefix + [
        args.grpc_load, "--server", "127.0.0.1:%d" % port, "--model", "digits", "--input", "X", "--features", "64",
        "--mode", mode, "--concurrency", "256", "--connections", "16", "--seconds", str(args.seconds),
        "--warmup", "0.5"]
    from rest_bench import run_client
    rc, out, client_cpu, server_cpu, wall = run_client(argv, os.path.join(workdir, "grpc-load.out"), server_pid,
                                                       timeout=args.seconds + 60)
    line = [line for line in out.splitlines() if line.startswith(mode)]
    if rc != 0 or not line:
        raise SystemExit("tensorwire-grpc-load %s exited %d:\n%s" % (mode, rc, out))
    fields = line[-1].split("\t")
    if int(fields[6]):
        raise SystemExit("tensorwire-grpc-load %s saw %s errors" % (mode, fields[6]))
    return dict(req_per_s=float(fields[2]), client_cpu=client_cpu, server_cpu=server_cpu,
                p50_ms=float(fields[3]) / 1000, p99_ms=float(fields[4]) / 1000, wall=wall)


# --------------------------------------------------------------------------------------------- servers --
# free_port, start, wait_listening, stop and h2load_figures are imported by rest_bench.py and security_bench.py too.

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

def start_nghttpd(args, workdir):
    port = free_port()
    process = subprocess.Popen(args.server_prefix + ["nghttpd", "--no-tls", "-d", workdir, str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port)
    return process, port


def write(workdir, name, data):
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ------------------------------------------------------------------------------------------------ parts --

def run_echo(args, workdir, rows, repeat):
    bodies, files = {}, {}
    for name, payload in PAYLOADS.items():
        framed = grpc_frame(payload)
        bodies[name] = write(workdir, "body-%d.bin" % len(payload), framed)
        # nghttpd serves a file as large as the gRPC response body (the same framed bytes).
        files[name] = "static-%d.bin" % len(payload)
        write(workdir, files[name], framed)
    servers = []
    try:
        tw, tw_port = start(args.server_prefix + [args.echo_server, "--port", "0"], r"listening on [\d.]+:(\d+)",
                            os.path.join(workdir, "tensorwire.log"))
        servers.append(("tensorwire", tw, lambda name: "http://127.0.0.1:%d%s" % (tw_port, ECHO_PATH), GRPC_HEADERS))
        ng, ng_port = start_nghttpd(args, workdir)
        servers.append(("nghttpd", ng, lambda name: "http://127.0.0.1:%d/%s" % (ng_port, files[name]), []))
        py, py_port = start(args.server_prefix + [sys.executable, "-c", GRPCIO_SERVER], r"listening on [\d.]+:(\d+)",
                            os.path.join(workdir, "grpcio.log"))
        servers.append(("grpcio", py, lambda name: "http://127.0.0.1:%d%s" % (py_port, ECHO_PATH), GRPC_HEADERS))
        for port in (tw_port, py_port):
            for payload in PAYLOADS.values():
                if grpc_call(port, ECHO_PATH, payload) != payload:
                    raise SystemExit("port %d: the echo did not echo" % port)
        order = servers if repeat % 2 == 0 else servers[::-1]
        for payload in PAYLOADS:
            for load, clients, streams in THROUGHPUT_LOADS:
                for name, process, url, headers in order:
                    figures = h2load(args, workdir, process.pid, url(payload), bodies[payload], headers, clients,
                                     streams)
                    rows.append(dict(part="echo", case=payload, load=load, server=name, repeat=repeat + 1,
                                     **figures))
            if "latency" in args.parts:
                for name, process, url, headers in order:
                    figures = h2load(args, workdir, process.pid, url(payload), bodies[payload], headers, 1, 1,
                                     log=True)
                    rows.append(dict(part="latency", case=payload, load="c=1", server=name, repeat=repeat + 1,
                                     **figures))
    finally:
        for _, process, _, _ in servers:
            stop(process)


def run_digits(args, workdir, rows, repeat):
    predict = grpc_frame(predict_body())
    infer = grpc_frame(model_infer_body())
    predict_path = write(workdir, "predict.bin", predict)
    infer_path = write(workdir, "infer.bin", infer)
    servers = []
    try:
        tw, port = start(args.server_prefix + [args.server, "--port", "0"], r"listening on [\d.]+:(\d+)",
                         os.path.join(workdir, "tensorwire-server.log"))
        wait_listening(port)
        response = grpc_call(port, PREDICT, predict_body())
        grpc_call(port, MODEL_INFER, model_infer_body())
        grpc_stream_call(port, predict_body())
        # nghttpd answers the same POST with Tensorwire's own framed response (its size varies by a byte or two
        # with the batch facts' varints).
        write(workdir, "predict-response.bin", grpc_frame(response))
        ng, ng_port = start_nghttpd(args, workdir)
        servers = [("tensorwire", tw), ("nghttpd", ng)]
        cases = [
            ("Predict", "tensorwire", tw, "http://127.0.0.1:%d%s" % (port, PREDICT), predict_path, GRPC_HEADERS),
            ("PredictStream (1 message)", "tensorwire", tw, "http://127.0.0.1:%d%s" % (port, PREDICT_STREAM),
             predict_path, GRPC_HEADERS),
            ("ModelInfer", "tensorwire", tw, "http://127.0.0.1:%d%s" % (port, MODEL_INFER), infer_path,
             GRPC_HEADERS),
            ("Predict", "nghttpd", ng, "http://127.0.0.1:%d/predict-response.bin" % ng_port, predict_path, []),
        ]
        order = cases if repeat % 2 == 0 else cases[::-1]
        for case, name, process, url, body, headers in order:
            figures = h2load(args, workdir, process.pid, url, body, headers, 16, 16)
            rows.append(dict(part="digits", case=case, load="16x16", server=name, repeat=repeat + 1, **figures))
        if args.grpc_load:
            for mode in ("unary", "stream"):
                figures = grpc_load(args, workdir, tw.pid, port, mode)
                rows.append(dict(part="digits", case="grpc-load %s" % mode, load="256 over 16",
                                 server="tensorwire", repeat=repeat + 1, **figures))
        if "latency" in args.parts:
            for case, name, process, url, body, headers in (cases[0], cases[3]):
                figures = h2load(args, workdir, process.pid, url, body, headers, 1, 1, log=True)
                rows.append(dict(part="latency", case="digits Predict", load="c=1", server=name,
                                 repeat=repeat + 1, **figures))
    finally:
        for _, process in servers:
            stop(process)


# ------------------------------------------------------------------------------------------------ report --

def median_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def saturated(runs):
    return any(r["client_cpu"] >= SATURATED for r in runs)


def us_per_request(run):
    return run["server_cpu"] / 100.0 * run["wall"] / max(1.0, run["req_per_s"] * run["wall"]) * 1e6


def reference_of(part, case, load):
    """What a row is compared with: (group key, server, name). Tensorwire against nghttpd answering the same POST;
    PredictStream and ModelInfer against Tensorwire's own Predict (the "within 10%" target); grpc-load's pipelined
    stream against its unary run."""
    if part == "digits" and case in ("PredictStream (1 message)", "ModelInfer"):
        return ("digits", "Predict", load), "tensorwire", "Predict"
    if part == "digits" and case == "grpc-load stream":
        return ("digits", "grpc-load unary", load), "tensorwire", "grpc-load unary"
    if part == "digits" and case.startswith("grpc-load"):
        return None
    return (part, case, load), "nghttpd", "nghttpd"


def summary(rows):
    """Text lines: one per (part, case, load, server), then every ratio whose runs were not client-bound."""
    lines = []
    groups = {}
    for row in rows:
        groups.setdefault((row["part"], row["case"], row["load"]), {}).setdefault(row["server"], []).append(row)
    for (part, case, load), servers in groups.items():
        for server, runs in servers.items():
            rates = [r["req_per_s"] for r in runs]
            line = "%-8s %-26s %-11s %-10s %9.0f req/s [%.0f-%.0f]  client %3.0f%%  server %3.0f%% (%.1f us/req)" % (
                part, case, load, server, statistics.median(rates), min(rates), max(rates),
                median_of(runs, "client_cpu"), median_of(runs, "server_cpu"),
                statistics.median(us_per_request(r) for r in runs))
            if runs[0].get("p50_ms") is not None:
                line += "  p50 %.3f ms p99 %.3f ms" % (median_of(runs, "p50_ms"), median_of(runs, "p99_ms"))
            if saturated(runs) and part != "latency":
                line += "  CLIENT-BOUND (load generator >= %.0f%% of its core): no ratio" % SATURATED
            lines.append(line)
    lines.append("ratios (per repeat, median [min-max]; none where the load generator was saturated):")
    for (part, case, load), servers in groups.items():
        tw = servers.get("tensorwire")
        found = reference_of(part, case, load)
        if not tw or not found:
            continue
        key, server, name = found
        reference = groups.get(key, {}).get(server)
        if not reference or reference is tw:
            continue
        if part == "latency":
            lines.append("  %s %s %s: p50 %.2fx %s's" % (part, case, load, median_of(tw, "p50_ms") /
                                                           median_of(reference, "p50_ms"), name))
            continue
        if saturated(tw) or saturated(reference):
            lines.append("  %s %s %s: client-bound, no ratio" % (part, case, load))
            continue
        pairs = [(a, b) for a in tw for b in reference if a["repeat"] == b["repeat"]]
        rate = [a["req_per_s"] / b["req_per_s"] for a, b in pairs]
        cpu = [us_per_request(a) / us_per_request(b) for a, b in pairs]
        busy = any(r["server_cpu"] >= SATURATED for r in tw + reference)
        lines.append("  %s %s %s: %.2fx %s's req/s [%.2f-%.2f]; server CPU per request %.2fx %s's%s" % (
            part, case, load, statistics.median(rate), name, min(rate), max(rate), statistics.median(cpu), name,
            "" if busy else " (no side saturated its core: the machine's load set the rates; read the CPU ratio)"))
    return lines


def write_csv(rows, path, seconds):
    with open(path, "w") as f:
        f.write("part,case,load,server,repeat,req_per_s,p50_ms,p99_ms,client_cpu_pct,server_cpu_pct,"
                "server_us_per_req,seconds\n")
        for r in rows:
            f.write("%s,%s,%s,%s,%d,%.1f,%s,%s,%.1f,%.1f,%.2f,%g\n" % (
                r["part"], r["case"], r["load"], r["server"], r["repeat"], r["req_per_s"],
                "" if r["p50_ms"] is None else "%.4f" % r["p50_ms"],
                "" if r["p99_ms"] is None else "%.4f" % r["p99_ms"], r["client_cpu"], r["server_cpu"],
                us_per_request(r), seconds))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--echo-server", required=True)
    parser.add_argument("--server", help="tensorwire-server (the digits part)")
    parser.add_argument("--grpc-load", help="tensorwire-grpc-load (the PredictStream pipelining case)")
    quick = os.environ.get("BENCH_QUICK") == "1"  # Tools/bench/run --quick
    parser.add_argument("--seconds", type=float, default=1.0 if quick else 2.0)
    parser.add_argument("--repeats", type=int, default=2 if quick else 3)
    parser.add_argument("--parts", default="echo,digits,latency")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    args.parts = set(args.parts.split(","))
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    args.server_prefix = ["taskset", "-c", "0"] if pin else []
    args.client_prefix = ["taskset", "-c", "1"] if pin else []

    workdir = tempfile.mkdtemp(prefix="tw-transport-bench-")
    rows = []
    try:
        for repeat in range(args.repeats):
            if "echo" in args.parts or "latency" in args.parts:
                run_echo(args, workdir, rows, repeat)
            if "digits" in args.parts and args.server:
                run_digits(args, workdir, rows, repeat)
            print("repeat %d of %d done" % (repeat + 1, args.repeats), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = open("/proc/loadavg").read().split()[:3]
    print("Transport: h2load -t1 -D %gs (after 0.5 s warm-up), %d repeats, %s; load average %s" % (
        args.seconds, args.repeats, "servers on CPU 0, load generators on CPU 1" if pin else "unpinned",
        " ".join(load)))
    for line in summary(rows):
        print(line)
    print("targets (issue 26): echo empty 16x16 >= 0.8x nghttpd; c=1 p50 <= 1.3x nghttpd's; digits Predict 16x16 "
          ">= 0.5x nghttpd; PredictStream and ModelInfer within 10% of Predict")
    csv_dir = os.environ.get("BENCH_CSV_DIR")
    if csv_dir:  # every run, for Tools/bench/run's report
        write_csv(rows, os.path.join(csv_dir, "transport.csv"), args.seconds)


if __name__ == "__main__":
    main()

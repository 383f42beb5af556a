"""REST benchmark (issue 17, Performance): Tensorwire's HTTP side against references started by this script in the
same run, in alternating rounds (the order flips every round; every ratio is taken inside one round).

  infer    perf_analyzer -i http, concurrency 16, mlp_small (64→128→64→10, relu): a release tensorwire-server
           against PyTriton (Tools/bench/rest_pytriton.py: Triton's HTTP endpoint, dynamic batching with
           max_batch_size 64, onnxruntime in the Python infer_func). infer/s, p50/p90/p99.
  health   h2load --h1 `GET /v2/health/ready` against tensorwire-server (its default single event loop) and nginx
           (one worker, access log off, open_file_cache, serving a static file holding the same bytes as
           Tensorwire's answer), unpipelined (-m 1) and pipelined (-m 8). req/s.
  tensors  perf_analyzer on mlp-large (1024→4096→4096→1024) against tensorwire-server: HTTP with Triton's binary
           tensor extension (perf_analyzer's default), HTTP with JSON tensors both ways
           (--input-tensor-format=json --output-tensor-format=json), and gRPC for reference. infer/s, p50/p99.

Every perf_analyzer run sends the same row of floats drawn from [-1, 1) with a fixed seed (--input-data), to both
servers and in every encoding. Every point also records the CPU the load generator used (user+system from wait4, as
a share of one core) and the CPU the server process tree used over the same wall time, so a figure bounded by the
client can be told from one bounded by the server. On a machine with two or more cores the servers run on CPU 0 and
the load generators on CPU 1 (taskset), unless --no-pin: each server gets the same one core and cannot take the load
generator's, and the client CPU figure says plainly when the generator was the limit. On the shared 2-core
development machine (load average 13-15 from other builds) pinning gave steadier ratios than leaving placement to
the scheduler (health -m 1: 0.73-0.91x nginx pinned, 0.52-1.08x unpinned; mlp_small: 7.4-9.3x PyTriton pinned,
6.1-6.5x unpinned), though lower absolute h2load rates, since every request then crosses cores. Figures are
reported, never asserted. Run by Tools/bench/rest, which builds, writes the models and makes PyTriton's virtual
environment.

usage: rest_bench.py --server PATH --models DIR --pytriton-python PATH --perf-analyzer PATH
                     [--parts infer,health,tensors] [--rounds N] [--interval-ms MS] [--requests N] [--no-pin]"""

import argparse
import csv
import json
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transport_bench import free_port, h2load_figures, start, stop, wait_listening  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SMALL = "mlp_small"
LARGE = "mlp-large"
TENSOR_MODES = {
    "http-binary": ["-i", "http"],
    "http-json": ["-i", "http", "--input-tensor-format=json", "--output-tensor-format=json"],
    "grpc": ["-i", "grpc"],
}


# ---------------------------------------------------------------------------------------------- measuring --

def tree_pids(root):
    """root and every process below it (from /proc's parent links)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def cpu_seconds(root):
    """User+system CPU seconds of a process tree (its live members)."""
    total = 0
    for pid in tree_pids(root):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime (stat fields 14 and 15)
        except (OSError, IndexError, ValueError):
            continue
    return total / CLOCK_TICKS


def run_client(argv, log_path, server_pid, timeout):
    """Runs a load generator to its end. Returns (exit status, output, client CPU %, server CPU %, seconds): CPU as
    a share of one core over the client's wall time."""
    server_before = cpu_seconds(server_pid)
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    server = cpu_seconds(server_pid) - server_before
    with open(log_path, errors="replace") as f:
        out = f.read()
    client = usage.ru_utime + usage.ru_stime
    return process.returncode, out, 100.0 * client / wall, 100.0 * server / wall, wall


def input_data(workdir, model):
    """perf_analyzer's request data for `model`: one batch-1 row of floats drawn uniformly from [-1, 1) with a fixed
    seed. Its default ("random") fills the tensor with random bytes, NaNs among them, which JSON cannot carry."""
    path = os.path.join(workdir, "data-%s.json" % model)
    if not os.path.exists(path):
        width = {SMALL: 64, LARGE: 1024}[model]
        rng = random.Random(width)
        with open(path, "w") as f:
            json.dump({"data": [{"input": [rng.uniform(-1, 1) for _ in range(width)]}]}, f)
    return path


def perf_analyzer(args, workdir, server, port, model, concurrency, flags, extra_headers=()):
    """One perf_analyzer measurement at one concurrency: a dict of figures, or None with the reason printed."""
    csv_path = os.path.join(workdir, "pa.csv")
    if os.path.exists(csv_path):
        os.remove(csv_path)
    argv = args.client_prefix + [args.perf_analyzer] + flags + [
        "-u", "127.0.0.1:%d" % port, "-m", model, "--input-data", input_data(workdir, model),
        "--concurrency-range", str(concurrency),
        "-p", str(args.interval_ms), "-s", str(args.stability), "--max-trials", str(args.max_trials), "-f", csv_path]
    for header in extra_headers:
        argv += ["-H", header]
    rc, out, client_cpu, server_cpu, wall = run_client(argv, os.path.join(workdir, "pa.log"), server.pid,
                                                       timeout=120)
    if rc != 0 or not os.path.exists(csv_path):
        reason = next((line.strip() for line in out.splitlines() if re.search("error|fail|unable", line, re.I)),
                      out.strip().splitlines()[-1] if out.strip() else "exit %d" % rc)
        print("  perf_analyzer failed (exit %d): %s" % (rc, reason), file=sys.stderr, flush=True)
        return None
    with open(csv_path, newline="") as f:
        row = next(csv.DictReader(f))
    inferences = re.findall(r"Inference count: (\d+)", out)
    executions = re.findall(r"Execution count: (\d+)", out)
    mean_batch = (int(inferences[-1]) / int(executions[-1])) if inferences and executions and int(executions[-1]) \
        else None
    return {
        "infer_per_s": float(row["Inferences/Second"]), "p50_us": int(row["p50 latency"]),
        "p90_us": int(row["p90 latency"]), "p99_us": int(row["p99 latency"]),
        "client_send_us": int(row["Client Send"]), "client_recv_us": int(row["Client Recv"]),
        "server_mean_batch": mean_batch, "seconds": wall,
        **cpu_figures(client_cpu, server_cpu, float(row["Inferences/Second"])),
    }


def h2load(args, workdir, server, url, requests, pipeline):
    argv = args.client_prefix + ["h2load", "--h1", "-n", str(requests), "-c", str(args.clients), "-t", "1",
                                 "-m", str(pipeline), url]
    rc, out, client_cpu, server_cpu, wall = run_client(argv, os.path.join(workdir, "h2load.log"), server.pid,
                                                       timeout=120)
    if rc != 0:
        raise SystemExit("h2load exited %d:\n%s" % (rc, out))
    rate, done = h2load_figures(out)
    traffic = re.search(r"traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers", out)
    per_answer = int(traffic.group(1)) / done if traffic and done else None
    return dict(cpu_figures(client_cpu, server_cpu, rate), req_per_s=rate, bytes_per_response=per_answer,
                seconds=wall)


def cpu_figures(client_cpu, server_cpu, rate):
    """CPU shares (% of one core) and CPU time per request (µs: share ÷ rate), which moves less than the rate when
    other work on the machine takes CPU from both sides."""
    return {"client_cpu_pct": client_cpu, "server_cpu_pct": server_cpu,
            "client_cpu_us_per_req": client_cpu * 1e4 / rate if rate else None,
            "server_cpu_us_per_req": server_cpu * 1e4 / rate if rate else None}


# ---------------------------------------------------------------------------------------------- servers --

def start_tensorwire(args, workdir):
    process, port = start(args.server_prefix + [args.server, "--port", "0", "--models", args.models],
                          r"listening on [\d.]+:(\d+)", os.path.join(workdir, "tensorwire.log"))
    wait_listening(port)
    return process, port


def start_pytriton(args, workdir, token):
    """PyTriton serving mlp_small, with the interpreter's own libpython first on the library path."""
    libdir = subprocess.run([args.pytriton_python, "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ)
    # Why: Triton's Python backend stub links libpython3.X.so.1.0 and finds the system's first. When the interpreter
    # that made the virtual environment is another build of the same minor version (pyenv 3.11.7 beside Debian's
    # 3.11.2 here), the stub runs that interpreter's standard library on the other's libpython, and PyTriton's model
    # fails to load (multiprocessing's resource tracker: "'_thread.RLock' object has no attribute
    # '_recursion_count'"). PyTriton's installation guide sets LD_LIBRARY_PATH to the interpreter's LIBDIR likewise.
    env["LD_LIBRARY_PATH"] = libdir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    log_path = os.path.join(workdir, "pytriton.log")
    argv = args.server_prefix + [
        args.pytriton_python, os.path.join(os.path.dirname(os.path.abspath(__file__)), "rest_pytriton.py"),
        os.path.join(args.models, SMALL, "1", "model.onnx"), "--name", SMALL, "--http-port", str(http_port),
        "--grpc-port", str(grpc_port), "--metrics-port", str(metrics_port), "--access-token", token,
        "--max-queue-delay-us", str(args.pytriton_queue_delay_us)]
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as f:
            text = f.read()
        if "pytriton: ready" in text:
            return process, http_port
        if process.poll() is not None:
            break
        time.sleep(0.2)
    stop(process)
    with open(log_path, errors="replace") as f:
        lines = f.read().strip().splitlines()
    raise RuntimeError("PyTriton did not start: " + " | ".join(lines[-5:]))


def start_nginx(args, workdir, body):
    """nginx in the foreground, one worker, access log off, serving `body` as /v2/health/ready from a file: sendfile
    and tcp_nopush as in Debian's default nginx.conf, and the file's descriptor cached (open_file_cache) so that
    nginx does not open and stat it per request, its fastest way to serve a small static file."""
    root = os.path.join(workdir, "nginx")
    os.makedirs(os.path.join(root, "tmp"), exist_ok=True)
    with open(os.path.join(root, "ready"), "wb") as f:
        f.write(body)
    # Run as root, nginx's worker drops to `nobody`, which must be able to read the file.
    os.chmod(workdir, 0o755)
    for path in (root, os.path.join(root, "ready")):
        os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)
    port = free_port()
    config = os.path.join(root, "nginx.conf")
    temp = os.path.join(root, "tmp")
    with open(config, "w") as f:
        f.write("""worker_processes 1;
daemon off;
pid %(root)s/nginx.pid;
error_log %(root)s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    default_type application/json;
    keepalive_requests 100000000;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16;
    client_body_temp_path %(temp)s;
    proxy_temp_path %(temp)s;
    fastcgi_temp_path %(temp)s;
    uwsgi_temp_path %(temp)s;
    scgi_temp_path %(temp)s;
    server {
        listen 127.0.0.1:%(port)d;
        location = /v2/health/ready { alias %(root)s/ready; }
    }
}
""" % {"root": root, "temp": temp, "port": port})
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen(args.server_prefix + [binary, "-c", config, "-p", root], stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(root, "stderr.log"), "w"))
    wait_listening(port)
    return process, port


def http_get(port, path, headers=()):
    """(status, body) of one HTTP/1.1 GET on loopback, with the standard library."""
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=dict(h.split(":", 1) for h in headers))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------------- parts --

def part_infer(args, workdir, tw, tw_port, rows):
    token = secrets.token_urlsafe(16)
    try:
        pt, pt_port = start_pytriton(args, workdir, token)
    except RuntimeError as error:
        print("infer: %s; no PyTriton figures" % error, file=sys.stderr, flush=True)
        rows.append({"round": 0, "server": "pytriton", "error": str(error)[:300]})
        pt = None
    header = ["triton-access-token:" + token]
    servers = [("tensorwire", tw, tw_port)] + ([("pytriton", pt, pt_port)] if pt else [])
    try:
        for round_ in range(1, args.rounds + 1):
            order = servers if round_ % 2 else servers[::-1]
            for name, process, port in order:
                figures = perf_analyzer(args, workdir, process, port, SMALL, args.concurrency, ["-i", "http"], header)
                print("infer round %d %-10s %s" % (round_, name, brief(figures)), file=sys.stderr, flush=True)
                rows.append(dict(figures or {}, round=round_, server=name, model=SMALL,
                                 concurrency=args.concurrency))
    finally:
        if pt:
            stop(pt)


def part_health(args, workdir, tw, tw_port, rows):
    status, body = http_get(tw_port, "/v2/health/ready")
    if status != 200:
        raise SystemExit("tensorwire answered GET /v2/health/ready with %d %r" % (status, body[:200]))
    ng, ng_port = start_nginx(args, workdir, body)
    try:
        status, ng_body = http_get(ng_port, "/v2/health/ready")
        if status != 200 or ng_body != body:
            raise SystemExit("nginx answered %d %r, not %r" % (status, ng_body[:200], body))
        servers = [("tensorwire", tw, tw_port), ("nginx", ng, ng_port)]
        for name, process, port in servers:   # warm-up: connections, caches, page faults
            h2load(args, workdir, process, "http://127.0.0.1:%d/v2/health/ready" % port, args.requests // 10, 1)
        for round_ in range(1, args.rounds + 1):
            for pipeline in args.pipelines:
                order = servers if round_ % 2 else servers[::-1]
                for name, process, port in order:
                    figures = h2load(args, workdir, process, "http://127.0.0.1:%d/v2/health/ready" % port,
                                     args.requests, pipeline)
                    print("health round %d -m %d %-10s %8.0f req/s  h2load CPU %3.0f%%  server CPU %3.0f%%" % (
                        round_, pipeline, name, figures["req_per_s"], figures["client_cpu_pct"],
                        figures["server_cpu_pct"]), file=sys.stderr, flush=True)
                    rows.append(dict(figures, round=round_, server=name, pipeline=pipeline, requests=args.requests,
                                     body_bytes=len(body)))
    finally:
        stop(ng)


def part_tensors(args, workdir, tw, tw_port, rows):
    modes = list(TENSOR_MODES)
    for round_ in range(1, args.rounds + 1):
        order = modes[round_ - 1:] + modes[:round_ - 1]   # rotate which mode goes first
        for mode in order:
            figures = perf_analyzer(args, workdir, tw, tw_port, LARGE, args.large_concurrency, TENSOR_MODES[mode])
            print("tensors round %d %-11s %s" % (round_, mode, brief(figures)), file=sys.stderr, flush=True)
            rows.append(dict(figures or {}, round=round_, mode=mode, model=LARGE,
                             concurrency=args.large_concurrency))


def brief(figures):
    if not figures:
        return "(no figure)"
    return "%9.1f infer/s  p50 %6d us  p99 %6d us  client CPU %3.0f%%  server CPU %3.0f%%" % (
        figures["infer_per_s"], figures["p50_us"], figures["p99_us"], figures["client_cpu_pct"],
        figures["server_cpu_pct"])


# ---------------------------------------------------------------------------------------------- summary --

def per_round_ratios(rows, key, top, bottom, group=None):
    by_round = {}
    for r in rows:
        if r.get(key) is None or (group and any(r.get(k) != v for k, v in group.items())):
            continue
        by_round.setdefault(r["round"], {})[r.get("server") or r.get("mode")] = r[key]
    return [v[top] / v[bottom] for v in by_round.values() if v.get(top) and v.get(bottom)]


def median_of(rows, key, **match):
    values = [r[key] for r in rows if r.get(key) is not None and all(r.get(k) == v for k, v in match.items())]
    return statistics.median(values) if values else None


def show(value, pattern="%.0f"):
    return "-" if value is None else pattern % value


def show_pct(value):
    return "-" if value is None else "%.0f%%" % value


def summarize(args, infer_rows, health_rows, tensor_rows):
    load = open("/proc/loadavg").read().split()[:3]
    print("# REST benchmark: %d round(s), order alternating; %s; load average now %s" % (
        args.rounds, "servers on CPU %s, load generators on CPU %s (taskset)" % (args.server_cpus, args.client_cpus)
        if args.client_prefix else "not pinned", " ".join(load)))
    if infer_rows:
        print("\n## perf_analyzer -i http, %s, concurrency %d, %d ms windows (medians over rounds)" % (
            SMALL, args.concurrency, args.interval_ms))
        print("%-10s %10s %8s %8s %6s %11s %11s %13s" % ("server", "infer/s", "p50 us", "p99 us", "batch",
                                                         "client CPU", "server CPU", "server us/req"))
        for name in ("tensorwire", "pytriton"):
            print("%-10s %10s %8s %8s %6s %11s %11s %13s" % (
                name, show(median_of(infer_rows, "infer_per_s", server=name), "%.1f"),
                show(median_of(infer_rows, "p50_us", server=name)), show(median_of(infer_rows, "p99_us", server=name)),
                show(median_of(infer_rows, "server_mean_batch", server=name), "%.1f"),
                show_pct(median_of(infer_rows, "client_cpu_pct", server=name)),
                show_pct(median_of(infer_rows, "server_cpu_pct", server=name)),
                show(median_of(infer_rows, "server_cpu_us_per_req", server=name), "%.1f")))
        ratios = per_round_ratios(infer_rows, "infer_per_s", "tensorwire", "pytriton")
        print("tensorwire / pytriton infer/s per round: %s (target >= 10x)" % (
            ", ".join("%.2fx" % r for r in ratios) or "-"))
        ratios = per_round_ratios(infer_rows, "server_cpu_us_per_req", "pytriton", "tensorwire")
        print("server CPU per inference, pytriton / tensorwire per round: %s" % (
            ", ".join("%.2fx" % r for r in ratios) or "-"))
    if health_rows:
        print("\n## h2load --h1 GET /v2/health/ready, -n %d -c %d -t 1 (medians over rounds)" % (
            args.requests, args.clients))
        for pipeline in args.pipelines:
            for name in ("tensorwire", "nginx"):
                print("-m %d %-10s %10s req/s  %5s B/answer  h2load CPU %4s  server CPU %4s  %5s us/req" % (
                    pipeline, name, show(median_of(health_rows, "req_per_s", server=name, pipeline=pipeline)),
                    show(median_of(health_rows, "bytes_per_response", server=name, pipeline=pipeline)),
                    show_pct(median_of(health_rows, "client_cpu_pct", server=name, pipeline=pipeline)),
                    show_pct(median_of(health_rows, "server_cpu_pct", server=name, pipeline=pipeline)),
                    show(median_of(health_rows, "server_cpu_us_per_req", server=name, pipeline=pipeline), "%.1f")))
            ratios = per_round_ratios(health_rows, "req_per_s", "tensorwire", "nginx", {"pipeline": pipeline})
            print("-m %d tensorwire / nginx per round: %s (target >= 0.8x)" % (
                pipeline, ", ".join("%.2fx" % r for r in ratios) or "-"))
            ratios = per_round_ratios(health_rows, "server_cpu_us_per_req", "tensorwire", "nginx",
                                      {"pipeline": pipeline})
            print("-m %d server CPU per request, tensorwire / nginx per round: %s" % (
                pipeline, ", ".join("%.2fx" % r for r in ratios) or "-"))
    if tensor_rows:
        print("\n## perf_analyzer on %s, concurrency %d: tensor encodings (medians over rounds)" % (
            LARGE, args.large_concurrency))
        for mode in TENSOR_MODES:
            print("%-11s %9s infer/s  p50 %7s us  p99 %7s us  client send %6s us recv %6s us  client CPU %4s  "
                  "server CPU %4s  %6s us/req" % (
                      mode, show(median_of(tensor_rows, "infer_per_s", mode=mode), "%.1f"),
                      show(median_of(tensor_rows, "p50_us", mode=mode)),
                      show(median_of(tensor_rows, "p99_us", mode=mode)),
                      show(median_of(tensor_rows, "client_send_us", mode=mode)),
                      show(median_of(tensor_rows, "client_recv_us", mode=mode)),
                      show_pct(median_of(tensor_rows, "client_cpu_pct", mode=mode)),
                      show_pct(median_of(tensor_rows, "server_cpu_pct", mode=mode)),
                      show(median_of(tensor_rows, "server_cpu_us_per_req", mode=mode))))
        for mode in ("http-json", "grpc"):
            ratios = per_round_ratios(tensor_rows, "infer_per_s", mode, "http-binary")
            print("%s / http-binary per round: %s" % (mode, ", ".join("%.2fx" % r for r in ratios) or "-"))


def write_csv(path, columns, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else ("%.2f" % r[c] if isinstance(r[c], float) else r[c])
                             for c in columns])


# ---------------------------------------------------------------------------------------------- main --

def main():
    quick = os.environ.get("BENCH_QUICK") == "1"   # Tools/bench/run --quick
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--models", required=True, help="a repository holding mlp_small and mlp-large")
    parser.add_argument("--pytriton-python", required=True)
    parser.add_argument("--perf-analyzer", required=True)
    parser.add_argument("--parts", default="infer,health,tensors")
    parser.add_argument("--rounds", type=int, default=3 if quick else 5)
    parser.add_argument("--interval-ms", type=int, default=1000 if quick else 2000)
    parser.add_argument("--stability", type=int, default=50)
    parser.add_argument("--max-trials", type=int, default=6 if quick else 8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--large-concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=100000 if quick else 200000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--pipelines", default="1,8")
    parser.add_argument("--pytriton-queue-delay-us", type=int, default=0)
    parser.add_argument("--no-pin", action="store_true", help="leave servers and load generators to the scheduler")
    args = parser.parse_args()
    args.pipelines = [int(p) for p in args.pipelines.split(",")]
    for name in ("server", "models", "pytriton_python", "perf_analyzer"):
        setattr(args, name, os.path.abspath(getattr(args, name)))
    parts = args.parts.split(",")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    args.server_cpus, args.client_cpus = ("0", "1") if pin else ("", "")
    args.server_prefix = ["taskset", "-c", args.server_cpus] if pin else []
    args.client_prefix = ["taskset", "-c", args.client_cpus] if pin else []

    workdir = tempfile.mkdtemp(prefix="tw-rest-bench-")
    infer_rows, health_rows, tensor_rows = [], [], []
    tw = None
    try:
        tw, tw_port = start_tensorwire(args, workdir)
        if "infer" in parts:
            part_infer(args, workdir, tw, tw_port, infer_rows)
        if "health" in parts:
            part_health(args, workdir, tw, tw_port, health_rows)
        if "tensors" in parts:
            part_tensors(args, workdir, tw, tw_port, tensor_rows)
    finally:
        if tw:
            stop(tw)
        summarize(args, infer_rows, health_rows, tensor_rows)
        csv_dir = os.environ.get("BENCH_CSV_DIR")
        if csv_dir:
            pinned = "cpu%s/cpu%s" % (args.server_cpus, args.client_cpus) if args.client_prefix else "no"
            for r in infer_rows + health_rows + tensor_rows:
                r["pinned"] = pinned
            figures = ["client_cpu_pct", "server_cpu_pct", "client_cpu_us_per_req", "server_cpu_us_per_req",
                       "seconds", "pinned"]
            if infer_rows:
                write_csv(os.path.join(csv_dir, "rest_infer.csv"),
                          ["round", "server", "model", "concurrency", "infer_per_s", "p50_us", "p90_us", "p99_us",
                           "server_mean_batch", "error"] + figures, infer_rows)
            if health_rows:
                write_csv(os.path.join(csv_dir, "rest_health.csv"),
                          ["round", "server", "pipeline", "requests", "req_per_s", "bytes_per_response",
                           "body_bytes"] + figures, health_rows)
            if tensor_rows:
                write_csv(os.path.join(csv_dir, "rest_tensors.csv"),
                          ["round", "mode", "model", "concurrency", "infer_per_s", "p50_us", "p90_us", "p99_us",
                           "client_send_us", "client_recv_us"] + figures, tensor_rows)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

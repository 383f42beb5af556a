"""The batch-size section of Tools/bench/run: the server's batch-size distribution under closed-loop load, as the
`tensorwire bench --json` CLI reports it (every response carries the size of the batch it ran in).

  report_batch_sizes.py --bin DIR --out CSV_DIR [--seconds S] [--concurrency 8,32] [--models mlp-large,digits]
                        [--threads N]

Starts DIR/tensorwire-server (batching defaults) on a repository holding digits (the committed fixture) and
mlp-large (written by batching_models.py, numpy only), runs `DIR/tensorwire bench MODEL -c C --json` for each
model and concurrency, and writes batch_sizes.csv (model, concurrency, batch_size, requests, share) and
batch_sizes_summary.csv (model, concurrency, throughput_rps, p50_ms, p99_ms, requests, errors, queue_us_mean,
compute_us_mean). Prints a short table. Python standard library plus the venv's numpy (for mlp-large).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FEATURES = {"digits": 64, "mlp-large": 1024}


def start_server(binary, repo, threads, log_path):
    log = open(log_path, "w")
    process = subprocess.Popen([binary, "--port", "0", "--models", repo, "--blas-threads", str(threads)],
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(log_path) as f:
            match = re.search(r"listening on [^ ]*:(\d+)", f.read())
        if match:
            return process, int(match.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit("tensorwire-server did not start:\n" + open(log_path).read())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", default="8,32")
    parser.add_argument("--models", default="mlp-large,digits")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tw-bench-batch-sizes-")
    server = None
    try:
        repo = os.path.join(work, "models")
        models = args.models.split(",")
        for model in models:
            path = os.path.join(repo, model, "1", "model.onnx")
            os.makedirs(os.path.dirname(path))
            if model == "digits":
                shutil.copy(os.path.join(ROOT, "Tests", "InferenceTests", "Fixtures", "digits.onnx"), path)
            elif model == "mlp-large":
                subprocess.run([args.python, os.path.join(ROOT, "Tools", "bench", "batching_models.py"),
                                "--mlp-large", path], check=True)
            else:
                raise SystemExit("unknown model " + model)
        server, port = start_server(os.path.join(args.bin, "tensorwire-server"), repo, args.threads,
                                    os.path.join(work, "server.log"))
        rows, summary = [], []
        for model in models:
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                argv = [os.path.join(args.bin, "tensorwire"), "--server", "127.0.0.1:%d" % port, "bench", model,
                        "-c", str(concurrency), "--duration", "%dms" % int(args.seconds * 1000),
                        "--warmup", "500ms", "--json"]
                result = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + 120)
                try:
                    report = json.loads(result.stdout)
                except ValueError:
                    raise SystemExit("tensorwire bench gave no JSON (exit %d):\n%s%s" % (
                        result.returncode, result.stdout, result.stderr))
                sizes = {int(k): int(v) for k, v in report.get("batch_sizes", {}).items()}
                total = sum(sizes.values()) or 1
                for size in sorted(sizes):
                    rows.append((model, concurrency, size, sizes[size], sizes[size] / total))
                latency = report.get("latency_ms", {})
                summary.append((model, concurrency, report.get("throughput_rps", 0), latency.get("p50", 0),
                                latency.get("p99", 0), report.get("requests", 0), report.get("errors", 0),
                                report.get("queue_us_mean", 0), report.get("compute_us_mean", 0)))
                mean = sum(s * n for s, n in sizes.items()) / total
                print("%-10s c=%-3d %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  batch size seen by a request: mean %.1f,"
                      " max %d" % (model, concurrency, summary[-1][2], summary[-1][3], summary[-1][4], mean,
                                   max(sizes) if sizes else 0), flush=True)
        with open(os.path.join(args.out, "batch_sizes.csv"), "w") as f:
            f.write("model,concurrency,batch_size,requests,share\n")
            for row in rows:
                f.write("%s,%d,%d,%d,%.5f\n" % row)
        with open(os.path.join(args.out, "batch_sizes_summary.csv"), "w") as f:
            f.write("model,concurrency,throughput_rps,p50_ms,p99_ms,requests,errors,queue_us_mean,compute_us_mean\n")
            for row in summary:
                f.write("%s,%d,%s,%s,%s,%s,%s,%s,%s\n" % row)
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

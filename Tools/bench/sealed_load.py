#!/usr/bin/env python3
"""Load time of a sealed model against the plain file (issue 20): tensorwire-server started on mlp-large
(1024→4096→4096→1024, 100 MB of weights, from batching_models.py) as model.onnx and as model.onnx.sealed, in
alternating rounds. A round's load time is the time between the server's first log line ("starting") and the
model's READY line, from the JSON log's millisecond timestamps: reading, decrypting (sealed), hashing, compiling and
packing the weights; beside it the server's CPU time (user + system, /proc/PID/stat) once it listens, which moves
much less with the machine's load. The figure is the median ratio sealed / plain over the rounds (target ≤ 1.2×). OpenSSL's own
AES-256-GCM and SHA-256 speeds on 1 MiB blocks are printed beside it, for scale. Figures only; nothing asserted.

  sealed_load.py --server BIN --cli BIN --models DIR [--rounds N] [--csv FILE]

DIR must hold plain/mlp-large/1/model.onnx, sealed/mlp-large/1/model.onnx.sealed and the key file key.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import time


def stamp(line):
    return datetime.datetime.strptime(line["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def load_once(server, models, key):
    args = [server, "--port", "0", "--log-format", "json", "--models", models]
    if key:
        args += ["--model-keys", key]
    started = time.monotonic()
    process = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    first = ready = None
    try:
        for raw in process.stderr:
            line = json.loads(raw)
            first = first or line
            if "READY" in line["msg"] and line["component"] == "models":
                ready = line
            if line["msg"].startswith("listening on"):
                break
        listening = time.monotonic() - started
        fields = open("/proc/%d/stat" % process.pid).read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    finally:
        process.terminate()
        process.wait(timeout=30)
    if ready is None:
        raise SystemExit("the model did not load: %s" % (first,))
    return (stamp(ready) - stamp(first)) * 1000, listening * 1000, ready["msg"], cpu


def openssl_speed(name, evp):
    text = subprocess.run(["openssl", "speed", "-seconds", "1", "-bytes", "1048576", "-evp", evp],
                          capture_output=True, text=True).stdout
    for line in text.splitlines():
        if line.startswith(evp.upper()) or line.lower().startswith(evp):
            kbytes = float(line.split()[-1].rstrip("k"))
            return "%s %.2f GB/s" % (name, kbytes * 1000 / 1e9)
    return "%s: no figure from openssl speed" % name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--csv")
    args = parser.parse_args()
    plain_dir = os.path.join(args.models, "plain")
    sealed_dir = os.path.join(args.models, "sealed")
    key = os.path.join(args.models, "key")
    size = os.path.getsize(os.path.join(plain_dir, "mlp-large", "1", "model.onnx"))
    load_once(args.server, plain_dir, None)  # warm the page cache for both files
    load_once(args.server, sealed_dir, key)
    rows = []
    for round_index in range(args.rounds):
        order = [("plain", plain_dir, None), ("sealed", sealed_dir, key)]
        if round_index % 2:
            order.reverse()
        result = {}
        for kind, directory, k in order:
            result[kind] = load_once(args.server, directory, k)
        ratio = result["sealed"][0] / result["plain"][0]
        cpu_ratio = result["sealed"][3] / result["plain"][3]
        rows.append((round_index + 1, result["plain"][0], result["sealed"][0], ratio, result["plain"][3],
                     result["sealed"][3], cpu_ratio, result["plain"][1], result["sealed"][1]))
        print("round %d: load plain %.0f ms, sealed %.0f ms, ratio %.3f; CPU plain %.0f ms, sealed %.0f ms, ratio "
              "%.3f (start to listening: %.0f / %.0f ms)" % rows[-1], flush=True)
    print("mlp-large: %d bytes; %s" % (size, result["sealed"][2]))
    ratios = [r[3] for r in rows]
    print("median load: plain %.0f ms, sealed %.0f ms; sealed/plain %.3f× (median of %d rounds, range %.3f–%.3f)"
          % (statistics.median(r[1] for r in rows), statistics.median(r[2] for r in rows), statistics.median(ratios),
             len(rows), min(ratios), max(ratios)))
    cpu_ratios = [r[6] for r in rows]
    print("median CPU to listening: plain %.0f ms, sealed %.0f ms; sealed/plain %.3f× (range %.3f–%.3f)"
          % (statistics.median(r[4] for r in rows), statistics.median(r[5] for r in rows),
             statistics.median(cpu_ratios), min(cpu_ratios), max(cpu_ratios)))
    print("for scale, openssl speed on 1 MiB blocks: %s, %s" % (openssl_speed("AES-256-GCM", "aes-256-gcm"),
                                                                openssl_speed("SHA-256", "sha256")))
    print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("round,plain_ms,sealed_ms,ratio,plain_cpu_ms,sealed_cpu_ms,cpu_ratio,plain_listening_ms,"
                    "sealed_listening_ms\n")
            for row in rows:
                f.write("%d,%.1f,%.1f,%.4f,%.1f,%.1f,%.4f,%.1f,%.1f\n" % row)


if __name__ == "__main__":
    main()

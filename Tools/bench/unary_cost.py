"""What one unary request costs a server, in measures that do not move with the machine's load (issue 26): the
instructions it executes per request (valgrind's callgrind, counted over a fixed number of h2load requests after a
warm-up) and the system calls it makes per request (strace -c over the same kind of run), for Tensorwire's servers
and nghttpd answering the same POST. Optionally a sampled call-graph profile (perf record -g, cpu-clock: the
development VM has no hardware counters) for `perf report`.

  unary_cost.py --bin DIR [--targets echo,interop,digits,nghttpd] [--requests N] [--measure ir,syscalls,perf]
                [--out DIR] [--keep] [--connections C] [--streams M]

targets: echo     tensorwire-echo-server, an empty gRPC message echoed
         interop  tensorwire-interop-server, grpc.testing.TestService/EmptyCall
         digits   tensorwire-server, digits Predict (transport_bench.predict_body)
         digits-bearer  digits without --auth-keys, the client sending digits-auth's `authorization: Bearer` header
         digits-auth  the same with --auth-keys (4 keys) and the caller's `authorization: Bearer` key
         (digits-auth - digits-bearer: what the check costs; digits-bearer - digits: what carrying the header costs
         any server, checking or not: nghttp2 Huffman-decodes and validates it, h2load sends it never-indexed;
         digits-auth - digits: the two together)
         digits-kserve  tensorwire-server, KServe ModelInfer with the same 64 floats (transport_bench.model_infer_body)
         digits-stream  tensorwire-server, PredictStream with the same request as its one message
         nghttpd  nghttpd answering a 5-byte POST with a 5-byte file (what echo and EmptyCall answer)
Load: h2load -n N -c 16 -m 16 -t 1 after 2,000 warm-up requests; --connections 1 --streams 1 keeps one request in
flight. Reported, never asserted. With BENCH_CSV_DIR set (Tools/bench/run's unary-cost section) each figure is also
written to unary_cost.csv there (measure, target, per_request, requests)."""

import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transport_bench import (GRPC_HEADERS, MODEL_INFER, PREDICT, PREDICT_STREAM, free_port, grpc_frame,  # noqa: E402
                             h2load_figures, model_infer_body, predict_body, stop, wait_listening, write)

ECHO = "/tensorwire.bench.Echo/Echo"
EMPTY_CALL = "/grpc.testing.TestService/EmptyCall"


def target_argv(args, name, port, workdir):
    """(argv, path, body file, headers) for a target listening on `port`."""
    empty = os.path.join(workdir, "empty.bin")
    if name == "echo":
        return [os.path.join(args.bin, "tensorwire-echo-server"), "--port", str(port)], ECHO, empty, GRPC_HEADERS
    if name == "interop":
        return ([os.path.join(args.bin, "tensorwire-interop-server"), "--port", str(port)], EMPTY_CALL, empty,
                GRPC_HEADERS)
    if name == "digits":
        return ([os.path.join(args.bin, "tensorwire-server"), "--port", str(port)], PREDICT,
                os.path.join(workdir, "predict.bin"), GRPC_HEADERS)
    if name == "digits-stream":
        return ([os.path.join(args.bin, "tensorwire-server"), "--port", str(port)], PREDICT_STREAM,
                os.path.join(workdir, "predict.bin"), GRPC_HEADERS)
    if name == "digits-kserve":
        return ([os.path.join(args.bin, "tensorwire-server"), "--port", str(port)], MODEL_INFER,
                os.path.join(workdir, "infer.bin"), GRPC_HEADERS)
    if name in ("digits-auth", "digits-bearer"):
        # As digits, with the caller's bearer key in `authorization`; digits-auth also passes --auth-keys (4 keys,
        # the caller's scoped infer:digit*). The differences split what access control costs a request (issue 19).
        import hashlib
        key = "twk_cost_" + "5" * 40
        argv = [os.path.join(args.bin, "tensorwire-server"), "--port", str(port)]
        if name == "digits-auth":
            keys = os.path.join(workdir, "keys.json")
            with open(keys, "w") as f:
                f.write('{"keys": [%s]}' % ", ".join(
                    '{"id": "k%d", "sha256": "%s", "scopes": ["%s"]}' % (
                        i, hashlib.sha256((key if i == 3 else "other-%d" % i).encode()).hexdigest(),
                        "infer:digit*" if i == 3 else "read:*") for i in range(4)))
            argv += ["--auth-keys", keys]
        return argv, PREDICT, os.path.join(workdir, "predict.bin"), GRPC_HEADERS + ["authorization: Bearer " + key]
    return ["nghttpd", "--no-tls", "-d", workdir, str(port)], "/empty.bin", empty, []


def wait_listening_slowly(port):
    """Under valgrind a server takes several seconds to start."""
    for _ in range(12):
        try:
            return wait_listening(port)
        except SystemExit:
            continue
    raise SystemExit("nothing listens on port %d under valgrind" % port)


LOAD_SHAPE = {"connections": 16, "streams": 16}


def load(port, path, body, headers, requests):
    argv = ["h2load", "-t", "1", "-c", str(LOAD_SHAPE["connections"]), "-m", str(LOAD_SHAPE["streams"]),
            "-n", str(requests), "-d", body]
    for header in headers:
        argv += ["-H", header]
    out = subprocess.run(argv + ["http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True,
                         timeout=600).stdout
    return h2load_figures(out)[1]


def measure(args, name, kind, workdir):
    port = free_port()
    argv, path, body, headers = target_argv(args, name, port, workdir)
    out_file = os.path.join(workdir, "%s-%s.out" % (name, kind))
    if kind == "ir":
        if argv[0] != "nghttpd":
            # valgrind gives up on the DWARF of Swift's release builds ("possibly corrupted debuginfo"): run a copy
            # without it (the symbol table stays, so callgrind_annotate still names functions).
            copy = os.path.join(workdir, os.path.basename(argv[0]))
            subprocess.run(["objcopy", "--strip-debug", argv[0], copy], check=True)
            argv[0] = copy
        argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s.%%p" % out_file] + argv
    env = dict(os.environ)
    if argv[0] != "nghttpd" and "GLIBC_TUNABLES" not in env:
        # What our servers set for themselves at start-up by re-executing (--malloc-tcache-count, default 1000;
        # docs/performance.md, "The allocator"), given here so that they do not: under valgrind the re-executed
        # program would run outside it.
        env["GLIBC_TUNABLES"] = "glibc.malloc.tcache_count=1000"
    if kind == "ir" and argv[0] != "nghttpd" and not args.random_hashing:
        # Swift seeds every Dictionary's hashing at random (per process and per table), so which keys share a probe
        # chain, and how many string compares a route or model lookup makes, changes from run to run: several
        # hundred instructions per request. Fixed seeds make the counts repeat, and make two targets comparable.
        env["SWIFT_DETERMINISTIC_HASHING"] = "1"
    if kind == "ir" and name.startswith("digits"):
        # valgrind has no AVX-512: the engine runs OpenBLAS on its Haswell (AVX2) kernels under it, so the compute
        # part of this figure is not the production one (the serving part is).
        argv += ["--gemm", "blas"]
        env["OPENBLAS_CORETYPE"] = "Haswell"
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_listening(port) if kind != "ir" else wait_listening_slowly(port)
        time.sleep(1 if kind == "ir" else 0.2)
        load(port, path, body, headers, 2000 if kind != "ir" else 500)
        if kind == "ir":
            subprocess.run(["callgrind_control", "-z", str(server.pid)], capture_output=True, check=True)
            done = load(port, path, body, headers, args.requests)
            subprocess.run(["callgrind_control", "-d", str(server.pid)], capture_output=True, check=True)
            dumps = [f for f in glob.glob(out_file + ".*") if not f.endswith(".%d" % server.pid)]
            total = 0
            for dump in dumps:
                with open(dump) as f:
                    text = f.read()
                match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
                total += int(match.group(1)) if match else 0
                if args.keep:
                    subprocess.run(["cp", dump, os.path.join(args.out, "callgrind-%s.%s" % (name, dump.rsplit(".", 1)[-1]))],
                                   check=True)
            return ("%s: %.0f instructions per request (callgrind, %d requests, all threads)" % (
                name, total / done, done), total / done, done)
        if kind == "syscalls":
            trace = subprocess.Popen(["strace", "-c", "-f", "-p", str(server.pid), "-o", out_file],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            done = load(port, path, body, headers, args.requests)
            trace.send_signal(signal.SIGINT)
            trace.wait(timeout=30)
            lines = []
            with open(out_file) as f:
                for line in f:
                    fields = line.split()
                    if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
                        calls = int(fields[3])
                        lines.append((calls, fields[-1]))
            lines.sort(reverse=True)
            total = sum(c for c, _ in lines)
            detail = ", ".join("%s %.3f" % (n, c / done) for c, n in lines if c / done >= 0.001)
            return ("%s: %.3f syscalls per request (%s; strace -c -f, %d requests)" % (
                name, total / done, detail, done), total / done, done)
        data = os.path.join(args.out, "perf-%s.data" % name)
        record = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-g", "-p", str(server.pid), "-o", data],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        done = load(port, path, body, headers, args.requests)
        record.send_signal(signal.SIGINT)
        record.wait(timeout=60)
        return ("%s: perf profile of %d requests in %s (perf report -i %s --no-children)" % (name, done, data, data),
                None, done)
    finally:
        stop(server)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="the release binaries (tensorwire-echo-server, ...)")
    parser.add_argument("--targets", default="echo,interop,digits,nghttpd")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--measure", default="ir,syscalls")
    parser.add_argument("--out", default=".")
    parser.add_argument("--keep", action="store_true", help="copy callgrind's dumps into --out (callgrind_annotate)")
    parser.add_argument("--random-hashing", action="store_true",
                        help="leave Swift's per-run hash seeds random under callgrind (the counts then vary by ~1%%)")
    parser.add_argument("--connections", type=int, default=16, help="h2load -c (default 16)")
    parser.add_argument("--streams", type=int, default=16, help="h2load -m, streams per connection (default 16)")
    args = parser.parse_args()
    LOAD_SHAPE.update(connections=args.connections, streams=args.streams)
    workdir = tempfile.mkdtemp(prefix="tw-unary-cost-")
    write(workdir, "empty.bin", grpc_frame(b""))
    write(workdir, "predict.bin", grpc_frame(predict_body()))
    write(workdir, "infer.bin", grpc_frame(model_infer_body()))
    csv_dir = os.environ.get("BENCH_CSV_DIR")
    rows = []
    for kind in args.measure.split(","):
        for name in args.targets.split(","):
            text, value, done = measure(args, name, kind, workdir)
            print(text, flush=True)
            if value is not None:
                rows.append("%s,%s,%.3f,%d" % (kind, name, value, done))
    if csv_dir:
        with open(os.path.join(csv_dir, "unary_cost.csv"), "w") as f:
            f.write("measure,target,per_request,requests\n" + "".join(row + "\n" for row in rows))


if __name__ == "__main__":
    main()

"""Security benchmark (issue 19, Performance): what TLS and API keys cost on the serving path, each against its
reference measured in the same run, in alternating rounds.

  tls        h2load -c 16 -m 16 -t 1, unary tensorwire.v1.Inference/Predict on the built-in digits model (one
             fixed 64-float request), over TLS 1.3 (ALPN h2) against the same server binary in plaintext
  auth       the same load in three configurations: no --auth-keys and no header; no --auth-keys with the
             `authorization: Bearer` header (what carrying the header costs any server: nghttp2 Huffman-decodes
             and validates it, since h2load, like every nghttp2 client, sends it as a never-indexed literal); and
             --auth-keys (four keys, the caller's has the scope `infer:digit*`) with the header. --auth-keys against
             the header alone is the check; against no header, everything access control costs a request
  handshake  new TLS connections per second: `openssl s_time -new` (one client, full handshakes in sequence) against
             tensorwire-server and nghttpd (TLS, the same P-256 certificate)

h2load counts a gRPC error as a success (the HTTP status is 200), so every configuration is first checked with a
grpcio call that must return OK with the probabilities. The server runs on CPU 0 and the load generators on CPU 1
(taskset) unless --no-pin; each row records the client's and the server's CPU as a share of one core, and a client at or near
100% is the limit of that figure. Figures are reported, never asserted.

usage: security_bench.py --server PATH [--rounds N] [--seconds S] [--no-pin] [--parts tls,auth,handshake]"""

import argparse
import csv
import os
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rest_bench import run_client  # noqa: E402
from transport_bench import free_port, h2load_figures, start, stop, wait_listening  # noqa: E402

PREDICT = "/tensorwire.v1.Inference/Predict"
KEY = "twk_bench_" + "7" * 40  # the key the load generator presents (only its SHA-256 is in the key file)


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number, payload):
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def predict_body():
    """One gRPC message: PredictRequest{model: "digits", inputs: [Tensor{name: "X", dtype: FLOAT32, shape: [1, 64],
    raw_data: 64 floats}]}, hand-encoded from Proto/tensorwire/v1/inference.proto."""
    values = struct.pack("<64f", *[(i % 17) / 16.0 for i in range(64)])
    tensor = field(1, b"X") + varint(2 << 3) + varint(1) + field(3, varint(1) + varint(64)) + field(10, values)
    request = field(1, b"digits") + field(3, tensor)
    return b"\x00" + struct.pack(">I", len(request)) + request


def make_pki(workdir):
    """A throwaway CA and a P-256 server certificate for localhost/127.0.0.1 (the openssl CLI)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda argv: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = lambda name: os.path.join(workdir, name)
    run(["openssl", "req", "-x509"] + ec + ["-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2",
         "-subj", "/CN=bench CA", "-addext", "basicConstraints=critical,CA:TRUE"])
    with open(p("server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run(["openssl", "req"] + ec + ["-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=localhost"])
    run(["openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
         "-CAcreateserial", "-out", p("server.pem"), "-days", "2", "-extfile", p("server.ext")])


def make_keys(workdir):
    """A key file with four keys (the scan a real deployment does); only the last one is the load generator's."""
    import hashlib
    entries = []
    for i, scopes in enumerate([["admin"], ["read:*"], ["infer:fraud-*", "read:fraud-*"], ["infer:digit*"]]):
        key = KEY if i == 3 else "twk_other_%d_%s" % (i, "x" * 30)
        entries.append('{"id": "bench-%d", "sha256": "%s", "scopes": [%s]}' % (
            i, hashlib.sha256(key.encode()).hexdigest(), ", ".join('"%s"' % s for s in scopes)))
    path = os.path.join(workdir, "keys.json")
    with open(path, "w") as f:
        f.write('{"keys": [%s]}\n' % ", ".join(entries))
    return path


def check_predict(port, body, tls_ca=None, key=None):
    """A grpcio Predict with the benchmark's request: status OK and the probabilities (what h2load cannot see)."""
    import grpc
    target = "localhost:%d" % port
    if tls_ca:
        with open(tls_ca, "rb") as f:
            channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=f.read()))
    else:
        channel = grpc.insecure_channel(target)
    with channel:
        call = channel.unary_unary(PREDICT, request_serializer=None, response_deserializer=None)
        metadata = [("authorization", "Bearer " + key)] if key else None
        response = call(body[5:], timeout=10, metadata=metadata)
    if b"probabilities" not in response:
        raise SystemExit("Predict answered without probabilities: %r" % response[:80])


def h2load(args, workdir, server, url, body_path, headers):
    argv = args.client_prefix + ["h2load", "-t", "1", "-c", "16", "-m", "16", "-D", "%dms" % int(args.seconds * 1000),
                                 "--warm-up-time", "500ms", "-d", body_path,
                                 "-H", "content-type: application/grpc", "-H", "te: trailers"]
    for header in headers:
        argv += ["-H", header]
    counter = count_instructions(server.pid)
    rc, out, client_cpu, server_cpu, wall = run_client(argv + [url], os.path.join(workdir, "h2load.log"),
                                                        server.pid, timeout=args.seconds + 60)
    instructions = counter()
    if rc != 0:
        raise SystemExit("h2load exited %d:\n%s" % (rc, out))
    rate, done = h2load_figures(out)
    total = re.search(r"requests: (\d+) total", out)
    sent = int(total.group(1)) if total else done
    return {"rate": rate, "requests": done, "client_cpu_pct": client_cpu, "server_cpu_pct": server_cpu,
            "server_cpu_us_per_req": server_cpu / 100.0 * wall / max(sent, 1) * 1e6,
            "server_instructions_per_req": instructions / max(sent, 1) if instructions else ""}


def count_instructions(pid):
    """Starts `perf stat -e instructions` on the server (every thread) and returns a function that stops it and
    gives the count: user and kernel instructions retired, a cost measure that other processes' load does not
    move the way it moves rates. Without perf (or without permission), the function gives None."""
    try:
        process = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "instructions", "-p", str(pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError:
        return lambda: None

    def stop():
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            return None
        for line in err.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
                return int(fields[0])
        return None
    return stop


def s_time(args, workdir, pid, port, ca):
    """Full TLS handshakes per second from one `openssl s_time -new` client."""
    argv = args.client_prefix + ["openssl", "s_time", "-connect", "127.0.0.1:%d" % port, "-new",
                                 "-time", "2", "-CAfile", ca]
    rc, out, client_cpu, server_cpu, wall = run_client(argv, os.path.join(workdir, "s_time.log"), pid,
                                                        timeout=args.seconds + 60)
    match = re.search(r"(\d+) connections in (\d+) real seconds", out)
    if rc != 0 or not match or int(match.group(2)) == 0:
        # s_time stops at the first failed connection (after many runs, the loopback's ephemeral ports may all be
        # in TIME_WAIT): the round has no handshake figure, the others stand.
        print("openssl s_time exited %d: %s" % (rc, " ".join(out.split())[-200:]), file=sys.stderr)
        return None
    return {"rate": int(match.group(1)) / int(match.group(2)), "requests": int(match.group(1)),
            "client_cpu_pct": client_cpu, "server_cpu_pct": server_cpu,
            "server_cpu_us_per_req": server_cpu / 100.0 * wall / max(int(match.group(1)), 1) * 1e6,
            "server_instructions_per_req": ""}


def start_tensorwire(args, workdir, extra):
    process, port = start(args.server_prefix + [args.server, "--port", "0"] + extra,
                          r"listening on [\d.]+:(\d+)", os.path.join(workdir, "tensorwire.log"))
    wait_listening(port)
    return process, port


def start_nghttpd(args, workdir):
    port = free_port()
    docroot = os.path.join(workdir, "docroot")
    os.makedirs(docroot, exist_ok=True)
    process = subprocess.Popen(args.server_prefix + ["nghttpd", "-d", docroot, str(port),
                                                     os.path.join(workdir, "server.key"),
                                                     os.path.join(workdir, "server.pem")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port)
    return process, port


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--rounds", type=int, default=1 if os.environ.get("BENCH_QUICK") else 3)
    parser.add_argument("--seconds", type=float, default=2.0 if os.environ.get("BENCH_QUICK") else 4.0)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--parts", default="tls,auth,handshake", help="any of tls,auth,handshake")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    pin = not args.no_pin and os.cpu_count() and os.cpu_count() >= 2
    args.server_prefix = ["taskset", "-c", "0"] if pin else []
    args.client_prefix = ["taskset", "-c", "1"] if pin else []

    workdir = tempfile.mkdtemp(prefix="tw-security-bench-")
    make_pki(workdir)
    keys = make_keys(workdir)
    ca = os.path.join(workdir, "ca.pem")
    tls_flags = ["--tls-cert", os.path.join(workdir, "server.pem"), "--tls-key", os.path.join(workdir, "server.key")]
    body = predict_body()
    body_path = os.path.join(workdir, "predict.bin")
    with open(body_path, "wb") as f:
        f.write(body)

    # (part, configuration, how to start it, url scheme, extra headers, grpcio check arguments)
    configs = [
        ("tls", "plaintext", [], "http", [], {}),
        ("tls", "tls", tls_flags, "https", [], {"tls_ca": ca}),
        ("auth", "no header", [], "http", [], {}),
        ("auth", "header", [], "http", ["authorization: Bearer " + KEY], {"key": KEY}),
        ("auth", "--auth-keys", ["--auth-keys", keys], "http", ["authorization: Bearer " + KEY], {"key": KEY}),
    ]
    configs = [c for c in configs if c[0] in parts]
    rows = []
    for round_index in range(args.rounds):
        # Every other round runs each part's configurations in reverse, so no one always goes first.
        order = configs if round_index % 2 == 0 else [
            c for part in ("tls", "auth") for c in reversed([c for c in configs if c[0] == part])]
        for part, name, flags, scheme, headers, check in order:
            process, port = start_tensorwire(args, workdir, flags)
            try:
                check_predict(port, body, **check)
                figures = h2load(args, workdir, process, "%s://localhost:%d%s" % (scheme, port, PREDICT),
                                 body_path, headers)
            finally:
                stop(process)
            rows.append(dict(part=part, config=name, round=round_index + 1, **figures))
        for name in ([] if "handshake" not in parts else
                     ["tensorwire", "nghttpd"] if round_index % 2 == 0 else ["nghttpd", "tensorwire"]):
            process, port = (start_tensorwire(args, workdir, tls_flags) if name == "tensorwire"
                             else start_nghttpd(args, workdir))
            try:
                figures = s_time(args, workdir, process.pid, port, ca)
            finally:
                stop(process)
            if figures:
                rows.append(dict(part="handshake", config=name, round=round_index + 1, **figures))

    out_dir = os.environ.get("BENCH_CSV_DIR")
    if out_dir:
        with open(os.path.join(out_dir, "security.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    print("Security: h2load -c16 -m16 -t1 -D %gs digits Predict; openssl s_time -new; %d round(s); %s" % (
        args.seconds, args.rounds, "server CPU 0, clients CPU 1" if pin else "not pinned"))
    print("%-10s %-12s %10s %8s %8s %12s %14s" % ("part", "config", "rate/s", "client%", "server%", "server us/req",
                                                  "server instr/req"))
    for row in rows:
        print("%-10s %-12s %10.0f %8.0f %8.0f %12.1f %14s" % (
            row["part"], row["config"], row["rate"], row["client_cpu_pct"], row["server_cpu_pct"],
            row["server_cpu_us_per_req"], "%.0f" % row["server_instructions_per_req"]
            if row["server_instructions_per_req"] != "" else "-"))

    def ratio(part, numerator, denominator, key="rate", digits=2):
        values = []
        for r in range(1, args.rounds + 1):
            top = [x[key] for x in rows if x["part"] == part and x["config"] == numerator and x["round"] == r]
            bottom = [x[key] for x in rows if x["part"] == part and x["config"] == denominator and x["round"] == r]
            if top and bottom and top[0] != "" and bottom[0]:
                values.append(top[0] / bottom[0])
        return "%.*fx [%.*f-%.*f]" % (digits, statistics.median(values), digits, min(values), digits,
                                      max(values)) if values else "-"

    print("TLS / plaintext unary rate:       %s (target >= 0.7x)" % ratio("tls", "tls", "plaintext"))
    for top, bottom, meaning in [("--auth-keys", "header", "the check (target >= 0.97x)"),
                                 ("header", "no header", "carrying the header"),
                                 ("--auth-keys", "no header", "everything")]:
        print("%s / %s: unary rate %s, server instructions per request %s, server CPU per request %s: %s" % (
            top, bottom, ratio("auth", top, bottom, digits=3),
            ratio("auth", top, bottom, "server_instructions_per_req", 3),
            ratio("auth", top, bottom, "server_cpu_us_per_req", 3), meaning))
    print("handshakes/s tensorwire / nghttpd: %s" % ratio("handshake", "tensorwire", "nghttpd"))


if __name__ == "__main__":
    main()

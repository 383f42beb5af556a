"""Writes the benchmark suite's report (Tools/bench/run): report.md and SVG plots from the sections' CSV files.
Python standard library only; the plots come from svgplot.py next to this file.

  report.py machine [PYTHON]          prints machine.csv (key,value): CPU, cores, OpenBLAS config and core type,
                                      tool versions (PYTHON: the venv interpreter, for package versions)
  report.py write DIR [--quick 0|1] [--seconds S] [--build-seconds S] [--revision R]
                                      reads DIR/*.csv (and DIR/logs/) and writes DIR/report.md and DIR/*.svg

Every section shows Tensorwire beside the reference measured in the same run: medians over repeats with the
lowest and highest repeat in brackets. A section without its CSV says "section skipped: <why>".
"""
import csv
import ctypes
import math
import os
import platform
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import svgplot  # noqa: E402

# Published reference figures quoted by issue 7 (the same tool, perf_analyzer, on this kind of machine).
KSERVE_REFERENCES = [
    ("digits", 16, "PyTriton (numpy 64→128→64→10 MLP)", 934),
    ("digits", 16, "Seldon MLServer (same model)", 531),
    ("mlp-large", 32, "PyTriton (numpy 1024→4096→4096→1024 MLP)", 432),
    ("mlp-large", 32, "Seldon MLServer (same model)", 99),
]
FLOPS = {"mlp-large": 2 * (1024 * 4096 + 4096 * 4096 + 4096 * 1024), "digits": 2 * (64 * 64 + 64 * 10)}


# ---------------------------------------------------------------------------------------------------- machine --

def _run(argv, env=None):
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
        return (result.stdout + result.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine(python):
    info = []
    cpuinfo = open("/proc/cpuinfo").read()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    mhz = re.search(r"cpu MHz\s*:\s*(.*)", cpuinfo)
    flags = re.search(r"flags\s*:\s*(.*)", cpuinfo)
    flag_set = set(flags.group(1).split()) if flags else set()
    info.append(("cpu", model.group(1).strip() if model else platform.processor()))
    info.append(("cores (nproc)", str(os.cpu_count())))
    info.append(("cpu MHz (reported)", mhz.group(1).strip() if mhz else "?"))
    info.append(("vector extensions", " ".join(f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                                                            "avx512_bf16") if f in flag_set) or "none of avx2/avx512"))
    with open("/proc/meminfo") as f:
        mem = re.search(r"MemTotal:\s*(\d+)", f.read())
    info.append(("memory", "%.1f GiB" % (int(mem.group(1)) / 1048576) if mem else "?"))
    info.append(("kernel", platform.release()))
    info.append(("OPENBLAS_CORETYPE", os.environ.get("OPENBLAS_CORETYPE", "(unset: OpenBLAS detects)")))
    try:
        blas = ctypes.CDLL("libopenblas.so.0")
        blas.openblas_get_config.restype = ctypes.c_char_p
        blas.openblas_get_corename.restype = ctypes.c_char_p
        info.append(("OpenBLAS config", blas.openblas_get_config().decode()))
        info.append(("OpenBLAS kernel (core type in use)", blas.openblas_get_corename().decode()))
        info.append(("OpenBLAS threads (default)", str(blas.openblas_get_num_threads())))
    except (OSError, AttributeError) as error:
        info.append(("OpenBLAS", "not loadable: %s" % error))
    swift = _run(["swift", "--version"]).splitlines()
    info.append(("swift", swift[0] if swift else "?"))
    if python:
        versions = _run([python, "-c", "import importlib.metadata as m\n"
                         "for p in ('onnxruntime', 'numpy', 'protobuf', 'grpcio', 'perf-analyzer'):\n"
                         "    try: print(p + ' ' + m.version(p))\n"
                         "    except Exception: print(p + ' -')"])
        info.append(("python packages", "; ".join(versions.splitlines())))
    h2load = _run(["h2load", "--version"]).splitlines()
    info.append(("h2load / nghttpd", h2load[0] if h2load else "?"))
    writer = csv.writer(sys.stdout)
    writer.writerow(["key", "value"])
    for row in info:
        writer.writerow(row)


# ---------------------------------------------------------------------------------------------------- helpers --

def read_csv(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fmt(value, digits=None):
    """Readable figures: 1234567 → 1.23M, 12345 → 12.3k, 12.34 → 12.3."""
    if value is None:
        return "–"
    if digits is not None:
        return "%.*f" % (digits, value)
    magnitude = abs(value)
    if magnitude >= 1e9:
        return "%.2fG" % (value / 1e9)
    if magnitude >= 1e6:
        return "%.2fM" % (value / 1e6)
    if magnitude >= 1e4:
        return "%.1fk" % (value / 1e3)
    if magnitude >= 100:
        return "%.0f" % value
    if magnitude >= 10:
        return "%.1f" % value
    return "%.2f" % value


def spread(values, digits=None):
    """median [min–max] of a list of numbers (just the value when there is one)."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return fmt(values[0], digits)
    return "%s [%s–%s]" % (fmt(statistics.median(values), digits), fmt(min(values), digits),
                           fmt(max(values), digits))


def ratio_text(values):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return "%.2f×" % values[0]
    return "%.2f× [%.2f–%.2f]" % (statistics.median(values), min(values), max(values))


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def log_excerpt(directory, name, lines=40):
    path = os.path.join(directory, "logs", name + ".log")
    if not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        text = [line.rstrip("\n") for line in f if line.strip()]
    return "\n".join(text[-lines:])


def pow2_bucket(size):
    if size <= 1:
        return "1"
    low = 1 << (size.bit_length() - 1)
    return str(low) if low == 1 else "%d–%d" % (low, 2 * low - 1)


# ---------------------------------------------------------------------------------------------------- sections --

class Report:
    def __init__(self, directory):
        self.dir = directory
        self.md = []
        self.headlines = []
        self.plots = []
        sections = read_csv(directory, "sections.csv") or []
        self.sections = {row["section"]: row for row in sections}

    def svg(self, name, svg, caption):
        svgplot.write(os.path.join(self.dir, name), svg)
        self.md.append("![%s](%s)\n" % (caption, name))

    def status_line(self, name, csv_names):
        """None when the section produced its CSV; otherwise the 'section skipped' line to print."""
        row = self.sections.get(name)
        missing = [n for n in csv_names if not os.path.exists(os.path.join(self.dir, n))]
        if row is None:
            return "section skipped: not selected in this run (`--only`)."
        if row["status"] == "skipped":
            return "section skipped: %s." % row["detail"]
        if row["status"] == "failed":
            return "section skipped: the benchmark failed (%s); its output is in `logs/%s.log`." % (
                row["detail"] or "exit %s" % row["rc"], name)
        if missing:
            return ("section skipped: the benchmark ran but wrote no %s (its script does not take BENCH_CSV_DIR "
                    "yet); its own output follows." % ", ".join(missing))
        return None

    def noise_note(self, name):
        row = self.sections.get(name)
        if not row:
            return ""
        return ("_Ran %s s; load average (1/5/15 min) before: %s, after: %s._\n" % (
            row["seconds"], row["load_before"], row["load_after"]))

    def begin(self, name, title, csv_names):
        self.md.append("\n## %s\n" % title)
        skipped = self.status_line(name, csv_names)
        if skipped:
            self.md.append(skipped + "\n")
            excerpt = log_excerpt(self.dir, name)
            if excerpt:
                self.md.append("```\n%s\n```\n" % excerpt)
            self.md.append(self.noise_note(name))
            return False
        return True

    # -- unary cost --
    def unary_cost(self):
        if not self.begin("unary-cost", "Instructions per unary request (`Tools/bench/unary_cost.py`)",
                          ["unary_cost.csv"]):
            return
        rows = [r for r in read_csv(self.dir, "unary_cost.csv") if r["measure"] == "ir"]
        by = {r["target"]: r for r in rows}
        self.md.append("What one request costs each server in instructions, counted by callgrind over every thread "
                       "(h2load 16×16, the transport section's bodies, after a warm-up): unlike the rates, these do "
                       "not move with the machine's load. echo answers an empty gRPC message (nghttpd the same "
                       "POST with a 5-byte file); digits is a Predict and digits-kserve a ModelInfer on the "
                       "built-in model (its GEMM on OpenBLAS under valgrind, which has no AVX-512).\n")
        reference = num(by["nghttpd"]["per_request"]) if "nghttpd" in by else None
        out = []
        for r in rows:
            value = num(r["per_request"])
            out.append([r["target"], "{:,.0f}".format(value) if value else "–", r["requests"],
                        "%.2f×" % (value / reference) if reference and value else "–"])
        self.md.append(table(["target", "instructions per request", "requests", "/ nghttpd (5-byte answer)"], out) + "\n")
        if reference and "echo" in by and "digits" in by:
            echo, digits = num(by["echo"]["per_request"]), num(by["digits"]["per_request"])
            self.headlines.append("unary cost (callgrind): empty echo {:,.0f} instructions per request, {:.2f}× "
                                  "nghttpd's {:,.0f}; digits Predict {:,.0f}".format(echo, echo / reference,
                                                                                     reference, digits))
        self.md.append(self.noise_note("unary-cost"))

    # -- codec --
    def codec(self):
        if not self.begin("codec", "Codec: PredictRequest encode/decode (`Tools/bench/codec`)", ["codec.csv"]):
            return
        rows = read_csv(self.dir, "codec.csv")
        by = {(r["case"], r["op"], r["impl"]): r for r in rows}
        cases = list(dict.fromkeys((r["case"], r["op"], r["bytes"]) for r in rows))
        rounds = rows[0].get("rounds") if rows else None
        if rounds:
            self.md.append("Tensorwire's hand-written codec and Python protobuf (upb backend) on the same bytes, "
                           "alternating for %s rounds of 7 repeats: messages/s, median of the rounds [min–max of "
                           "every repeat]; the ratio is the median of the rounds' ratios.\n" % rounds)
        else:
            self.md.append("Tensorwire's hand-written codec and Python protobuf (upb backend) on the same bytes; "
                           "messages/s, median of 7 repeats [min–max].\n")
        out, cats, tw_series, py_series = [], [], [], []
        for case, op, size in cases:
            tw, py = by.get((case, op, "tensorwire")), by.get((case, op, "python-upb"))
            if not tw or not py:
                continue
            tw_v = (num(tw["msgs_per_s"]), num(tw["min_msgs_per_s"]), num(tw["max_msgs_per_s"]))
            py_v = (num(py["msgs_per_s"]), num(py["min_msgs_per_s"]), num(py["max_msgs_per_s"]))
            r = num(tw["ratio"]) if tw.get("ratio") else (tw_v[0] / py_v[0] if py_v[0] else None)
            out.append([case, op, size, "%s [%s–%s]" % tuple(fmt(v) for v in tw_v), tw["gb_per_s"],
                        "%s [%s–%s]" % tuple(fmt(v) for v in py_v), py["gb_per_s"],
                        "%.1f×" % r if r else "–"])
            cats.append("%s %s" % (case.split("_")[0] + " " + ("raw" if "raw" in case else "float"), op))
            tw_series.append(tw_v)
            py_series.append(py_v)
            if case.startswith("small") and r:
                self.headlines.append("codec: small PredictRequest %s %s msg/s, %.1f× Python upb" % (
                    op, fmt(tw_v[0]), r))
            if "raw" in case and op == "decode":
                self.headlines.append("codec: 1 MiB raw_data decode %s GB/s (Python upb %s GB/s)" % (
                    tw["gb_per_s"], py["gb_per_s"]))
        self.md.append(table(["case", "op", "bytes", "tensorwire msg/s", "GB/s", "python upb msg/s", "GB/s",
                              "tensorwire / upb"], out) + "\n")
        self.md.append("Targets (issue 2): 1 MiB decode ≥ 5 GB/s; small messages ≥ 3× Python upb.\n")
        self.svg("codec.svg", svgplot.bar_chart("Codec: messages/s (log scale)", cats, "messages/s",
                                                [("tensorwire", tw_series), ("python protobuf (upb)", py_series)],
                                                log_y=True), "codec messages/s")
        self.md.append(self.noise_note("codec"))

    # -- engine --
    def engine(self):
        if not self.begin("engine", "Engine: in-process rows/s (`Tools/bench/engine`)", ["engine.csv"]):
            return
        rows = read_csv(self.dir, "engine.csv")
        meta = (read_csv(self.dir, "engine_machine.csv") or [{}])[0]
        rate, samples = {}, {}
        for r in rows:
            key = (r["kind"], r["model"], int(r["batch"]))
            rate.setdefault(key, {})[r["round"]] = num(r["rows_per_s"])
            batch = int(r["batch"])
            for column in ("median_us", "min_us", "max_us"):
                value = num(r[column])
                if value:
                    samples.setdefault(key, []).append(batch / (value * 1e-6))
        rounds = len({r["round"] for r in rows})
        self.md.append(
            "Tensorwire's engine (on its default GEMM, the packed AVX-512 kernels where the CPU has them, and on "
            "OpenBLAS: `tw@blas`), onnxruntime (intra_op_num_threads=%s), raw `cblas_sgemm` and the raw packed "
            "kernels over the same layer shapes, interleaved over %d round(s) of %s s per case (each case: median "
            "of 7 repeats). rows/s: median over rounds [slowest–fastest repeat of any round]; ratios: median of "
            "per-round ratios [lowest–highest round]. OPENBLAS_CORETYPE=%s; fp32 peak estimate %s GFLOP/s for %s "
            "threads at the nominal clock (boost clocks exceed it).\n"
            % (meta.get("threads", "?"), rounds, meta.get("seconds_per_case", "?"),
               meta.get("openblas_coretype", "?"), meta.get("peak_gflops", "?"), meta.get("threads", "?")))

        def ratios(top, bottom, model, batch):
            a, b = rate.get((top, model, batch), {}), rate.get((bottom, model, batch), {})
            return [a[k] / b[k] for k in a if k in b and a[k] and b[k]]

        out = []
        for model in ("mlp-large", "digits"):
            batches = sorted({k[2] for k in rate if k[1] == model})
            series = {}
            for batch in batches:
                tw = med(rate.get(("engine", model, batch), {}).values())
                if tw is None:
                    continue

                def cell(kind):
                    values = samples.get((kind, model, batch), [])
                    centre = med(rate.get((kind, model, batch), {}).values())
                    if centre is None:
                        return "–"
                    return "%s [%s–%s]" % (fmt(centre), fmt(min(values)), fmt(max(values))) if values else fmt(centre)

                out.append([model, batch, cell("engine"), cell("onnxruntime"),
                            ratio_text(ratios("engine", "onnxruntime", model, batch)),
                            ratio_text(ratios("engine@blas", "onnxruntime", model, batch)), cell("gemm"),
                            ratio_text(ratios("engine", "gemm", model, batch)), cell("gemm@packed"),
                            ratio_text(ratios("engine", "gemm@packed", model, batch)),
                            "%.1f" % (tw * FLOPS[model] / 1e9)])
                for kind in ("engine", "onnxruntime", "gemm", "gemm@packed", "engine@blas"):
                    centre = med(rate.get((kind, model, batch), {}).values())
                    values = samples.get((kind, model, batch), [])
                    if centre is not None:
                        series.setdefault(kind, []).append((batch, centre, min(values or [centre]),
                                                            max(values or [centre])))
                if batch == 128 and model == "mlp-large":
                    ort = med(ratios("engine", "onnxruntime", model, batch))
                    gemm = med(ratios("engine", "gemm", model, batch))
                    packed = med(ratios("engine", "gemm@packed", model, batch))
                    self.headlines.append("engine: mlp-large batch 128 %s rows/s (%.1f GFLOP/s), %.2f× onnxruntime, "
                                          "%.2f× raw sgemm, %.2f× the raw packed kernels"
                                          % (fmt(tw), tw * FLOPS[model] / 1e9, ort or 0, gemm or 0, packed or 0))
                if batch in (1, 8, 32) and model == "mlp-large":
                    ort = med(ratios("engine", "onnxruntime", model, batch))
                    self.headlines.append("engine: mlp-large batch %d %s rows/s, %.2f× onnxruntime"
                                          % (batch, fmt(tw), ort or 0))
                if batch == 1 and model == "digits":
                    ort = med(ratios("engine", "onnxruntime", model, batch))
                    self.headlines.append("engine: digits batch 1 %s rows/s, %.2f× onnxruntime" % (fmt(tw), ort or 0))
            if series:
                names = {"engine": "tensorwire engine", "onnxruntime": "onnxruntime", "gemm": "raw cblas_sgemm",
                         "gemm@packed": "raw packed kernels", "engine@blas": "tensorwire on OpenBLAS"}
                self.plots.append(("engine-%s.svg" % model, svgplot.line_chart(
                    "Engine %s: rows/s vs batch size" % model, "batch size", "rows/s (log scale)",
                    [(names[k], v) for k, v in series.items()], log2_x=True, log_y=True),
                    "engine %s rows/s vs batch size" % model))
        self.md.append(table(["model", "batch", "tensorwire rows/s", "onnxruntime rows/s", "tw / ort",
                              "tw@blas / ort", "raw sgemm rows/s", "tw / sgemm", "packed gemm rows/s",
                              "tw / packed", "tw GFLOP/s"], out) + "\n")
        self.md.append("Targets (issue 4): ≥ 1.0× onnxruntime at every batch size; mlp-large at batch 128 ≥ 0.9× the "
                       "raw GEMM bound.\n")
        self.flush_plots()
        self.md.append(self.noise_note("engine"))

    def flush_plots(self):
        for name, svg, caption in self.plots:
            self.svg(name, svg, caption)
        self.plots = []

    # -- transport --
    def transport(self):
        if not self.begin("transport", "Transport: unary gRPC under h2load (`Tools/bench/transport`)",
                          ["transport.csv"]):
            return
        rows = read_csv(self.dir, "transport.csv")
        saturated_at = 90.0  # transport_bench.SATURATED
        groups = {}
        for r in rows:
            groups.setdefault((r["part"], r["case"], r["load"]), {}).setdefault(r["server"], []).append(r)
        repeats = len({r["repeat"] for r in rows})
        seconds = rows[0]["seconds"] if rows else "?"
        self.md.append("h2load -t1 for %s s per run (after a 0.5 s warm-up), %d repeat(s). Throughput runs keep no "
                       "per-request log (it caps h2load itself near 270k req/s); p50/p99 come from separate c=1 "
                       "runs with `--log-file`. Every run records the load generator's CPU (share of its core) and "
                       "the server's; a run whose load generator used ≥ %.0f%% of its core measured the client, and "
                       "its row gives no ratio. nghttpd answers the same POST with a file as large as the gRPC "
                       "response. Ratios per repeat, median [min–max], against nghttpd, except PredictStream and "
                       "ModelInfer (against Predict) and grpc-load's stream (against its unary run). Where neither the load "
                       "generator nor the server filled its core, other work on the machine set the rates: the "
                       "server's CPU per request (µs/req, and its ratio) is then the figure to read.\n"
                       % (seconds, repeats, saturated_at))

        def column(runs, key):
            return [num(r[key]) for r in runs if r.get(key) not in (None, "")]

        out, cats = [], []
        series = {"tensorwire": [], "nghttpd": [], "grpcio": []}
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from transport_bench import reference_of
        for (part, case, load), servers in groups.items():
            found = reference_of(part, case, load)
            reference, ref_name = None, "–"
            if found:
                reference, ref_name = groups.get(found[0], {}).get(found[1]), found[2]
            for server, runs in servers.items():
                rates = column(runs, "req_per_s")
                client = med(column(runs, "client_cpu_pct")) or 0
                bound = part != "latency" and any(c >= saturated_at for c in column(runs, "client_cpu_pct"))
                if part == "latency":
                    figure = "p50 %.3f / p99 %.3f ms" % (med(column(runs, "p50_ms")) or 0,
                                                          med(column(runs, "p99_ms")) or 0)
                else:
                    figure = spread(rates) + " req/s"
                vs = "–"
                if server == "tensorwire" and reference and reference is not runs:
                    ref_bound = any(c >= saturated_at for c in column(reference, "client_cpu_pct"))
                    if part == "latency":
                        vs = "p50 %.2f× %s" % ((med(column(runs, "p50_ms")) or 0) /
                                               (med(column(reference, "p50_ms")) or 1), ref_name)
                    elif bound or ref_bound:
                        vs = "client-bound: no ratio"
                    else:
                        by_repeat = {r["repeat"]: num(r["req_per_s"]) for r in reference}
                        cpu_by_repeat = {r["repeat"]: num(r["server_us_per_req"]) for r in reference}
                        vs = ratio_text([num(r["req_per_s"]) / by_repeat[r["repeat"]] for r in runs
                                         if by_repeat.get(r["repeat"])])
                        vs += " " + ref_name + "; CPU/req " + ratio_text(
                            [num(r["server_us_per_req"]) / cpu_by_repeat[r["repeat"]] for r in runs
                             if cpu_by_repeat.get(r["repeat"])])
                        if (part, case, load) in (("echo", "empty", "16x16"), ("digits", "Predict", "16x16")):
                            self.headlines.append("transport: %s %s %s %s req/s, %s nghttpd (h2load at %.0f%% of "
                                                  "its core)" % (part, case, load, fmt(med(rates)), vs, client))
                out.append([part, case, load, server, figure, "%.0f%%" % client,
                            "%.0f%%" % (med(column(runs, "server_cpu_pct")) or 0),
                            "%.1f" % (med(column(runs, "server_us_per_req")) or 0),
                            "client-bound" if bound else vs])
                if part == "echo" and server in series:
                    series[server].append((med(rates), min(rates), max(rates)) if rates else None)
            if part == "echo":
                cats.append("%s %s" % (case, load))
                for server in series:
                    if server not in servers:
                        series[server].append(None)
        self.md.append(table(["part", "case", "load", "server", "figure", "h2load CPU", "server CPU",
                              "server µs/req", "tw / reference"], out) + "\n")
        self.md.append("Targets (issue 26): echo (EmptyCall) at 16×16 ≥ 0.8× nghttpd's req/s; at c=1, p50 ≤ 1.3× "
                       "nghttpd's; digits Predict at 16×16 ≥ 0.5× nghttpd; PredictStream and ModelInfer within 10% "
                       "of Predict.\n")
        if cats:
            self.svg("transport.svg", svgplot.bar_chart("Transport: echo requests/s (h2load, log scale)", cats,
                                                        "requests/s", [(k, v) for k, v in series.items()],
                                                        log_y=True), "transport requests/s")
        self.md.append(self.noise_note("transport"))

    # -- batching --
    def batching(self):
        if not self.begin("batching", "Batching: closed-loop concurrency sweep (`Tools/bench/batching`)",
                          ["batching.csv"]):
            return
        rows = read_csv(self.dir, "batching.csv")
        ort_rows = read_csv(self.dir, "batching_ort.csv") or []
        ort_runs = {}
        for r in ort_rows:  # one row per batch size and repeat
            ort_runs.setdefault((r["model"], int(r["batch"])), []).append(num(r["rows_per_s"]))
        ort = {key: med(values) for key, values in ort_runs.items()}
        points = {}
        for r in rows:
            key = (r["model"], r["mode"], int(r["concurrency"]), r["batching"])
            points.setdefault(key, []).append(r)
        repeats = max(len(v) for v in points.values()) if points else 0
        seconds = rows[0].get("seconds", "?") if rows else "?"
        self.md.append("A release `tensorwire-server` and `tensorwire-grpc-load` (closed loop over our client, one "
                       "row per request) on the same 2 cores; batching on (defaults) against off "
                       "(`--max-batch-size 1`), unary Predict and PredictStream; %s s per point, %d repeat(s) "
                       "(req/s: median [min–max]). onnxruntime's in-process rows/s at the measured mean batch size "
                       "(rounded), same run.\n" % (seconds, repeats))
        out = []
        models = list(dict.fromkeys(r["model"] for r in rows))
        for model in models:
            tput, lat = {}, {}
            for mode in ("unary", "stream"):
                for c in sorted({k[2] for k in points if k[0] == model and k[1] == mode}):
                    cells = {}
                    for batching in ("on", "off"):
                        data = points.get((model, mode, c, batching), [])
                        rps = [num(d["req_per_s"]) for d in data]
                        p50 = med([num(d["p50_us"]) for d in data])
                        p99 = med([num(d["p99_us"]) for d in data])
                        mb = med([num(d["mean_batch"]) for d in data])
                        errors = sum(int(num(d["errors"]) or 0) for d in data)
                        cells[batching] = (rps, p50, p99, mb, errors)
                        if rps:
                            label = "%s, batching %s" % (mode, batching)
                            tput.setdefault(label, []).append((c, med(rps), min(rps), max(rps)))
                            lat.setdefault(label, []).append((med(rps), (p99 or 0) / 1000.0))
                    on, off = cells["on"], cells["off"]
                    on_off = med(on[0]) / med(off[0]) if on[0] and off[0] and med(off[0]) else None
                    batch = max(1, int((on[3] or 1) + 0.5))
                    measured = [b for (m, b) in ort if m == model]
                    if (model, batch) not in ort and measured:  # repeats' mean batches differ: nearest measured size
                        batch = min(measured, key=lambda b: abs(b - batch))
                    ort_rate = ort.get((model, batch))
                    out.append([model, mode, c, spread(on[0]), fmt(on[1]), fmt(on[2]), fmt(on[3], 1),
                                spread(off[0]), fmt(off[1]), fmt(off[2]), "%.2f×" % on_off if on_off else "–",
                                "%s (b=%d)" % (fmt(ort_rate), batch) if ort_rate else "–",
                                "%.2f×" % (med(on[0]) / ort_rate) if ort_rate and on[0] else "–",
                                str(on[4] + off[4]) if on[4] + off[4] else ""])
                    if model == "mlp-large" and mode == "unary" and c == 32 and on_off:
                        ort32 = ort.get((model, 32))
                        self.headlines.append(
                            "batching: mlp-large unary c=32 %s req/s, %.1f× batching off%s" % (
                                fmt(med(on[0])), on_off,
                                ", %.2f× onnxruntime at batch 32" % (med(on[0]) / ort32) if ort32 else ""))
                    if model == "digits" and mode == "unary" and c == 64 and on_off:
                        self.headlines.append("batching: digits unary c=64 %s req/s, %.1f× batching off" % (
                            fmt(med(on[0])), on_off))
            self.plots.append(("batching-throughput-%s.svg" % model, svgplot.line_chart(
                "%s: throughput vs concurrency" % model, "concurrency (requests in flight)", "requests/s",
                list(tput.items()), log2_x=True), "%s throughput vs concurrency" % model))
            self.plots.append(("batching-latency-%s.svg" % model, svgplot.line_chart(
                "%s: p99 latency vs throughput" % model, "requests/s", "p99 latency (ms)",
                list(lat.items()), sort_x=False), "%s p99 latency vs throughput" % model))
        self.md.append(table(["model", "api", "c", "on req/s", "p50 µs", "p99 µs", "mean batch", "off req/s",
                              "p50 µs", "p99 µs", "on / off", "ort rows/s", "on / ort", "errors"], out) + "\n")
        self.md.append("Targets (issue 5): mlp-large at c=32 ≥ 8× batching off and ≥ 0.8× onnxruntime's rows/s at "
                       "batch 32; at c=1, p50 with batching on ≤ 1.1× off. The load generator shares the 2 cores "
                       "with the server, so these figures understate the server.\n")
        self.flush_plots()
        self.md.append(self.noise_note("batching"))

    # -- batch sizes --
    def batch_sizes(self):
        if not self.begin("batch-sizes", "Batch-size distribution (`tensorwire bench --json`)",
                          ["batch_sizes.csv"]):
            return
        rows = read_csv(self.dir, "batch_sizes.csv")
        summary = read_csv(self.dir, "batch_sizes_summary.csv") or []
        self.md.append("`tensorwire bench MODEL -c C --json` against a release server with batching defaults; each "
                       "response reports the batch it ran in. Share of requests per batch-size range.\n")
        groups = list(dict.fromkeys((r["model"], int(r["concurrency"])) for r in rows))
        max_size = max(int(r["batch_size"]) for r in rows) if rows else 1
        buckets = list(dict.fromkeys(pow2_bucket(s) for s in [1 << i for i in range(max_size.bit_length())]))
        series, out = [], []
        for model, c in groups:
            share = {}
            for r in rows:
                if r["model"] == model and int(r["concurrency"]) == c:
                    bucket = pow2_bucket(int(r["batch_size"]))
                    share[bucket] = share.get(bucket, 0) + 100 * float(r["share"])
            series.append(("%s c=%d" % (model, c), [share.get(b) for b in buckets]))
            mean = sum(int(r["batch_size"]) * float(r["share"]) for r in rows
                       if r["model"] == model and int(r["concurrency"]) == c)
            s = next((x for x in summary if x["model"] == model and int(x["concurrency"]) == c), {})
            out.append([model, c, fmt(num(s.get("throughput_rps"))), s.get("p50_ms", "–"), s.get("p99_ms", "–"),
                        "%.1f" % mean, "  ".join("%s: %.0f%%" % (b, share[b]) for b in buckets if share.get(b)),
                        s.get("queue_us_mean", "–"), s.get("compute_us_mean", "–")])
        self.md.append(table(["model", "c", "req/s", "p50 ms", "p99 ms", "mean batch seen", "share of requests",
                              "queue µs", "compute µs"], out) + "\n")
        self.svg("batch-sizes.svg", svgplot.bar_chart("Server batch-size distribution", buckets,
                                                      "share of requests (%)", series, x_label="batch size"),
                 "batch-size distribution")
        self.md.append(self.noise_note("batch-sizes"))

    # -- kserve --
    def kserve(self):
        if not self.begin("kserve", "KServe v2: perf_analyzer concurrency sweep (`Tools/bench/kserve`)",
                          ["kserve.csv"]):
            self.md.append("Reference figures (issue 7, same tool, this kind of machine): " + "; ".join(
                "%s at c=%d: %s %d infer/s" % (m, c, name, v) for m, c, name, v in KSERVE_REFERENCES) + ".\n")
            return
        rows = read_csv(self.dir, "kserve.csv")
        points = {}
        for r in rows:
            points.setdefault((r["model"], int(r["concurrency"])), []).append(r)
        repeats = max(len(v) for v in points.values()) if points else 0
        self.md.append("perf_analyzer 2.41 (gRPC, batch 1 per request) against a release `tensorwire-server` "
                       "serving both models through `inference.GRPCInferenceService` and the dynamic batcher; "
                       "perf_analyzer's own figures (its stable windows), %d repeat(s). Client latency in µs.\n"
                       % repeats)
        engine = read_csv(self.dir, "engine.csv") or []
        engine32 = {m: med([num(r["rows_per_s"]) for r in engine if r["kind"] == "engine" and r["model"] == m and
                            r["batch"] == "32"]) for m in ("digits", "mlp-large")}
        out, tput, lat = [], {}, {}
        for (model, c), data in sorted(points.items()):
            rps = [num(d["infer_per_s"]) for d in data]
            p50 = med([num(d["p50_us"]) for d in data])
            p99 = med([num(d["p99_us"]) for d in data])
            refs = "; ".join("%s %d (%.1f×)" % (name.split(" (")[0], v, med(rps) / v)
                             for m, rc, name, v in KSERVE_REFERENCES if m == model and rc == c)
            out.append([model, c, spread(rps), fmt(p50), fmt(p99), refs or ""])
            tput.setdefault(model, []).append((c, med(rps), min(rps), max(rps)))
            lat.setdefault(model, []).append((med(rps), (p99 or 0) / 1000.0))
            for m, rc, name, v in KSERVE_REFERENCES:
                if m == model and rc == c and name.startswith("PyTriton"):
                    self.headlines.append("KServe: %s c=%d %s infer/s under perf_analyzer (%.1f× PyTriton's %d)" % (
                        model, c, fmt(med(rps)), med(rps) / v, v))
        self.md.append(table(["model", "c", "infer/s", "p50 µs", "p99 µs", "vs published reference (infer/s)"], out)
                       + "\n")
        failures = [line.strip() for line in log_excerpt(self.dir, "kserve", 1000).splitlines()
                    if "perf_analyzer failed" in line]
        if failures:
            self.md.append("Points without a figure (perf_analyzer found no stable window on this loaded machine):\n"
                           "```\n%s\n```\n" % "\n".join(failures))
        if any(engine32.values()):
            self.md.append("In-process engine at batch 32 in this run (the ceiling for the large model): %s.\n" %
                           ", ".join("%s %s rows/s" % (m, fmt(v)) for m, v in engine32.items() if v))
        self.md.append("Targets (issue 7): ≥ 10× PyTriton and ≥ 20× MLServer on the small model; the large model's "
                       "throughput approaching the in-process engine's. PyTriton/MLServer figures are published "
                       "reference numbers quoted by issue 7, not measured in this run.\n")
        self.svg("kserve-throughput.svg", svgplot.line_chart(
            "KServe (perf_analyzer): infer/s vs concurrency", "concurrency", "infer/s",
            list(tput.items()), log2_x=True), "KServe throughput vs concurrency")
        self.svg("kserve-latency.svg", svgplot.line_chart(
            "KServe (perf_analyzer): p99 vs infer/s", "infer/s", "p99 latency (ms)", list(lat.items()),
            sort_x=False), "KServe p99 vs throughput")
        self.md.append(self.noise_note("kserve"))


    # -- rest --
    def rest(self):
        if not self.begin("rest", "REST: HTTP/1.1 KServe v2 under perf_analyzer and h2load (`Tools/bench/rest`)",
                          []):
            return
        infer = read_csv(self.dir, "rest_infer.csv") or []
        health = read_csv(self.dir, "rest_health.csv") or []
        tensors = read_csv(self.dir, "rest_tensors.csv") or []
        if not (infer or health or tensors):
            self.md.append("section skipped: the benchmark ran but wrote no rest_*.csv; its output follows.\n")
            self.md.append("```\n%s\n```\n" % log_excerpt(self.dir, "rest"))
            return
        pinned = next((r["pinned"] for r in infer + health + tensors if r.get("pinned")), "no")
        self.md.append("Every round runs Tensorwire and its reference back to back, the order flipping each round; "
                       "ratios are per round, median [min–max]. %s CPU columns: the share of one core used by the "
                       "load generator (user+system over its wall time) and by the server's process tree over the "
                       "same time; a client near 100%% is the limit of that figure.\n" % (
                           "Servers on CPU 0, load generators on CPU 1 (taskset)." if pinned != "no" else
                           "Not pinned: the scheduler places servers and load generators on the 2 cores."))

        def pct(values):
            value = med(values)
            return "–" if value is None else fmt(value) + "%"

        def by_round(rows, key, field):
            out = {}
            for r in rows:
                if num(r.get(field)) is not None:
                    out.setdefault(r["round"], {})[r[key]] = num(r[field])
            return out

        def ratios(rounds, top, bottom):
            return [v[top] / v[bottom] for v in rounds.values() if v.get(top) and v.get(bottom)]

        def limits(rows, key, names):
            """A sentence naming the figures whose side used 80% of its core or more (the figure's limit)."""
            found = []
            for name in names:
                mine = [r for r in rows if r[key] == name]
                for side, column in (("the load generator", "client_cpu_pct"), ("the server", "server_cpu_pct")):
                    share = med([num(r.get(column)) for r in mine])
                    if share is not None and share >= 80:
                        found.append("%s: %s used %.0f%% of a core" % (name, side, share))
            return ("Near a limit (≥ 80%% of a core): %s.\n" % "; ".join(found)) if found else ""

        if infer:
            out = []
            for server in ("tensorwire", "pytriton"):
                rows = [r for r in infer if r["server"] == server and num(r.get("infer_per_s")) is not None]
                out.append([server, spread([num(r["infer_per_s"]) for r in rows]),
                            fmt(med([num(r["p50_us"]) for r in rows])), fmt(med([num(r["p99_us"]) for r in rows])),
                            fmt(med([num(r["server_mean_batch"]) for r in rows])),
                            pct([num(r["client_cpu_pct"]) for r in rows]),
                            pct([num(r["server_cpu_pct"]) for r in rows]),
                            fmt(med([num(r["server_cpu_us_per_req"]) for r in rows]))])
            vs = ratios(by_round(infer, "server", "infer_per_s"), "tensorwire", "pytriton")
            cpu_vs = ratios(by_round(infer, "server", "server_cpu_us_per_req"), "pytriton", "tensorwire")
            c = next((r["concurrency"] for r in infer if r.get("concurrency")), "16")
            self.md.append("**perf_analyzer -i http, mlp_small (64→128→64→10), concurrency %s**: Tensorwire against "
                           "PyTriton 0.7.0 (Triton 2.51 HTTP, dynamic batching, max_batch_size 64, onnxruntime in its "
                           "infer_func) started in the same run. Latency in µs.\n" % c)
            self.md.append(table(["server", "infer/s", "p50 µs", "p99 µs", "mean batch", "client CPU",
                                  "server CPU", "server CPU µs/inference"], out) + "\n")
            self.md.append(limits(infer, "server", ("tensorwire", "pytriton")))
            errors = [r["error"] for r in infer if r.get("error")]
            if errors:
                self.md.append("PyTriton gave no figures: %s\n" % errors[0])
            self.md.append("Tensorwire / PyTriton infer/s: %s (target, issue 17: ≥ 10×). Server CPU per inference, "
                           "PyTriton / Tensorwire: %s.\n" % (ratio_text(vs), ratio_text(cpu_vs)))
            if vs:
                self.headlines.append("REST: mlp_small c=%s over HTTP %s infer/s, %.1f× PyTriton" % (
                    c, fmt(med([num(r["infer_per_s"]) for r in infer if r["server"] == "tensorwire"])), med(vs)))

        if health:
            out, cats, series = [], [], {"tensorwire": [], "nginx": []}
            for pipeline in dict.fromkeys(r["pipeline"] for r in health):
                rows = [r for r in health if r["pipeline"] == pipeline]
                cells = []
                for server in ("tensorwire", "nginx"):
                    mine = [r for r in rows if r["server"] == server]
                    rps = [num(r["req_per_s"]) for r in mine]
                    cells += [spread(rps), fmt(med([num(r["bytes_per_response"]) for r in mine])),
                              pct([num(r["client_cpu_pct"]) for r in mine]),
                              pct([num(r["server_cpu_pct"]) for r in mine]),
                              fmt(med([num(r["server_cpu_us_per_req"]) for r in mine]))]
                    series[server].append((med(rps), min(rps), max(rps)) if rps else None)
                vs = ratios(by_round(rows, "server", "req_per_s"), "tensorwire", "nginx")
                cpu_vs = ratios(by_round(rows, "server", "server_cpu_us_per_req"), "tensorwire", "nginx")
                out.append(["-m %s" % pipeline] + cells + [ratio_text(vs), ratio_text(cpu_vs)])
                cats.append("-m %s" % pipeline)
                self.headlines.append("REST: GET /v2/health/ready over HTTP/1.1 -m %s, %s req/s, %.2f× nginx" % (
                    pipeline, fmt(med([num(r["req_per_s"]) for r in rows if r["server"] == "tensorwire"])),
                    med(vs) or 0))
            self.md.append("**h2load --h1 `GET /v2/health/ready`**, -n %s -c 16 -t 1: Tensorwire on its default "
                           "single loop against nginx (one worker, access log off, open_file_cache) serving a static "
                           "file with the same body (%s bytes). B/answer: bytes received per response, head "
                           "included; µs/req: the server's CPU time per request (its CPU share ÷ req/s).\n" % (
                               health[0]["requests"], health[0]["body_bytes"]))
            self.md.append(table(["pipeline", "tensorwire req/s", "B/answer", "h2load CPU", "server CPU", "µs/req",
                                  "nginx req/s", "B/answer", "h2load CPU", "server CPU", "µs/req", "tw / nginx req/s",
                                  "tw / nginx CPU per request"], out) + "\n")
            self.md.append(limits(health, "server", ("tensorwire", "nginx")))
            self.md.append("Target (issue 17): ≥ 0.8× nginx.\n")
            self.svg("rest-health.svg", svgplot.bar_chart("GET /v2/health/ready over HTTP/1.1 (h2load --h1)", cats,
                                                          "requests/s", list(series.items())), "REST health req/s")
        if tensors:
            out = []
            rounds = by_round(tensors, "mode", "infer_per_s")
            for mode in dict.fromkeys(r["mode"] for r in tensors):
                rows = [r for r in tensors if r["mode"] == mode and num(r.get("infer_per_s")) is not None]
                out.append([mode, spread([num(r["infer_per_s"]) for r in rows]),
                            fmt(med([num(r["p50_us"]) for r in rows])), fmt(med([num(r["p99_us"]) for r in rows])),
                            fmt(med([num(r["client_send_us"]) for r in rows])),
                            fmt(med([num(r["client_recv_us"]) for r in rows])),
                            pct([num(r["client_cpu_pct"]) for r in rows]),
                            pct([num(r["server_cpu_pct"]) for r in rows]),
                            fmt(med([num(r["server_cpu_us_per_req"]) for r in rows])),
                            ratio_text(ratios(rounds, mode, "http-binary"))])
            self.md.append("**Tensor encodings on mlp-large (1024→4096→4096→1024)**, perf_analyzer at concurrency "
                           "%s: HTTP with Triton's binary tensor extension, HTTP with JSON tensors both ways, gRPC. "
                           "Client send/recv: perf_analyzer's own time encoding and decoding, µs per request.\n"
                           % tensors[0]["concurrency"])
            self.md.append(table(["encoding", "infer/s", "p50 µs", "p99 µs", "client send µs", "client recv µs",
                                  "client CPU", "server CPU", "server CPU µs/inference", "infer/s vs http-binary"],
                                 out) + "\n")
            self.md.append(limits(tensors, "mode", list(dict.fromkeys(r["mode"] for r in tensors))))
        self.md.append(self.noise_note("rest"))


    # -- security --
    def security(self):
        if not self.begin("security", "Security: TLS, API keys and handshakes (`Tools/bench/security`)",
                          ["security.csv"]):
            return
        rows = read_csv(self.dir, "security.csv") or []
        self.md.append("h2load -c 16 -m 16 -t 1 on unary digits Predict (one fixed 64-float request, checked with "
                       "grpcio first since h2load counts a gRPC error as a success) and `openssl s_time -new` (one "
                       "client, full TLS 1.3 handshakes in sequence); each configuration and its reference back to "
                       "back in every round, the order flipping each round. Server on CPU 0, load generators on "
                       "CPU 1. Client/server CPU: share of one core over the run.\n")
        out = []
        for part, config in dict.fromkeys((r["part"], r["config"]) for r in rows):
            mine = [r for r in rows if r["part"] == part and r["config"] == config]
            out.append([part, config, spread([num(r["rate"]) for r in mine]),
                        fmt(med([num(r["client_cpu_pct"]) for r in mine])) + "%",
                        fmt(med([num(r["server_cpu_pct"]) for r in mine])) + "%"])
        self.md.append(table(["part", "configuration", "rate/s", "client CPU", "server CPU"], out) + "\n")

        def ratio(part, top, bottom):
            values = []
            for round_ in dict.fromkeys(r["round"] for r in rows):
                a = [num(r["rate"]) for r in rows if r["part"] == part and r["config"] == top and r["round"] == round_]
                b = [num(r["rate"]) for r in rows if r["part"] == part and r["config"] == bottom
                     and r["round"] == round_]
                if a and b and a[0] and b[0]:
                    values.append(a[0] / b[0])
            return values

        lines = []
        for part, top, bottom, what, target in (("tls", "tls", "plaintext", "TLS / plaintext unary rate", "≥ 0.7×"),
                                                ("auth", "--auth-keys", "header", "--auth-keys / header without "
                                                 "keys unary rate (the check)", "≥ 0.97× (cost ≤ 3%)"),
                                                ("auth", "header", "no header", "header without keys / no header "
                                                 "unary rate (carrying the header)", "none"),
                                                ("auth", "--auth-keys", "no header", "--auth-keys / no header unary "
                                                 "rate (everything)", "none"),
                                                ("handshake", "tensorwire", "nghttpd",
                                                 "TLS handshakes/s, Tensorwire / nghttpd", "none")):
            values = ratio(part, top, bottom)
            if values:
                lines.append("%s: %.2f× [%.2f–%.2f] (target: %s)" % (what, med(values), min(values), max(values),
                                                                    target))
                self.headlines.append("Security: %s %.2f×" % (what, med(values)))
        self.md.append("\n".join("- " + line for line in lines) + "\n")
        self.md.append(self.noise_note("security"))


    # -- scaleout --
    def scaleout(self):
        if not self.begin("scaleout", "Scale-out: replicas behind nginx and HAProxy (`Tools/bench/scaleout`)",
                          ["scaleout.csv"]):
            return
        rows = read_csv(self.dir, "scaleout.csv") or []
        self.md.append("h2load -c 8 -m 8 -t 1 on unary digits Predict through nginx and HAProxy (run from the "
                       "`deploy/` files) in front of N release replicas, against one replica without a balancer, "
                       "the order reversed every round; nothing pinned. CPU: share of one core over the window; "
                       "cores busy is their sum, so a figure near the machine's core count means the cores are the "
                       "bound (docs/deploying.md).\n")
        out, largest, direct = [], {}, med([num(r["rate"]) for r in rows if r["config"] == "direct"])
        for config, count in dict.fromkeys((r["config"], r["replicas"]) for r in rows):
            mine = [r for r in rows if r["config"] == config and r["replicas"] == count]
            rate = med([num(r["rate"]) for r in mine])
            cpu = [med([num(r[k]) for r in mine]) for k in ("client_cpu_pct", "balancer_cpu_pct", "replicas_cpu_pct")]
            per_call = [med([num(r[k]) / 100.0 / num(r["rate"]) * 1e6 for r in mine if num(r["rate"])])
                        for k in ("balancer_cpu_pct", "replicas_cpu_pct")]
            out.append([config, count, spread([num(r["rate"]) for r in mine]),
                        "%.2f×" % (rate / direct) if direct else "-"] + [fmt(c) + "%" for c in cpu]
                       + ["%.2f" % (sum(cpu) / 100.0)] + ["%.1f" % v for v in per_call])
            if config != "direct" and direct:
                largest[config] = (count, rate / direct)
        for config, (count, ratio) in largest.items():
            self.headlines.append("Scale-out: %s in front of %s replicas %.2f× one replica alone" % (config, count, ratio))
        self.md.append(table(["config", "replicas", "rate/s", "/ direct", "client CPU", "balancer CPU",
                              "replicas CPU", "cores busy", "balancer µs CPU/call", "replicas µs CPU/call"], out)
                       + "\n")
        self.md.append(self.noise_note("scaleout"))
    # -- spark --
    def spark(self):
        if not self.begin("spark", "Spark batch scoring: 1M rows x 64 features from local[2] (`Tools/bench/spark`)",
                          ["spark.csv"]):
            return
        rows = read_csv(self.dir, "spark.csv")
        self.md.append("One digits-sized MLP (Spark ML's MultilayerPerceptronClassifier, 64 -> 64 -> 10) scored over "
                       "the same Parquet data, the methods alternating in each round: `tensorwire.spark.predict` "
                       "(mapInPandas; 256-row chunks over PredictStream to a release server), "
                       "the issue's reference, an onnxruntime `mapInPandas` UDF on the exported file, Spark ML's "
                       "own `transform`, Tensorwire with 1024-row chunks, and both in an iterator pandas UDF "
                       "(`method=\"udf\"`). Client CPU is the driver, the JVM and its Python "
                       "workers; server CPU the tensorwire-server process.\n")
        methods = list(dict.fromkeys(r["method"] for r in rows))
        out = []
        for m in methods:
            mine = [r for r in rows if r["method"] == m]
            out.append([m, spread([num(r["rows_per_s"]) for r in mine]), spread([num(r["seconds"]) for r in mine], 2),
                        spread([num(r["client_cpu_s"]) for r in mine], 1),
                        spread([num(r["server_cpu_s"]) for r in mine], 1)])
        self.md.append(table(["method", "rows/s", "seconds", "client CPU s", "server CPU s"], out) + "\n")
        by_round = {}
        for r in rows:
            by_round.setdefault(r["round"], {})[r["method"]] = num(r["rows_per_s"])
        vs_ort = [v["tensorwire"] / v["onnxruntime"] for v in by_round.values() if v.get("onnxruntime")]
        vs_ml = [v["tensorwire"] / v["sparkml"] for v in by_round.values() if v.get("sparkml")]
        wide = [v["tensorwire-1024"] / v["onnxruntime"] for v in by_round.values()
                if v.get("onnxruntime") and v.get("tensorwire-1024")]
        like_udf = [v["tensorwire-udf"] / v["onnxruntime-udf"] for v in by_round.values()
                    if v.get("onnxruntime-udf") and v.get("tensorwire-udf")]
        self.md.append("Tensorwire / onnxruntime mapInPandas UDF: %s (target >= 1.0x); Tensorwire / Spark ML "
                       "transform: %s (target > 1x). With 1024-row chunks / onnxruntime: %s; both in an iterator "
                       "pandas UDF: %s.\n" % (ratio_text(vs_ort), ratio_text(vs_ml), ratio_text(wide),
                                              ratio_text(like_udf)))
        self.headlines.append("Spark local[2], 1M rows x 64: Tensorwire %s the onnxruntime UDF, %s Spark ML's "
                              "transform" % (ratio_text(vs_ort), ratio_text(vs_ml)))
        self.md.append(self.noise_note("spark"))


def write(directory, quick, seconds, build_seconds, revision):
    report = Report(directory)
    body_start = len(report.md)
    report.codec()
    report.engine()
    report.transport()
    report.unary_cost()
    report.batching()
    report.batch_sizes()
    report.kserve()
    report.rest()
    report.security()
    report.scaleout()
    report.spark()
    body = report.md[body_start:]

    name = os.path.basename(os.path.normpath(directory))
    head = ["# Tensorwire benchmark report — %s\n" % name,
            "`Tools/bench/run%s` at revision `%s`: %s mode, %s s in all (release build: %s s). Every section "
            "measures Tensorwire and its reference in the same run on the same machine; figures are medians over "
            "repeats with [min–max]. Nothing here is asserted; targets are the issues'.\n" % (
                " --quick" if quick else "", revision, "quick" if quick else "full", seconds, build_seconds)]
    head.append("## Headline figures\n")
    head.append("\n".join("- " + h for h in report.headlines) + "\n" if report.headlines else "(none: no section "
                "produced figures)\n")
    machine_rows = read_csv(directory, "machine.csv") or []
    head.append("## Machine\n")
    head.append(table(["", ""], [[r["key"], r["value"]] for r in machine_rows]) + "\n")
    head.append("## Sections and noise\n")
    section_rows = []
    loads = []
    for row in report.sections.values():
        section_rows.append([row["section"], row["status"] + (" — " + row["detail"] if row["detail"] else ""),
                             row["seconds"], row["load_before"], row["load_after"]])
        for value in (row["load_before"], row["load_after"]):
            first = num(value.split()[0]) if value else None
            if first is not None:
                loads.append(first)
    head.append(table(["section", "status", "seconds", "load avg before (1/5/15)", "after"], section_rows) + "\n")
    cores = os.cpu_count() or 1
    if loads:
        busy = max(loads)
        head.append("Note on noise: the 1-minute load average ranged %.1f–%.1f on %d cores during this run%s. "
                    "Cross-run comparisons are unreliable on a shared machine; the ratios inside each section "
                    "(reference measured in the same run, interleaved where the script does so) are the figures "
                    "to read, and the [min–max] spread shows how much the repeats moved.\n" % (
                        min(loads), busy, cores,
                        " — above the core count, so other processes competed for the CPUs and absolute figures "
                        "are understated" if busy > cores else ""))
    files = sorted(f for f in os.listdir(directory) if f.endswith(".csv") or f.endswith(".svg"))
    tail = ["\n## Files\n", "CSV (every repeat): " + ", ".join("[%s](%s)" % (f, f) for f in files if f.endswith(
        ".csv")) + ".  \nPlots: " + ", ".join("[%s](%s)" % (f, f) for f in files if f.endswith(".svg")) +
        ".  \nEach section's own text output is in the results folder's `logs/` (not part of a committed sample).\n"]
    with open(os.path.join(directory, "report.md"), "w") as f:
        f.write("\n".join(head + body + tail))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "machine":
        machine(sys.argv[2] if len(sys.argv) > 2 else None)
        return
    if len(sys.argv) >= 3 and sys.argv[1] == "write":
        args = sys.argv[3:]
        options = {"--quick": "0", "--seconds": "?", "--build-seconds": "?", "--revision": "?"}
        for i in range(0, len(args) - 1, 2):
            options[args[i]] = args[i + 1]
        write(sys.argv[2], options["--quick"] == "1", options["--seconds"], options["--build-seconds"],
              options["--revision"])
        return
    print(__doc__, file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Aggregates the rounds of Tools/bench/engine into one table.

Input rows (TSV): round, kind, name, batch, rows/s, median µs, min µs, max µs — kind is engine (the default GEMM),
engine@blas (the engine on OpenBLAS, where the default is the packed AVX-512 kernels), gemm (raw cblas_sgemm),
gemm@packed (the raw packed kernels) or onnxruntime; "engine@CORETYPE" rows are runs under another
OPENBLAS_CORETYPE. Each ratio is taken inside
one round (the engine and its baseline measured seconds apart), then the median over rounds is printed with the
lowest and highest round in brackets.
"""
import statistics
import sys
from collections import defaultdict

FLOPS = {"mlp-large": 2 * (1024 * 4096 + 4096 * 4096 + 4096 * 1024), "digits": 2 * (64 * 64 + 64 * 10)}


def main(path, peak):
    rate = defaultdict(dict)  # (kind, model, batch) -> {round: rows/s}
    for line in open(path):
        fields = line.rstrip("\n").split("\t")
        if len(fields) < 5:
            continue
        rate[(fields[1], fields[2], int(fields[3]))][fields[0]] = float(fields[4])

    def med(kind, model, batch):
        values = list(rate.get((kind, model, batch), {}).values())
        return statistics.median(values) if values else 0.0

    def ratio(top, bottom, model, batch):
        a, b = rate.get((top, model, batch), {}), rate.get((bottom, model, batch), {})
        values = sorted(a[r] / b[r] for r in a if r in b and b[r] > 0)
        if not values:
            return "-"
        return f"{statistics.median(values):.2f}x [{values[0]:.2f}-{values[-1]:.2f}]"

    alternates = sorted({k[0].split("@", 1)[1] for k in rate if k[0].startswith("engine@")})
    packed = any(k[0] == "gemm@packed" for k in rate)
    header = f"{'model':<10}{'batch':>6}{'tensorwire r/s':>16}{'onnxrt r/s':>12}{'vs ort [range]':>22}"
    header += f"{'raw sgemm r/s':>14}{'vs sgemm [range]':>22}"
    if packed:
        header += f"{'packed gemm r/s':>16}{'vs packed [range]':>22}"
    header += f"{'GFLOP/s':>9}"
    for alt in alternates:
        header += f"{'tw@' + alt + ' vs ort':>22}"
    print(header)
    for model in ("mlp-large", "digits"):
        for batch in (1, 8, 32, 128):
            tw = med("engine", model, batch)
            if tw == 0:
                continue
            row = f"{model:<10}{batch:>6}{tw:>16.0f}{med('onnxruntime', model, batch):>12.0f}"
            row += f"{ratio('engine', 'onnxruntime', model, batch):>22}{med('gemm', model, batch):>14.0f}"
            row += f"{ratio('engine', 'gemm', model, batch):>22}"
            if packed:
                row += f"{med('gemm@packed', model, batch):>16.0f}{ratio('engine', 'gemm@packed', model, batch):>22}"
            row += f"{tw * FLOPS[model] / 1e9:>9.1f}"
            for alt in alternates:
                row += f"{ratio('engine@' + alt, 'onnxruntime', model, batch):>22}"
            print(row)
    print(f"fp32 peak estimate: {peak} GFLOP/s; ratios are medians of per-round ratios [lowest-highest round]")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "?")

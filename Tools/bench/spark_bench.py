#!/usr/bin/env python3
"""Spark batch scoring (issue 24, Performance): rows/s of one digits-sized MLP (64 -> 64 sigmoid -> 10 softmax,
Spark ML's MultilayerPerceptronClassifier) over the same Parquet data from Spark local[2]:

  tensorwire            tensorwire.spark.predict with its defaults (mapInArrow, 256-row chunks) streaming over
                        PredictStream to a release tensorwire-server
  onnxruntime           the issue's reference: a mapInPandas UDF running the same ONNX file with onnxruntime
                        in-process (one session per partition, one thread each: local[2] runs two side by side)
  sparkml               Spark ML's own PipelineModel.transform (VectorAssembler + the MLP)
  tensorwire-1024       the same with 1024-row chunks (a quarter of the messages)
  tensorwire-arrow-udf  tensorwire.spark.predict(method="arrow_udf"): an iterator Arrow UDF
  tensorwire-pandas     tensorwire.spark.predict(method="mapInPandas"), the default before mapInArrow
  tensorwire-udf        tensorwire.spark.predict(method="udf"): an iterator pandas UDF
  onnxruntime-arrow     onnxruntime in mapInArrow, the inputs and outputs handled as tensorwire's mapInArrow does
  onnxruntime-udf       onnxruntime in an iterator pandas UDF

The mechanisms differ in what crosses to Python and how: mapInPandas and mapInArrow ship every column there and back
(through pandas, or as Arrow arrays untouched); the iterator UDFs ship only the input columns and bring back only the
outputs. Each run scores every row and writes the input's columns plus the prediction and probability columns to
Spark's `noop` sink (the whole plan runs; nothing is stored). Methods alternate within each round, so load drift hits
all of them alike. CPU seconds are counted per process tree from /proc: the client (this driver, Spark's JVM, and
the Python processes: driver and workers) and the server. Figures only; nothing is asserted. `--spark-conf
KEY=VALUE` (repeatable) sets a Spark SQL option for the whole run, every method alike; `--methods a,b` runs a subset.

    spark_bench.py --server-bin PATH [--rows 1000000] [--rounds 3] [--chunk-rows N] [--methods a,b]
                   [--spark-conf KEY=VALUE]... [--csv-dir DIR]
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

FEATURES = [f"f{j}" for j in range(64)]
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int, exclude: set) -> dict:
    """pid -> (CPU seconds (own and reaped children's), "jvm" or "python") of `root` and its descendants, less the
    `exclude` subtrees."""
    parents, times, kinds = {}, {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        fields = rest.split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(x) for x in fields[11:15]) / TICKS
        kinds[int(entry)] = "jvm" if name == "java" else "python"
    chosen = {}
    for pid in times:
        walk = pid
        while walk and walk not in exclude:
            if walk == root:
                chosen[pid] = (times[pid], kinds[pid])
                break
            walk = parents.get(walk, 0)
    return chosen


def cpu_delta(before: dict, after: dict, kind: str = "") -> float:
    """CPU seconds spent between two `tree_cpu` readings (by processes of `kind` only, when given)."""
    return sum(t - before.get(pid, (0.0, k))[0] for pid, (t, k) in after.items() if not kind or k == kind)


def start_server(binary: str, models: str, log_path: str):
    with open(log_path, "wb") as log:
        process = subprocess.Popen([binary, "--port", "0", "--models", models], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        text = open(log_path, errors="replace").read()
        found = re.search(r"listening on [^ ]*:(\d+)", text)
        if found:
            return process, f"127.0.0.1:{found.group(1)}"
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"spark_bench: the server did not start:\n{open(log_path).read()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=None, help="the tensorwire rows' chunk size (default: "
                        "tensorwire.spark.predict's)")
    parser.add_argument("--methods", default="", help="comma-separated subset of the methods (default: all)")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark SQL option for the whole run (every method alike)")
    parser.add_argument("--csv-dir", default=os.environ.get("BENCH_CSV_DIR"))
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import MultilayerPerceptronClassifier
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import tensorwire.spark
    import tensorwire.sparkml

    work = tempfile.mkdtemp(prefix="tw-spark-bench-")
    server = None
    spark = (SparkSession.builder.master("local[2]").appName("tensorwire-spark-bench")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "3g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    for setting in args.spark_conf:
        key, _, value = setting.partition("=")
        spark.conf.set(key, value)
    try:
        data = os.path.join(work, "digits.parquet")
        ids = spark.range(0, args.rows, numPartitions=8)
        pixels = [((F.col("id") * (j + 3) + j * 7 + F.col("id") % 5) % 17).cast("float").alias(f) for j, f in
                  enumerate(FEATURES)]
        ids.select("id", *pixels).withColumn("label", (F.col("id") % 10).cast("double")) \
            .write.mode("overwrite").parquet(data)
        table = spark.read.parquet(data)
        print(f"data: {args.rows} rows x 64 float columns, {len(table.inputFiles())} Parquet files", flush=True)

        pipeline = Pipeline(stages=[VectorAssembler(inputCols=FEATURES, outputCol="features"),
                                    MultilayerPerceptronClassifier(layers=[64, 64, 10], maxIter=15, seed=1)])
        model = pipeline.fit(table.limit(20_000))
        repository = os.path.join(work, "models")
        exported = tensorwire.sparkml.export(model, spark=spark, name="digits_mlp", repository=repository)
        with open(os.path.join(repository, "digits_mlp", "config.json"), "w") as f:
            f.write('{"max_batch_size": 512}')  # two partitions' 256-row chunks could share a batch
        operators = ", ".join(tensorwire.sparkml.operators(exported.onnx_model))
        print(f"model: Spark MLP [64, 64, 10] -> {exported.path} ({operators})", flush=True)
        server, address = start_server(args.server_bin, repository, os.path.join(work, "server.log"))
        onnx_path = exported.path

        def tensorwire_run(method, chunk_rows):
            chunking = {} if chunk_rows is None else {"chunk_rows": chunk_rows}
            return lambda table: tensorwire.spark.predict(table, model="digits_mlp", server=address,
                                                          input_cols=FEATURES, method=method, **chunking)

        def onnxruntime_batches(batches):
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1  # local[2] runs two of these side by side
            session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
            for batch in batches:
                prediction, probability = session.run(None, {"features": batch[FEATURES].to_numpy(np.float32)})
                yield batch, prediction.reshape(-1), list(probability)

        def onnxruntime_map_in_pandas(table):
            import pandas as pd
            from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType
            schema = StructType(table.schema.fields + [StructField("prediction", LongType()),
                                                       StructField("probability", ArrayType(FloatType(), False))])

            def score(batches):
                for batch, prediction, probability in onnxruntime_batches(batches):
                    yield pd.concat([batch.reset_index(drop=True), pd.DataFrame({
                        "prediction": prediction, "probability": probability})], axis=1)

            return table.mapInPandas(score, schema)

        def onnxruntime_map_in_arrow(table):
            import pyarrow as pa
            from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType
            schema = StructType(table.schema.fields + [StructField("prediction", LongType()),
                                                       StructField("probability", ArrayType(FloatType(), False))])
            probability_type = pa.list_(pa.field("element", pa.float32(), nullable=False))

            def score(batches):
                import onnxruntime as ort
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
                for batch in batches:
                    features = np.empty((batch.num_rows, len(FEATURES)), np.float32)
                    for j, name in enumerate(FEATURES):
                        features[:, j] = batch.column(name).to_numpy(zero_copy_only=False)
                    prediction, probability = session.run(None, {"features": features})
                    offsets = pa.array(np.arange(batch.num_rows + 1, dtype=np.int32) * probability.shape[1])
                    yield pa.RecordBatch.from_arrays(
                        list(batch.columns) + [pa.array(prediction.reshape(-1)), pa.ListArray.from_arrays(
                            offsets, pa.array(probability.reshape(-1)), type=probability_type)],
                        names=batch.schema.names + ["prediction", "probability"])

            return table.mapInArrow(score, schema)

        def onnxruntime_udf(table):
            from typing import Iterator, Tuple

            import pandas as pd
            from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType
            schema = StructType([StructField("prediction", LongType()),
                                 StructField("probability", ArrayType(FloatType(), False))])

            def score(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.DataFrame]:
                frames = (pd.DataFrame(dict(zip(FEATURES, series))) for series in batches)
                for _, prediction, probability in onnxruntime_batches(frames):
                    yield pd.DataFrame({"prediction": prediction, "probability": probability})

            score.__annotations__ = {"batches": Iterator[Tuple[pd.Series, ...]], "return": Iterator[pd.DataFrame]}
            udf = F.pandas_udf(score, returnType=schema).asNondeterministic()
            scored = table.withColumn("out", udf(*[F.col(c) for c in FEATURES]))
            return scored.select(*table.columns, "out.prediction", "out.probability")

        def sparkml_run(table):
            return model.transform(table).drop("features")

        methods = {"tensorwire": tensorwire_run("mapInArrow", args.chunk_rows),
                   "onnxruntime": onnxruntime_map_in_pandas, "sparkml": sparkml_run,
                   "tensorwire-1024": tensorwire_run("mapInArrow", 1024),
                   "tensorwire-arrow-udf": tensorwire_run("arrow_udf", args.chunk_rows),
                   "tensorwire-pandas": tensorwire_run("mapInPandas", args.chunk_rows),
                   "tensorwire-udf": tensorwire_run("udf", args.chunk_rows),
                   "onnxruntime-arrow": onnxruntime_map_in_arrow, "onnxruntime-udf": onnxruntime_udf}
        if args.methods:
            methods = {name: methods[name] for name in args.methods.split(",")}
        # One untimed pass each over a 10% sample (every partition, so both task slots start their Python workers):
        # workers, imports, connections and the JIT warm up. The first full-size round's JVM CPU still runs up to
        # twice the later rounds' for the first methods (with a 1% sample too): read the later rounds.
        sample = table.sample(fraction=0.1, seed=1)
        for build in methods.values():
            build(sample).write.format("noop").mode("overwrite").save()

        rows_out = []
        for round_number in range(1, args.rounds + 1):
            for name, build in methods.items():
                me = os.getpid()
                server_pid = server.pid
                before_client = tree_cpu(me, {server_pid})
                before_server = tree_cpu(server_pid, set())
                started = time.perf_counter()
                build(table).write.format("noop").mode("overwrite").save()
                seconds = time.perf_counter() - started
                after_client = tree_cpu(me, {server_pid})
                client_cpu = cpu_delta(before_client, after_client)
                jvm_cpu = cpu_delta(before_client, after_client, "jvm")
                server_cpu = cpu_delta(before_server, tree_cpu(server_pid, set()))
                row = {"method": name, "round": round_number, "rows": args.rows, "seconds": round(seconds, 3),
                       "rows_per_s": round(args.rows / seconds), "client_cpu_s": round(client_cpu, 2),
                       "client_jvm_cpu_s": round(jvm_cpu, 2), "client_python_cpu_s": round(client_cpu - jvm_cpu, 2),
                       "server_cpu_s": round(server_cpu, 2), "load1": os.getloadavg()[0]}
                rows_out.append(row)
                print(f"round {round_number} {name:22s} {seconds:7.2f} s  {row['rows_per_s']:>9,} rows/s  "
                      f"client CPU {client_cpu:5.1f} s (JVM {jvm_cpu:4.1f}, Python {client_cpu - jvm_cpu:4.1f})  server CPU {server_cpu:5.1f} s  load {row['load1']:.1f}",
                      flush=True)

        def median(name, key):
            values = sorted(r[key] for r in rows_out if r["method"] == name)
            return values[len(values) // 2]

        ran = list(methods)
        print("medians: " + "  ".join(
            f"{name} {median(name, 'rows_per_s'):,} rows/s (client CPU {median(name, 'client_cpu_s')} s, "
            f"server {median(name, 'server_cpu_s')} s)" for name in ran))

        def ratio(a, b):
            """Median over rounds of the per-round ratio of a's rows/s to b's (with the median of medians)."""
            per_round = sorted(x["rows_per_s"] / y["rows_per_s"] for x in rows_out if x["method"] == a
                               for y in rows_out if y["method"] == b and y["round"] == x["round"])
            return (f"{median(a, 'rows_per_s') / median(b, 'rows_per_s'):.2f}x (per round: median "
                    f"{per_round[len(per_round) // 2]:.2f}x, {per_round[0]:.2f}-{per_round[-1]:.2f}x)")

        for a, b in [("tensorwire", "onnxruntime"), ("tensorwire", "sparkml"), ("tensorwire-1024", "onnxruntime"),
                     ("tensorwire-1024", "sparkml"), ("tensorwire-udf", "onnxruntime-udf")]:
            if a in ran and b in ran:
                print(f"ratio {a} / {b}: {ratio(a, b)}")
        if args.csv_dir:
            with open(os.path.join(args.csv_dir, "spark.csv"), "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows_out[0]))
                writer.writeheader()
                writer.writerows(rows_out)
    finally:
        spark.stop()
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

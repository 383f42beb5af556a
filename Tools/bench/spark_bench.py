#!/usr/bin/env python3
"""Spark batch scoring (issue 24, Performance): rows/s of one digits-sized MLP (64 -> 64 sigmoid -> 10 softmax,
Spark ML's MultilayerPerceptronClassifier) over the same Parquet data from Spark local[2]:

  tensorwire         tensorwire.spark.predict (mapInPandas) streaming 256-row chunks over PredictStream to a release
                     tensorwire-server
  onnxruntime        the issue's reference: a mapInPandas UDF running the same ONNX file with onnxruntime in-process
                     (one session per partition, one thread each: local[2] runs two side by side)
  sparkml            Spark ML's own PipelineModel.transform (VectorAssembler + the MLP)
  tensorwire-1024    the same with 1024-row chunks (a quarter of the messages)
  tensorwire-udf     tensorwire.spark.predict(method="udf"), to compare with
  onnxruntime-udf    onnxruntime in an iterator pandas UDF

The two UDF mechanisms differ in what crosses to Python: mapInPandas ships every column there and back; the iterator
pandas UDF ships only the input columns and brings back only the outputs. Each run scores every row and writes the
input's columns plus the prediction and probability columns to Spark's
`noop` sink (the whole plan runs; nothing is stored). Methods alternate within each round, so load drift hits all
three alike. CPU seconds are counted per process tree from /proc: the client (this driver, Spark's JVM and its
Python workers) and the server. Figures only; nothing is asserted.

    spark_bench.py --server-bin PATH [--rows 1000000] [--rounds 3] [--csv-dir DIR]
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
    """pid -> CPU seconds (own and reaped children's) of `root` and its descendants, less the `exclude` subtrees."""
    parents, times = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(x) for x in fields[11:15]) / TICKS
    chosen = {}
    for pid in times:
        walk = pid
        while walk and walk not in exclude:
            if walk == root:
                chosen[pid] = times[pid]
                break
            walk = parents.get(walk, 0)
    return chosen


def cpu_delta(before: dict, after: dict) -> float:
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


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
    parser.add_argument("--chunk-rows", type=int, default=256)
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
             .config("spark.ui.enabled", "false").config("spark.driver.memory", "3g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
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
            f.write('{"max_batch_size": 512}')  # two partitions' 256-row chunks share a batch
        operators = ", ".join(tensorwire.sparkml.operators(exported.onnx_model))
        print(f"model: Spark MLP [64, 64, 10] -> {exported.path} ({operators})", flush=True)
        server, address = start_server(args.server_bin, repository, os.path.join(work, "server.log"))
        onnx_path = exported.path

        def tensorwire_run(method, chunk_rows):
            return lambda: tensorwire.spark.predict(table, model="digits_mlp", server=address, input_cols=FEATURES,
                                                    chunk_rows=chunk_rows, method=method)

        def onnxruntime_batches(batches):
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1  # local[2] runs two of these side by side
            session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
            for batch in batches:
                prediction, probability = session.run(None, {"features": batch[FEATURES].to_numpy(np.float32)})
                yield batch, prediction.reshape(-1), list(probability)

        def onnxruntime_map_in_pandas():
            import pandas as pd
            from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType
            schema = StructType(table.schema.fields + [StructField("prediction", LongType()),
                                                       StructField("probability", ArrayType(FloatType(), False))])

            def score(batches):
                for batch, prediction, probability in onnxruntime_batches(batches):
                    yield pd.concat([batch.reset_index(drop=True), pd.DataFrame({
                        "prediction": prediction, "probability": probability})], axis=1)

            return table.mapInPandas(score, schema)

        def onnxruntime_udf():
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

        def sparkml_run():
            return model.transform(table).drop("features")

        methods = {"tensorwire": tensorwire_run("mapInPandas", args.chunk_rows),
                   "onnxruntime": onnxruntime_map_in_pandas, "sparkml": sparkml_run,
                   "tensorwire-1024": tensorwire_run("mapInPandas", 1024),
                   "tensorwire-udf": tensorwire_run("udf", args.chunk_rows), "onnxruntime-udf": onnxruntime_udf}
        # One untimed pass each: JIT, Python workers and the connection warm up.
        for build in methods.values():
            build().limit(5000).write.format("noop").mode("overwrite").save()

        rows_out = []
        for round_number in range(1, args.rounds + 1):
            for name, build in methods.items():
                me = os.getpid()
                server_pid = server.pid
                before_client = tree_cpu(me, {server_pid})
                before_server = tree_cpu(server_pid, set())
                started = time.perf_counter()
                build().write.format("noop").mode("overwrite").save()
                seconds = time.perf_counter() - started
                client_cpu = cpu_delta(before_client, tree_cpu(me, {server_pid}))
                server_cpu = cpu_delta(before_server, tree_cpu(server_pid, set()))
                row = {"method": name, "round": round_number, "rows": args.rows, "seconds": round(seconds, 3),
                       "rows_per_s": round(args.rows / seconds), "client_cpu_s": round(client_cpu, 2),
                       "server_cpu_s": round(server_cpu, 2), "load1": os.getloadavg()[0]}
                rows_out.append(row)
                print(f"round {round_number} {name:22s} {seconds:7.2f} s  {row['rows_per_s']:>9,} rows/s  "
                      f"client CPU {client_cpu:6.1f} s  server CPU {server_cpu:5.1f} s  load {row['load1']:.1f}",
                      flush=True)

        def median(name, key):
            values = sorted(r[key] for r in rows_out if r["method"] == name)
            return values[len(values) // 2]

        tw = median("tensorwire", "rows_per_s")
        print(f"median rows/s: tensorwire {tw:,}  onnxruntime UDF {median('onnxruntime', 'rows_per_s'):,}  "
              f"Spark ML transform {median('sparkml', 'rows_per_s'):,}")
        print(f"ratios: tensorwire / onnxruntime UDF {tw / median('onnxruntime', 'rows_per_s'):.2f}x, "
              f"tensorwire / Spark ML transform {tw / median('sparkml', 'rows_per_s'):.2f}x")
        udf_like = median("tensorwire-udf", "rows_per_s") / median("onnxruntime-udf", "rows_per_s")
        wide = median("tensorwire-1024", "rows_per_s") / median("onnxruntime", "rows_per_s")
        print(f"tensorwire with 1024-row chunks / onnxruntime UDF {wide:.2f}x; both in an iterator pandas UDF "
              f"{udf_like:.2f}x")
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

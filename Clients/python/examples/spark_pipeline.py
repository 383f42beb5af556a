#!/usr/bin/env python3
"""Train a Spark ML pipeline, export it to ONNX, serve it with Tensorwire, and score a Parquet data set through it.

    .venv/bin/python Clients/python/examples/spark_pipeline.py [--rows 50000] [--workdir DIR] [--server-bin PATH]

1. Writes a synthetic data set (four sensor readings and a class 0-2) as Parquet: stand-in for your own table.
2. Trains VectorAssembler -> StandardScaler -> MultilayerPerceptronClassifier on it with Spark (local[2]).
3. Exports the fitted pipeline with `tensorwire.sparkml.export` into WORKDIR/models/sensors/1/model.onnx.
4. Starts tensorwire-server on that repository (--server-bin; by default the repository's debug build), or uses a
   server you started yourself on the same folder (--server HOST:PORT).
5. Reads the Parquet data back and scores every row with `tensorwire.spark.predict`, writes the scored table as
   Parquet, and checks it against Spark's own `transform` of the same pipeline.

Needs pyspark, pandas, pyarrow, onnxmltools (Tools/requirements.txt) and Java 17. Prints one line per step; exits
non-zero when Tensorwire's predictions differ from Spark's.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

import tensorwire
import tensorwire.spark
import tensorwire.sparkml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
COLUMNS = ["temperature", "pressure", "vibration", "current"]


def write_data_set(spark, path: str, rows: int) -> None:
    """Three classes of machines, each a cloud around its own mean reading."""
    rng = np.random.default_rng(42)
    label = rng.integers(0, 3, size=rows)
    means = np.array([[60.0, 1.0, 0.2, 10.0], [75.0, 1.4, 0.5, 12.0], [90.0, 0.8, 0.9, 15.0]])
    readings = means[label] + rng.normal(scale=[6.0, 0.15, 0.15, 1.5], size=(rows, 4))
    import pandas as pd
    frame = pd.DataFrame(readings, columns=COLUMNS)
    frame.insert(0, "machine", np.arange(rows))
    frame["label"] = label.astype(float)
    spark.createDataFrame(frame).repartition(4).write.mode("overwrite").parquet(path)


def train(spark, path: str):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import MultilayerPerceptronClassifier
    from pyspark.ml.feature import StandardScaler, VectorAssembler
    stages = [VectorAssembler(inputCols=COLUMNS, outputCol="raw"),
              StandardScaler(inputCol="raw", outputCol="features", withMean=True, withStd=True),
              MultilayerPerceptronClassifier(layers=[4, 16, 3], maxIter=60, seed=1, labelCol="label")]
    return Pipeline(stages=stages).fit(spark.read.parquet(path).limit(5000))


def start_server(binary: str, models: str, log_path: str):
    """Starts tensorwire-server on an ephemeral port (its log to a file, so it never blocks on a full pipe)."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen([binary, "--port", "0", "--models", models], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):  # the server logs where it listens once the models are loaded
        with open(log_path, encoding="utf-8", errors="replace") as f:
            found = re.search(r"listening on [^ ]*:(\d+)", f.read())
        if found:
            return process, f"127.0.0.1:{found.group(1)}"
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{binary} did not start; its log: {log_path}")


def main(argv=None, spark=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--workdir", default=None, help="where the data, model and results go (default: a temp dir)")
    parser.add_argument("--server-bin", default=os.environ.get(
        "TENSORWIRE_SERVER_BIN", os.path.join(ROOT, ".build", "debug", "tensorwire-server")))
    parser.add_argument("--server", default=None, help="use this running server (serving WORKDIR/models)")
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="tensorwire-spark-example-")
    own_session = spark is None
    if own_session:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master("local[2]").appName("tensorwire-example")
                 .config("spark.ui.enabled", "false").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
    server = None
    try:
        data = os.path.join(workdir, "sensors.parquet")
        write_data_set(spark, data, args.rows)
        print(f"data: {args.rows} rows -> {data}")

        started = time.monotonic()
        pipeline = train(spark, data)
        print(f"train: VectorAssembler -> StandardScaler -> MLP [4, 16, 3] in {time.monotonic() - started:.1f} s")

        exported = tensorwire.sparkml.export(pipeline, spark=spark, name="sensors",
                                             repository=os.path.join(workdir, "models"))
        print(f"export: {exported.path} (inputs from {exported.input_cols}, outputs {exported.outputs})")

        address = args.server
        if address is None:
            server, address = start_server(args.server_bin, os.path.join(workdir, "models"),
                                           os.path.join(workdir, "server.log"))
        with tensorwire.Client(address) as client:
            print(f"serve: {address} {client.health()}, model sensors "
                  f"{tensorwire.pb.ModelState.Name(client.get_model('sensors').state)}")

        started = time.monotonic()
        table = spark.read.parquet(data)
        scored = tensorwire.spark.predict(table, model="sensors", server=address, input_cols=exported.input_cols,
                                          output_cols={"prediction": "predicted_class"})
        out = os.path.join(workdir, "scored.parquet")
        scored.write.mode("overwrite").parquet(out)
        print(f"score: {args.rows} rows through Tensorwire in {time.monotonic() - started:.1f} s -> {out}")

        ours = spark.read.parquet(out).select("machine", "label", "predicted_class").toPandas()
        theirs = pipeline.transform(table).select("machine", "prediction").toPandas()
        merged = ours.merge(theirs, on="machine")
        agree = float((merged["predicted_class"] == merged["prediction"]).mean())
        accuracy = float((merged["predicted_class"] == merged["label"]).mean())
        print(f"check: {len(merged)} rows, accuracy {accuracy:.3f}, same class as Spark's transform: {agree:.4f}")
        return 0 if len(merged) == args.rows and agree == 1.0 else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if own_session:
            spark.stop()


if __name__ == "__main__":
    sys.exit(main())

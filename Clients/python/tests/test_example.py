"""Clients/python/examples/spark_pipeline.py end to end (train, export, serve, score Parquet, compare with
Spark's transform), in the test session's SparkSession."""
from __future__ import annotations

import importlib.util
import os

from conftest import HERE, SERVER_BIN


def test_spark_pipeline_example(spark, workdir, capsys):
    path = os.path.join(HERE, "..", "examples", "spark_pipeline.py")
    spec = importlib.util.spec_from_file_location("spark_pipeline", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = os.path.join(workdir, "example")
    assert example.main(["--rows", "5000", "--workdir", out, "--server-bin", SERVER_BIN], spark=spark) == 0
    printed = capsys.readouterr().out
    assert "same class as Spark's transform: 1.0000" in printed, printed
    assert os.path.isdir(os.path.join(out, "scored.parquet"))

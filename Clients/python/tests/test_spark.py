"""tensorwire.spark.predict on Spark local[2] against a live server: 200k rows equal onnxruntime in order, a
dropped connection mid-partition, several servers, vector and array columns, renamed outputs, argument errors; every
method (mapInArrow, the default; the iterator Arrow UDF; mapInPandas; the iterator pandas UDF) where they differ, and
the Arrow methods against the pandas ones."""
from __future__ import annotations

import numpy as np
import pytest

import tensorwire
import tensorwire.spark
from conftest import DIGITS_ONNX, free_port, onnxruntime_session
from proxy import DroppingProxy

FEATURES = [f"f{j}" for j in range(64)]


def features_of(ids: np.ndarray) -> np.ndarray:
    """The pixels the DataFrame below computes for each id, in numpy (0..16 like the digits data)."""
    j = np.arange(64)
    return ((ids[:, None] * (j + 3) + j * 7) % 17).astype(np.float32)


def frame(spark, rows: int, partitions: int):
    from pyspark.sql import functions as F
    ids = spark.range(0, rows, numPartitions=partitions)
    return ids.select("id", *[((F.col("id") * (j + 3) + j * 7) % 17).cast("float").alias(f"f{j}") for j in range(64)])


@pytest.fixture(scope="module")
def ort():
    return onnxruntime_session(DIGITS_ONNX)


def assert_scored(result, ort, rows: int, label="label", probabilities="probabilities"):
    """`result` (a pandas frame of id + outputs) holds every id once, in order, with onnxruntime's answers."""
    ids = result["id"].to_numpy()
    np.testing.assert_array_equal(ids, np.arange(rows))
    want_label, want_probabilities = ort.run(None, {"X": features_of(ids)})
    got = np.stack(result[probabilities].to_numpy())
    np.testing.assert_allclose(got, want_probabilities, rtol=1e-5, atol=1e-6)
    # A label may differ only where two classes tie to float32 precision.
    top2 = np.sort(want_probabilities, axis=1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > 1e-5
    np.testing.assert_array_equal(result[label].to_numpy()[decided], want_label[decided])


def test_200k_rows_equal_onnxruntime_in_order(spark, server, ort):
    rows = 200_000
    scored = tensorwire.spark.predict(frame(spark, rows, 4), model="digits", server=server.address,
                                      input_cols=FEATURES)
    assert scored.columns == ["id"] + FEATURES + ["label", "probabilities"]
    assert scored.schema["probabilities"].dataType.simpleString() == "array<float>"
    assert scored.schema["label"].dataType.simpleString() == "bigint"
    assert_scored(scored.select("id", "label", "probabilities").toPandas(), ort, rows)


@pytest.mark.parametrize("method", tensorwire.spark.METHODS)
def test_a_dropped_connection_mid_partition_is_retried(spark, server, ort, method):
    rows = 20_000
    proxy = DroppingProxy(server.port, drop_after=400_000)  # about 6 chunks of 256 rows into a partition
    try:
        scored = tensorwire.spark.predict(frame(spark, rows, 2), model="digits", server=proxy.address,
                                          input_cols=FEATURES, chunk_rows=256, max_in_flight=4, method=method)
        result = scored.select("id", "label", "probabilities").toPandas()
        assert proxy.dropped == 1
    finally:
        proxy.close()
    assert_scored(result, ort, rows)


def test_several_servers_one_of_them_down(spark, server, ort):
    rows = 3_000
    dead = f"127.0.0.1:{free_port()}"
    scored = tensorwire.spark.predict(frame(spark, rows, 3), model="digits", server=[server.address, dead],
                                      input_cols=FEATURES, chunk_rows=100)
    assert_scored(scored.select("id", "label", "probabilities").toPandas(), ort, rows)


@pytest.mark.parametrize("method", tensorwire.spark.METHODS)
def test_vector_column_kept_and_outputs_renamed(spark, server, ort, method):
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.linalg import DenseVector
    rows = 1_000
    assembled = VectorAssembler(inputCols=FEATURES, outputCol="features").transform(frame(spark, rows, 2))
    assembled = assembled.select("id", "features")
    scored = tensorwire.spark.predict(assembled, model="digits", server=server.address, vector_col="features",
                                      output_cols={"label": "digit"}, chunk_rows=64, method=method)
    assert scored.columns == ["id", "features", "digit", "probabilities"]
    result = scored.toPandas()
    assert isinstance(result["features"][0], DenseVector)  # the vector column passes through as a vector
    np.testing.assert_array_equal(np.stack([v.toArray() for v in result["features"]]),
                                  features_of(np.arange(rows)))
    assert_scored(result, ort, rows, label="digit")


def test_empty_partitions_and_a_chunk_larger_than_the_data(spark, server, ort):
    rows = 10
    scored = tensorwire.spark.predict(frame(spark, rows, 6).repartition(8).sortWithinPartitions("id"),
                                      model="digits", server=server.address, input_cols=FEATURES, chunk_rows=1000,
                                      outputs=["probabilities"])
    result = scored.select("id", "probabilities").toPandas().sort_values("id").reset_index(drop=True)
    want = ort.run(None, {"X": features_of(np.arange(rows))})[1]
    np.testing.assert_allclose(np.stack(result["probabilities"].to_numpy()), want, rtol=1e-5, atol=1e-6)


def test_argument_errors(spark, server):
    df = frame(spark, 10, 1)
    with pytest.raises(ValueError, match="exactly one"):
        tensorwire.spark.predict(df, model="digits", server=server.address, input_cols=FEATURES, vector_col="f0")
    with pytest.raises(ValueError, match="already exist"):
        tensorwire.spark.predict(df.withColumnRenamed("id", "label"), model="digits", server=server.address,
                                 input_cols=FEATURES)
    with pytest.raises(ValueError, match="no output"):
        tensorwire.spark.predict(df, model="digits", server=server.address, input_cols=FEATURES, outputs=["nope"])
    with pytest.raises(ValueError, match="method is one of"):
        tensorwire.spark.predict(df, model="digits", server=server.address, input_cols=FEATURES, method="rdd")
    with pytest.raises(tensorwire.NotFoundError):
        tensorwire.spark.predict(df, model="nope", server=server.address, input_cols=FEATURES)


@pytest.mark.parametrize("mixed", [False, True], ids=["one-type", "mixed-types"])
def test_arrow_methods_equal_the_pandas_methods(spark, server, ort, mixed):
    """mapInArrow and arrow_udf give what mapInPandas and udf give: the same schema (names, types, nullability),
    every column, every row, in order, with a partition cut into several Arrow batches and chunks that straddle them.
    Input columns of one type take mapInArrow's packed path; mixed types (f0 as double) do not. Probabilities agree
    to float32 rounding, not bit for bit: the server batches a request with whatever else is queued, and a row that
    runs alone takes the engine's one-row (GEMV) path, whose sums round differently from the batched GEMM's (about
    1e-6 relative, seen once in CI); ids, features and every label the probabilities decide are compared exactly."""
    from pyspark.sql import functions as F
    rows = 5_000
    df = frame(spark, rows, 3)
    if mixed:
        df = df.withColumn("f0", F.col("f0").cast("double"))
    df = df.withColumn("f5", F.when(F.col("id") % 7 == 0, None).otherwise(F.col("f5")))  # nulls pass through
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "700")
    try:
        scored = {method: tensorwire.spark.predict(df, model="digits", server=server.address, input_cols=FEATURES,
                                                   chunk_rows=256, method=method)
                  for method in tensorwire.spark.METHODS}
        results = {method: frame_.toPandas() for method, frame_ in scored.items()}
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert not df.schema["id"].nullable and df.schema["f5"].nullable
    for method, frame_ in scored.items():
        assert frame_.schema.fields[:len(df.schema.fields)] == df.schema.fields, method
    reference = results["mapInPandas"]
    assert reference["f5"].isna().sum() == len(range(0, rows, 7))
    reference_probabilities = np.stack(reference["probabilities"].to_numpy())
    scored_rows = ~np.isnan(reference_probabilities).any(axis=1)
    top2 = np.sort(reference_probabilities[scored_rows], axis=1)[:, -2:]
    decided = np.zeros(rows, dtype=bool)
    decided[scored_rows] = (top2[:, 1] - top2[:, 0]) > 1e-5
    for method, result in results.items():
        assert list(result.columns) == ["id"] + FEATURES + ["label", "probabilities"], method
        for column in ["id"] + FEATURES:
            np.testing.assert_array_equal(result[column].to_numpy(), reference[column].to_numpy(), err_msg=method)
        np.testing.assert_array_equal(result["label"].isna().to_numpy(), reference["label"].isna().to_numpy(),
                                      err_msg=method)
        np.testing.assert_array_equal(result["label"].to_numpy()[decided], reference["label"].to_numpy()[decided],
                                      err_msg=method)
        probabilities = np.stack(result["probabilities"].to_numpy())
        np.testing.assert_array_equal(np.isnan(probabilities), np.isnan(reference_probabilities), err_msg=method)
        np.testing.assert_allclose(probabilities, reference_probabilities, rtol=1e-5, atol=1e-9, equal_nan=True,
                                   err_msg=method)


@pytest.mark.parametrize("method", ["mapInArrow", "arrow_udf"])
def test_arrow_methods_scalar_and_array_inputs(spark, server, ort, method):
    """On the Arrow methods: an array<double> column feeds the model (converted to its float32 input) and passes
    through unchanged, and a string column with nulls passes through as it was."""
    from pyspark.sql import functions as F
    rows = 2_000
    df = frame(spark, rows, 2).select("id", F.array(*[F.col(f).cast("double") for f in FEATURES]).alias("pixels"),
                                      F.when(F.col("id") % 3 == 0, None).otherwise(F.col("id").cast("string"))
                                      .alias("note"))
    scored = tensorwire.spark.predict(df, model="digits", server=server.address, vector_col="pixels",
                                      chunk_rows=300, method=method)
    assert scored.columns == ["id", "pixels", "note", "label", "probabilities"]
    result = scored.toPandas()
    assert result["note"][0] is None and result["note"][1] == "1"
    np.testing.assert_array_equal(np.stack(result["pixels"].to_numpy()), features_of(np.arange(rows)))
    assert_scored(result, ort, rows)

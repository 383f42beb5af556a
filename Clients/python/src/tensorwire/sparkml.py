"""Spark ML pipelines to ONNX for Tensorwire: `tensorwire.sparkml.export(pipeline_model, ...)`.

onnxmltools' `convert_sparkml` does the conversion; this module supplies what it cannot guess (the input types) and
writes the file where a model repository wants it. Two layouts:

- `assembler="client"` (the default): a leading `VectorAssembler` stage is left out of the ONNX graph and the model
  takes one [N, k] FLOAT32 input (named as the assembler's output column); `tensorwire.spark.predict(df, input_cols=assembler_columns)`
  stacks the same columns in the same order on the client. One tensor per request instead of k, and no Concat.
- `assembler="model"`: the whole pipeline is converted; the model has one [N, 1] input per assembled column (named
  as the column) and the graph concatenates them; `input_cols` then feeds each input from its column.

Needs `onnxmltools` and `onnx` (the `sparkml` extra). Opset 15 is the newest onnxmltools' Spark converters write.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

__all__ = ["export", "ExportedModel", "TARGET_OPSET"]

TARGET_OPSET = 15


@dataclass(frozen=True)
class ExportedModel:
    """An exported pipeline: the ONNX model, the DataFrame columns to feed it (`input_cols` of
    `tensorwire.spark.predict`), its output names, and the file written (when a repository was given)."""

    onnx_model: Any
    input_cols: List[str]
    outputs: List[str]
    path: Optional[str]


def export(pipeline_model: Any, *, spark: Any = None, name: str = "model", assembler: str = "client",
           num_features: Optional[int] = None, repository: Optional[str] = None, version: int = 1,
           target_opset: int = TARGET_OPSET) -> ExportedModel:
    """Converts a fitted `PipelineModel` (or one fitted model taking a vector column) to ONNX.

    `spark`: the active SparkSession by default (tree converters read the model's saved data through it).
    `num_features`: the vector size when the pipeline does not start with a VectorAssembler. With `repository`,
    writes `repository/name/version/model.onnx` and returns its path in the result.
    """
    from onnxmltools import convert_sparkml
    from onnxmltools.convert.common.data_types import FloatTensorType
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession

    if assembler not in ("client", "model"):
        raise ValueError("assembler is 'client' or 'model'")
    spark = spark or SparkSession.getActiveSession()
    stages = list(pipeline_model.stages) if isinstance(pipeline_model, PipelineModel) else [pipeline_model]
    # convert_sparkml matches each initial type to the stage input column of the same name.
    if stages and isinstance(stages[0], VectorAssembler):
        columns = list(stages[0].getInputCols())
        if assembler == "client":
            vector = stages[0].getOutputCol()
            stages = stages[1:]
            initial_types = [(vector, FloatTensorType([None, len(columns)]))]
        else:
            initial_types = [(column, FloatTensorType([None, 1])) for column in columns]
    else:
        if num_features is None:
            raise ValueError("the pipeline does not start with a VectorAssembler: give num_features")
        first = stages[0]
        vector = first.getFeaturesCol() if hasattr(first, "getFeaturesCol") else first.getInputCol()
        columns = [vector]
        initial_types = [(vector, FloatTensorType([None, num_features]))]
    model = PipelineModel(stages=stages) if len(stages) != 1 else stages[0]
    onnx_model = convert_sparkml(model, name, initial_types, spark_session=spark, target_opset=target_opset)
    if not any(opset.domain in ("", "ai.onnx") for opset in onnx_model.opset_import):
        # A graph of ai.onnx.ml operators only (a linear model after a Scaler) imports no default-domain opset;
        # ONNX allows that, but the engine wants one to know the opset it compiles for. Declaring it changes nothing.
        onnx_model.opset_import.add(domain="", version=target_opset)
    path = None
    if repository is not None:
        directory = os.path.join(repository, name, str(version))
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "model.onnx")
        with open(path, "wb") as f:
            f.write(onnx_model.SerializeToString())
    return ExportedModel(onnx_model, columns, [o.name for o in onnx_model.graph.output], path)


def operators(onnx_model: Any) -> Sequence[str]:
    """The distinct operators of a model's graph as `domain:op_type` (`ai.onnx` for the default domain)."""
    return sorted({f"{node.domain or 'ai.onnx'}:{node.op_type}" for node in onnx_model.graph.node})

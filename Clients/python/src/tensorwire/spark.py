"""Batch scoring of Spark DataFrames through Tensorwire: `tensorwire.spark.predict(df, model=..., server=...)`.

Runs in `DataFrame.mapInArrow` (or, with method="arrow_udf", "mapInPandas" or "udf", in an iterator Arrow UDF,
`mapInPandas` or an iterator pandas UDF), called once per partition with the partition's Arrow batches: each
partition opens one PredictStream (to one of the servers, chosen round-robin by partition), cuts its Arrow batches
into chunks of `chunk_rows` rows, keeps at most `max_in_flight` chunks unanswered, and appends the outputs to each
batch in order. The server's batcher merges the chunks of every partition of every executor into full batches. A
stream that fails with UNAVAILABLE (a dropped connection, a restarted server) is reopened, on the next server when
there are several, and the unanswered chunks are sent again, so a partition's result is complete, exact and in
order; any other failure fails the Spark task (and Spark's own task retry applies). The result keeps the input's
rows in the input's order.

Works the same in local mode and on a cluster: executors need this package (with grpcio, protobuf, numpy,
pyarrow, and pandas for the pandas methods) and a route to the servers; TLS files are read on the driver and
shipped with the task.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Callable, Deque, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .client import TLS, Client, _tls_settings
from .retry import NO_RETRY, RetryPolicy
from .tensors import numpy_dtype
from .v1 import inference_pb2 as pb

__all__ = ["predict", "ScoringPlan"]

DEFAULT_CHUNK_ROWS = 256  # the batcher merges chunks from every partition; 1024 saves grpcio CPU: docs/python.md
DEFAULT_MAX_IN_FLIGHT = 4
METHODS = ("mapInArrow", "arrow_udf", "mapInPandas", "udf")


@dataclass(frozen=True)
class _Input:
    """One model input and the DataFrame columns that fill it."""

    name: str
    columns: Tuple[str, ...]
    dtype: str  # numpy dtype string ("<f4", "object")
    stacked: bool  # several scalar columns side by side ([N, k]), or one column as it is
    array_column: bool  # the column holds arrays (array<...> or a vector converted to one)
    trailing: Tuple[int, ...]  # the shape after the batch dimension the model wants, when known ((1,) or ())


@dataclass(frozen=True)
class _Output:
    """One model output and the column it becomes."""

    name: str
    column: str
    dtype: str  # numpy dtype string of the values as Spark takes them (float16 widened to float32, ...)
    scalar: bool  # [N] or [N, 1]: one value per row; otherwise an array per row (flattened past the batch)


@dataclass(frozen=True)
class ScoringPlan:
    """Everything a partition needs to score its rows: plain values, so Spark pickles it into each task."""

    model: str
    version: str
    targets: Tuple[str, ...]
    tls: Optional[TLS]
    api_key: Optional[str]
    retry: RetryPolicy
    timeout: Optional[float]
    chunk_rows: int
    max_in_flight: int
    inputs: Tuple[_Input, ...]
    outputs: Tuple[_Output, ...]
    udt_columns: Tuple[Tuple[str, Any], ...] = field(default=())


def predict(df: Any, *, model: str, server: Union[str, Sequence[str]], input_cols: Optional[Sequence[str]] = None,
            vector_col: Optional[str] = None, output_cols: Union[None, Sequence[str], Mapping[str, str]] = None,
            outputs: Optional[Sequence[str]] = None, version: str = "", chunk_rows: int = DEFAULT_CHUNK_ROWS,
            max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, tls: Union[None, bool, str, TLS] = None,
            api_key: Optional[str] = None, retry: Optional[RetryPolicy] = RetryPolicy(),
            timeout: Optional[float] = None, method: str = "mapInArrow") -> Any:
    """Scores every row of `df` with `model` on Tensorwire and returns `df`'s columns plus one column per output.

    Inputs, one of:
      - `input_cols=[...]`: numeric columns. For a model with one input they are stacked into its [N, k] tensor
        in the order given; for a model with several inputs named like the columns (Spark ML exports have one
        input per assembled column), each column feeds the input of its name.
      - `vector_col="features"`: a Spark ML vector column (or an array column) feeding the model's one input.
    Outputs: every output of the model (or those named in `outputs`), each in a column named as the output, or as
    `output_cols` says (a list in the outputs' order, or {output: column}). [N] and [N, 1] outputs are scalar
    columns; [N, k] outputs are array columns (array<float> for FLOAT32).

    `server`: "host:port" or a list of them (partitions spread round-robin, a retry moves to the next).
    `chunk_rows` rows per request (default 256); `max_in_flight` requests unanswered per partition (default 4).
    `tls`, `api_key`, `retry`, `timeout` (per partition's stream, seconds) are as for `tensorwire.Client`. The
    model's signature is read once on the driver with GetModel.

    `method`: how Spark runs each partition's stream (one stream per partition in every case):
      - "mapInArrow" (default): `DataFrame.mapInArrow`. Every column travels to Python as Arrow and back; the
        inputs are read from the Arrow columns with numpy, the outputs built as Arrow arrays, and the other columns
        returned untouched: no pandas and no Python object per row.
      - "arrow_udf": an iterator Arrow UDF (Spark 4.1+): only the input columns go to Python and only the outputs
        come back (pass-through columns, vectors included, stay in the JVM, which holds the rows to zip them with
        the answers).
      - "mapInPandas" and "udf": the same two shapes through pandas (`mapInPandas`, an iterator pandas UDF).
    """
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, StructField, StructType, UserDefinedType

    if (input_cols is None) == (vector_col is None):
        raise ValueError("give exactly one of input_cols=[...] and vector_col=...")
    if method not in METHODS:
        raise ValueError(f"method is one of {list(METHODS)}")
    if chunk_rows < 1 or max_in_flight < 1:
        raise ValueError("chunk_rows and max_in_flight must be at least 1")
    targets = (server,) if isinstance(server, str) else tuple(server)
    tls_settings = _shippable(_tls_settings(tls))
    retry = retry or NO_RETRY
    with Client(list(targets), tls=tls_settings, api_key=api_key, retry=retry) as client:
        info = client.get_model(model)

    columns = {f.name: f.dataType for f in df.schema.fields}
    prepared = df
    sources: List[Tuple[str, Any]] = []  # (name in the pandas batch, the column expression) of every input
    if vector_col is not None:
        if vector_col not in columns:
            raise ValueError(f"vector_col {vector_col!r} is not a column of the DataFrame")
        spec = _single_input(info, model)
        source = vector_col
        if isinstance(columns[vector_col], VectorUDT):
            # Arrow cannot carry a vector; its values as array<float/double> can. Added as a hidden column.
            source = _hidden_name(columns, "features")
            element = "float32" if spec.dtype == pb.DATA_TYPE_FLOAT32 else "float64"
            prepared = prepared.withColumn(source, vector_to_array(F.col(vector_col), element))
            sources.append((source, vector_to_array(F.col(vector_col), element)))
        elif not isinstance(columns[vector_col], ArrayType):
            raise ValueError(f"vector_col {vector_col!r} is {columns[vector_col].simpleString()}, not a vector "
                             "or an array column")
        else:
            sources.append((source, F.col(vector_col)))
        plan_inputs: List[_Input] = [_Input(spec.name, (source,), numpy_dtype(spec.dtype).str, False, True, ())]
    else:
        plan_inputs = _inputs_from_columns(info, model, list(input_cols or ()), columns)
        sources = [(c, F.col(c)) for spec in plan_inputs for c in spec.columns]

    wanted = list(outputs) if outputs else [o.name for o in info.outputs]
    specs = {o.name: o for o in info.outputs}
    unknown = [name for name in wanted if name not in specs]
    if unknown:
        raise ValueError(f"model {model!r} has no output {unknown}; its outputs: {list(specs)}")
    names = _output_columns(wanted, output_cols)
    clash = [c for c in names.values() if c in columns]
    if clash:
        raise ValueError(f"output columns {clash} already exist in the DataFrame; rename them with output_cols")
    plan_outputs = tuple(
        _Output(name, names[name], _SPARK_NUMPY.get(specs[name].dtype, numpy_dtype(specs[name].dtype)).str,
                all(d == 1 for d in specs[name].shape[1:]))
        for name in wanted)

    output_fields = [StructField(o.column, _spark_type(specs[o.name], o.scalar), True) for o in plan_outputs]
    udts = tuple((f.name, f.dataType) for f in df.schema.fields if isinstance(f.dataType, UserDefinedType))
    plan = ScoringPlan(model=model, version=version, targets=targets, tls=tls_settings, api_key=api_key, retry=retry,
                       timeout=timeout, chunk_rows=chunk_rows, max_in_flight=max_in_flight,
                       inputs=tuple(plan_inputs), outputs=plan_outputs,
                       udt_columns=udts if method == "mapInPandas" else ())
    if method == "udf":
        return _predict_with_udf(df, plan, sources, StructType(output_fields))
    if method == "arrow_udf":
        if not hasattr(F, "arrow_udf"):
            raise ValueError("method='arrow_udf' needs Spark 4.1 or later; use 'mapInArrow'")
        return _predict_with_arrow_udf(df, plan, sources, StructType(output_fields))
    if method == "mapInArrow":
        packed = _packed(df, plan, output_fields)
        if packed is not None:
            return packed
        positions = [i for i, f in enumerate(prepared.schema.fields) if f.name in columns]

        def score_arrow(batches: Iterator[Any]) -> Iterator[Any]:
            yield from score_arrow_partition(plan, batches, _partition(), positions)

        return prepared.mapInArrow(score_arrow, StructType(list(df.schema.fields) + output_fields))
    keep = [f.name for f in df.schema.fields]

    def score(batches: Iterator[Any]) -> Iterator[Any]:
        yield from score_partition(plan, batches, _partition(), keep)

    return prepared.mapInPandas(score, StructType(list(df.schema.fields) + output_fields))


def _partition() -> int:
    from pyspark import TaskContext
    context = TaskContext.get()
    return context.partitionId() if context is not None else 0


def _predict_with_udf(df: Any, plan: ScoringPlan, sources: List[Tuple[str, Any]], outputs: Any) -> Any:
    """The "udf" method: an iterator pandas UDF (called once per partition with its Arrow batches) receives the
    input columns and returns the outputs as one struct column, which is then spread into columns. It is marked
    nondeterministic so that Spark evaluates it once, not once per extracted field."""
    import pandas as pd
    from pyspark.sql import functions as F

    names = [name for name, _ in sources]

    def score(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.DataFrame]:
        frames = (pd.DataFrame(dict(zip(names, (item,) if isinstance(item, pd.Series) else item)))
                  for item in batches)
        yield from score_partition(plan, frames, _partition(), [])

    # Spark picks the UDF's kind from its type hints, evaluated ones (this module's annotations are strings).
    score.__annotations__ = {"batches": Iterator[Tuple[pd.Series, ...]], "return": Iterator[pd.DataFrame]}
    udf = F.pandas_udf(score, returnType=outputs).asNondeterministic()  # type: ignore[call-overload]
    struct = _hidden_name({f.name: None for f in df.schema.fields}, "outputs")
    scored = df.withColumn(struct, udf(*[column for _, column in sources]))
    return scored.select(*[F.col(f"`{f.name}`") for f in df.schema.fields],
                         *[F.col(struct)[field.name].alias(field.name) for field in outputs.fields])


def _packed(df: Any, plan: ScoringPlan, output_fields: List[Any]) -> Any:
    """The "mapInArrow" method when the model's one input stacks k columns of one type: they travel to Python packed
    into one array column and are unpacked after, in the JVM. Spark then writes three columns to Arrow instead of
    k + 2 (Spark 4 walks every Arrow column after every row to check the batch's size; that walk was a fifth of the
    JVM's CPU for 66 columns) and the model's matrix is a view of the array's values. Unpacking keeps each column's
    name, type, nullability and values. None when the inputs are not shaped so."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType
    if len(plan.inputs) != 1 or not plan.inputs[0].stacked or len(plan.inputs[0].columns) < 2:
        return None
    spec = plan.inputs[0]
    fields = {f.name: f for f in df.schema.fields}
    kind = fields[spec.columns[0]].dataType
    if any(fields[c].dataType != kind for c in spec.columns):
        return None
    hidden = _hidden_name(fields, "inputs")
    index: Dict[str, int] = {}
    for i, name in enumerate(spec.columns):
        index.setdefault(name, i)
    prepared = df.select(*[F.col(f"`{f.name}`") for f in df.schema.fields if f.name not in index],
                         F.array(*[F.col(f"`{c}`") for c in spec.columns]).alias(hidden))
    packed_plan = replace(plan, inputs=(_Input(spec.name, (hidden,), spec.dtype, False, True, ()),))
    keep = list(range(len(prepared.schema.fields)))

    def score(batches: Iterator[Any]) -> Iterator[Any]:
        yield from score_arrow_partition(packed_plan, batches, _partition(), keep)

    def unpacked(field: Any) -> Any:
        element = F.col(hidden)[index[field.name]]
        # An array element is nullable to Spark; a column that was not gets its flag back (the zero never shows).
        return (element if field.nullable else F.coalesce(element, F.lit(0).cast(kind))).alias(field.name)

    scored = prepared.mapInArrow(score, StructType(list(prepared.schema.fields) + output_fields))
    return scored.select(*[unpacked(f) if f.name in index else F.col(f"`{f.name}`") for f in df.schema.fields],
                         *[F.col(f"`{o.column}`") for o in plan.outputs])


def _predict_with_arrow_udf(df: Any, plan: ScoringPlan, sources: List[Tuple[str, Any]], outputs: Any) -> Any:
    """The "arrow_udf" method: as "udf", with an iterator Arrow UDF (Spark 4.1+): the input columns come as Arrow
    arrays and the outputs go back as one struct array, with no pandas on either side."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    names = [name for name, _ in sources]

    def score(batches: Iterator[Tuple[pa.Array, ...]]) -> Iterator[pa.Array]:
        records = (pa.RecordBatch.from_arrays(list(item) if isinstance(item, tuple) else [item], names=names)
                   for item in batches)
        yield from score_arrow_partition(plan, records, _partition(), None)

    score.__annotations__ = {"batches": Iterator[Tuple[pa.Array, ...]], "return": Iterator[pa.Array]}
    udf = F.arrow_udf(score, returnType=outputs).asNondeterministic()  # type: ignore[attr-defined]
    struct = _hidden_name({f.name: None for f in df.schema.fields}, "outputs")
    scored = df.withColumn(struct, udf(*[column for _, column in sources]))
    return scored.select(*[F.col(f"`{f.name}`") for f in df.schema.fields],
                         *[F.col(struct)[field.name].alias(field.name) for field in outputs.fields])


def score_partition(plan: ScoringPlan, batches: Iterator[Any], partition: int, keep: Sequence[str]) -> Iterator[Any]:
    """Scores one partition's pandas batches in order (what each Spark task of the pandas methods runs): yields each
    batch's `keep` columns with the output columns appended."""
    for batch, answers in _answered_batches(plan, batches, partition, len, partial(_input_tensors, plan)):
        yield _with_outputs(plan, batch, answers, keep)


def score_arrow_partition(plan: ScoringPlan, batches: Iterator[Any], partition: int,
                          keep: Optional[Sequence[int]]) -> Iterator[Any]:
    """Scores one partition's Arrow record batches in order, without pandas (what each Spark task of the Arrow
    methods runs): yields for each batch a record batch of its `keep` columns (by position, passed through
    untouched) followed by the output columns, or, with `keep` None, a struct array of the outputs alone (what an
    Arrow UDF returns)."""
    import pyarrow as pa
    names = [out.column for out in plan.outputs]
    for batch, answers in _answered_batches(plan, batches, partition, lambda b: b.num_rows,
                                            partial(_arrow_input_tensors, plan)):
        outputs = [_arrow_output(out, [answer[out.name] for answer in answers], batch.num_rows)
                   for out in plan.outputs]
        if keep is None:
            yield pa.StructArray.from_arrays(outputs, names=names)
        else:
            yield pa.RecordBatch.from_arrays([batch.column(i) for i in keep] + outputs,
                                             names=[batch.schema.names[i] for i in keep] + names)


def _answered_batches(plan: ScoringPlan, batches: Iterator[Any], partition: int, rows_of: Callable[[Any], int],
                      tensors_of: Callable[[Any], Dict[str, np.ndarray]]
                      ) -> Iterator[Tuple[Any, List[Dict[str, np.ndarray]]]]:
    """Streams one partition's batches through one PredictStream in chunks of `chunk_rows` rows; yields each batch
    with its chunks' answers, in order, as soon as its last chunk is answered."""
    first = partition % len(plan.targets)
    targets = list(plan.targets[first:] + plan.targets[:first])  # partitions spread over the servers
    waiting: Deque[Tuple[Any, int, List[Dict[str, np.ndarray]]]] = collections.deque()  # (batch, chunks, answers)

    def chunks() -> Iterator[Dict[str, np.ndarray]]:
        for batch in batches:
            rows = rows_of(batch)
            waiting.append((batch, -(-rows // plan.chunk_rows), []))
            if rows == 0:
                continue
            tensors = tensors_of(batch)
            for start in range(0, rows, plan.chunk_rows):
                yield {name: array[start:start + plan.chunk_rows] for name, array in tensors.items()}

    def finished() -> Iterator[Tuple[Any, List[Dict[str, np.ndarray]]]]:
        while waiting and len(waiting[0][2]) == waiting[0][1]:
            batch, _, answers = waiting.popleft()
            yield batch, answers

    with Client(targets, tls=plan.tls, api_key=plan.api_key, retry=plan.retry) as client:
        stream = client.predict_stream(plan.model, chunks(), outputs=[o.name for o in plan.outputs],
                                       version=plan.version, max_in_flight=plan.max_in_flight, timeout=plan.timeout)
        for answer in stream:
            # Chunks are answered in order: the answer belongs to the first batch still missing some (past the
            # front only when empty batches wait there).
            owner = 0
            while len(waiting[owner][2]) == waiting[owner][1]:
                owner += 1
            waiting[owner][2].append(answer)
            yield from finished()
        yield from finished()  # empty batches at the end


def _arrow_input_tensors(plan: ScoringPlan, batch: Any) -> Dict[str, np.ndarray]:
    """The model's input tensors from an Arrow record batch: stacked numeric columns are copied once into the
    [rows, k] matrix, array columns of equal lengths are viewed as [rows, k], scalar columns used as they are."""
    tensors = {}
    for spec in plan.inputs:
        dtype = np.dtype(spec.dtype)
        rows = batch.num_rows
        if spec.stacked:
            array = np.empty((rows, len(spec.columns)), dtype)
            for j, name in enumerate(spec.columns):
                array[:, j] = _arrow_numpy(batch.column(batch.schema.get_field_index(name)))
        elif spec.array_column:
            column = batch.column(batch.schema.get_field_index(spec.columns[0]))
            array = _arrow_matrix(spec.columns[0], column).astype(dtype, copy=False)
        else:
            array = _arrow_numpy(batch.column(batch.schema.get_field_index(spec.columns[0])))
            array = array.astype(dtype, copy=False).reshape((rows,) + spec.trailing)
        tensors[spec.name] = array
    return tensors


def _arrow_numpy(column: Any) -> np.ndarray:
    """An Arrow column as numpy (a view when it has no nulls and a fixed width; nulls become NaN, as in pandas)."""
    return column.to_numpy(zero_copy_only=False)


def _arrow_matrix(name: str, column: Any) -> np.ndarray:
    """A list column whose rows all have the same length k as a [rows, k] array (a view of the values)."""
    import pyarrow as pa
    rows = len(column)
    if column.null_count:
        raise ValueError(f"input column {name!r} has null rows")
    offsets = column.offsets.to_numpy()
    lengths = np.diff(offsets)
    width = int(lengths[0]) if rows else 0
    if rows and (lengths != width).any():
        raise ValueError(f"input column {name!r} holds arrays of different lengths ({lengths.min()}..{lengths.max()})")
    values = column.values.slice(int(offsets[0]), rows * width) if rows else pa.array([], column.type.value_type)
    return _arrow_numpy(values).reshape(rows, width)


def _arrow_output(out: _Output, parts: List[np.ndarray], rows: int) -> Any:
    """One output column of a batch as an Arrow array: scalars as they are, [rows, k] as a list array over the
    values (offsets computed, values not copied again)."""
    import pyarrow as pa
    dtype = np.dtype(out.dtype)
    array = np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros((0,), dtype)
    element = pa.string() if dtype == object else pa.from_numpy_dtype(dtype)
    if out.scalar:
        return pa.array(array.reshape(rows), type=element)
    if rows == 0:
        return pa.array([], type=_arrow_list_type(element))
    flat = array.reshape(rows, -1)
    offsets = np.arange(rows + 1, dtype=np.int64) * flat.shape[1]
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError(f"output {out.name!r}: {offsets[-1]} values in one Arrow batch; lower "
                         "spark.sql.execution.arrow.maxRecordsPerBatch")
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat.reshape(-1), type=element),
                                    type=_arrow_list_type(element))


def _arrow_list_type(element: Any) -> Any:
    """The Arrow type Spark gives array<element> with containsNull=false."""
    import pyarrow as pa
    return pa.list_(pa.field("element", element, nullable=False))


def _input_tensors(plan: ScoringPlan, batch: Any) -> Dict[str, np.ndarray]:
    tensors = {}
    for spec in plan.inputs:
        dtype = np.dtype(spec.dtype)
        if spec.stacked:
            array = batch[list(spec.columns)].to_numpy(dtype=dtype)
        elif spec.array_column:
            values = batch[spec.columns[0]].to_numpy()
            array = np.stack(values).astype(dtype, copy=False) if len(values) else np.zeros((0, 0), dtype)
        else:
            array = batch[spec.columns[0]].to_numpy(dtype=dtype)
            array = array.reshape((len(array),) + spec.trailing)
        tensors[spec.name] = array
    return tensors


def _with_outputs(plan: ScoringPlan, batch: Any, answers: List[Dict[str, np.ndarray]], keep: Sequence[str]) -> Any:
    import pandas as pd
    # Selecting columns copies them: skip it unless a hidden input column has to go.
    result = batch if list(batch.columns) == list(keep) else batch[list(keep)]
    if plan.udt_columns:
        result = result.copy()
        for name, udt in plan.udt_columns:
            # mapInPandas hands a user-defined type (a Spark ML vector) over as a dict of its SQL fields but takes
            # only the Python object back: rebuild it (row by row; only DataFrames with such a column pay).
            result[name] = [None if v is None else udt.deserialize(tuple(v.values())) for v in result[name]]
    columns: Dict[str, Any] = {}
    rows = len(batch)
    for out in plan.outputs:
        parts = [answer[out.name] for answer in answers]
        array = np.concatenate(parts).astype(out.dtype, copy=False) if parts else np.zeros((0,), np.dtype(out.dtype))
        if out.scalar:
            columns[out.column] = array.reshape(rows)
        else:
            columns[out.column] = list(array.reshape(rows, -1))
    return pd.concat([result.reset_index(drop=True), pd.DataFrame(columns)], axis=1)


def _single_input(info: pb.ModelInfo, model: str) -> pb.TensorSpec:
    if len(info.inputs) != 1:
        raise ValueError(f"model {model!r} has {len(info.inputs)} inputs ({[i.name for i in info.inputs]}); "
                         "vector_col feeds a model with one input: use input_cols named as its inputs")
    return info.inputs[0]


def _inputs_from_columns(info: pb.ModelInfo, model: str, cols: List[str], columns: Dict[str, Any]) -> List[_Input]:
    from pyspark.sql.types import ArrayType, NumericType, StringType
    missing = [c for c in cols if c not in columns]
    if not cols or missing:
        raise ValueError(f"input_cols must name columns of the DataFrame (missing: {missing})")
    by_name = {spec.name: spec for spec in info.inputs}
    if len(info.inputs) > 1 or (len(cols) == 1 and cols[0] in by_name and len(info.inputs[0].shape) <= 2
                                and list(info.inputs[0].shape[1:]) in ([], [1])):
        absent = [spec.name for spec in info.inputs if spec.name not in cols]
        extra = [c for c in cols if c not in by_name]
        if absent or extra:
            raise ValueError(f"model {model!r} has inputs {list(by_name)}: input_cols must name one column per input "
                             f"(without a column: {absent}; not an input: {extra})")
        plan = []
        for name in cols:
            spec = by_name[name]
            kind = columns[name]
            if isinstance(kind, ArrayType):
                plan.append(_Input(name, (name,), numpy_dtype(spec.dtype).str, False, True, ()))
            elif isinstance(kind, (NumericType, StringType)):
                trailing = (1,) if list(spec.shape[1:]) == [1] else ()
                plan.append(_Input(name, (name,), numpy_dtype(spec.dtype).str, False, False, trailing))
            else:
                raise ValueError(f"input column {name!r} is {kind.simpleString()}: not numeric, string or array")
        return plan
    spec = info.inputs[0]
    not_numeric = [c for c in cols if not isinstance(columns[c], NumericType)]
    if not_numeric:
        raise ValueError(f"input_cols {not_numeric} are not numeric: stacking needs numeric columns")
    return [_Input(spec.name, tuple(cols), numpy_dtype(spec.dtype).str, True, False, ())]


def _output_columns(wanted: List[str], output_cols: Union[None, Sequence[str], Mapping[str, str]]) -> Dict[str, str]:
    if output_cols is None:
        return {name: name for name in wanted}
    if isinstance(output_cols, Mapping):
        unknown = [k for k in output_cols if k not in wanted]
        if unknown:
            raise ValueError(f"output_cols renames {unknown}, which are not among the outputs {wanted}")
        return {name: output_cols.get(name, name) for name in wanted}
    if len(output_cols) != len(wanted):
        raise ValueError(f"output_cols has {len(output_cols)} names for the outputs {wanted}")
    return dict(zip(wanted, output_cols))


# Output dtypes Spark has no type of the same width for: widened on the way out.
_SPARK_NUMPY = {pb.DATA_TYPE_FLOAT16: np.dtype("<f4"), pb.DATA_TYPE_UINT8: np.dtype("<i2"),
                pb.DATA_TYPE_UINT16: np.dtype("<i4"), pb.DATA_TYPE_UINT32: np.dtype("<i8")}


def _spark_type(spec: pb.TensorSpec, scalar: bool) -> Any:
    from pyspark.sql import types as T
    element = {
        pb.DATA_TYPE_FLOAT32: T.FloatType(), pb.DATA_TYPE_FLOAT64: T.DoubleType(), pb.DATA_TYPE_INT32: T.IntegerType(),
        pb.DATA_TYPE_INT64: T.LongType(), pb.DATA_TYPE_BOOL: T.BooleanType(), pb.DATA_TYPE_STRING: T.StringType(),
        pb.DATA_TYPE_INT8: T.ByteType(), pb.DATA_TYPE_UINT8: T.ShortType(), pb.DATA_TYPE_INT16: T.ShortType(),
        pb.DATA_TYPE_UINT16: T.IntegerType(), pb.DATA_TYPE_UINT32: T.LongType(),
        pb.DATA_TYPE_FLOAT16: T.FloatType(),
    }.get(spec.dtype)
    if element is None:
        raise ValueError(f"output {spec.name!r} has DataType {spec.dtype}, which has no Spark type")
    return element if scalar else T.ArrayType(element, containsNull=False)


def _hidden_name(columns: Mapping[str, Any], stem: str) -> str:
    name = f"__tensorwire_{stem}"
    while name in columns:
        name += "_"
    return name


def _shippable(tls: Optional[TLS]) -> Optional[TLS]:
    """TLS settings with the files read into bytes, so executors need no copy of them."""
    if tls is None:
        return None
    from .client import _pem
    return TLS(ca=_pem(tls.ca), cert=_pem(tls.cert), key=_pem(tls.key), server_name=tls.server_name)

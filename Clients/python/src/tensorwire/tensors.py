"""numpy arrays to and from `tensorwire.v1.Tensor` messages.

Numeric arrays travel in `raw_data` (little-endian, row-major): building the request copies the array's bytes once
(protobuf needs a `bytes` object), and a response tensor in `raw_data` becomes a read-only array over the message's
bytes without another copy. Typed fields (`float_data`, ...) are what the server answers with today; they convert
through numpy's buffer path. Strings travel in `string_data` and come back as object arrays of `str`.
"""
from __future__ import annotations

from typing import Dict, Mapping

import numpy as np

from .v1 import inference_pb2 as pb

__all__ = ["to_tensor", "from_tensor", "numpy_dtype", "DTYPES"]

# numpy dtype (little-endian) <-> DataType. BOOL's raw form is one byte per element, as numpy stores it.
DTYPES: Dict[int, np.dtype] = {
    pb.DATA_TYPE_FLOAT32: np.dtype("<f4"),
    pb.DATA_TYPE_FLOAT64: np.dtype("<f8"),
    pb.DATA_TYPE_INT32: np.dtype("<i4"),
    pb.DATA_TYPE_INT64: np.dtype("<i8"),
    pb.DATA_TYPE_BOOL: np.dtype("?"),
    pb.DATA_TYPE_UINT8: np.dtype("u1"),
    pb.DATA_TYPE_INT8: np.dtype("i1"),
    pb.DATA_TYPE_UINT16: np.dtype("<u2"),
    pb.DATA_TYPE_INT16: np.dtype("<i2"),
    pb.DATA_TYPE_UINT32: np.dtype("<u4"),
    pb.DATA_TYPE_UINT64: np.dtype("<u8"),
    pb.DATA_TYPE_FLOAT16: np.dtype("<f2"),
}
_BY_KIND = {(dtype.kind, dtype.itemsize): data_type for data_type, dtype in DTYPES.items()}

# The typed field that carries each DataType (proto comments: int32_data also carries the 8- and 16-bit integers,
# uint64_data the unsigned 32- and 64-bit ones). FLOAT16 has no typed field: it travels in raw_data only.
_TYPED_FIELD = {
    pb.DATA_TYPE_FLOAT32: "float_data",
    pb.DATA_TYPE_FLOAT64: "double_data",
    pb.DATA_TYPE_INT32: "int32_data",
    pb.DATA_TYPE_INT64: "int64_data",
    pb.DATA_TYPE_BOOL: "bool_data",
    pb.DATA_TYPE_UINT8: "int32_data",
    pb.DATA_TYPE_INT8: "int32_data",
    pb.DATA_TYPE_UINT16: "int32_data",
    pb.DATA_TYPE_INT16: "int32_data",
    pb.DATA_TYPE_UINT32: "uint64_data",
    pb.DATA_TYPE_UINT64: "uint64_data",
}
_UNSPECIFIED_ORDER = ["float_data", "double_data", "int64_data", "int32_data", "uint64_data", "bool_data"]
_FIELD_DTYPE = {"float_data": np.float32, "double_data": np.float64, "int64_data": np.int64, "int32_data": np.int32,
                "uint64_data": np.uint64, "bool_data": np.bool_}


def numpy_dtype(data_type: int) -> np.dtype:
    """The numpy dtype of a `DataType` (object for strings); ValueError for UNSPECIFIED or an unknown number."""
    if data_type == pb.DATA_TYPE_STRING:
        return np.dtype(object)
    try:
        return DTYPES[data_type]
    except KeyError:
        raise ValueError(f"no numpy dtype for DataType {data_type}") from None


def to_tensor(name: str, value: object) -> pb.Tensor:
    """A Tensor named `name` holding `value` (anything `numpy.asarray` takes): numbers in raw_data, strings in
    string_data. Raises TypeError for dtypes the API has no DataType for (complex, datetime, ...)."""
    array = np.asarray(value)
    if array.dtype.kind in "USO":
        strings = [s.decode() if isinstance(s, bytes) else str(s) for s in array.reshape(-1).tolist()]
        return pb.Tensor(name=name, dtype=pb.DATA_TYPE_STRING, shape=array.shape, string_data=strings)
    data_type = _BY_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if data_type is None:
        raise TypeError(f"input {name!r}: numpy dtype {array.dtype} has no tensorwire DataType")
    # One copy into the bytes protobuf wants; converting byte order (big-endian input) is folded into it.
    wire = np.ascontiguousarray(array, dtype=DTYPES[data_type])
    return pb.Tensor(name=name, dtype=data_type, shape=array.shape, raw_data=wire.tobytes())


def from_tensor(tensor: pb.Tensor) -> np.ndarray:
    """The array a response Tensor holds, shaped as it says. A raw_data tensor gives a read-only array sharing the
    message's bytes (copy it to write to it); typed fields give a fresh array of the tensor's dtype."""
    shape = tuple(tensor.shape)
    if tensor.dtype == pb.DATA_TYPE_STRING or (tensor.dtype == pb.DATA_TYPE_UNSPECIFIED and len(tensor.string_data)):
        return np.array(list(tensor.string_data), dtype=object).reshape(shape)
    if tensor.raw_data:
        return np.frombuffer(tensor.raw_data, dtype=numpy_dtype(tensor.dtype)).reshape(shape)
    if tensor.dtype == pb.DATA_TYPE_UNSPECIFIED:
        field = next((f for f in _UNSPECIFIED_ORDER if len(getattr(tensor, f))), "float_data")
        return np.array(getattr(tensor, field), dtype=_FIELD_DTYPE[field]).reshape(shape)
    field = _TYPED_FIELD.get(tensor.dtype)
    if field is None:
        raise ValueError(f"output {tensor.name!r}: DataType {tensor.dtype} has no typed field and raw_data is empty")
    values = np.array(getattr(tensor, field), dtype=_FIELD_DTYPE[field])
    return values.astype(DTYPES[tensor.dtype], copy=False).reshape(shape)


def outputs_to_numpy(response: pb.PredictResponse) -> Dict[str, np.ndarray]:
    """Every output of a response, by name."""
    return {tensor.name: from_tensor(tensor) for tensor in response.outputs}


def inputs_to_tensors(inputs: Mapping[str, object]) -> list:
    """The request tensors of an {input name: array} mapping, in the mapping's order."""
    if not isinstance(inputs, Mapping):
        raise TypeError(f"inputs must map input names to arrays, not {type(inputs).__name__}")
    return [to_tensor(name, value) for name, value in inputs.items()]

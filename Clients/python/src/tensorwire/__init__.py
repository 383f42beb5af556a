"""Tensorwire's Python client: numpy arrays in and out of a Tensorwire model server over gRPC.

    import numpy as np, tensorwire
    with tensorwire.Client("localhost:50051") as client:
        print(client.health())                                   # "SERVING"
        out = client.predict("digits", {"X": np.zeros((4, 64), np.float32)})
        print(out["label"], out["probabilities"].shape)          # [..] (4, 10)

`Client` (blocking, thread-safe) and `AsyncClient` (asyncio) have the same calls: `predict`, `predict_stream`,
`list_models`, `get_model`, `health`. Failures raise `TensorwireError` subclasses with the gRPC `code` and the
server's `message`; UNAVAILABLE is retried as `RetryPolicy` says. `tensorwire.spark.predict` scores a Spark
DataFrame through a server; `tensorwire.sparkml.export` writes a fitted Spark ML pipeline as an ONNX model.
"""
from .aio import AsyncClient
from .client import TLS, Client, Inputs, Outputs
from .errors import (DeadlineExceededError, InvalidArgumentError, NotFoundError, PermissionDeniedError,
                     ResourceExhaustedError, TensorwireError, UnauthenticatedError, UnavailableError)
from .retry import NO_RETRY, RetryPolicy
from .v1 import inference_pb2 as pb

__version__ = "0.1.0"

__all__ = [
    "Client", "AsyncClient", "TLS", "RetryPolicy", "NO_RETRY", "Inputs", "Outputs", "pb",
    "TensorwireError", "InvalidArgumentError", "NotFoundError", "UnauthenticatedError", "PermissionDeniedError",
    "ResourceExhaustedError", "UnavailableError", "DeadlineExceededError",
]

"""Exceptions raised by the Tensorwire clients: one class per gRPC status code that a caller may want to catch."""
from __future__ import annotations

from typing import Dict, Optional, Type

import grpc

__all__ = [
    "TensorwireError",
    "InvalidArgumentError",
    "NotFoundError",
    "UnauthenticatedError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnavailableError",
    "DeadlineExceededError",
    "error_from_rpc",
    "error_from_code",
]


class TensorwireError(Exception):
    """A failed call: the gRPC status `code` (a `grpc.StatusCode`) and the server's `message`.

    Subclasses name the codes callers commonly handle; any other code raises `TensorwireError` itself. `attempts`
    says how many times the call was tried (more than one when it was retried before failing).
    """

    def __init__(self, code: grpc.StatusCode, message: str, *, attempts: int = 1) -> None:
        super().__init__(f"{code.name}: {message}" if message else code.name)
        self.code = code
        self.message = message
        self.attempts = attempts


class InvalidArgumentError(TensorwireError):
    """INVALID_ARGUMENT: a tensor's name, shape or dtype does not match the model (the message names it)."""


class NotFoundError(TensorwireError):
    """NOT_FOUND: no such model or version."""


class UnauthenticatedError(TensorwireError):
    """UNAUTHENTICATED: no API key, or the key is unknown or expired."""


class PermissionDeniedError(TensorwireError):
    """PERMISSION_DENIED: the key lacks the scope the call needs (the message names it)."""


class ResourceExhaustedError(TensorwireError):
    """RESOURCE_EXHAUSTED: a server limit (queue size, message size); the message names the flag that raises it."""


class UnavailableError(TensorwireError):
    """UNAVAILABLE: the server could not be reached (after the retries), is draining, or the model failed to load."""


class DeadlineExceededError(TensorwireError):
    """DEADLINE_EXCEEDED: the call's timeout passed."""


_BY_CODE: Dict[grpc.StatusCode, Type[TensorwireError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}
_BY_NUMBER: Dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


def error_from_code(code: grpc.StatusCode, message: str, *, attempts: int = 1) -> TensorwireError:
    """The exception for `code`: its subclass where there is one, `TensorwireError` otherwise."""
    return _BY_CODE.get(code, TensorwireError)(code, message, attempts=attempts)


def error_from_rpc(error: grpc.RpcError, *, attempts: int = 1) -> TensorwireError:
    """The exception for a grpcio failure (sync `grpc.RpcError` or `grpc.aio.AioRpcError`)."""
    code: Optional[grpc.StatusCode] = error.code() if hasattr(error, "code") else None  # type: ignore[attr-defined]
    details: Optional[str] = error.details() if hasattr(error, "details") else None  # type: ignore[attr-defined]
    return error_from_code(code or grpc.StatusCode.UNKNOWN, details or "", attempts=attempts)


def status_code_from_number(number: int) -> grpc.StatusCode:
    """The `grpc.StatusCode` of a google.rpc.Code number (a PredictStream in-band error); UNKNOWN if not one."""
    return _BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)

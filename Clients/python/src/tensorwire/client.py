"""The blocking client (`tensorwire.Client`) and what it shares with the asyncio one: TLS settings, channel options,
metadata, request building and the answers' conversion to numpy."""
from __future__ import annotations

import collections
import itertools
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import (Any, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union)

import grpc
import numpy as np

from . import health as _health
from .errors import TensorwireError, error_from_code, error_from_rpc, status_code_from_number
from .retry import NO_RETRY, RetryPolicy, RetryState
from .tensors import inputs_to_tensors, outputs_to_numpy
from .v1 import inference_pb2 as pb

__all__ = ["Client", "TLS", "Inputs", "Outputs", "DEFAULT_OPTIONS"]

Inputs = Mapping[str, Any]
"""A request's tensors: input name -> anything `numpy.asarray` takes (the first dimension is the batch)."""
Outputs = Dict[str, np.ndarray]
"""A response's tensors: output name -> array."""

_SERVICE = "/tensorwire.v1.Inference/"
_MIB = 1024 * 1024

DEFAULT_OPTIONS: Tuple[Tuple[str, Any], ...] = (
    # The server's default --max-receive-message-bytes; grpcio's own 4 MiB would refuse a 16k-row answer.
    ("grpc.max_send_message_length", 64 * _MIB),
    ("grpc.max_receive_message_length", 64 * _MIB),
    # Reconnect soon after a restart: grpcio's default first wait is 1 s, longer than most retry schedules.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)
"""Channel options every client sets (yours, given as `options=`, are applied after these and win)."""


@dataclass(frozen=True)
class TLS:
    """TLS settings of a client. Each of `ca`, `cert` and `key` is a PEM file path (str or os.PathLike) or the PEM
    bytes themselves.

    `ca`: the roots that must have signed the server's certificate (None: the system's roots). `cert` and `key`: a
    client certificate for mutual TLS (`tensorwire-server --tls-client-ca`). `server_name`: the name the server's
    certificate must cover when it differs from the address's host (an IP address, a tunnel).
    """

    ca: Optional[Union[str, bytes, os.PathLike]] = None
    cert: Optional[Union[str, bytes, os.PathLike]] = None
    key: Optional[Union[str, bytes, os.PathLike]] = None
    server_name: Optional[str] = None

    def credentials(self) -> grpc.ChannelCredentials:
        """grpcio's credentials for these settings (reads the files)."""
        if (self.cert is None) != (self.key is None):
            raise ValueError("TLS: give both cert and key (mutual TLS) or neither")
        return grpc.ssl_channel_credentials(root_certificates=_pem(self.ca), private_key=_pem(self.key),
                                            certificate_chain=_pem(self.cert))


def _pem(value: Any) -> Optional[bytes]:
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as f:
        return f.read()



def _tls_settings(tls: Union[None, bool, str, os.PathLike, TLS]) -> Optional[TLS]:
    if tls is None or tls is False:
        return None
    if tls is True:
        return TLS()
    if isinstance(tls, TLS):
        return tls
    return TLS(ca=tls)


class _ClientCore:
    """What the blocking and asyncio clients share: targets, credentials, options, metadata, timeouts, retries, and
    the round-robin choice of a target for each try."""

    def __init__(self, address: Union[str, Sequence[str]], *, tls: Any, api_key: Optional[str],
                 timeout: Optional[float], retry: Optional[RetryPolicy],
                 metadata: Iterable[Tuple[str, str]], options: Iterable[Tuple[str, Any]]) -> None:
        targets = [address] if isinstance(address, str) else list(address)
        if not targets or not all(isinstance(t, str) and t for t in targets):
            raise ValueError("address must be 'host:port' or a non-empty list of them")
        self.targets: List[str] = targets
        self.tls = _tls_settings(tls)
        extra = list(metadata)
        if api_key is not None:
            extra.append(("authorization", f"Bearer {api_key}"))
        self.metadata: Tuple[Tuple[str, str], ...] = tuple(extra)
        channel_options = list(DEFAULT_OPTIONS)
        if self.tls is not None and self.tls.server_name:
            channel_options.append(("grpc.ssl_target_name_override", self.tls.server_name))
        channel_options.extend(options)
        self.options = channel_options
        self.timeout = timeout
        self.retry = retry or NO_RETRY
        self._turn = itertools.count()
        self._turn_lock = threading.Lock()

    def next_index(self) -> int:
        """The target for the next try: round-robin, so a retry goes to the next address."""
        with self._turn_lock:
            return next(self._turn) % len(self.targets)

    def retry_state(self, timeout: Optional[float], *, may_reach_model: bool) -> RetryState:
        deadline = None if timeout is None else time.monotonic() + timeout
        return RetryState(self.retry, deadline=deadline, may_reach_model=may_reach_model, clock=time.monotonic)

    def call_timeout(self, timeout: Any) -> Optional[float]:
        return self.timeout if timeout is _DEFAULT else timeout


_DEFAULT: Any = object()


def predict_request(model: str, inputs: Inputs, *, version: str = "", outputs: Sequence[str] = (),
                    request_id: str = "") -> pb.PredictRequest:
    """The PredictRequest for `inputs` (numeric arrays in raw_data)."""
    return pb.PredictRequest(model=model, version=version, inputs=inputs_to_tensors(inputs), outputs=list(outputs),
                             id=request_id)


def check_stream_response(response: pb.PredictResponse, request: pb.PredictRequest) -> Outputs:
    """The outputs of one PredictStream answer; raises its in-band error, or when it answers another request."""
    if response.HasField("error"):
        raise error_from_code(status_code_from_number(response.error.code), response.error.message)
    if response.id != request.id:
        raise TensorwireError(grpc.StatusCode.INTERNAL,
                              f"PredictStream answered request {response.id!r} where {request.id!r} was due")
    return outputs_to_numpy(response)


class Client:
    """A blocking client of one Tensorwire server, or of several spread round-robin (`address` as a list).

    Safe to share between threads (grpcio channels are). Every call converts failures to `TensorwireError`
    subclasses carrying the gRPC code and the server's message, and retries UNAVAILABLE as `retry` says (by default
    up to 5 tries, exponential backoff with full jitter, within the call's timeout). Close it (or use `with`) to
    release the connections.

        with tensorwire.Client("localhost:50051") as client:
            out = client.predict("digits", {"X": np.zeros((2, 64), np.float32)})
            out["probabilities"].shape  # (2, 10)

    `tls`: None (plaintext), True (system roots), a CA file path, or a `TLS`. `api_key`: sent as
    `authorization: Bearer <key>` on every call. `timeout`: default seconds for unary calls (None: no deadline).
    `retry`: a `RetryPolicy` (None or `NO_RETRY`: one try).
    `metadata`: extra (key, value) pairs for every call. `options`: extra grpcio channel options.
    """

    def __init__(self, address: Union[str, Sequence[str]], *, tls: Union[None, bool, str, TLS] = None,
                 api_key: Optional[str] = None, timeout: Optional[float] = 30.0,
                 retry: Optional[RetryPolicy] = RetryPolicy(), metadata: Iterable[Tuple[str, str]] = (),
                 options: Iterable[Tuple[str, Any]] = ()) -> None:
        self._core = _ClientCore(address, tls=tls, api_key=api_key, timeout=timeout, retry=retry,
                                 metadata=metadata, options=options)
        self._channels = [self._open(target) for target in self._core.targets]
        self._methods = [_Methods(channel) for channel in self._channels]

    def _open(self, target: str) -> grpc.Channel:
        if self._core.tls is None:
            return grpc.insecure_channel(target, options=self._core.options)
        return grpc.secure_channel(target, self._core.tls.credentials(), options=self._core.options)

    @property
    def targets(self) -> List[str]:
        """The addresses this client spreads its calls over."""
        return list(self._core.targets)

    def close(self) -> None:
        """Closes every connection; calls in flight fail with CANCELLED."""
        for channel in self._channels:
            channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unary(self, method: str, request: Any, timeout: Optional[float], *, may_reach_model: bool) -> Any:
        state = self._core.retry_state(timeout, may_reach_model=may_reach_model)
        while True:
            stub = getattr(self._methods[self._core.next_index()], method)
            try:
                return stub(request, timeout=state.remaining(), metadata=self._core.metadata)
            except grpc.RpcError as error:
                delay = state.next_delay(error.code())
                if delay is None:
                    raise error_from_rpc(error, attempts=state.attempts) from None
                time.sleep(delay)

    def predict(self, model: str, inputs: Inputs, *, outputs: Sequence[str] = (), version: str = "",
                timeout: Optional[float] = _DEFAULT, request_id: str = "") -> Outputs:
        """Runs `model` on `inputs` ({input name: array}, batch first) and returns {output name: array}.

        `outputs` restricts the answer to those names; `version` picks one (default: the model's default version);
        `timeout` overrides the client's (seconds, retries included). Numeric inputs travel in raw_data; outputs that
        come back in raw_data are read-only arrays over the response's bytes.
        """
        request = predict_request(model, inputs, version=version, outputs=outputs, request_id=request_id)
        response = self._unary("predict", request, self._core.call_timeout(timeout), may_reach_model=True)
        return outputs_to_numpy(response)

    def predict_response(self, request: pb.PredictRequest, *,
                         timeout: Optional[float] = _DEFAULT) -> pb.PredictResponse:
        """Sends a prepared PredictRequest and returns the whole PredictResponse (batch facts included)."""
        return self._unary("predict", request, self._core.call_timeout(timeout), may_reach_model=True)

    def list_models(self, *, timeout: Optional[float] = _DEFAULT) -> List[pb.ModelInfo]:
        """Every model of the server's repository: versions, state, signature, batching settings."""
        response = self._unary("list_models", pb.ListModelsRequest(), self._core.call_timeout(timeout),
                               may_reach_model=False)
        return list(response.models)

    def get_model(self, model: str, *, timeout: Optional[float] = _DEFAULT) -> pb.ModelInfo:
        """One model's description: `inputs` and `outputs` (TensorSpec: name, dtype, shape with -1 for dynamic
        dimensions), versions and their states, batching settings."""
        return self._unary("get_model", pb.GetModelRequest(model=model), self._core.call_timeout(timeout),
                           may_reach_model=False)

    def health(self, service: str = "", *, timeout: Optional[float] = _DEFAULT) -> str:
        """grpc.health.v1 Check: "SERVING", "NOT_SERVING" or "SERVICE_UNKNOWN" for `service` (a model name, a
        service name, or "" for the whole server). Health needs no API key."""
        response = self._unary("health", _health.request(service), self._core.call_timeout(timeout),
                               may_reach_model=False)
        return _health.status_name(response)

    def predict_stream(self, model: str, inputs: Iterable[Inputs], *, outputs: Sequence[str] = (),
                       version: str = "", max_in_flight: int = 8,
                       timeout: Optional[float] = None) -> Iterator[Outputs]:
        """Pipelines many requests over one PredictStream: yields each item's outputs in the order of `inputs`.

        At most `max_in_flight` requests are sent and not yet answered, so a slow consumer or a slow server bounds
        memory and the server batches requests from many streams together. When the stream fails with a retryable
        code (the connection dropped, the server restarted), a new stream (to the next address) resends the
        unanswered requests first: no item is lost, duplicated or reordered. An item the server refuses in-band
        raises its error. `timeout` is the whole stream's deadline (None: none). Stopping the iteration cancels the
        stream.
        """
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        state = self._core.retry_state(timeout, may_reach_model=True)
        source = iter(inputs)
        pending: Deque[pb.PredictRequest] = collections.deque()
        exhausted = False
        sequence = 0
        while True:
            sends: "queue.SimpleQueue[Optional[pb.PredictRequest]]" = queue.SimpleQueue()
            for request in pending:  # unanswered by the stream that failed: sent again, first, in order
                sends.put(request)
            closed = exhausted
            if closed:
                sends.put(None)
            stream = self._methods[self._core.next_index()].predict_stream
            call = stream(_drain(sends), timeout=state.remaining(), metadata=self._core.metadata)
            try:
                while True:
                    while not exhausted and len(pending) < max_in_flight:
                        try:
                            item = next(source)
                        except StopIteration:
                            exhausted = True
                            break
                        request = predict_request(model, item, version=version, outputs=outputs,
                                                  request_id=str(sequence))
                        sequence += 1
                        pending.append(request)
                        sends.put(request)
                    if exhausted and not closed:
                        sends.put(None)  # half-close: the server answers what it has, then ends the stream
                        closed = True
                    if not pending:
                        return
                    response = next(call, None)
                    if response is None:
                        code = call.code()
                        raise error_from_code(code if code is not None and code != grpc.StatusCode.OK
                                              else grpc.StatusCode.INTERNAL,
                                              call.details() or "PredictStream ended before answering every request",
                                              attempts=state.attempts)
                    answered = pending.popleft()
                    state.progress()
                    yield check_stream_response(response, answered)
            except grpc.RpcError as error:
                delay = state.next_delay(error.code())
                if delay is None:
                    raise error_from_rpc(error, attempts=state.attempts) from None
                time.sleep(delay)
            finally:
                sends.put(None)  # releases grpcio's request thread if it waits for more
                call.cancel()


def _drain(sends: "queue.SimpleQueue[Optional[pb.PredictRequest]]") -> Iterator[pb.PredictRequest]:
    """The request iterator grpcio's sending thread consumes: blocks for the next request; None ends it."""
    while True:
        request = sends.get()
        if request is None:
            return
        yield request


class _Methods:
    """The multi-callables of one channel (grpcio serialises through the generated message classes)."""

    def __init__(self, channel: Any) -> None:
        self.predict = channel.unary_unary(_SERVICE + "Predict", request_serializer=pb.PredictRequest.SerializeToString,
                                           response_deserializer=pb.PredictResponse.FromString)
        self.predict_stream = channel.stream_stream(_SERVICE + "PredictStream",
                                                    request_serializer=pb.PredictRequest.SerializeToString,
                                                    response_deserializer=pb.PredictResponse.FromString)
        self.list_models = channel.unary_unary(_SERVICE + "ListModels",
                                               request_serializer=pb.ListModelsRequest.SerializeToString,
                                               response_deserializer=pb.ListModelsResponse.FromString)
        self.get_model = channel.unary_unary(_SERVICE + "GetModel",
                                             request_serializer=pb.GetModelRequest.SerializeToString,
                                             response_deserializer=pb.ModelInfo.FromString)
        self.health = channel.unary_unary(_health.CHECK, request_serializer=_health.serialize,
                                          response_deserializer=_health.deserialize)

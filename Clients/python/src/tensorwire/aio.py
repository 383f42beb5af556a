"""The asyncio client (`tensorwire.AsyncClient`): the calls of `tensorwire.Client` as coroutines, on grpc.aio."""
from __future__ import annotations

import asyncio
import collections
from typing import Any, AsyncIterable, AsyncIterator, Deque, Iterable, List, Optional, Sequence, Tuple, Union

import grpc
import grpc.aio

from . import health as _health
from .client import (_DEFAULT, TLS, Inputs, Outputs, _ClientCore, _Methods, check_stream_response,
                     predict_request)
from .errors import error_from_code, error_from_rpc
from .retry import RetryPolicy
from .tensors import outputs_to_numpy
from .v1 import inference_pb2 as pb

__all__ = ["AsyncClient"]


class AsyncClient:
    """An asyncio client with the calls, arguments, errors and retries of `tensorwire.Client`.

    Create and use it inside one event loop (grpc.aio channels belong to the loop that made them); close it with
    `await client.close()` or `async with`.

        async with tensorwire.AsyncClient("localhost:50051") as client:
            out = await client.predict("digits", {"X": x})
            async for out in client.predict_stream("digits", rows):
                ...
    """

    def __init__(self, address: Union[str, Sequence[str]], *, tls: Union[None, bool, str, TLS] = None,
                 api_key: Optional[str] = None, timeout: Optional[float] = 30.0,
                 retry: Optional[RetryPolicy] = RetryPolicy(), metadata: Iterable[Tuple[str, str]] = (),
                 options: Iterable[Tuple[str, Any]] = ()) -> None:
        self._core = _ClientCore(address, tls=tls, api_key=api_key, timeout=timeout, retry=retry,
                                 metadata=metadata, options=options)
        self._channels = [self._open(target) for target in self._core.targets]
        self._methods = [_Methods(channel) for channel in self._channels]

    def _open(self, target: str) -> grpc.aio.Channel:
        if self._core.tls is None:
            return grpc.aio.insecure_channel(target, options=self._core.options)
        return grpc.aio.secure_channel(target, self._core.tls.credentials(), options=self._core.options)

    @property
    def targets(self) -> List[str]:
        """The addresses this client spreads its calls over."""
        return list(self._core.targets)

    async def close(self) -> None:
        """Closes every connection; calls in flight fail with CANCELLED."""
        for channel in self._channels:
            await channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _unary(self, method: str, request: Any, timeout: Optional[float], *, may_reach_model: bool) -> Any:
        state = self._core.retry_state(timeout, may_reach_model=may_reach_model)
        while True:
            stub = getattr(self._methods[self._core.next_index()], method)
            try:
                return await stub(request, timeout=state.remaining(), metadata=self._core.metadata)
            except grpc.aio.AioRpcError as error:
                delay = state.next_delay(error.code())
                if delay is None:
                    raise error_from_rpc(error, attempts=state.attempts) from None
                await asyncio.sleep(delay)

    async def predict(self, model: str, inputs: Inputs, *, outputs: Sequence[str] = (), version: str = "",
                      timeout: Optional[float] = _DEFAULT, request_id: str = "") -> Outputs:
        """As `Client.predict`: {input name: array} in, {output name: array} out."""
        request = predict_request(model, inputs, version=version, outputs=outputs, request_id=request_id)
        response = await self._unary("predict", request, self._core.call_timeout(timeout), may_reach_model=True)
        return outputs_to_numpy(response)

    async def predict_response(self, request: pb.PredictRequest, *,
                               timeout: Optional[float] = _DEFAULT) -> pb.PredictResponse:
        """As `Client.predict_response`: a prepared request in, the whole PredictResponse out."""
        return await self._unary("predict", request, self._core.call_timeout(timeout), may_reach_model=True)

    async def list_models(self, *, timeout: Optional[float] = _DEFAULT) -> List[pb.ModelInfo]:
        """As `Client.list_models`."""
        response = await self._unary("list_models", pb.ListModelsRequest(), self._core.call_timeout(timeout),
                                     may_reach_model=False)
        return list(response.models)

    async def get_model(self, model: str, *, timeout: Optional[float] = _DEFAULT) -> pb.ModelInfo:
        """As `Client.get_model`."""
        return await self._unary("get_model", pb.GetModelRequest(model=model), self._core.call_timeout(timeout),
                                 may_reach_model=False)

    async def health(self, service: str = "", *, timeout: Optional[float] = _DEFAULT) -> str:
        """As `Client.health`: "SERVING", "NOT_SERVING" or "SERVICE_UNKNOWN"."""
        response = await self._unary("health", _health.request(service), self._core.call_timeout(timeout),
                                     may_reach_model=False)
        return _health.status_name(response)

    async def predict_stream(self, model: str, inputs: Union[Iterable[Inputs], AsyncIterable[Inputs]], *,
                             outputs: Sequence[str] = (), version: str = "", max_in_flight: int = 8,
                             timeout: Optional[float] = None) -> AsyncIterator[Outputs]:
        """As `Client.predict_stream` (an async generator); `inputs` may be a sync or an async iterable."""
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        state = self._core.retry_state(timeout, may_reach_model=True)
        source = _aiter(inputs)
        pending: Deque[pb.PredictRequest] = collections.deque()
        exhausted = False
        sequence = 0
        while True:
            call = self._methods[self._core.next_index()].predict_stream(timeout=state.remaining(),
                                                                         metadata=self._core.metadata)
            try:
                for request in pending:  # unanswered by the stream that failed: sent again, first, in order
                    await call.write(request)
                closed = False
                while True:
                    while not exhausted and len(pending) < max_in_flight:
                        try:
                            item = await source.__anext__()
                        except StopAsyncIteration:
                            exhausted = True
                            break
                        request = predict_request(model, item, version=version, outputs=outputs,
                                                  request_id=str(sequence))
                        sequence += 1
                        pending.append(request)
                        await call.write(request)
                    if exhausted and not closed:
                        await call.done_writing()
                        closed = True
                    if not pending:
                        return
                    response = await call.read()
                    if response is grpc.aio.EOF:
                        code = await call.code()
                        raise error_from_code(code if code != grpc.StatusCode.OK else grpc.StatusCode.INTERNAL,
                                              await call.details() or "PredictStream ended early",
                                              attempts=state.attempts)
                    answered = pending.popleft()
                    state.progress()
                    yield check_stream_response(response, answered)
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as error:
                if isinstance(error, grpc.aio.AioRpcError):
                    code, details = _stream_code(error), error.details()
                else:  # a write after the call ended ("RPC already finished"): the call's status says why
                    code, details = await call.code(), await call.details()
                delay = state.next_delay(code)
                if delay is None:
                    raise error_from_code(code, details or "", attempts=state.attempts) from None
                await asyncio.sleep(delay)
            finally:
                call.cancel()


def _stream_code(error: grpc.aio.AioRpcError) -> grpc.StatusCode:
    """The status of a failed stream. grpc.aio reports a write on a connection that broke as INTERNAL "Internal
    error from Core" (debug string `Failed "execute_batch": (SendMessageOperation,)`) in place of the transport's
    UNAVAILABLE (grpc/grpc#36066; the sync API reports UNAVAILABLE): read it as UNAVAILABLE, so the retry policy
    decides as it does for the blocking client."""
    if error.code() == grpc.StatusCode.INTERNAL and "execute_batch" in (error.debug_error_string() or ""):
        return grpc.StatusCode.UNAVAILABLE
    return error.code()


async def _aiter(items: Union[Iterable[Inputs], AsyncIterable[Inputs]]) -> AsyncIterator[Inputs]:
    if hasattr(items, "__aiter__"):
        async for item in items:  # type: ignore[union-attr]
            yield item
    else:
        for item in items:  # type: ignore[union-attr]
            yield item

"""When to try a failed call again and how long to wait first (sans-I/O: a clock reading and a random source in,
a delay or "give up" out, so the sync and asyncio clients share it and tests drive it without sleeping).

The schedule is gRPC's retry policy (gRFC A6): retry n waits a uniform random time in
[0, min(initial_backoff * backoff_multiplier ** (n - 1), max_backoff)] ("full jitter", so callers that failed
together do not come back together), at most `max_attempts` tries in all, and never past the call's deadline: a
retry whose wait would end after the deadline is not made and the last error is raised instead.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, FrozenSet, Optional

import grpc

__all__ = ["RetryPolicy", "RetryState", "NO_RETRY"]


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries. Immutable; share one between clients.

    `retryable_codes` are the status codes worth another try (UNAVAILABLE: the server could not be reached, was
    restarting or draining). `idempotent` says whether a Predict may be retried after it may have reached the model:
    inference has no side effects, so it is True by default; with False, Predict and PredictStream are tried once
    (grpcio still replays a call that never left the client). ListModels, GetModel and health are always
    retried: they only read.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    backoff_multiplier: float = 2.0
    retryable_codes: FrozenSet[grpc.StatusCode] = field(
        default_factory=lambda: frozenset({grpc.StatusCode.UNAVAILABLE}))
    idempotent: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.backoff_multiplier < 1:
            raise ValueError("backoffs must be >= 0 and backoff_multiplier >= 1")

    def backoff_ceiling(self, retry: int) -> float:
        """The longest wait before retry number `retry` (1 for the first retry)."""
        return min(self.initial_backoff * self.backoff_multiplier ** (retry - 1), self.max_backoff)


NO_RETRY = RetryPolicy(max_attempts=1)
"""A policy that never retries."""


class RetryState:
    """The attempts of one call: `next_delay` is asked after each failure and answers the seconds to wait before the
    next try, or None to give up. `progress()` (a stream got a response) starts the count afresh, so a long stream
    survives any number of separate blips but not a server that stays down."""

    def __init__(self, policy: RetryPolicy, *, deadline: Optional[float], may_reach_model: bool,
                 clock: Callable[[], float], rng: Optional[random.Random] = None) -> None:
        self._policy = policy
        self._deadline = deadline
        self._retry_allowed = policy.idempotent or not may_reach_model
        self._clock = clock
        self._rng = rng or random.Random()
        self.attempts = 1  # tries made so far, in all
        self._failures_in_a_row = 0

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline (None: no deadline); never negative."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self._clock())

    def progress(self) -> None:
        """The call made progress: the next failure counts as the first again."""
        self._failures_in_a_row = 0

    def next_delay(self, code: grpc.StatusCode) -> Optional[float]:
        """After a failure with `code`: seconds to wait before trying again, or None to raise the failure."""
        if not self._retry_allowed or code not in self._policy.retryable_codes:
            return None
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= self._policy.max_attempts:
            return None
        delay = self._rng.uniform(0.0, self._policy.backoff_ceiling(self._failures_in_a_row))
        if self._deadline is not None and self._clock() + delay >= self._deadline:
            return None
        self.attempts += 1
        return delay

"""The package's pure parts, without a server: the tensor codec and the retry schedule (a fake clock and random
source, so nothing sleeps)."""
from __future__ import annotations

import random

import grpc
import numpy as np
import pytest

import tensorwire
from tensorwire.retry import RetryPolicy, RetryState
from tensorwire.tensors import DTYPES, from_tensor, to_tensor

pb = tensorwire.pb


@pytest.mark.parametrize("data_type", sorted(DTYPES))
def test_raw_data_round_trip_every_dtype(data_type):
    values = (np.arange(12) % 7).astype(DTYPES[data_type]).reshape(3, 4)
    tensor = to_tensor("x", values)
    assert tensor.dtype == data_type and list(tensor.shape) == [3, 4] and len(tensor.raw_data) == values.nbytes
    back = from_tensor(pb.Tensor.FromString(tensor.SerializeToString()))
    assert back.dtype == DTYPES[data_type]
    np.testing.assert_array_equal(back, values)


def test_raw_output_is_a_read_only_view():
    message = pb.Tensor(name="y", dtype=pb.DATA_TYPE_FLOAT32, shape=[2, 2],
                        raw_data=np.arange(4, dtype="<f4").tobytes())
    array = from_tensor(message)
    assert not array.flags.writeable and array.base is not None


def test_typed_fields_and_strings():
    assert from_tensor(pb.Tensor(dtype=pb.DATA_TYPE_INT64, shape=[3], int64_data=[1, 2, 3])).tolist() == [1, 2, 3]
    assert from_tensor(pb.Tensor(dtype=pb.DATA_TYPE_UINT8, shape=[2], int32_data=[7, 255])).dtype == np.uint8
    assert from_tensor(pb.Tensor(shape=[2], double_data=[0.5, 1.5])).dtype == np.float64  # dtype unspecified
    strings = to_tensor("s", np.array([["a", "b"]]))
    assert strings.dtype == pb.DATA_TYPE_STRING and list(strings.string_data) == ["a", "b"]
    assert from_tensor(strings).tolist() == [["a", "b"]]


def test_non_c_contiguous_and_big_endian_inputs():
    values = np.arange(20, dtype=">f8").reshape(4, 5)[:, ::2]
    back = from_tensor(to_tensor("x", values))
    np.testing.assert_array_equal(back, values)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backoff_is_full_jitter_under_an_exponential_ceiling():
    policy = RetryPolicy(max_attempts=6, initial_backoff=0.1, backoff_multiplier=2, max_backoff=0.5)
    clock = FakeClock()
    state = RetryState(policy, deadline=None, may_reach_model=True, clock=clock, rng=random.Random(1))
    delays = [state.next_delay(grpc.StatusCode.UNAVAILABLE) for _ in range(6)]
    assert delays[-1] is None  # 6 attempts in all: 5 retries
    for n, delay in enumerate(delays[:-1], start=1):
        assert 0 <= delay <= min(0.1 * 2 ** (n - 1), 0.5)
    assert state.attempts == 6


def test_only_retryable_codes_and_idempotent_calls_retry():
    clock = FakeClock()
    state = RetryState(RetryPolicy(), deadline=None, may_reach_model=True, clock=clock)
    assert state.next_delay(grpc.StatusCode.INVALID_ARGUMENT) is None
    not_idempotent = RetryPolicy(idempotent=False)
    assert RetryState(not_idempotent, deadline=None, may_reach_model=True, clock=clock).next_delay(
        grpc.StatusCode.UNAVAILABLE) is None
    assert RetryState(not_idempotent, deadline=None, may_reach_model=False, clock=clock).next_delay(
        grpc.StatusCode.UNAVAILABLE) is not None


def test_no_retry_would_end_after_the_deadline():
    clock = FakeClock()

    class Longest(random.Random):
        def uniform(self, a, b):
            return b

    state = RetryState(RetryPolicy(max_attempts=10, initial_backoff=1, max_backoff=1), deadline=clock.now + 2.5,
                       may_reach_model=True, clock=clock, rng=Longest())
    waited = 0
    while (delay := state.next_delay(grpc.StatusCode.UNAVAILABLE)) is not None:
        clock.now += delay
        waited += 1
    assert waited == 2 and state.remaining() == pytest.approx(0.5)


def test_progress_restarts_the_count():
    clock = FakeClock()
    state = RetryState(RetryPolicy(max_attempts=2), deadline=None, may_reach_model=True, clock=clock)
    for _ in range(5):
        assert state.next_delay(grpc.StatusCode.UNAVAILABLE) is not None
        state.progress()
    assert state.next_delay(grpc.StatusCode.UNAVAILABLE) is not None
    assert state.next_delay(grpc.StatusCode.UNAVAILABLE) is None


def test_policy_validation():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_multiplier=0.5)

"""tensorwire.Client and tensorwire.AsyncClient against live tensorwire-server processes: every call, the errors,
retries (a dead address, a dropped stream), TLS, mutual TLS and API keys."""
from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

import tensorwire
from conftest import DIGITS_ONNX, free_port, onnxruntime_session
from proxy import DroppingProxy

ROWS = np.random.default_rng(7).uniform(0, 16, size=(33, 64)).astype(np.float32)


@pytest.fixture(scope="module")
def reference():
    """onnxruntime's answers for ROWS on the same ONNX file the server loads."""
    label, probabilities = onnxruntime_session(DIGITS_ONNX).run(None, {"X": ROWS})
    return {"label": label, "probabilities": probabilities}


def assert_matches(outputs, reference, rows=slice(None)):
    np.testing.assert_array_equal(outputs["label"], reference["label"][rows])
    np.testing.assert_allclose(outputs["probabilities"], reference["probabilities"][rows], rtol=1e-5, atol=1e-6)


def test_health_list_and_get_model(server):
    with tensorwire.Client(server.address) as client:
        assert client.health() == "SERVING"
        assert [m.name for m in client.list_models()] == ["digits"]
        info = client.get_model("digits")
        assert info.state == tensorwire.pb.MODEL_STATE_READY
        assert [(i.name, list(i.shape), i.dtype) for i in info.inputs] == [
            ("X", [-1, 64], tensorwire.pb.DATA_TYPE_FLOAT32)]
        assert [o.name for o in info.outputs] == ["label", "probabilities"]


def test_predict_equals_onnxruntime(server, reference):
    with tensorwire.Client(server.address) as client:
        outputs = client.predict("digits", {"X": ROWS})
        assert outputs["label"].dtype == np.int64 and outputs["probabilities"].dtype == np.float32
        assert outputs["probabilities"].shape == (33, 10)
        assert_matches(outputs, reference)
        # float64 and big-endian inputs travel as raw_data of their own dtype; the server converts float64.
        assert_matches(client.predict("digits", {"X": ROWS.astype(np.float64)}), reference)
        assert_matches(client.predict("digits", {"X": ROWS.astype(">f4")}), reference)
        only = client.predict("digits", {"X": ROWS[:2]}, outputs=["label"])
        assert list(only) == ["label"]


def test_predict_response_carries_batch_facts(server):
    with tensorwire.Client(server.address) as client:
        request = tensorwire.client.predict_request("digits", {"X": ROWS[:3]}, request_id="r-1")
        response = client.predict_response(request)
        assert response.id == "r-1" and response.batch.batch_size >= 3


def test_errors_carry_code_and_message(server):
    with tensorwire.Client(server.address) as client:
        with pytest.raises(tensorwire.NotFoundError) as missing:
            client.predict("no-such-model", {"X": ROWS})
        assert missing.value.code == grpc.StatusCode.NOT_FOUND and "no-such-model" in missing.value.message
        with pytest.raises(tensorwire.InvalidArgumentError) as shape:
            client.predict("digits", {"X": ROWS[:, :3]})
        assert shape.value.code == grpc.StatusCode.INVALID_ARGUMENT and "[-1, 64]" in shape.value.message
        with pytest.raises(tensorwire.NotFoundError):
            client.get_model("no-such-model")
        with pytest.raises(TypeError):
            client.predict("digits", {"X": ROWS.astype(np.complex64)})


def test_predict_stream_in_order_and_bounded(server, reference):
    pulled, answered, most_unanswered = [0], [0], [0]

    def rows():
        for i in range(len(ROWS)):
            pulled[0] += 1
            most_unanswered[0] = max(most_unanswered[0], pulled[0] - answered[0])
            yield {"X": ROWS[i:i + 1]}

    with tensorwire.Client(server.address) as client:
        for i, outputs in enumerate(client.predict_stream("digits", rows(), max_in_flight=4)):
            answered[0] += 1
            assert_matches(outputs, reference, slice(i, i + 1))
    assert answered[0] == len(ROWS)
    assert most_unanswered[0] <= 4


def test_predict_stream_raises_in_band_error(server):
    items = [{"X": ROWS[:1]}, {"X": ROWS[:1, :5]}, {"X": ROWS[:1]}]
    with tensorwire.Client(server.address) as client:
        stream = client.predict_stream("digits", items)
        next(stream)
        with pytest.raises(tensorwire.InvalidArgumentError):
            next(stream)


def test_unary_retry_moves_to_the_next_address(server, reference):
    dead = f"127.0.0.1:{free_port()}"
    with tensorwire.Client([dead, server.address]) as client:
        for _ in range(4):  # every other call starts on the dead address and is retried on the live one
            assert_matches(client.predict("digits", {"X": ROWS}), reference)
            assert client.health() == "SERVING"


def test_unavailable_after_the_attempts_with_the_count():
    policy = tensorwire.RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
    with tensorwire.Client(f"127.0.0.1:{free_port()}", retry=policy, timeout=20) as client:
        with pytest.raises(tensorwire.UnavailableError) as failed:
            client.list_models()
        assert failed.value.attempts == 3
        # A Predict that is not idempotent is tried once; reads are still retried.
    with tensorwire.Client(f"127.0.0.1:{free_port()}", retry=tensorwire.RetryPolicy(
            max_attempts=3, initial_backoff=0.01, idempotent=False)) as client:
        with pytest.raises(tensorwire.UnavailableError) as once:
            client.predict("digits", {"X": ROWS})
        assert once.value.attempts == 1
        with pytest.raises(tensorwire.UnavailableError) as reads:
            client.get_model("digits")
        assert reads.value.attempts == 3


def test_retries_stop_at_the_deadline():
    # Backoff ceilings of 10 s cannot fit a 0.5 s deadline more than a few times: the call ends at the deadline
    # with the last UNAVAILABLE, long before 50 attempts.
    policy = tensorwire.RetryPolicy(max_attempts=50, initial_backoff=10, max_backoff=10)
    with tensorwire.Client(f"127.0.0.1:{free_port()}", retry=policy, timeout=0.5) as client:
        with pytest.raises((tensorwire.UnavailableError, tensorwire.DeadlineExceededError)) as failed:
            client.health()
        assert failed.value.attempts < 50


def test_stream_survives_a_dropped_connection(server, reference):
    proxy = DroppingProxy(server.port, drop_after=6000)  # a few requests of 33 rows in, the connection is cut
    try:
        with tensorwire.Client(proxy.address) as client:
            items = ({"X": ROWS} for _ in range(20))
            answers = list(client.predict_stream("digits", items, max_in_flight=4))
        assert proxy.dropped == 1 and proxy.connections >= 2
        assert len(answers) == 20
        for outputs in answers:
            assert_matches(outputs, reference)
    finally:
        proxy.close()


def test_stream_without_retries_fails_on_a_dropped_connection(server):
    proxy = DroppingProxy(server.port, drop_after=6000)
    try:
        with tensorwire.Client(proxy.address, retry=tensorwire.NO_RETRY) as client:
            with pytest.raises(tensorwire.UnavailableError):
                list(client.predict_stream("digits", ({"X": ROWS} for _ in range(20))))
    finally:
        proxy.close()


def test_async_client_all_calls(server, reference):
    async def main():
        async with tensorwire.AsyncClient(server.address) as client:
            assert await client.health() == "SERVING"
            assert [m.name for m in await client.list_models()] == ["digits"]
            assert (await client.get_model("digits")).inputs[0].name == "X"
            assert_matches(await client.predict("digits", {"X": ROWS}), reference)
            answers = [o async for o in client.predict_stream("digits", [{"X": ROWS[i:i + 1]} for i in range(10)],
                                                               max_in_flight=3)]
            assert len(answers) == 10
            for i, outputs in enumerate(answers):
                assert_matches(outputs, reference, slice(i, i + 1))
            with pytest.raises(tensorwire.NotFoundError):
                await client.predict("no-such-model", {"X": ROWS})

    asyncio.run(main())


def test_async_stream_survives_a_dropped_connection(server, reference):
    proxy = DroppingProxy(server.port, drop_after=6000)

    async def rows():
        for _ in range(20):
            yield {"X": ROWS}

    async def main():
        async with tensorwire.AsyncClient([f"127.0.0.1:{free_port()}", proxy.address]) as client:
            return [o async for o in client.predict_stream("digits", rows(), max_in_flight=4)]

    try:
        answers = asyncio.run(main())
        assert proxy.dropped == 1 and len(answers) == 20
        for outputs in answers:
            assert_matches(outputs, reference)
    finally:
        proxy.close()


def test_tls_with_the_ca(tls_server, pki, reference):
    with tensorwire.Client(f"localhost:{tls_server.port}", tls=pki["ca"] + ".pem") as client:
        assert client.health() == "SERVING"
        assert_matches(client.predict("digits", {"X": ROWS}), reference)
    # 127.0.0.1 with the name the certificate covers given explicitly.
    with tensorwire.Client(tls_server.address, tls=tensorwire.TLS(ca=pki["ca"] + ".pem", server_name="localhost")) as c:
        assert c.health() == "SERVING"
    # Plaintext against a TLS port, and TLS without our CA, fail as UNAVAILABLE (after the retries).
    quick = tensorwire.RetryPolicy(max_attempts=2, initial_backoff=0.01)
    for settings in (None, True):
        with tensorwire.Client(f"localhost:{tls_server.port}", tls=settings, retry=quick, timeout=10) as client:
            with pytest.raises(tensorwire.UnavailableError):
                client.list_models()


def test_mutual_tls(mtls_server, pki, reference):
    settings = tensorwire.TLS(ca=pki["ca"] + ".pem", cert=pki["client"] + ".pem", key=pki["client"] + ".key")
    with tensorwire.Client(f"localhost:{mtls_server.port}", tls=settings) as client:
        assert_matches(client.predict("digits", {"X": ROWS}), reference)
    quick = tensorwire.RetryPolicy(max_attempts=2, initial_backoff=0.01)
    with tensorwire.Client(f"localhost:{mtls_server.port}", tls=pki["ca"] + ".pem", retry=quick, timeout=10) as client:
        with pytest.raises(tensorwire.UnavailableError):
            client.predict("digits", {"X": ROWS})
    with pytest.raises(ValueError):
        tensorwire.TLS(ca=pki["ca"] + ".pem", cert=pki["client"] + ".pem").credentials()


def test_api_keys(auth_server, reference):
    address = auth_server.server.address
    with tensorwire.Client(address) as anonymous:
        assert anonymous.health() == "SERVING"  # health needs no key
        with pytest.raises(tensorwire.UnauthenticatedError):
            anonymous.predict("digits", {"X": ROWS})
    with tensorwire.Client(address, api_key=auth_server.reader_key) as reader:
        assert reader.get_model("digits").name == "digits"
        with pytest.raises(tensorwire.PermissionDeniedError) as denied:
            reader.predict("digits", {"X": ROWS})
        assert "infer:digits" in denied.value.message
    with tensorwire.Client(address, api_key=auth_server.etl_key) as etl:
        assert_matches(etl.predict("digits", {"X": ROWS}), reference)
        assert len(list(etl.predict_stream("digits", [{"X": ROWS}] * 3))) == 3

    async def main():
        async with tensorwire.AsyncClient(address, api_key=auth_server.etl_key) as client:
            return await client.predict("digits", {"X": ROWS})
    assert_matches(asyncio.run(main()), reference)

"""Failed token authentication was not rate-limited. Failures are counted per client address
in the shared cache; past the limit the address gets a JSON 429 with Retry-After on the MLflow
and native APIs, while tokens already verified keep working."""

import pytest
from django.core.cache import cache

from accounts import authentication, token_cache
from tests.conftest import bearer

pytestmark = pytest.mark.django_db

LIMIT = 3
BAD = "mlp_" + "A" * 40
MLFLOW = "/api/2.0/mlflow/experiments/search?max_results=10"
NATIVE = "/api/v1/me/"


@pytest.fixture(autouse=True)
def limit(settings):
    settings.MLPLATFORM_TOKEN_FAILURE_LIMIT = LIMIT
    settings.MLPLATFORM_TOKEN_FAILURE_WINDOW = 3600
    token_cache._verified.clear()
    cache.delete_many(
        [
            authentication.FAILURE_KEY.format(address=a, window=authentication._failure_window()[0])
            for a in ("127.0.0.1", "10.0.0.1", "10.0.0.2", "203.0.113.9")
        ]
    )
    yield
    token_cache._verified.clear()


def fail(client, times: int, **extra) -> None:
    for _ in range(times):
        assert client.get(NATIVE, **bearer(BAD), **extra).status_code == 401


def test_the_mlflow_api_answers_429_json_with_retry_after_past_the_limit(client):
    fail(client, LIMIT)

    response = client.get(MLFLOW, **bearer(BAD))

    assert response.status_code == 429
    assert response.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert 0 < int(response["Retry-After"]) <= 3600


def test_the_native_api_answers_429_in_its_error_shape(client):
    fail(client, LIMIT)

    response = client.get(NATIVE, **bearer(BAD))

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_a_blocked_address_cannot_try_a_new_token_either(client, alice_token):
    fail(client, LIMIT)
    # A token this process never verified is refused too: guessing stops for the address.
    assert client.get(NATIVE, **bearer(alice_token[1])).status_code == 429


def test_a_token_verified_before_keeps_working_from_a_blocked_address(client, alice_token):
    assert client.get(NATIVE, **bearer(alice_token[1])).status_code == 200
    fail(client, LIMIT)
    assert client.get(NATIVE, **bearer(alice_token[1])).status_code == 200


def test_malformed_credentials_count_as_failures(client):
    for _ in range(LIMIT):
        assert client.get(NATIVE, HTTP_AUTHORIZATION="Basic !!!").status_code == 401
    assert client.get(NATIVE, **bearer(BAD)).status_code == 429


def test_other_addresses_are_not_blocked(client):
    fail(client, LIMIT, REMOTE_ADDR="10.0.0.1")
    assert client.get(NATIVE, **bearer(BAD), REMOTE_ADDR="10.0.0.1").status_code == 429
    assert client.get(NATIVE, **bearer(BAD), REMOTE_ADDR="10.0.0.2").status_code == 401


def test_behind_a_proxy_the_forwarded_client_address_counts(client, settings):
    settings.MLPLATFORM_PROXY_COUNT = 1
    forwarded = {"HTTP_X_FORWARDED_FOR": "203.0.113.9", "REMOTE_ADDR": "10.0.0.1"}
    fail(client, LIMIT, **forwarded)
    assert client.get(NATIVE, **bearer(BAD), **forwarded).status_code == 429
    other = {"HTTP_X_FORWARDED_FOR": "198.51.100.7", "REMOTE_ADDR": "10.0.0.1"}
    assert client.get(NATIVE, **bearer(BAD), **other).status_code == 401
    # The client cannot escape by writing its own X-Forwarded-For: the proxy appends the real one.
    spoofed = {"HTTP_X_FORWARDED_FOR": "192.0.2.1, 203.0.113.9", "REMOTE_ADDR": "10.0.0.1"}
    assert client.get(NATIVE, **bearer(BAD), **spoofed).status_code == 429


def test_zero_turns_the_limit_off(client, settings):
    settings.MLPLATFORM_TOKEN_FAILURE_LIMIT = 0
    fail(client, LIMIT + 2)

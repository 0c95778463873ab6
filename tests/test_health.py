"""`/healthz` tells a load balancer whether this node can serve: database and broker answering."""

from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError, connection

from mlplatform.celery import app as celery_app

pytestmark = pytest.mark.django_db

# Port 1 on the loopback: nothing listens there, so the connection is refused at once.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/2"
# Our own Redis database number, so other test runs on this Redis are not disturbed.
REAL_REDIS = "redis://127.0.0.1:6379/2"


@pytest.fixture
def broker_url():
    """Point the Celery app at another broker for one test.

    The app read its configuration when it was imported, so overriding Django's settings would
    not reach it; its own conf is what /healthz connects with.
    """
    # Celery before 5.7 copies broker_url into broker_write_url once, so both are set.
    original = celery_app.conf.broker_url, celery_app.conf.broker_write_url

    def use(url: str) -> None:
        celery_app.conf.broker_url = celery_app.conf.broker_write_url = url

    yield use
    celery_app.conf.broker_url, celery_app.conf.broker_write_url = original


@pytest.fixture
def staff_client(client, django_user_model):
    """The details are for staff and token holders (tests/security/test_healthz_detail.py)."""
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True))
    return client


def assert_shape(body: dict) -> None:
    assert set(body) == {"status", "database", "broker", "summaries"}
    assert set(body["database"]) == {"ok", "detail"}
    assert set(body["broker"]) == {"ok", "detail", "kind"}
    assert body["broker"]["kind"] == ("redis" if settings.REDIS_URL else "embedded")


def test_a_healthy_node_answers_200_with_database_and_broker_ok(staff_client):
    response = staff_client.get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert_shape(body)
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "detail": "ok"}
    assert body["broker"]["ok"] is True
    assert body["broker"]["detail"] == "ok"
    assert "no-cache" in response["Cache-Control"]


def test_a_reachable_redis_broker_is_ok(staff_client, broker_url):
    broker_url(REAL_REDIS)

    response = staff_client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["broker"]["ok"] is True


def test_an_unreachable_broker_makes_the_node_unavailable(staff_client, broker_url):
    broker_url(UNREACHABLE_REDIS)

    response = staff_client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert_shape(body)
    assert body["status"] == "unavailable"
    assert body["broker"]["ok"] is False
    assert body["broker"]["detail"] != "ok"
    assert body["database"] == {"ok": True, "detail": "ok"}


def test_a_failing_database_makes_the_node_unavailable(client):
    # Taking the real database down under a running test suite is not possible here, so this
    # is the one place that fakes a failure: the connection's cursor raising.
    with mock.patch.object(
        connection, "cursor", side_effect=OperationalError("server closed the connection")
    ):
        response = client.get("/healthz")

    # Without a database no caller can be recognised as staff, so everyone gets the status.
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["database"] == {"ok": False}
    assert body["broker"]["ok"] is True


def test_only_get_is_allowed(client):
    assert client.post("/healthz").status_code == 405

"""`/healthz` showed the database's and broker's error texts (host, port) to anonymous callers.
Anyone still learns whether each part is up; the texts and figures are for staff and callers
with a valid API token."""

from unittest import mock

import pytest
from django.db import OperationalError, connection

from mlplatform.celery import app as celery_app
from tests.conftest import bearer

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:1/2"


@pytest.fixture
def broker_down():
    # Celery before 5.7 copies broker_url into broker_write_url once, so both are set.
    original = celery_app.conf.broker_url, celery_app.conf.broker_write_url
    celery_app.conf.broker_url = celery_app.conf.broker_write_url = UNREACHABLE_REDIS
    yield
    celery_app.conf.broker_url, celery_app.conf.broker_write_url = original


def test_an_anonymous_caller_sees_what_is_down_but_no_error_text(client, broker_down):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["broker"]["ok"] is False
    assert body["database"] == {"ok": True}
    assert "detail" not in body["broker"]
    assert "summaries" not in body
    assert "127.0.0.1" not in response.content.decode()


def test_a_database_error_text_is_never_shown_to_an_anonymous_caller(client):
    with mock.patch.object(
        connection, "cursor", side_effect=OperationalError("could not connect to db.internal:5432")
    ):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert "db.internal" not in response.content.decode()
    assert response.json()["database"] == {"ok": False}


def test_a_bad_token_gets_no_details(client, broker_down):
    response = client.get("/healthz", **bearer("mlp_" + "x" * 40))
    assert response.status_code == 503
    assert "127.0.0.1" not in response.content.decode()


def test_staff_see_the_error_text(client, django_user_model, broker_down):
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True))

    body = client.get("/healthz").json()

    assert "127.0.0.1" in body["broker"]["detail"]
    assert "summaries" in body


def test_a_valid_token_sees_the_error_text(client, bob_token, broker_down):
    body = client.get("/healthz", **bearer(bob_token[1])).json()
    assert "127.0.0.1" in body["broker"]["detail"]


def test_a_logged_in_non_staff_user_gets_no_details(client, bob, broker_down):
    client.force_login(bob)
    assert "127.0.0.1" not in client.get("/healthz").content.decode()

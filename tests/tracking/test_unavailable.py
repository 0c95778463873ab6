"""A database or artifact store out of reach: every surface answers 503 (JSON for the APIs, a
page for people), writes nothing, and the same request succeeds once the store is back.

The database is taken away with Django's own query hook (`execute_wrapper`), which raises what
a lost connection raises at the point where the query would reach the server.
"""

from __future__ import annotations

import contextlib

import pytest
from django.db import OperationalError, connection

from tests.conftest import bearer
from tests.factories import ExperimentFactory, RunFactory
from tracking.artifacts import artifact_list, artifact_save
from tracking.errors import Unavailable
from tracking.models import Metric

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def database_lost(*, only: str = ""):
    """Queries (those containing `only`, when given) fail as on a dropped connection."""

    def fail(execute, sql, params, many, context):
        if only and only not in sql.upper():
            return execute(sql, params, many, context)
        raise OperationalError("server closed the connection unexpectedly")

    with connection.execute_wrapper(fail):
        yield


@pytest.fixture
def run(project, alice):
    return RunFactory(experiment=ExperimentFactory(project=project), user=alice)


def log_batch(client, raw, run):
    body = {
        "run_id": run.run_id,
        "metrics": [
            {"key": "loss", "value": i / 3, "timestamp": 1000 + i, "step": i} for i in range(50)
        ],
    }
    return client.post(
        "/api/2.0/mlflow/runs/log-batch", body, content_type="application/json", **bearer(raw)
    )


def test_mlflow_log_batch_answers_json_503_when_the_write_loses_the_database(
    client, alice_token, run
):
    raw = alice_token[1]
    with database_lost(only="INSERT"):
        response = log_batch(client, raw, run)
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "error_code": "TEMPORARILY_UNAVAILABLE",
        "message": "The database is unavailable; try again in a moment.",
    }
    assert not Metric.objects.filter(run=run).exists()

    # The client's retry once the database is back stores the batch, and a second retry adds
    # nothing.
    assert log_batch(client, raw, run).status_code == 200
    assert log_batch(client, raw, run).status_code == 200
    assert Metric.objects.filter(run=run).count() == 50


def test_mlflow_reads_answer_json_503_when_the_database_is_gone(client, alice_token, run):
    with database_lost():
        response = client.get(
            "/api/2.0/mlflow/runs/get", {"run_id": run.run_id}, **bearer(alice_token[1])
        )
    assert response.status_code == 503
    assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"


def test_native_api_answers_json_503_when_the_database_is_gone(client, alice_token, project):
    with database_lost():
        response = client.get("/api/v1/projects/", **bearer(alice_token[1]))
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {
            "code": "unavailable",
            "message": "The database is unavailable; try again in a moment.",
            "fields": {},
        }
    }
    # Back again: the same request works.
    assert client.get("/api/v1/projects/", **bearer(alice_token[1])).status_code == 200


def test_pages_answer_a_503_page_when_the_database_is_gone(client, alice, project):
    client.force_login(alice)
    client.raise_request_exception = False
    with database_lost():
        response = client.get(f"/p/{project.slug}/")
    assert response.status_code == 503
    assert b"Temporarily unavailable" in response.content
    assert response["Retry-After"] == "5"


def test_other_page_faults_stay_500(rf):
    from frontend.views.errors import server_error

    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content


# --- The artifact store -------------------------------------------------------------------------


@pytest.fixture
def blocked_store(tmp_path, settings):
    """An artifact store whose root is a file: nothing can be created below it, even by root."""
    root = tmp_path / "artifacts"
    root.write_text("not a folder")
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


def test_saving_into_an_unwritable_store_raises_unavailable(blocked_store):
    with pytest.raises(Unavailable, match="artifact store"):
        artifact_save(path="1/abc/artifacts/model.bin", content=iter([b"x"]))
    assert blocked_store.read_text() == "not a folder"


def test_artifact_put_answers_json_503_and_lists_nothing(client, alice_token, run, blocked_store):
    raw = alice_token[1]
    path = f"{run.experiment_id}/{run.run_id}/artifacts/model.bin"
    response = client.generic(
        "PUT",
        f"/api/2.0/mlflow-artifacts/artifacts/{path}",
        b"weights",
        "application/octet-stream",
        **bearer(raw),
    )
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "artifact store" in response.json()["message"]
    assert artifact_list(path=f"{run.experiment_id}/{run.run_id}/artifacts") == []


def test_a_folder_and_a_file_on_one_path_stay_a_400(client, alice_token, run, tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "store")},
        },
    }
    base = f"/api/2.0/mlflow-artifacts/artifacts/{run.experiment_id}/{run.run_id}/artifacts"
    put = lambda path: client.generic(  # noqa: E731
        "PUT", f"{base}/{path}", b"x", "application/octet-stream", **bearer(alice_token[1])
    )
    assert put("a").status_code == 200
    response = put("a/b")
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"

"""A run's artifacts through the native API: the same storage as MLflow's artifact endpoints."""

import pytest

from accounts.models import TokenScope
from tests.conftest import bearer
from tests.factories import make_token

from .helpers import API, client_for, make_run

pytestmark = pytest.mark.django_db
MLFLOW_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(autouse=True)
def artifact_root(tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "artifacts")},
        },
    }
    return tmp_path / "artifacts"


@pytest.fixture
def run(alice, default_experiment):
    return make_run(alice, default_experiment)


@pytest.fixture
def uploaded(client, alice_token, run):
    """model/weights.bin and notes.txt, uploaded through the MLflow artifact endpoint."""
    root = f"{MLFLOW_ARTIFACTS}/{run.experiment_id}/{run.run_id}/artifacts"
    for path, body in (("model/weights.bin", b"\x00\x01weights"), ("notes.txt", b"hello")):
        response = client.generic(
            "PUT", f"{root}/{path}", body, "application/octet-stream", **bearer(alice_token[1])
        )
        assert response.status_code == 200
    return run


def test_bob_lists_artifacts_uploaded_through_mlflow(bob, project, uploaded):
    api = client_for(make_token(user=bob, project=project, scope=TokenScope.READ)[1])
    listing = api.get(f"{API}/runs/{uploaded.run_id}/artifacts/")
    assert listing.status_code == 200
    assert listing.json() == {
        "path": "",
        "files": [
            {"path": "model", "is_dir": True, "size": None},
            {"path": "notes.txt", "is_dir": False, "size": 5},
        ],
    }
    inner = api.get(f"{API}/runs/{uploaded.run_id}/artifacts/", {"path": "model"}).json()
    assert inner["files"] == [{"path": "model/weights.bin", "is_dir": False, "size": 9}]


def test_alice_downloads_an_artifact(alice_token, uploaded):
    response = client_for(alice_token[1]).get(
        f"{API}/runs/{uploaded.run_id}/artifacts/model/weights.bin"
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x00\x01weights"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_charlie_cannot_list_or_download(charlie_token, uploaded):
    api = client_for(charlie_token[1])
    assert api.get(f"{API}/runs/{uploaded.run_id}/artifacts/").status_code == 404
    url = f"{API}/runs/{uploaded.run_id}/artifacts/notes.txt"
    assert api.get(url).status_code == 404


def test_a_missing_artifact_is_404(alice_token, run):
    response = client_for(alice_token[1]).get(f"{API}/runs/{run.run_id}/artifacts/nothing.txt")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["../../etc/passwd", "a/%2e%2e/%2e%2e/x", "/etc/passwd"])
def test_paths_that_escape_the_run_are_400(alice_token, run, path):
    api = client_for(alice_token[1])
    listing = api.get(f"{API}/runs/{run.run_id}/artifacts/", {"path": path})
    assert listing.status_code == 400
    assert "path" in listing.json()["error"]["fields"]


def test_an_escaping_download_path_is_refused(alice_token, run):
    api = client_for(alice_token[1])
    response = api.get(f"{API}/runs/{run.run_id}/artifacts/a/%252e%252e/%252e%252e/secret")
    assert response.status_code in (400, 404)

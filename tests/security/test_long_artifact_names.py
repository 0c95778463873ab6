"""Crafted input → 500: an artifact PUT with a 256-character file name, or a listing with a
300-character path segment, failed in the file system (ENAMETOOLONG). Both are a JSON 400 now:
MLflow's INVALID_PARAMETER_VALUE on its artifact API, the native error shape on /api/v1."""

import pytest

from accounts.models import TokenScope
from tests.conftest import bearer
from tests.factories import ExperimentFactory, RunFactory, make_token

pytestmark = pytest.mark.django_db

ROOT = "/api/2.0/mlflow-artifacts/artifacts"


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
def run(project, alice):
    return RunFactory(experiment=ExperimentFactory(project=project), user=alice)


def prefix(run) -> str:
    return f"{run.experiment_id}/{run.run_id}/artifacts"


def put(client, path, raw):
    return client.generic(
        "PUT", f"{ROOT}/{path}", b"data", "application/octet-stream", **bearer(raw)
    )


def assert_mlflow_400(response) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_a_256_character_file_name_is_a_json_400_and_stores_nothing(
    client, alice_token, run, artifact_root
):
    response = put(client, f"{prefix(run)}/{'a' * 256}", alice_token[1])

    assert_mlflow_400(response)
    assert "255" in response.json()["message"]
    assert not (artifact_root / prefix(run)).exists() or not any(
        (artifact_root / prefix(run)).iterdir()
    )


def test_a_name_of_255_bytes_is_stored(client, alice_token, run, artifact_root):
    assert put(client, f"{prefix(run)}/{'a' * 255}", alice_token[1]).status_code == 200
    assert (artifact_root / prefix(run) / ("a" * 255)).read_bytes() == b"data"


def test_a_name_of_many_bytes_in_fewer_characters_is_refused(client, alice_token, run):
    # 90 characters, 270 bytes in UTF-8: file systems count bytes.
    assert_mlflow_400(put(client, f"{prefix(run)}/{'€' * 90}", alice_token[1]))


def test_a_300_character_segment_in_a_listing_is_a_json_400(client, alice_token, run):
    response = client.get(ROOT, {"path": f"{prefix(run)}/{'b' * 300}"}, **bearer(alice_token[1]))
    assert_mlflow_400(response)


def test_the_native_listing_and_download_answer_400_in_the_native_shape(
    api_client, alice_token, run
):
    headers = bearer(alice_token[1])
    response = api_client.get(
        f"/api/v1/runs/{run.run_id}/artifacts/", {"path": "c" * 300}, **headers
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["fields"] == {"path": [response.json()["error"]["message"]]}

    response = api_client.get(f"/api/v1/runs/{run.run_id}/artifacts/{'d' * 256}", **headers)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"


def test_bob_cannot_upload_and_charlie_gets_404(client, bob, project, charlie_token, run):
    _, bob_read = make_token(user=bob, project=project, scope=TokenScope.READ)
    assert put(client, f"{prefix(run)}/model.bin", bob_read).status_code == 403
    assert put(client, f"{prefix(run)}/model.bin", charlie_token[1]).status_code == 404

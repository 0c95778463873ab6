"""The proxied artifact store: uploads, downloads, listings, deletes, and paths that stay inside."""

import posixpath
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Role, TokenScope
from tests.conftest import bearer
from tests.factories import ExperimentFactory, RunFactory, make_token
from tracking.artifacts import safe_artifact_path
from tracking.errors import InvalidInput

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
    # pytest-django's settings fixture makes Django drop its cached storages.
    return tmp_path / "artifacts"


@pytest.fixture
def run(project, alice):
    return RunFactory(experiment=ExperimentFactory(project=project), user=alice)


def prefix(run):
    return f"{run.experiment_id}/{run.run_id}/artifacts"


def put(client, path, raw, body=b"data"):
    return client.generic("PUT", f"{ROOT}/{path}", body, "application/octet-stream", **bearer(raw))


def test_upload_download_and_list(client, alice_token, run, artifact_root):
    raw = alice_token[1]
    assert put(client, f"{prefix(run)}/a/b/model.bin", raw, b"\x00weights").status_code == 200
    assert (artifact_root / prefix(run) / "a" / "b" / "model.bin").read_bytes() == b"\x00weights"

    response = client.get(f"{ROOT}/{prefix(run)}/a/b/model.bin", **bearer(raw))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x00weights"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment")

    listing = client.get(ROOT, {"path": f"{prefix(run)}/a"}, **bearer(raw)).json()
    assert listing == {"files": [{"path": "b", "is_dir": True}]}
    listing = client.get(ROOT, {"path": f"{prefix(run)}/a/b"}, **bearer(raw)).json()
    assert listing == {"files": [{"path": "model.bin", "is_dir": False, "file_size": 8}]}

    mlflow_listing = client.get(
        "/api/2.0/mlflow/artifacts/list", {"run_id": run.run_id, "path": "a"}, **bearer(raw)
    ).json()
    assert mlflow_listing["files"] == [{"path": "a/b", "is_dir": True}]
    assert mlflow_listing["root_uri"] == run.artifact_uri


def test_upload_replaces_the_file(client, alice_token, run, artifact_root):
    put(client, f"{prefix(run)}/f.txt", alice_token[1], b"one")
    put(client, f"{prefix(run)}/f.txt", alice_token[1], b"two")
    assert sorted(p.name for p in (artifact_root / prefix(run)).iterdir()) == ["f.txt"]
    assert (artifact_root / prefix(run) / "f.txt").read_bytes() == b"two"


def test_missing_artifact_is_404(client, alice_token, run):
    response = client.get(f"{ROOT}/{prefix(run)}/nope", **bearer(alice_token[1]))
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_upload_needs_a_run_of_the_experiment(client, alice_token, run, default_experiment):
    response = put(client, f"{default_experiment.pk}/{run.run_id}/artifacts/x", alice_token[1])
    assert response.status_code == 404


def test_charlie_cannot_read_or_write_alices_artifacts(client, alice_token, charlie_token, run):
    put(client, f"{prefix(run)}/f.txt", alice_token[1])
    assert client.get(f"{ROOT}/{prefix(run)}/f.txt", **bearer(charlie_token[1])).status_code == 404
    assert put(client, f"{prefix(run)}/g.txt", charlie_token[1]).status_code == 404
    listing = client.get(ROOT, {"path": prefix(run)}, **bearer(charlie_token[1]))
    assert listing.status_code == 404


def test_bob_can_read_but_not_write(client, alice_token, bob_token, run):
    put(client, f"{prefix(run)}/f.txt", alice_token[1])
    assert client.get(f"{ROOT}/{prefix(run)}/f.txt", **bearer(bob_token[1])).status_code == 200
    response = put(client, f"{prefix(run)}/g.txt", bob_token[1])
    assert response.status_code == 403
    assert response.json()["error_code"] == "PERMISSION_DENIED"


def test_anonymous_is_unauthenticated(client, run):
    response = client.get(f"{ROOT}/{prefix(run)}/f.txt")
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_delete_needs_a_manager(client, alice, alice_token, run, project, artifact_root):
    put(client, f"{prefix(run)}/d/f.txt", alice_token[1])
    # alice manages the project, but a token is capped at editor.
    response = client.delete(f"{ROOT}/{prefix(run)}/d", **bearer(alice_token[1]))
    assert response.status_code == 403
    client.force_login(alice)
    assert project.memberships.get(user=alice).role == Role.MANAGER
    assert client.delete(f"{ROOT}/{prefix(run)}/d").status_code == 200
    assert not (artifact_root / prefix(run) / "d" / "f.txt").exists()


def test_read_token_cannot_upload(client, alice, project, run):
    _, raw = make_token(user=alice, project=project, scope=TokenScope.READ)
    assert put(client, f"{prefix(run)}/f.txt", raw).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "{p}/../../../etc/passwd",
        "{p}/%2e%2e/%2e%2e/x",
        "{p}/%252e%252e/x",
        "{p}/..%5c..%5cx",
        "{p}/a\\b",
        "{p}/%00x",
        "/etc/passwd",
        "{p}//x",
    ],
)
def test_escaping_paths_are_400(client, alice_token, run, path):
    url = f"{ROOT}/" + path.format(p=prefix(run))
    for response in (
        client.get(url, **bearer(alice_token[1])),
        client.generic("PUT", url, b"x", "application/octet-stream", **bearer(alice_token[1])),
    ):
        assert response.status_code == 400, (path, response.content)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_dot_segments_name_their_folder_as_in_mlflow():
    # The client asks for "." to download a whole run (download_artifacts(..., ".")).
    assert safe_artifact_path(".", allow_empty=True) == ""
    assert safe_artifact_path("1/abc/artifacts/.") == "1/abc/artifacts"
    assert safe_artifact_path("a/./x") == "a/x"
    with pytest.raises(InvalidInput):
        safe_artifact_path(".")


def test_escaping_list_paths_are_400(client, alice_token, run):
    for path in (f"{prefix(run)}/..", "../x", "/abs", "a\x00b"):
        response = client.get(ROOT, {"path": path}, **bearer(alice_token[1]))
        assert response.status_code == 400, path


_segment = st.one_of(
    st.sampled_from(["..", ".", "", "%2e%2e", "%252e%252e", "..\\", "\\", "\x00", "C:", "a"]),
    st.text(max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_segment, min_size=1, max_size=6), st.booleans(), st.integers(0, 2))
def test_a_path_that_is_accepted_never_leaves_the_root(segments, absolute, encodings):
    raw = ("/" if absolute else "") + "/".join(segments)
    for _ in range(encodings):
        raw = quote(raw, safe="/")
    try:
        path = safe_artifact_path(raw)
    except InvalidInput:
        return
    decoded = path
    for _ in range(4):
        decoded = unquote(decoded)
    for form in (path, decoded):
        assert not form.startswith("/")
        assert "\\" not in form and "\x00" not in form
        assert ".." not in form.split("/")
        assert not posixpath.normpath(form).startswith("..")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(_segment, min_size=1, max_size=4))
def test_the_endpoint_never_errors_or_escapes(client, alice_token, run, artifact_root, segments):
    url = f"{ROOT}/{prefix(run)}/" + "/".join(quote(s, safe="") for s in segments)
    response = put(client, url.removeprefix(f"{ROOT}/"), alice_token[1], b"x")
    assert response.status_code in (200, 400, 404), response.content
    base = artifact_root.resolve()
    for written in artifact_root.parent.rglob("*"):
        if written.is_file():
            assert written.resolve().is_relative_to(base), written

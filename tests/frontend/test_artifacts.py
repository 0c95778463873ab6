"""The Artifacts tab: a file tree, downloads and inline previews, through the access rule."""

import io
import json

import pytest
from django.urls import reverse

from tests.frontend.seed import make_run
from tracking.artifacts import artifact_save

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def run(default_experiment, alice):
    run = make_run(default_experiment, name="with-files", user=alice)
    root = f"{run.experiment_id}/{run.run_id}/artifacts"
    run.artifact_uri = f"mlflow-artifacts:/{root}"
    run.save(update_fields=["artifact_uri"])
    files = {
        "notes.txt": b"hello artifacts",
        "config.json": json.dumps({"lr": 0.01}).encode(),
        "data/table.csv": b"a,b\n1,2\n",
        "plots/curve.png": PNG,
        "model.bin": b"\x00\x01",
    }
    for path, content in files.items():
        artifact_save(path=f"{root}/{path}", content=io.BytesIO(content))
    return run


def url(project, run, name="run_artifacts"):
    return reverse(name, kwargs={"slug": project.slug, "run_id": run.run_id})


def test_the_tree_lists_folders_and_files(client, alice, project, run):
    client.force_login(alice)
    response = client.get(url(project, run))
    names = [(e["name"], e["is_dir"]) for e in response.context["entries"]]
    assert ("data", True) in names and ("notes.txt", False) in names
    nested = client.get(url(project, run), {"path": "data"})
    assert [e["path"] for e in nested.context["entries"]] == ["data/table.csv"]


def test_text_json_csv_and_images_preview_inline(client, alice, project, run):
    client.force_login(alice)
    assert (
        "hello artifacts" in client.get(url(project, run), {"path": "notes.txt"}).content.decode()
    )
    body = client.get(url(project, run), {"path": "config.json"}).content.decode()
    assert "&quot;lr&quot;: 0.01" in body
    csv_preview = client.get(url(project, run), {"path": "data/table.csv"}).context["preview"]
    assert csv_preview["rows"] == [["a", "b"], ["1", "2"]]
    image = client.get(url(project, run), {"path": "plots/curve.png"})
    assert image.context["preview"]["kind"] == "image"
    assert "inline=1" in image.content.decode()
    assert client.get(url(project, run), {"path": "model.bin"}).context["preview"]["kind"] is None


def test_download_streams_the_file(client, alice, project, run):
    client.force_login(alice)
    response = client.get(url(project, run, "run_artifact_download"), {"path": "model.bin"})
    assert b"".join(response.streaming_content) == b"\x00\x01"
    assert "attachment" in response["Content-Disposition"]
    inline = client.get(
        url(project, run, "run_artifact_download"), {"path": "plots/curve.png", "inline": "1"}
    )
    assert inline["Content-Type"] == "image/png"


def test_paths_that_escape_the_run_are_refused(client, alice, project, run):
    client.force_login(alice)
    for bad in ("../other", "/etc/passwd", "a/../../b"):
        response = client.get(url(project, run, "run_artifact_download"), {"path": bad})
        assert response.status_code == 400, bad
        assert client.get(url(project, run), {"path": bad}).status_code == 400


def test_a_missing_file_is_not_found(client, alice, project, run):
    client.force_login(alice)
    response = client.get(url(project, run, "run_artifact_download"), {"path": "nope.txt"})
    assert response.status_code == 404


def test_charlie_gets_404_for_artifacts(client, charlie, other_project, project, run):
    client.force_login(charlie)
    assert client.get(url(project, run)).status_code == 404
    response = client.get(url(project, run, "run_artifact_download"), {"path": "notes.txt"})
    assert response.status_code == 404

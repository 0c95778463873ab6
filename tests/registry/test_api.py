"""The registry's native API: shapes, roles (charlie 404, bob read-only, deleting is a
manager's), bad input as 400 with nothing written, and its place in the OpenAPI schema."""

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import AuditAction, AuditEvent, TokenScope
from registry.models import ModelAlias, ModelVersion, RegisteredModel
from tests.api.helpers import API, client_for
from tests.factories import ExperimentFactory, RunFactory, make_token

pytestmark = pytest.mark.django_db

MODELS = f"{API}/projects/alpha/registered-models/"


@pytest.fixture
def alice_api(alice_token):
    return client_for(alice_token[1])


@pytest.fixture
def with_version(alice_api, project, alice):
    run = RunFactory(experiment=ExperimentFactory(project=project), user=alice)
    assert (
        alice_api.post(MODELS, {"name": "clf", "tags": {"t": "1"}}, format="json").status_code
        == 201
    )
    response = alice_api.post(
        f"{MODELS}clf/versions/", {"source": f"runs:/{run.run_id}/model"}, format="json"
    )
    assert response.status_code == 201, response.content
    return run


def test_create_version_alias_and_read(alice_api, with_version):
    response = alice_api.put(f"{MODELS}clf/aliases/champion/", {"version": 1}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["aliases"] == ["champion"]
    body = alice_api.get(f"{MODELS}clf/").json()
    assert body["aliases"] == {"champion": 1}
    assert body["tags"] == {"t": "1"}
    assert body["versions"][0]["run_id"] == with_version.run_id
    assert body["versions"][0]["created_by"] == "alice"
    assert [m["name"] for m in alice_api.get(MODELS, {"search": "CL"}).json()] == ["clf"]
    assert alice_api.get(MODELS, {"search": "zz"}).json() == []
    assert alice_api.delete(f"{MODELS}clf/aliases/champion/").status_code == 204
    assert AuditEvent.objects.filter(action=AuditAction.MODEL_ALIAS_DELETED).count() == 1


def test_rename_and_describe(alice_api, with_version):
    response = alice_api.patch(f"{MODELS}clf/", {"name": "c2", "description": "d"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "c2"
    assert RegisteredModel.objects.get().description == "d"


@pytest.mark.parametrize(
    "path,body",
    [
        ("", {"name": "a\x07b"}),
        ("", {"name": "a/b"}),
        ("clf/aliases/v3/", {"version": 1}),
        ("clf/aliases/latest/", {"version": 1}),
        ("clf/aliases/ok/", {"version": 7}),
        ("clf/versions/", {"source": "models:/m-nope"}),
    ],
)
def test_bad_input_is_an_error_and_writes_nothing(alice_api, with_version, path, body):
    method = alice_api.put if "aliases" in path else alice_api.post
    response = method(MODELS + path, body, format="json")
    assert response.status_code in (400, 404), response.content
    assert "error" in response.json()
    assert RegisteredModel.objects.count() == 1
    assert ModelVersion.objects.count() == 1
    assert not ModelAlias.objects.exists()


def test_charlie_gets_404_and_bob_cannot_write(charlie, other_project, bob, project, with_version):
    charlie_api = client_for(make_token(user=charlie, project=other_project)[1])
    bob_api = client_for(make_token(user=bob, project=project)[1])
    for client, status in [(charlie_api, 404), (bob_api, 403)]:
        assert client.post(MODELS, {"name": "x"}, format="json").status_code == status
        assert (
            client.patch(f"{MODELS}clf/", {"description": "x"}, format="json").status_code == status
        )
        assert (
            client.put(f"{MODELS}clf/aliases/a/", {"version": 1}, format="json").status_code
            == status
        )
        assert client.delete(f"{MODELS}clf/versions/1/").status_code == status
    assert charlie_api.get(f"{MODELS}clf/").status_code == 404
    assert bob_api.get(f"{MODELS}clf/").status_code == 200
    assert RegisteredModel.objects.get().description == ""
    assert not ModelAlias.objects.exists()


def test_deleting_needs_a_manager_a_write_token_is_not(alice, project, alice_api, with_version):
    assert alice_api.delete(f"{MODELS}clf/versions/1/").status_code == 403
    read_api = client_for(make_token(user=alice, project=project, scope=TokenScope.READ)[1])
    assert read_api.put(f"{MODELS}clf/aliases/a/", {"version": 1}, format="json").status_code == 403

    session = APIClient()
    session.force_authenticate(alice)
    assert session.delete(f"{MODELS}clf/versions/1/").status_code == 204
    assert session.delete(f"{MODELS}clf/").status_code == 204
    assert not RegisteredModel.objects.exists()


def test_the_registry_is_in_the_schema(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    paths = yaml.safe_load(out.read_text())["paths"]
    assert "/api/v1/projects/{slug}/registered-models/" in paths
    assert "/api/v1/projects/{slug}/registered-models/{name}/aliases/{alias}/" in paths


def test_a_managers_manage_token_deletes_a_version(alice, project, with_version):
    manage_api = client_for(make_token(user=alice, project=project, scope=TokenScope.MANAGE)[1])
    assert manage_api.delete(f"{MODELS}clf/versions/1/").status_code == 204
    assert not ModelVersion.objects.exists()


# --- a version: read, describe, tag -------------------------------------------------------------


def test_version_read_describe_and_tags(alice_api, with_version):
    version = f"{MODELS}clf/versions/1/"
    assert alice_api.get(version).json()["description"] == ""

    response = alice_api.patch(version, {"description": "the **best**"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "the **best**"

    response = alice_api.put(f"{version}tags/validated/", {"value": "yes"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["tags"] == {"validated": "yes"}
    alice_api.put(f"{version}tags/team/nlp/", {"value": ""}, format="json")
    assert alice_api.get(version).json()["tags"] == {"team/nlp": "", "validated": "yes"}
    assert alice_api.get(f"{MODELS}clf/").json()["versions"][0]["tags"]["validated"] == "yes"

    assert alice_api.delete(f"{version}tags/validated/").status_code == 204
    assert alice_api.get(version).json()["tags"] == {"team/nlp": ""}
    assert alice_api.get(f"{MODELS}clf/versions/9/").status_code == 404


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("patch", "versions/1/", {}),
        ("patch", "versions/1/", {"description": None}),
        ("patch", "versions/1/", {"description": "x" * 70_000}),
        ("put", "versions/1/tags/k/", {}),
        ("put", "versions/1/tags/k/", {"value": "x" * 10_000}),
        ("put", "versions/1/tags/bad%07key/", {"value": "x"}),
        ("put", "versions/1/tags/" + "k" * 300 + "/", {"value": "x"}),
        ("patch", "versions/9/", {"description": "x"}),
        ("put", "versions/9/tags/k/", {"value": "x"}),
    ],
)
def test_bad_version_input_is_a_json_error_and_writes_nothing(
    alice_api, with_version, method, path, body
):
    before = alice_api.get(f"{MODELS}clf/versions/1/").json()
    response = getattr(alice_api, method)(MODELS + "clf/" + path, body, format="json")
    assert response.status_code in (400, 404), response.content
    assert response.json()["error"]["code"] in ("invalid", "not_found")
    assert alice_api.get(f"{MODELS}clf/versions/1/").json() == before


def test_a_refused_rename_keeps_the_old_description(alice_api, with_version):
    alice_api.post(MODELS, {"name": "taken"}, format="json")
    response = alice_api.patch(
        f"{MODELS}clf/", {"name": "taken", "description": "new"}, format="json"
    )
    assert response.status_code == 409, response.content
    assert RegisteredModel.objects.get(name="clf").description == ""


def test_charlie_gets_404_and_a_read_token_403_on_a_versions_writes(
    alice, charlie, other_project, project, with_version
):
    charlie_api = client_for(
        make_token(user=charlie, project=other_project, scope=TokenScope.MANAGE)[1]
    )
    read_api = client_for(make_token(user=alice, project=project, scope=TokenScope.READ)[1])
    version = f"{MODELS}clf/versions/1/"
    for client, status in [(charlie_api, 404), (read_api, 403)]:
        assert client.patch(version, {"description": "x"}, format="json").status_code == status
        assert client.put(f"{version}tags/k/", {"value": "v"}, format="json").status_code == status
        assert client.delete(f"{version}tags/k/").status_code == status
        assert (
            client.put(f"{MODELS}clf/aliases/a/", {"version": 1}, format="json").status_code
            == status
        )
        assert client.delete(f"{MODELS}clf/aliases/a/").status_code == status
    assert charlie_api.get(version).status_code == 404
    assert read_api.get(version).status_code == 200
    assert ModelVersion.objects.get().description == ""
    assert not ModelVersion.objects.get().tags.exists()
    assert not ModelAlias.objects.exists()


def test_the_version_endpoints_are_in_the_schema(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    paths = yaml.safe_load(out.read_text())["paths"]
    version = "/api/v1/projects/{slug}/registered-models/{name}/versions/{version}/"
    assert {"get", "patch", "delete"} <= set(paths[version])
    assert {"put", "delete"} <= set(paths[version + "tags/{key}/"])

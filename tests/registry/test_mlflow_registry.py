"""MLflow's model registry on the wire: shapes, MLflow's error codes, roles and token scopes,
another project's token, and nothing written on bad input."""

import json

import pytest

from accounts.access import Actor
from accounts.models import AuditAction, AuditEvent, Role, TokenScope
from registry.models import ModelAlias, ModelVersion, RegisteredModel
from registry.selectors import model_version_for, registered_model_for
from registry.services import model_version_delete, registered_model_delete
from tests.conftest import bearer
from tests.factories import ExperimentFactory, RunFactory, make_token

pytestmark = pytest.mark.django_db

API = "/api/2.0/mlflow/"
AJAX = "/ajax-api/2.0/mlflow/"


def call(client, method, endpoint, raw, data=None, prefix=API):
    if method == "get":
        return client.get(prefix + endpoint, data or {}, **bearer(raw))
    body = json.dumps(data or {})
    return client.generic(
        method.upper(), prefix + endpoint, body, "application/json", **bearer(raw)
    )


def ok(response):
    assert response.status_code == 200, response.content
    return response.json()


def error(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["error_code"] == code, response.json()
    return response.json()["message"]


@pytest.fixture
def raw(alice_token):
    return alice_token[1]


@pytest.fixture
def run(project, alice):
    return RunFactory(experiment=ExperimentFactory(project=project), user=alice)


@pytest.fixture
def logged_model(client, raw, run):
    body = {"experiment_id": str(run.experiment_id), "source_run_id": run.run_id, "name": "m"}
    return ok(call(client, "post", "logged-models", raw, body))["model"]["info"]


@pytest.fixture
def registered(client, raw, logged_model):
    ok(call(client, "post", "registered-models/create", raw, {"name": "clf"}))
    source = f"models:/{logged_model['model_id']}"
    body = {"name": "clf", "source": source, "model_id": logged_model["model_id"]}
    return ok(call(client, "post", "model-versions/create", raw, body))["model_version"]


def test_create_and_get_registered_model(client, raw):
    body = {"name": "clf", "description": "d", "tags": [{"key": "team", "value": "rl"}]}
    created = ok(call(client, "post", "registered-models/create", raw, body))["registered_model"]
    assert created["name"] == "clf"
    assert created["tags"] == [{"key": "team", "value": "rl"}]
    got = ok(call(client, "get", "registered-models/get", raw, {"name": "clf"}))
    assert got["registered_model"]["description"] == "d"
    assert "latest_versions" not in got["registered_model"]


def test_duplicate_name_is_resource_already_exists(client, raw):
    ok(call(client, "post", "registered-models/create", raw, {"name": "clf"}))
    response = call(client, "post", "registered-models/create", raw, {"name": "clf"})
    error(response, 400, "RESOURCE_ALREADY_EXISTS")


@pytest.mark.parametrize("name", ["a/b", "a:b", "bad\nname", "tab\tname", "", "   "])
def test_bad_names_write_nothing(client, raw, name):
    response = call(client, "post", "registered-models/create", raw, {"name": name})
    error(response, 400, "INVALID_PARAMETER_VALUE")
    assert not RegisteredModel.objects.exists()


def test_version_from_logged_model_resolves_to_its_artifacts(
    client, raw, registered, logged_model, run
):
    assert registered["version"] == "1"
    assert registered["run_id"] == run.run_id
    assert registered["status"] == "READY"
    assert registered["current_stage"] == "None"
    uri = ok(
        call(client, "get", "model-versions/get-download-uri", raw, {"name": "clf", "version": "1"})
    )
    assert uri == {"artifact_uri": logged_model["artifact_uri"]}
    assert uri["artifact_uri"].startswith("mlflow-artifacts:/")


def test_versions_count_up_and_runs_uri_is_kept(client, raw, registered, run):
    body = {"name": "clf", "source": f"runs:/{run.run_id}/model", "run_id": run.run_id}
    second = ok(call(client, "post", "model-versions/create", raw, body))["model_version"]
    assert second["version"] == "2"
    assert second["source"] == f"runs:/{run.run_id}/model"
    model = ok(call(client, "get", "registered-models/get", raw, {"name": "clf"}))
    assert [v["version"] for v in model["registered_model"]["latest_versions"]] == ["2"]


def test_unknown_version_and_model_are_resource_does_not_exist(client, raw, registered):
    error(
        call(client, "get", "model-versions/get", raw, {"name": "clf", "version": "9"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        call(client, "get", "registered-models/get", raw, {"name": "nope"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        call(client, "get", "model-versions/get", raw, {"name": "clf", "version": "x"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_alias_set_get_move_and_delete_are_audited(client, raw, registered, run):
    body = {"name": "clf", "source": f"runs:/{run.run_id}/model", "run_id": run.run_id}
    ok(call(client, "post", "model-versions/create", raw, body))
    alias = {"name": "clf", "alias": "champion", "version": "1"}
    ok(call(client, "post", "registered-models/alias", raw, alias))
    got = ok(
        call(client, "get", "registered-models/alias", raw, {"name": "clf", "alias": "champion"})
    )
    assert got["model_version"]["version"] == "1"
    assert got["model_version"]["aliases"] == ["champion"]
    ok(call(client, "post", "registered-models/alias", raw, {**alias, "version": "2"}))
    model = ok(call(client, "get", "registered-models/get", raw, {"name": "clf"}))
    assert model["registered_model"]["aliases"] == [{"alias": "champion", "version": "2"}]
    ok(call(client, "delete", "registered-models/alias", raw, {"name": "clf", "alias": "champion"}))
    details = list(
        AuditEvent.objects.filter(
            action__in=[AuditAction.MODEL_ALIAS_SET, AuditAction.MODEL_ALIAS_DELETED]
        )
        .order_by("pk")
        .values_list("username", "detail")
    )
    assert details == [
        ("alice", "@champion -> version 1"),
        ("alice", "@champion: version 1 -> version 2"),
        ("alice", "@champion removed (was version 2)"),
    ]
    missing = call(client, "get", "registered-models/alias", raw, {"name": "clf", "alias": "x"})
    error(missing, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("alias", ["v3", "V12", "latest", "LATEST", "has space", "a/b", ""])
def test_reserved_or_bad_aliases_are_refused(client, raw, registered, alias):
    body = {"name": "clf", "alias": alias, "version": "1"}
    error(
        call(client, "post", "registered-models/alias", raw, body), 400, "INVALID_PARAMETER_VALUE"
    )
    assert not ModelAlias.objects.exists()


def test_rename_update_tags_and_delete(client, raw, registered, alice, project):
    renamed = ok(
        call(client, "post", "registered-models/rename", raw, {"name": "clf", "new_name": "c2"})
    )
    assert renamed["registered_model"]["name"] == "c2"
    ok(call(client, "patch", "registered-models/update", raw, {"name": "c2", "description": "x"}))
    ok(
        call(
            client,
            "post",
            "registered-models/set-tag",
            raw,
            {"name": "c2", "key": "k", "value": "v"},
        )
    )
    ok(call(client, "delete", "registered-models/delete-tag", raw, {"name": "c2", "key": "k"}))
    tag = {"name": "c2", "version": "1", "key": "k", "value": "v"}
    ok(call(client, "post", "model-versions/set-tag", raw, tag))
    version = ok(call(client, "get", "model-versions/get", raw, {"name": "c2", "version": "1"}))
    assert version["model_version"]["tags"] == [{"key": "k", "value": "v"}]
    ok(
        call(
            client,
            "patch",
            "model-versions/update",
            raw,
            {"name": "c2", "version": "1", "description": "dd"},
        )
    )
    stage = {"name": "c2", "version": "1", "stage": "production"}
    moved = ok(call(client, "post", "model-versions/transition-stage", raw, stage))
    assert moved["model_version"]["current_stage"] == "Production"
    # A token is capped at editor, so deleting (a manager's call) needs the manager's session.
    body = {"name": "c2", "version": "1"}
    error(call(client, "delete", "model-versions/delete", raw, body), 403, "PERMISSION_DENIED")
    manager = Actor(user=alice)
    version = model_version_for(actor=manager, project=project, name="c2", version="1")
    model_version_delete(actor=manager, version=version)
    assert not ModelVersion.objects.exists()
    model = registered_model_for(actor=manager, project=project, name="c2", need=Role.MANAGER)
    registered_model_delete(actor=manager, model=model)
    assert not RegisteredModel.objects.exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        AuditAction.REGISTERED_MODEL_RENAMED,
        AuditAction.MODEL_VERSION_DELETED,
        AuditAction.REGISTERED_MODEL_DELETED,
    } <= actions


def test_search_filters_orders_and_pages(client, raw):
    for name in ["alpha-1", "alpha-2", "beta", "Alpha-3"]:
        ok(call(client, "post", "registered-models/create", raw, {"name": name}))
    ok(
        call(
            client,
            "post",
            "registered-models/set-tag",
            raw,
            {"name": "beta", "key": "t", "value": "1"},
        )
    )

    def names(**query):
        body = ok(call(client, "get", "registered-models/search", raw, query))
        return [m["name"] for m in body.get("registered_models", [])], body.get("next_page_token")

    assert names(filter="name LIKE 'alpha%'")[0] == ["alpha-1", "alpha-2"]
    assert names(filter="name ILIKE 'alpha%'")[0] == ["Alpha-3", "alpha-1", "alpha-2"]
    assert names(filter="tags.t = '1'")[0] == ["beta"]
    assert names(filter="name = 'beta'")[0] == ["beta"]
    assert names(order_by="name DESC")[0] == ["beta", "alpha-2", "alpha-1", "Alpha-3"]
    first, token = names(max_results=3)
    assert len(first) == 3 and token
    rest, token2 = names(max_results=3, page_token=token)
    assert rest == ["beta"] and token2 is None
    error(
        call(client, "get", "registered-models/search", raw, {"filter": "nonsense = 1"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_search_model_versions_by_name_and_run(client, raw, registered, run):
    body = ok(call(client, "get", "model-versions/search", raw, {"filter": "name = 'clf'"}))
    assert [v["version"] for v in body["model_versions"]] == ["1"]
    body = ok(
        call(client, "get", "model-versions/search", raw, {"filter": f"run_id = '{run.run_id}'"})
    )
    assert len(body["model_versions"]) == 1
    assert ok(call(client, "get", "model-versions/search", raw, {"filter": "name = 'x'"})) == {}


def test_ajax_prefix_serves_the_registry(client, raw, registered):
    body = ok(call(client, "get", "registered-models/get", raw, {"name": "clf"}, prefix=AJAX))
    assert body["registered_model"]["name"] == "clf"


# --- access -------------------------------------------------------------------------------------

READS = [
    ("get", "registered-models/get", {"name": "clf"}),
    ("get", "model-versions/get", {"name": "clf", "version": "1"}),
    ("get", "model-versions/get-download-uri", {"name": "clf", "version": "1"}),
    ("get", "registered-models/alias", {"name": "clf", "alias": "champion"}),
    ("get", "registered-models/get-latest-versions", {"name": "clf"}),
]
WRITES = [
    ("post", "registered-models/create", {"name": "new"}),
    ("post", "registered-models/rename", {"name": "clf", "new_name": "x"}),
    ("patch", "registered-models/update", {"name": "clf", "description": "x"}),
    ("post", "registered-models/set-tag", {"name": "clf", "key": "k", "value": "v"}),
    ("delete", "registered-models/delete-tag", {"name": "clf", "key": "k"}),
    ("post", "registered-models/alias", {"name": "clf", "alias": "a", "version": "1"}),
    ("delete", "registered-models/alias", {"name": "clf", "alias": "champion"}),
    ("post", "model-versions/create", {"name": "clf", "source": "s3://b/m"}),
    ("patch", "model-versions/update", {"name": "clf", "version": "1", "description": "x"}),
    ("post", "model-versions/set-tag", {"name": "clf", "version": "1", "key": "k", "value": "v"}),
    ("delete", "model-versions/delete-tag", {"name": "clf", "version": "1", "key": "k"}),
    (
        "post",
        "model-versions/transition-stage",
        {"name": "clf", "version": "1", "stage": "Staging"},
    ),
    ("delete", "model-versions/delete", {"name": "clf", "version": "1"}),
    ("delete", "registered-models/delete", {"name": "clf"}),
]
MANAGER_ONLY = {"model-versions/delete", "registered-models/delete"}


def _snapshot():
    return (
        list(RegisteredModel.objects.values_list("name", "description", "updated_time")),
        list(ModelVersion.objects.values_list("version", "description", "stage")),
        list(ModelAlias.objects.values_list("alias", "model_version__version")),
    )


@pytest.fixture
def with_alias(client, raw, registered):
    ok(
        call(
            client,
            "post",
            "registered-models/alias",
            raw,
            {"name": "clf", "alias": "champion", "version": "1"},
        )
    )


@pytest.mark.parametrize("method,endpoint,data", READS + WRITES)
def test_another_projects_token_sees_nothing(
    client, charlie_token, with_alias, method, endpoint, data
):
    before = _snapshot()
    response = call(client, method, endpoint, charlie_token[1], data)
    if endpoint == "registered-models/create":
        # It creates in charlie's own project, never in alice's.
        assert response.status_code == 200
        assert RegisteredModel.objects.get(name="new").project.slug == "other"
    else:
        error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    assert _snapshot()[1:] == before[1:]
    assert RegisteredModel.objects.filter(project__slug="alpha").count() == 1


@pytest.mark.parametrize("method,endpoint,data", WRITES)
def test_read_token_and_viewer_get_permission_denied_for_writes(
    client, alice, bob, project, with_alias, method, endpoint, data
):
    read_raw = make_token(user=alice, project=project, scope=TokenScope.READ)[1]
    bob_raw = make_token(user=bob, project=project, scope=TokenScope.WRITE)[1]
    before = _snapshot()
    error(call(client, method, endpoint, read_raw, data), 403, "PERMISSION_DENIED")
    error(call(client, method, endpoint, bob_raw, data), 403, "PERMISSION_DENIED")
    assert _snapshot() == before


@pytest.mark.parametrize("method,endpoint,data", READS)
def test_viewer_reads(client, bob, project, with_alias, method, endpoint, data):
    bob_raw = make_token(user=bob, project=project, scope=TokenScope.READ)[1]
    ok(call(client, method, endpoint, bob_raw, data))


@pytest.mark.parametrize("method,endpoint,data", WRITES)
def test_editor_writes_but_only_managers_delete(
    client, django_user_model, project, with_alias, method, endpoint, data
):
    dave = django_user_model.objects.create_user("dave", "dave@example.org", "dave-password-1")
    project.memberships.create(user=dave, role=Role.EDITOR)
    dave_raw = make_token(user=dave, project=project, scope=TokenScope.WRITE)[1]
    response = call(client, method, endpoint, dave_raw, data)
    if endpoint in MANAGER_ONLY:
        error(response, 403, "PERMISSION_DENIED")
    else:
        ok(response)


def test_models_uri_of_another_project_is_refused(client, raw, charlie, other_project):
    ok(call(client, "post", "registered-models/create", raw, {"name": "clf"}))
    charlie_raw = make_token(user=charlie, project=other_project)[1]
    theirs = RunFactory(experiment=ExperimentFactory(project=other_project), user=charlie)
    body = {"experiment_id": str(theirs.experiment_id), "source_run_id": theirs.run_id}
    their_model = ok(call(client, "post", "logged-models", charlie_raw, body))["model"]["info"]
    # Sent as the client sends them, so the lineage is consistent and only the project is wrong.
    for source, lineage in [
        (f"models:/{their_model['model_id']}", {"model_id": their_model["model_id"]}),
        (f"runs:/{theirs.run_id}/model", {"run_id": theirs.run_id}),
    ]:
        body = {"name": "clf", "source": source, **lineage}
        response = call(client, "post", "model-versions/create", raw, body)
        error(response, 400, "INVALID_PARAMETER_VALUE")
    assert not ModelVersion.objects.exists()


def test_prompts_stay_out_of_searches_unless_asked_for(client, raw):
    ok(call(client, "post", "registered-models/create", raw, {"name": "clf"}))
    prompt = {"name": "p", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]}
    ok(call(client, "post", "registered-models/create", raw, prompt))
    models_only = "tags.`mlflow.prompt.is_prompt` != 'true'"
    body = ok(call(client, "get", "registered-models/search", raw, {"filter": models_only}))
    assert [m["name"] for m in body["registered_models"]] == ["clf"]
    prompts = "tags.`mlflow.prompt.is_prompt` = 'true'"
    body = ok(call(client, "get", "registered-models/search", raw, {"filter": prompts}))
    assert [m["name"] for m in body["registered_models"]] == ["p"]


@pytest.mark.parametrize(
    ("source", "lineage"),
    [
        ("runs:/{run}/model", {}),
        ("runs:/{run}/model", {"run_id": "f" * 32}),
        ("runs:/{run}/model", {"run_id": "{run}", "model_id": "{model}"}),
        ("models:/{model}", {}),
        ("models:/{model}", {"model_id": "m-" + "0" * 32}),
    ],
)
def test_a_source_must_agree_with_run_id_and_model_id_as_on_mlflows_server(
    client, raw, run, logged_model, source, lineage
):
    ok(call(client, "post", "registered-models/create", raw, {"name": "clf"}))
    ids = {"{run}": run.run_id, "{model}": logged_model["model_id"]}
    for placeholder, value in ids.items():
        source = source.replace(placeholder, value)
        lineage = {k: v.replace(placeholder, value) for k, v in lineage.items()}
    body = {"name": "clf", "source": source, **lineage}
    message = error(
        call(client, "post", "model-versions/create", raw, body), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "request parameter must identify the resource" in message
    assert not ModelVersion.objects.exists()


# --- runs:/ sources are linked to the run's logged model of that name --------------------------


def _log_model(client, raw, run, name: str) -> str:
    body = {"experiment_id": str(run.experiment_id), "source_run_id": run.run_id, "name": name}
    return ok(call(client, "post", "logged-models", raw, body))["model"]["info"]["model_id"]


def _version_from_run(client, raw, run, path: str) -> ModelVersion:
    body = {"name": "clf", "source": f"runs:/{run.run_id}/{path}", "run_id": run.run_id}
    created = ok(call(client, "post", "model-versions/create", raw, body))["model_version"]
    return ModelVersion.objects.select_related("logged_model").get(version=created["version"])


def test_a_runs_uri_version_is_linked_to_the_runs_logged_model_of_that_name(client, raw, run):
    ok(call(client, "post", "registered-models/create", raw, {"name": "clf"}))
    _log_model(client, raw, run, "other")
    model_id = _log_model(client, raw, run, "adder")

    version = _version_from_run(client, raw, run, "adder")

    assert version.logged_model.model_id == model_id
    assert version.run == version.logged_model.source_run
    # MLflow 3 keeps the files under the logged model, so that is where loading reads.
    assert version.storage_location == version.logged_model.artifact_location
    assert version.source == f"runs:/{run.run_id}/adder"
    uri = ok(
        call(client, "get", "model-versions/get-download-uri", raw, {"name": "clf", "version": "1"})
    )
    assert uri["artifact_uri"] == version.logged_model.artifact_location


def test_of_two_logged_models_with_the_name_the_one_output_at_the_largest_step_wins(
    client, raw, run
):
    ok(call(client, "post", "registered-models/create", raw, {"name": "clf"}))
    later_step = _log_model(client, raw, run, "adder")
    newer = _log_model(client, raw, run, "adder")
    outputs = {
        "run_id": run.run_id,
        "models": [{"model_id": later_step, "step": 5}, {"model_id": newer, "step": 1}],
    }
    ok(call(client, "post", "runs/outputs", raw, outputs))

    assert _version_from_run(client, raw, run, "adder").logged_model.model_id == later_step


def test_a_runs_uri_without_a_logged_model_of_that_name_stays_a_runs_uri(client, raw, run):
    ok(call(client, "post", "registered-models/create", raw, {"name": "clf"}))
    _log_model(client, raw, run, "adder")

    version = _version_from_run(client, raw, run, "files/model")

    assert version.logged_model is None
    assert version.run == run
    assert version.storage_location == f"runs:/{run.run_id}/files/model"


def test_the_logged_model_page_lists_a_version_made_from_its_run(client, alice, raw, run, project):
    ok(call(client, "post", "registered-models/create", raw, {"name": "clf"}))
    model_id = _log_model(client, raw, run, "adder")
    _version_from_run(client, raw, run, "adder")

    client.force_login(alice)
    page = client.get(f"/p/{project.slug}/models/{model_id}/").content.decode()
    assert "clf v1" in page
    assert f"/p/{project.slug}/registry/m/clf/#version-1" in page


def test_a_version_made_from_an_alias_records_the_version_it_pointed_at(client, raw, registered):
    ok(
        call(
            client,
            "post",
            "registered-models/alias",
            raw,
            {"name": "clf", "alias": "champion", "version": "1"},
        )
    )
    body = {"name": "clf", "source": "models:/clf@champion"}
    copy = ok(call(client, "post", "model-versions/create", raw, body))["model_version"]
    assert copy["source"] == "models:/clf/1"
    assert copy["run_id"] == registered["run_id"]

"""The registry's pages: the project's list, a model's page, the editors' forms, the managers'
deletions, the alias history; charlie gets 404 and bob (a viewer) cannot write."""

import pytest
from django.urls import reverse

from accounts.access import Actor
from accounts.models import Role
from registry import services as svc
from registry.models import ModelAlias, ModelVersion, RegisteredModel
from tests.factories import ExperimentFactory, RunFactory
from tracking.models import LoggedModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged(project, alice):
    run = RunFactory(experiment=ExperimentFactory(project=project), user=alice)
    return LoggedModel.objects.create(
        experiment=run.experiment,
        name="clf",
        source_run=run,
        artifact_location="mlflow-artifacts:/x",
        user=alice,
    )


@pytest.fixture
def model(project, alice, logged):
    actor = Actor(user=alice)
    registered = svc.registered_model_create(
        actor=actor, project=project, name="clf", description="**bold** text"
    )
    svc.model_version_create(
        actor=actor,
        model=registered,
        source=f"models:/{logged.model_id}",
        storage_location=logged.artifact_location,
        run=logged.source_run,
        logged_model=logged,
    )
    return registered


def url(route, **kwargs):
    return reverse(route, kwargs={"slug": "alpha", **kwargs})


def test_models_page_lists_and_searches(client, alice, model):
    client.force_login(alice)
    page = client.get(url("registered_models")).content.decode()
    assert url("registered_model", name="clf") in page and "v1" in page
    found = client.get(url("registered_models"), {"q": "CL"}).content.decode()
    assert url("registered_model", name="clf") in found
    for query in ["zzz", "zz'z", "100%"]:
        missing = client.get(url("registered_models"), {"q": query}).content.decode()
        assert url("registered_model", name="clf") not in missing
        assert "No registered model matches" in missing


def test_model_page_shows_markdown_versions_and_links(client, alice, model, logged):
    client.force_login(alice)
    page = client.get(url("registered_model", name="clf")).content.decode()
    assert "<strong>bold</strong>" in page
    assert reverse("model", kwargs={"slug": "alpha", "model_id": logged.model_id}) in page
    assert logged.source_run.run_id in page
    logged_page = client.get(
        reverse("model", kwargs={"slug": "alpha", "model_id": logged.model_id})
    )
    assert url("registered_model", name="clf") in logged_page.content.decode()


def test_editor_sets_alias_and_history_shows_who_moved_it(client, alice, model, logged, project):
    client.force_login(alice)
    svc.model_version_create(
        actor=Actor(user=alice), model=model, source="s3://b/m", storage_location="s3://b/m"
    )
    client.post(url("registry_alias_set", name="clf"), {"alias": "champion", "version": "1"})
    client.post(url("registry_alias_set", name="clf"), {"alias": "champion", "version": "2"})
    assert ModelAlias.objects.get().model_version.version == 2
    page = client.get(url("registered_model", name="clf")).content.decode()
    assert "@champion: version 1 -&gt; version 2" in page
    assert "@champion → v2" in page


@pytest.mark.parametrize("alias", ["v3", "latest", "bad alias"])
def test_bad_alias_is_a_form_error_and_writes_nothing(client, alice, model, alias):
    client.force_login(alice)
    response = client.post(
        url("registry_alias_set", name="clf"), {"alias": alias, "version": "1"}, follow=True
    )
    assert response.status_code == 200
    assert not ModelAlias.objects.exists()
    assert (
        "reserved" in response.content.decode() or "may only contain" in response.content.decode()
    )


def test_register_from_a_logged_model(client, alice, logged):
    client.force_login(alice)
    response = client.post(url("registry_register"), {"model_id": logged.model_id, "name": "new"})
    assert response.status_code == 302
    version = ModelVersion.objects.get()
    assert version.registered_model.name == "new"
    assert version.logged_model == logged
    assert version.created_by == alice


@pytest.mark.parametrize(
    "data",
    [{"name": "bad\x1bname"}, {"name": "ok", "model_id": ""}, {"name": "ok", "model_id": "m-nope"}],
)
def test_register_refuses_bad_input_and_writes_nothing(client, alice, logged, data):
    client.force_login(alice)
    response = client.post(url("registry_register"), {"model_id": logged.model_id, **data})
    assert response.status_code == 302
    assert not RegisteredModel.objects.exists()
    assert not ModelVersion.objects.exists()


def test_manager_deletes_versions_and_models(client, alice, model):
    client.force_login(alice)
    client.post(url("registry_version_delete", name="clf"), {"version": "1"})
    assert not ModelVersion.objects.exists()
    client.post(url("registry_model_delete", name="clf"))
    assert not RegisteredModel.objects.exists()


def test_tags_and_description(client, alice, model):
    client.force_login(alice)
    client.post(url("registry_tag_set", name="clf"), {"key": "team", "value": "rl"})
    assert list(model.tags.values_list("key", "value")) == [("team", "rl")]
    client.post(url("registry_tag_delete", name="clf"), {"key": "team"})
    assert not model.tags.exists()
    client.post(url("registry_describe", name="clf"), {"description": "new"})
    model.refresh_from_db()
    assert model.description == "new"


WRITES = [
    ("registry_alias_set", {"alias": "champion", "version": "1"}),
    ("registry_alias_delete", {"alias": "champion"}),
    ("registry_tag_set", {"key": "k", "value": "v"}),
    ("registry_tag_delete", {"key": "k"}),
    ("registry_describe", {"description": "x"}),
    ("registry_version_delete", {"version": "1"}),
    ("registry_model_delete", {}),
]


@pytest.mark.parametrize("route,data", WRITES)
def test_viewer_cannot_write_and_charlie_gets_404(client, bob, charlie, model, route, data):
    client.force_login(bob)
    assert client.get(url("registered_model", name="clf")).status_code == 200
    assert client.post(url(route, name="clf"), data).status_code == 403
    client.force_login(charlie)
    assert client.get(url("registered_model", name="clf")).status_code == 404
    assert client.get(url("registered_models")).status_code == 404
    assert client.post(url(route, name="clf"), data).status_code == 404
    assert ModelVersion.objects.count() == 1
    assert RegisteredModel.objects.get().description == "**bold** text"


def test_editor_cannot_delete(client, django_user_model, project, model):
    dave = django_user_model.objects.create_user("dave", "d@example.org", "dave-password-1")
    project.memberships.create(user=dave, role=Role.EDITOR)
    client.force_login(dave)
    assert (
        client.post(url("registry_version_delete", name="clf"), {"version": "1"}).status_code == 403
    )
    assert (
        client.post(
            url("registry_alias_set", name="clf"), {"alias": "a", "version": "1"}
        ).status_code
        == 302
    )
    assert ModelAlias.objects.count() == 1


def test_viewer_and_stranger_cannot_register(client, bob, charlie, logged):
    client.force_login(bob)
    assert (
        client.post(
            url("registry_register"), {"model_id": logged.model_id, "name": "x"}
        ).status_code
        == 403
    )
    client.force_login(charlie)
    assert (
        client.post(
            url("registry_register"), {"model_id": logged.model_id, "name": "x"}
        ).status_code
        == 404
    )
    assert not RegisteredModel.objects.exists()

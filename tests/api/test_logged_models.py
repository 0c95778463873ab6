"""Logged models and datasets through the native API: list, search, create, finalize, delete,
run datasets; charlie gets 404, bob (viewer, read token) cannot write."""

import pytest

from tracking.models import Dataset, Lifecycle, LoggedModel, LoggedModelStatus, RunInput

from .helpers import API, error_fields, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(alice, default_experiment):
    return make_run(alice, default_experiment, name="train")


def models_url(experiment) -> str:
    return f"{API}/experiments/{experiment.pk}/models/"


def create(client, experiment, **body):
    response = client.post(models_url(experiment), body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_alice_creates_finalizes_lists_and_deletes_a_model(alice_api, run, default_experiment):
    model = create(
        alice_api,
        default_experiment,
        name="clf",
        source_run_id=run.run_id,
        params={"C": "1"},
        tags={"team": "rl"},
    )
    assert model["status"] == "PENDING"
    assert model["source_run_id"] == run.run_id
    assert model["params"] == {"C": "1"} and model["tags"] == {"team": "rl"}
    assert model["load_uri"] == f"models:/{model['model_id']}"
    url = f"{API}/models/{model['model_id']}/"
    patched = alice_api.patch(url, {"status": "READY", "tags": {"v": "2"}}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["status"] == "READY"
    assert patched.json()["tags"] == {"team": "rl", "v": "2"}
    create(alice_api, default_experiment, name="other")
    listed = alice_api.get(models_url(default_experiment), {"filter": "name = 'clf'"})
    assert [m["name"] for m in listed.json()["results"]] == ["clf"]
    assert alice_api.delete(url).status_code == 204
    assert LoggedModel.objects.get(name="clf").lifecycle == Lifecycle.DELETED
    assert alice_api.get(url).status_code == 404


def test_lists_page_with_a_cursor(alice_api, default_experiment):
    for i in range(3):
        create(alice_api, default_experiment, name=f"m{i}")
    first = alice_api.get(models_url(default_experiment), {"page_size": 2}).json()
    rest = alice_api.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(rest["results"]) == 1
    assert rest["next"] is None


def test_bad_input_is_400_and_writes_nothing(alice_api, default_experiment):
    for body in ({"name": "a/b"}, {"params": {"../x": "1"}}, {"source_run_id": 5}):
        response = alice_api.post(models_url(default_experiment), body, format="json")
        assert response.status_code in (400, 404), response.content
    assert not LoggedModel.objects.exists()
    response = alice_api.get(models_url(default_experiment), {"filter": "nope.x > 1"})
    assert response.status_code == 400
    model = create(alice_api, default_experiment, name="m")
    response = alice_api.patch(f"{API}/models/{model['model_id']}/", {"status": "DONE"}, "json")
    assert "status" in error_fields(response)
    assert LoggedModel.objects.get().status == LoggedModelStatus.PENDING


def test_run_datasets_are_logged_once_and_listed(alice_api, run, default_experiment):
    url = f"{API}/runs/{run.run_id}/datasets/"
    body = {
        "name": "iris",
        "digest": "abc",
        "source_type": "local",
        "source": "s",
        "context": "training",
    }
    assert alice_api.post(url, body, format="json").status_code == 201
    got = alice_api.post(url, body, format="json").json()
    assert [(d["dataset"]["name"], d["context"]) for d in got] == [("iris", "training")]
    assert alice_api.get(url).json() == got
    listed = alice_api.get(f"{API}/experiments/{default_experiment.pk}/datasets/").json()
    [dataset] = listed["results"]
    assert dataset["digest"] == "abc"
    detail = alice_api.get(f"{API}/datasets/{dataset['dataset_id']}/")
    assert detail.json()["name"] == "iris"
    bad = alice_api.post(url, {"name": "x", "digest": "d" * 40}, format="json")
    assert "digest" in error_fields(bad)
    assert Dataset.objects.count() == 1


def test_a_manager_deletes_a_dataset_on_the_session_not_with_a_token(alice, alice_api, run):
    from rest_framework.test import APIClient

    alice_api.post(f"{API}/runs/{run.run_id}/datasets/", {"name": "d", "digest": "1"}, "json")
    url = f"{API}/datasets/{Dataset.objects.get().dataset_id}/"
    # A write token is capped at editor; deleting a dataset needs a manager.
    assert alice_api.delete(url).status_code == 403
    session = APIClient()
    session.force_login(alice)
    assert session.delete(url).status_code == 204
    assert not RunInput.objects.exists()


def test_charlie_gets_404_for_everything(alice_api, charlie_api, run, default_experiment):
    model = create(alice_api, default_experiment, name="m")
    alice_api.post(f"{API}/runs/{run.run_id}/datasets/", {"name": "d", "digest": "1"}, "json")
    dataset_id = Dataset.objects.get().dataset_id
    for method, url in [
        ("get", models_url(default_experiment)),
        ("post", models_url(default_experiment)),
        ("get", f"{API}/models/{model['model_id']}/"),
        ("patch", f"{API}/models/{model['model_id']}/"),
        ("delete", f"{API}/models/{model['model_id']}/"),
        ("get", f"{API}/experiments/{default_experiment.pk}/datasets/"),
        ("get", f"{API}/runs/{run.run_id}/datasets/"),
        ("post", f"{API}/runs/{run.run_id}/datasets/"),
        ("get", f"{API}/datasets/{dataset_id}/"),
        ("delete", f"{API}/datasets/{dataset_id}/"),
    ]:
        response = getattr(charlie_api, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url, response.content)


def test_bob_reads_but_cannot_write(alice_api, bob_api, run, default_experiment):
    model = create(alice_api, default_experiment, name="m")
    alice_api.post(f"{API}/runs/{run.run_id}/datasets/", {"name": "d", "digest": "1"}, "json")
    dataset_id = Dataset.objects.get().dataset_id
    assert bob_api.get(f"{API}/models/{model['model_id']}/").status_code == 200
    assert bob_api.get(f"{API}/datasets/{dataset_id}/").status_code == 200
    for method, url, body in [
        ("post", models_url(default_experiment), {"name": "x"}),
        ("patch", f"{API}/models/{model['model_id']}/", {"status": "READY"}),
        ("delete", f"{API}/models/{model['model_id']}/", {}),
        ("post", f"{API}/runs/{run.run_id}/datasets/", {"name": "e", "digest": "2"}),
        ("delete", f"{API}/datasets/{dataset_id}/", {}),
    ]:
        response = getattr(bob_api, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.content)
    assert LoggedModel.objects.get().status == LoggedModelStatus.PENDING
    assert Dataset.objects.count() == 1


def test_an_editor_token_cannot_delete_a_dataset(alice, project, run):
    from accounts.models import Membership, Role, TokenScope
    from tests.factories import UserFactory, make_token

    from .helpers import client_for

    dora = UserFactory(username="dora")
    Membership.objects.create(project=project, user=dora, role=Role.EDITOR)
    client = client_for(make_token(user=dora, project=project, scope=TokenScope.WRITE)[1])
    client.post(f"{API}/runs/{run.run_id}/datasets/", {"name": "d", "digest": "1"}, "json")
    dataset_id = Dataset.objects.get().dataset_id
    assert client.delete(f"{API}/datasets/{dataset_id}/").status_code == 403

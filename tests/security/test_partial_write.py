"""Partial write: `experiments/set-experiment-tag` with a `mlflow.note.content` of 9,007
characters answered 400 but stored the description. Everything is checked before anything is
written, in one transaction."""

import json

import pytest

from accounts.models import TokenScope
from tests.conftest import bearer
from tests.factories import make_token
from tracking.models import Experiment, ExperimentTag, Lifecycle
from tracking.services.experiments import experiment_create

pytestmark = pytest.mark.django_db

URL = "/api/2.0/mlflow/experiments/set-experiment-tag"
NOTE = "mlflow.note.content"


@pytest.fixture
def experiment(alice, project):
    from accounts.access import Actor

    return experiment_create(
        actor=Actor(user=alice), project=project, name="resnet", description="before"
    )


def set_tag(api_client, raw, experiment, key, value):
    body = {"experiment_id": str(experiment.pk), "key": key, "value": value}
    return api_client.generic("POST", URL, json.dumps(body), "application/json", **bearer(raw))


def test_a_too_long_note_is_400_and_changes_nothing(api_client, alice_token, experiment):
    response = set_tag(api_client, alice_token[1], experiment, NOTE, "x" * 9007)

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    experiment.refresh_from_db()
    assert experiment.description == "before"
    assert not ExperimentTag.objects.filter(experiment=experiment, key=NOTE).exists()


def test_a_note_on_a_deleted_experiment_is_400_and_changes_nothing(
    api_client, alice_token, experiment
):
    Experiment.objects.filter(pk=experiment.pk).update(lifecycle=Lifecycle.DELETED)

    response = set_tag(api_client, alice_token[1], experiment, NOTE, "after")

    assert response.status_code == 400
    experiment.refresh_from_db()
    assert experiment.description == "before"


def test_a_valid_note_sets_the_description_and_the_tag(api_client, alice_token, experiment):
    response = set_tag(api_client, alice_token[1], experiment, NOTE, "y" * 8000)

    assert response.status_code == 200, response.content
    experiment.refresh_from_db()
    assert experiment.description == "y" * 8000
    assert ExperimentTag.objects.get(experiment=experiment, key=NOTE).value == "y" * 8000


def test_a_too_long_description_is_refused_on_create_and_on_the_native_api(
    api_client, alice, alice_token, project, experiment
):
    body = {"name": "long", "tags": [{"key": NOTE, "value": "z" * 8001}]}
    response = api_client.generic(
        "POST",
        "/api/2.0/mlflow/experiments/create",
        json.dumps(body),
        "application/json",
        **bearer(alice_token[1]),
    )
    assert response.status_code == 400
    assert not Experiment.objects.filter(name="long").exists()

    url = f"/api/v1/projects/{project.slug}/experiments/{experiment.pk}/"
    response = api_client.patch(
        url, {"name": "renamed", "description": "z" * 8001}, format="json", **bearer(alice_token[1])
    )
    assert response.status_code == 400
    experiment.refresh_from_db()
    assert (experiment.name, experiment.description) == ("resnet", "before")


def test_bob_cannot_set_the_note_and_charlie_gets_404(
    api_client, bob, project, charlie_token, experiment
):
    _, bob_raw = make_token(user=bob, project=project, scope=TokenScope.READ)
    assert set_tag(api_client, bob_raw, experiment, NOTE, "bob").status_code == 403
    assert set_tag(api_client, charlie_token[1], experiment, NOTE, "charlie").status_code == 404
    experiment.refresh_from_db()
    assert experiment.description == "before"


@pytest.mark.parametrize(
    ("deleted", "description"),
    [(False, "z" * 8001), (True, "changed while deleted")],
)
def test_the_admin_refuses_what_the_services_refuse_with_a_form_error(
    admin_client, experiment, deleted, description
):
    if deleted:
        Experiment.objects.filter(pk=experiment.pk).update(lifecycle=Lifecycle.DELETED)

    response = admin_client.post(
        f"/admin/tracking/experiment/{experiment.pk}/change/",
        {
            "name": "resnet",
            "description": description,
            "tags-TOTAL_FORMS": "0",
            "tags-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["description"]
    experiment.refresh_from_db()
    assert experiment.description == "before"

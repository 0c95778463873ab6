"""The experiment and run services behind the MLflow endpoints and pages: roles, lifecycle."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.access import Actor
from accounts.models import AuditAction, AuditEvent, TokenScope
from tests.factories import ExperimentFactory, RunFactory, make_token
from tracking.errors import AlreadyExists, InvalidInput, NotFound
from tracking.models import Experiment, Lifecycle, Run, RunTag
from tracking.services.experiments import (
    experiment_create,
    experiment_delete,
    experiment_delete_tag,
    experiment_purge,
    experiment_restore,
    experiment_set_tag,
    experiment_update,
)
from tracking.services.runs import run_create, run_delete, run_restore, run_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment(project):
    return ExperimentFactory(project=project, name="exp")


def test_experiment_create_sets_the_proxied_artifact_location(alice, project):
    experiment = experiment_create(actor=Actor(alice), project=project, name="new", tags={"a": "1"})
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment.pk}"
    assert experiment.tags.get().value == "1"


def test_experiment_names_are_limited_to_500_characters(alice, project):
    with pytest.raises(InvalidInput):
        experiment_create(actor=Actor(alice), project=project, name="x" * 501)
    experiment_create(actor=Actor(alice), project=project, name="x" * 500)


def test_bob_the_viewer_cannot_create_experiments(bob, project):
    with pytest.raises(PermissionDenied):
        experiment_create(actor=Actor(bob), project=project, name="nope")


def test_charlie_cannot_see_the_project(charlie, project):
    with pytest.raises(Http404):
        experiment_create(actor=Actor(charlie), project=project, name="nope")


def test_renaming_to_a_taken_name_is_already_exists(alice, project, experiment):
    ExperimentFactory(project=project, name="taken")
    with pytest.raises(AlreadyExists):
        experiment_update(actor=Actor(alice), experiment=experiment, name="taken")


def test_the_default_experiment_can_be_neither_renamed_nor_deleted(alice, default_experiment):
    with pytest.raises(InvalidInput):
        experiment_update(actor=Actor(alice), experiment=default_experiment, name="other")
    with pytest.raises(InvalidInput):
        experiment_delete(actor=Actor(alice), experiment=default_experiment)


def test_deleting_an_experiment_deletes_its_runs_and_restoring_brings_them_back(alice, experiment):
    run = RunFactory(experiment=experiment)
    experiment_delete(actor=Actor(alice), experiment=experiment)
    run.refresh_from_db()
    assert run.lifecycle == Lifecycle.DELETED and run.deleted_time
    experiment_restore(actor=Actor(alice), experiment=experiment)
    run.refresh_from_db()
    assert run.lifecycle == Lifecycle.ACTIVE and run.deleted_time is None
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {AuditAction.EXPERIMENT_DELETED, AuditAction.EXPERIMENT_RESTORED} <= actions


def test_an_editor_token_may_soft_delete_but_not_purge(alice, project, experiment):
    token, _ = make_token(user=alice, project=project, scope=TokenScope.WRITE)
    actor = Actor(alice, token)
    experiment_delete(actor=actor, experiment=experiment)
    with pytest.raises(PermissionDenied):
        experiment_purge(actor=actor, experiment=experiment)


def test_a_manager_purges_a_deleted_experiment_for_good(alice, experiment):
    RunFactory(experiment=experiment)
    with pytest.raises(InvalidInput):
        experiment_purge(actor=Actor(alice), experiment=experiment)
    experiment_delete(actor=Actor(alice), experiment=experiment)
    experiment_purge(actor=Actor(alice), experiment=experiment)
    assert not Experiment.objects.filter(name="exp").exists()
    assert not Run.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.EXPERIMENT_PURGED).exists()


def test_a_purged_name_can_be_used_again(alice, project, experiment):
    experiment_delete(actor=Actor(alice), experiment=experiment)
    with pytest.raises(AlreadyExists):
        experiment_create(actor=Actor(alice), project=project, name="exp")
    experiment_purge(actor=Actor(alice), experiment=experiment)
    experiment_create(actor=Actor(alice), project=project, name="exp")


def test_experiment_tags_last_write_wins_and_delete(alice, experiment):
    experiment_set_tag(actor=Actor(alice), experiment=experiment, key="k", value="1")
    experiment_set_tag(actor=Actor(alice), experiment=experiment, key="k", value="2")
    assert experiment.tags.get().value == "2"
    experiment_delete_tag(actor=Actor(alice), experiment=experiment, key="k")
    with pytest.raises(NotFound):
        experiment_delete_tag(actor=Actor(alice), experiment=experiment, key="k")


def test_run_create_names_and_owns_the_run(alice, experiment):
    run = run_create(actor=Actor(alice), experiment=experiment, tags={"mlflow.user": "eve"})
    assert run.name
    assert run.user == alice
    tags = dict(RunTag.objects.filter(run=run).values_list("key", "value"))
    assert tags["mlflow.user"] == "alice"
    assert tags["mlflow.runName"] == run.name


def test_no_run_in_a_deleted_experiment(alice, experiment):
    experiment_delete(actor=Actor(alice), experiment=experiment)
    with pytest.raises(InvalidInput):
        run_create(actor=Actor(alice), experiment=experiment)


def test_run_update_renames_through_the_run_name_tag(alice, experiment):
    run = run_create(actor=Actor(alice), experiment=experiment, name="a")
    run_update(actor=Actor(alice), run=run, name="b", status="FAILED", end_time=5)
    run.refresh_from_db()
    assert (run.name, run.status, run.end_time) == ("b", "FAILED", 5)
    assert RunTag.objects.get(run=run, key="mlflow.runName").value == "b"


def test_a_run_is_restored_only_with_its_experiment(alice, experiment):
    run = RunFactory(experiment=experiment)
    run_delete(actor=Actor(alice), run=run)
    experiment_delete(actor=Actor(alice), experiment=experiment)
    with pytest.raises(InvalidInput):
        run_restore(actor=Actor(alice), run=Run.objects.select_related("experiment").get(pk=run.pk))

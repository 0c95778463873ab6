"""Purging an experiment left its artifacts on disk. The purge now records the experiment's
artifact folder in its transaction; a Celery task deletes the files, then the record, retrying
with backoff, and a periodic task re-queues whatever is left, so no file is forgotten.

The tasks run for real on Celery's eager runner (in this process, retries included)."""

import pytest
from django.urls import reverse

from accounts.access import Actor
from mlplatform.celery import app as celery_app
from tests.conftest import bearer
from tests.factories import RunFactory
from tracking import artifacts, tasks
from tracking.models import ArtifactDeletion, Experiment, ExperimentTag
from tracking.services.experiments import experiment_create, experiment_delete

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
def eager():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def doomed(alice, project, client, alice_token):
    """A deleted experiment with artifacts in two runs."""
    experiment = experiment_create(actor=Actor(user=alice), project=project, name="doomed")
    for name in ("model.bin", "deep/er/notes.txt"):
        run = RunFactory(experiment=experiment, user=alice)
        upload(client, alice_token[1], f"{experiment.pk}/{run.run_id}/artifacts/{name}")
    experiment_delete(actor=Actor(user=alice), experiment=experiment)
    return experiment


@pytest.fixture
def keeper(alice, project, client, alice_token):
    experiment = experiment_create(actor=Actor(user=alice), project=project, name="keeper")
    run = RunFactory(experiment=experiment, user=alice)
    path = f"{experiment.pk}/{run.run_id}/artifacts/keep.bin"
    upload(client, alice_token[1], path)
    return path


def upload(client, raw, path) -> None:
    response = client.generic(
        "PUT", f"{ROOT}/{path}", b"x", "application/octet-stream", **bearer(raw)
    )
    assert response.status_code == 200, response.content


def purge(client, user, experiment, django_capture_on_commit_callbacks):
    client.force_login(user)
    url = reverse(
        "experiment_purge", kwargs={"slug": experiment.project.slug, "experiment_id": experiment.pk}
    )
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(url)


def files_under(root, folder) -> list:
    return [p for p in (root / str(folder)).rglob("*") if p.is_file()]


class FlakyStorage:
    """The real file storage, failing its first `failures` deletes. Running as root here, a
    read-only folder would not make deletion fail, so this is the one stand-in."""

    def __init__(self, real, failures: int) -> None:
        self.real, self.failures = real, failures

    def delete(self, name):
        if self.failures > 0:
            self.failures -= 1
            raise PermissionError(13, "Permission denied", name)
        return self.real.delete(name)

    def __getattr__(self, name):
        return getattr(self.real, name)


def flaky(monkeypatch, failures: int) -> None:
    real = artifacts.artifact_storage()
    storage = FlakyStorage(real, failures)
    monkeypatch.setattr(artifacts, "artifact_storage", lambda: storage)


def test_purging_deletes_the_experiments_artifacts_and_only_them(
    client, alice, doomed, keeper, artifact_root, eager, django_capture_on_commit_callbacks
):
    assert len(files_under(artifact_root, doomed.pk)) == 2

    response = purge(client, alice, doomed, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert not Experiment.objects.filter(pk=doomed.pk).exists()
    assert not (artifact_root / str(doomed.pk)).exists()
    assert (artifact_root / keeper).read_bytes() == b"x"
    assert not ArtifactDeletion.objects.exists()


def test_a_failing_storage_is_retried_until_the_files_are_gone(
    client, alice, doomed, artifact_root, eager, monkeypatch, django_capture_on_commit_callbacks
):
    flaky(monkeypatch, failures=2)

    purge(client, alice, doomed, django_capture_on_commit_callbacks)

    assert files_under(artifact_root, doomed.pk) == []
    assert not ArtifactDeletion.objects.exists()


def test_a_deletion_that_keeps_failing_stays_recorded_and_is_requeued_later(
    client, alice, doomed, artifact_root, eager, monkeypatch, django_capture_on_commit_callbacks
):
    flaky(monkeypatch, failures=10_000)

    purge(client, alice, doomed, django_capture_on_commit_callbacks)

    (pending,) = ArtifactDeletion.objects.all()
    assert pending.path == str(doomed.pk)
    assert pending.attempts == tasks.delete_artifacts.max_retries + 1
    assert "Permission denied" in pending.last_error
    assert len(files_under(artifact_root, doomed.pk)) >= 1

    monkeypatch.undo()
    ArtifactDeletion.objects.update(created_at=pending.created_at.replace(year=2000))
    tasks.requeue_artifact_deletions.delay()

    assert files_under(artifact_root, doomed.pk) == []
    assert not ArtifactDeletion.objects.exists()


def test_a_purge_while_the_broker_is_down_still_succeeds_and_is_caught_up(
    client, alice, doomed, artifact_root, eager, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(tasks.delete_artifacts, "apply_async", broker_down)

    response = purge(client, alice, doomed, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert not Experiment.objects.filter(pk=doomed.pk).exists()
    assert ArtifactDeletion.objects.filter(path=str(doomed.pk)).exists()
    assert len(files_under(artifact_root, doomed.pk)) == 2

    monkeypatch.undo()
    # A fresh deletion is left to the task that was queued for it...
    tasks.requeue_artifact_deletions.delay()
    assert ArtifactDeletion.objects.exists()
    # ...and one older than the grace period is queued again.
    ArtifactDeletion.objects.update(
        created_at=ArtifactDeletion.objects.get().created_at.replace(year=2000)
    )
    tasks.requeue_artifact_deletions.delay()
    assert files_under(artifact_root, doomed.pk) == []
    assert not ArtifactDeletion.objects.exists()


def test_a_purge_that_fails_records_nothing_to_delete(client, alice, project, artifact_root):
    active = experiment_create(actor=Actor(user=alice), project=project, name="active")
    ExperimentTag.objects.create(experiment=active, key="k", value="v")
    client.force_login(alice)
    url = reverse("experiment_purge", kwargs={"slug": project.slug, "experiment_id": active.pk})

    client.post(url)  # only a deleted experiment can be purged

    assert Experiment.objects.filter(pk=active.pk).exists()
    assert not ArtifactDeletion.objects.exists()


def test_an_editor_cannot_purge_and_charlie_gets_404(
    client, bob, charlie, project, doomed, artifact_root, django_capture_on_commit_callbacks
):
    project.memberships.filter(user=bob).update(role="editor")
    assert purge(client, bob, doomed, django_capture_on_commit_callbacks).status_code == 403
    assert purge(client, charlie, doomed, django_capture_on_commit_callbacks).status_code == 404
    assert len(files_under(artifact_root, doomed.pk)) == 2
    assert not ArtifactDeletion.objects.exists()

"""Creating runs and changing their status, name, lifecycle and tags."""

from __future__ import annotations

import secrets

from django.db import transaction

from accounts.access import Actor, require_role, token_project_allowing
from accounts.audit import audit_record
from accounts.models import AuditAction, Role
from tracking import store
from tracking.batch import TagIn
from tracking.errors import InvalidInput, NotFound
from tracking.models import STOPPED_STATUSES, Experiment, Lifecycle, Run, RunStatus, RunTag, now_ms
from tracking.selectors.lookups import experiment_for_user, run_for_user
from tracking.services.ingest import run_link_parent, run_log_batch
from tracking.services.summaries import summary_mark_dirty
from tracking.store import RunRef
from tracking.validation import (
    NOTE_TAG,
    PARENT_RUN_TAG,
    RUN_NAME_TAG,
    USER_TAG,
    validate_int64,
    validate_run_name,
    validate_tags,
)

_ADJECTIVES = ("amber", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "gentle")
_NOUNS = ("badger", "crane", "dolphin", "falcon", "finch", "heron", "otter", "robin", "wren")


def _generated_name() -> str:
    # What MLflow's server does too, so a run started without a name still reads well in lists.
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"


def run_artifact_uri(run: Run) -> str:
    return f"mlflow-artifacts:/{run.experiment_id}/{run.run_id}/artifacts"


def _new_run(
    *, actor: Actor, experiment_id: int, name: str, start_time: int | None, tags: dict[str, str]
) -> tuple[Run, dict[str, str]]:
    """The unsaved run and the tags it starts with (by key), validated; `mlflow.user` is who
    really asked."""
    tags = dict(tags)
    if start_time is not None:
        validate_int64(start_time, field="start_time")
    name = name or tags.get(RUN_NAME_TAG) or _generated_name()
    validate_run_name(name)
    tags[RUN_NAME_TAG] = name
    tags[USER_TAG] = actor.user.get_username()
    validate_tags([TagIn(key=k, value=v) for k, v in tags.items()])
    run = Run(experiment_id=experiment_id, name=name, user=actor.user)
    if start_time is not None:
        run.start_time = start_time
    run.artifact_uri = run_artifact_uri(run)
    return run, dict(sorted(tags.items()))


def run_create(
    *,
    actor: Actor,
    experiment: Experiment,
    name: str = "",
    start_time: int | None = None,
    tags: dict[str, str] | None = None,
) -> Run:
    """Start a run of the actor's in the experiment."""
    run, _tags = _run_create(
        actor=actor, experiment=experiment, name=name, start_time=start_time, tags=tags or {}
    )
    return run


@transaction.atomic
def _run_create(
    *, actor: Actor, experiment: Experiment, name: str, start_time: int | None, tags: dict
) -> tuple[Run, dict[str, str]]:
    require_role(actor=actor, project=experiment.project, need=Role.EDITOR)
    run, tags = _new_run(
        actor=actor, experiment_id=experiment.pk, name=name, start_time=start_time, tags=tags
    )
    if not store.create_run(run=run, tags=tags, project_id=experiment.project_id):
        raise InvalidInput(
            f"Could not create a run in the deleted experiment {experiment.pk}; restore it first.",
            field="experiment_id",
        )
    run.experiment = experiment
    if PARENT_RUN_TAG in tags:
        run_link_parent(run=run, parent_run_id=tags[PARENT_RUN_TAG])
    return run, tags


def run_create_by_id(
    *,
    actor: Actor,
    experiment_id: int,
    name: str = "",
    start_time: int | None = None,
    tags: dict[str, str] | None = None,
) -> tuple[Run, dict[str, str]]:
    """run_create in the experiment with this id: the new run and the tags it starts with, so
    that an answer needs no query.

    A token that may write (how a sweep starts each trial) names the experiment and its
    project to the store, which checks both as it inserts; anything else, and every error,
    goes through experiment_for_user.
    """
    tags = tags or {}
    project_id = token_project_allowing(actor, Role.EDITOR)
    if project_id is not None and PARENT_RUN_TAG not in tags:
        run, new_tags = _new_run(
            actor=actor, experiment_id=experiment_id, name=name, start_time=start_time, tags=tags
        )
        if store.create_run(run=run, tags=new_tags, project_id=project_id):
            return run, new_tags
    experiment = experiment_for_user(actor=actor, experiment_id=experiment_id, need=Role.EDITOR)
    return _run_create(
        actor=actor, experiment=experiment, name=name, start_time=start_time, tags=tags
    )


def run_update_by_id(
    *,
    actor: Actor,
    run_id: str,
    status: str | None = None,
    end_time: int | None = None,
    name: str | None = None,
) -> Run:
    """run_update for the run with MLflow's id. A token that may write, finishing its run
    (what every job does last), names the run and project to the store; anything else, and
    every error, goes through run_for_user."""
    _check_status(status)
    if end_time is not None:
        validate_int64(end_time, field="end_time")
    project_id = token_project_allowing(actor, Role.EDITOR)
    if name is None and project_id is not None:
        run = store.finish_run(
            run=RunRef.in_project(run_id, project_id), status=status, end_time=end_time
        )
        if run is not None:
            _stopped(run.pk, status)
            return run
    run = run_for_user(actor=actor, run_id=run_id, need=Role.EDITOR)
    return run_update(actor=actor, run=run, status=status, end_time=end_time, name=name)


def _check_status(status: str | None) -> None:
    if status is not None and status not in RunStatus.values:
        raise InvalidInput(
            f"Invalid value '{status}' for 'status': use one of {', '.join(RunStatus.values)}.",
            field="status",
        )


def run_update(
    *,
    actor: Actor,
    run: Run,
    status: str | None = None,
    end_time: int | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Run:
    """Change a run's status, end time, name (mirrored in `mlflow.runName`) or description."""
    require_role(actor=actor, project=run.experiment.project, need=Role.EDITOR)
    if run.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput(
            f"The run {run.run_id} is deleted; restore it before changing it.", field="run_id"
        )
    _check_status(status)
    if end_time is not None:
        validate_int64(end_time, field="end_time")
    tags: list[TagIn] = []
    if name is not None and name != run.name:
        # Through the batch path, so the tag and the name change together and validate alike.
        tags.append(TagIn(key=RUN_NAME_TAG, value=name))
    if description is not None:
        # MLflow keeps a run's description in this tag; its UI and client read it there.
        tags.append(TagIn(key=NOTE_TAG, value=description))
    with transaction.atomic():
        if tags:
            run_log_batch(run=run, tags=tags)
        if status is not None or end_time is not None:
            stored = store.finish_run(run=RunRef(pk=run.pk), status=status, end_time=end_time)
            if stored is None:
                raise NotFound(f"Run '{run.run_id}' not found.")
            run.status, run.end_time = stored.status, stored.end_time
            _stopped(run.pk, status)
    return run


def _stopped(run_pk: int, status: str | None) -> None:
    """A run that stops gets its chart blocks from the summary worker, once committed."""
    if status in STOPPED_STATUSES:
        transaction.on_commit(lambda: summary_mark_dirty(run_pk))


# Soft delete and restore are reversible and what MLflow clients with a write token call, so
# they need the editor role; only irreversible operations need a manager.
@transaction.atomic
def run_delete(*, actor: Actor, run: Run) -> None:
    """Mark the run deleted: hidden from searches, refusing writes, restorable."""
    require_role(actor=actor, project=run.experiment.project, need=Role.EDITOR)
    if run.lifecycle == Lifecycle.DELETED:
        return
    run.lifecycle = Lifecycle.DELETED
    run.deleted_time = now_ms()
    run.save(update_fields=["lifecycle", "deleted_time"])
    audit_record(
        user=actor.user, action=AuditAction.RUN_DELETED, project=run.experiment.project, target=run
    )


@transaction.atomic
def run_restore(*, actor: Actor, run: Run) -> None:
    """Bring a deleted run back."""
    require_role(actor=actor, project=run.experiment.project, need=Role.EDITOR)
    if run.lifecycle == Lifecycle.ACTIVE:
        return
    if run.experiment.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput(
            "The run's experiment is deleted; restore the experiment first.", field="run_id"
        )
    run.lifecycle = Lifecycle.ACTIVE
    run.deleted_time = None
    run.save(update_fields=["lifecycle", "deleted_time"])
    audit_record(
        user=actor.user,
        action=AuditAction.RUN_RESTORED,
        project=run.experiment.project,
        target=run,
    )


def run_delete_tag(*, actor: Actor, run: Run, key: str) -> None:
    """Remove a tag from the run."""
    require_role(actor=actor, project=run.experiment.project, need=Role.EDITOR)
    if run.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput(
            f"The run {run.run_id} is deleted; restore it before changing it.", field="run_id"
        )
    deleted, _ = RunTag.objects.filter(run=run, key=key).delete()
    if not deleted:
        raise NotFound(f"No tag with name: {key} in run with id {run.run_id}.")

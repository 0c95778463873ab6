"""Creating runs and changing their status, name, lifecycle and tags."""

from __future__ import annotations

import secrets

from django.db import transaction

from accounts.access import Actor, require_role
from accounts.audit import audit_record
from accounts.models import AuditAction, Role
from tracking.errors import InvalidInput, NotFound
from tracking.models import Experiment, Lifecycle, Run, RunStatus, RunTag, now_ms
from tracking.services.ingest import (
    RUN_NAME_TAG,
    USER_TAG,
    TagIn,
    run_log_batch,
    validate_int64,
)

NOTE_TAG = "mlflow.note.content"
_ADJECTIVES = ("amber", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "gentle")
_NOUNS = ("badger", "crane", "dolphin", "falcon", "finch", "heron", "otter", "robin", "wren")


def _generated_name() -> str:
    # What MLflow's server does too, so a run started without a name still reads well in lists.
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"


def run_artifact_uri(run: Run) -> str:
    return f"mlflow-artifacts:/{run.experiment_id}/{run.run_id}/artifacts"


@transaction.atomic
def run_create(
    *,
    actor: Actor,
    experiment: Experiment,
    name: str = "",
    start_time: int | None = None,
    tags: dict[str, str] | None = None,
) -> Run:
    """Start a run of the actor's in the experiment; `mlflow.user` is who really asked."""
    require_role(actor=actor, project=experiment.project, need=Role.EDITOR)
    if experiment.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput(
            f"Could not create a run in the deleted experiment {experiment.pk}; restore it first.",
            field="experiment_id",
        )
    tags = dict(tags or {})
    if start_time is not None:
        validate_int64(start_time, field="start_time")
    name = name or tags.get(RUN_NAME_TAG) or _generated_name()
    if not isinstance(name, str):
        raise InvalidInput("The run name must be a string.", field="run_name")
    if len(name) > Run._meta.get_field("name").max_length:
        raise InvalidInput("The run name is longer than 250 characters.", field="run_name")
    tags[RUN_NAME_TAG] = name
    tags[USER_TAG] = actor.user.get_username()
    run = Run(experiment=experiment, name=name, user=actor.user)
    if start_time is not None:
        run.start_time = start_time
    run.artifact_uri = run_artifact_uri(run)
    run.save()
    run.experiment = experiment
    run_log_batch(run=run, tags=[TagIn(key=k, value=v) for k, v in tags.items()])
    return run


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
    fields: list[str] = []
    if status is not None:
        if status not in RunStatus.values:
            raise InvalidInput(
                f"Invalid value '{status}' for 'status': use one of {', '.join(RunStatus.values)}.",
                field="status",
            )
        run.status = status
        fields.append("status")
    if end_time is not None:
        run.end_time = validate_int64(end_time, field="end_time")
        fields.append("end_time")
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
        if fields:
            run.save(update_fields=fields)
    return run


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

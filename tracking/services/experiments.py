"""Creating, renaming, tagging, deleting, restoring and purging experiments."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.access import Actor, require_role
from accounts.audit import audit_record
from accounts.models import AuditAction, Project, Role
from tracking.errors import AlreadyExists, InvalidInput, NotFound
from tracking.models import Experiment, ExperimentTag, Lifecycle, Run, now_ms
from tracking.services.artifact_cleanup import artifact_deletion_schedule
from tracking.validation import (
    MAX_TAG_VALUE_LENGTH,
    NOTE_TAG,
    validate_description,
    validate_experiment_name,
    validate_key,
    validate_text,
)


def experiment_artifact_location(experiment: Experiment) -> str:
    # Always the proxied store: access to artifacts is then decided by the experiment id in the
    # path, so no client-chosen location can point outside what we control.
    return f"mlflow-artifacts:/{experiment.pk}"


def _validate_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidInput("The experiment name must be a string.", field="name")
    return validate_experiment_name(name)


def _name_taken(project: Project, name: str) -> AlreadyExists:
    existing = Experiment.objects.filter(project=project, name=name).only("lifecycle").first()
    if existing is not None and existing.lifecycle == Lifecycle.DELETED:
        return AlreadyExists(
            f"Experiment(name={name}) already exists as a deleted experiment; restore it, or "
            "ask a manager to purge it, to use the name again.",
            field="name",
        )
    return AlreadyExists(f"Experiment(name={name}) already exists.", field="name")


def experiment_create(
    *,
    actor: Actor,
    project: Project,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> Experiment:
    """Create an experiment in the project; a deleted experiment's name stays reserved."""
    require_role(actor=actor, project=project, need=Role.EDITOR)
    name = _validate_name(name)
    description = validate_description(description)
    tags = tags or {}
    for key, value in tags.items():
        validate_key(key, what="Tag key", field="tags.key")
        validate_text(value, limit=MAX_TAG_VALUE_LENGTH, what="Tag value", field="tags.value")
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(
                project=project, name=name, description=description
            )
            experiment.artifact_location = experiment_artifact_location(experiment)
            experiment.save(update_fields=["artifact_location"])
            ExperimentTag.objects.bulk_create(
                [ExperimentTag(experiment=experiment, key=k, value=v) for k, v in tags.items()]
            )
    except IntegrityError:
        raise _name_taken(project, name) from None
    return experiment


@transaction.atomic
def experiment_update(
    *,
    actor: Actor,
    experiment: Experiment,
    name: str | None = None,
    description: str | None = None,
) -> Experiment:
    """Rename an experiment or change its description; all checked before anything is written."""
    require_role(actor=actor, project=experiment.project, need=Role.EDITOR)
    fields = ["updated_at"]
    rename = name is not None and name != experiment.name
    if rename:
        name = _validate_name(name)
        if experiment.is_default:
            raise InvalidInput(
                "The Default experiment cannot be renamed: MLflow's experiment id 0 means it.",
                field="new_name",
            )
        if experiment.lifecycle != Lifecycle.ACTIVE:
            raise InvalidInput("A deleted experiment cannot be renamed.", field="new_name")
    if description is not None:
        description = validate_description(description)
        if description != experiment.description and experiment.lifecycle != Lifecycle.ACTIVE:
            raise InvalidInput(
                "The experiment is deleted; restore it first.", field="experiment_id"
            )
    if rename:
        experiment.name = name
        fields.append("name")
    if description is not None:
        experiment.description = description
        fields.append("description")
    experiment.updated_at = timezone.now()
    try:
        with transaction.atomic():
            experiment.save(update_fields=fields)
    except IntegrityError:
        raise _name_taken(experiment.project, experiment.name) from None
    return experiment


# Soft delete and restore are reversible and what MLflow clients with a write token call, so
# they need the editor role; purge, which cannot be undone, needs a manager.
@transaction.atomic
def experiment_delete(*, actor: Actor, experiment: Experiment) -> None:
    """Mark the experiment and its runs deleted; its name stays reserved until it is purged."""
    require_role(actor=actor, project=experiment.project, need=Role.EDITOR)
    if experiment.is_default:
        raise InvalidInput("The Default experiment cannot be deleted.", field="experiment_id")
    if experiment.lifecycle == Lifecycle.DELETED:
        return
    Experiment.objects.filter(pk=experiment.pk).update(
        lifecycle=Lifecycle.DELETED, updated_at=timezone.now()
    )
    experiment.lifecycle = Lifecycle.DELETED
    Run.objects.filter(experiment=experiment, lifecycle=Lifecycle.ACTIVE).update(
        lifecycle=Lifecycle.DELETED, deleted_time=now_ms()
    )
    audit_record(
        user=actor.user,
        action=AuditAction.EXPERIMENT_DELETED,
        project=experiment.project,
        target=experiment,
    )


@transaction.atomic
def experiment_restore(*, actor: Actor, experiment: Experiment) -> None:
    """Bring a deleted experiment back, with the runs its deletion took with it."""
    require_role(actor=actor, project=experiment.project, need=Role.EDITOR)
    if experiment.lifecycle == Lifecycle.ACTIVE:
        return
    Experiment.objects.filter(pk=experiment.pk).update(
        lifecycle=Lifecycle.ACTIVE, updated_at=timezone.now()
    )
    experiment.lifecycle = Lifecycle.ACTIVE
    Run.objects.filter(experiment=experiment, lifecycle=Lifecycle.DELETED).update(
        lifecycle=Lifecycle.ACTIVE, deleted_time=None
    )
    audit_record(
        user=actor.user,
        action=AuditAction.EXPERIMENT_RESTORED,
        project=experiment.project,
        target=experiment,
    )


@transaction.atomic
def experiment_purge(*, actor: Actor, experiment: Experiment) -> None:
    """Delete a deleted experiment for good, with its runs and everything they logged."""
    require_role(actor=actor, project=experiment.project, need=Role.MANAGER)
    if experiment.lifecycle != Lifecycle.DELETED:
        raise InvalidInput("Only a deleted experiment can be purged.", field="experiment_id")
    audit_record(
        user=actor.user,
        action=AuditAction.EXPERIMENT_PURGED,
        project=experiment.project,
        target=experiment,
    )
    # Points have no foreign key constraint (see Metric.run): lock the runs first, so a batch
    # still writing to one finishes before its points are deleted, and a later one finds no run.
    list(Run.objects.select_for_update().filter(experiment=experiment).values_list("pk"))
    # Every artifact of the experiment is under its id (experiment_artifact_location), and ids
    # are never reused; the files go once this commits (tracking.services.artifact_cleanup).
    artifact_deletion_schedule(paths=[str(experiment.pk)])
    experiment.delete()


@transaction.atomic
def experiment_set_tag(*, actor: Actor, experiment: Experiment, key: str, value: str) -> None:
    """Set a tag on the experiment; the last write wins. The note tag is also the description,
    and both change together or not at all."""
    require_role(actor=actor, project=experiment.project, need=Role.EDITOR)
    validate_key(key, what="Tag key", field="key")
    validate_text(value, limit=MAX_TAG_VALUE_LENGTH, what="Tag value", field="value")
    if experiment.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput("The experiment is deleted; restore it first.", field="experiment_id")
    if key == NOTE_TAG and experiment.description != value:
        experiment.description = value
        experiment.updated_at = timezone.now()
        experiment.save(update_fields=["description", "updated_at"])
    ExperimentTag.objects.update_or_create(
        experiment=experiment, key=key, defaults={"value": value}
    )


def experiment_delete_tag(*, actor: Actor, experiment: Experiment, key: str) -> None:
    """Remove a tag from the experiment."""
    require_role(actor=actor, project=experiment.project, need=Role.EDITOR)
    if experiment.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput("The experiment is deleted; restore it first.", field="experiment_id")
    deleted, _ = ExperimentTag.objects.filter(experiment=experiment, key=key).delete()
    if not deleted:
        raise NotFound(f"No tag with name: {key} in experiment with id {experiment.pk}.")

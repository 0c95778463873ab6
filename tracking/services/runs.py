"""Creating runs and changing their status, name, lifecycle and tags."""

from __future__ import annotations

import secrets

from django.db import connection, transaction

from accounts.access import Actor, require_role, token_project_allowing
from accounts.audit import audit_record
from accounts.models import AuditAction, Role, User
from tracking.errors import InvalidInput, NotFound
from tracking.models import Experiment, Lifecycle, Run, RunStatus, RunTag, now_ms
from tracking.selectors.lookups import experiment_for_user, run_for_user
from tracking.services.ingest import (
    PARENT_RUN_TAG,
    RUN_NAME_TAG,
    USER_TAG,
    TagIn,
    run_log_batch,
    validate_int64,
    validate_tags,
)

NOTE_TAG = "mlflow.note.content"
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
    if not isinstance(name, str):
        raise InvalidInput("The run name must be a string.", field="run_name")
    if len(name) > Run._meta.get_field("name").max_length:
        raise InvalidInput("The run name is longer than 250 characters.", field="run_name")
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
    if experiment.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput(
            f"Could not create a run in the deleted experiment {experiment.pk}; restore it first.",
            field="experiment_id",
        )
    run, tags = _new_run(
        actor=actor, experiment_id=experiment.pk, name=name, start_time=start_time, tags=tags
    )
    run.save()
    run.experiment = experiment
    run_log_batch(run=run, tags=[TagIn(key=k, value=v) for k, v in tags.items()])
    return run, tags


# PostgreSQL, a token that may write, an experiment id and no parent run (how a sweep starts
# each trial): access check, the run and its tags are one statement. No row back means the
# experiment is not in the token's project or is deleted; the general path says which.
_PG_CREATE_SQL = """
WITH e AS (
    SELECT id FROM tracking_experiment
    WHERE id = %(experiment_id)s AND project_id = %(project)s AND lifecycle = 'active'
), r AS (
    INSERT INTO tracking_run (run_id, experiment_id, name, status, start_time, end_time,
                              lifecycle, deleted_time, user_id, artifact_uri, parent_id,
                              metric_seq)
    SELECT %(run_id)s, e.id, %(name)s, %(status)s, %(start_time)s, NULL,
           %(lifecycle)s, NULL, %(user_id)s, %(artifact_uri)s, NULL,
           0
    FROM e
    RETURNING id
), tags AS (
    INSERT INTO tracking_runtag (run_id, "key", value)
    SELECT r.id, u.* FROM r, unnest(%(tag_keys)s::varchar[], %(tag_values)s::varchar[]) AS u
)
SELECT id FROM r
"""
_CREATED_FIELDS = (
    "run_id",
    "experiment_id",
    "name",
    "status",
    "start_time",
    "lifecycle",
    "user_id",
    "artifact_uri",
)


def run_create_by_id(
    *,
    actor: Actor,
    experiment_id: int,
    name: str = "",
    start_time: int | None = None,
    tags: dict[str, str] | None = None,
) -> tuple[Run, dict[str, str]]:
    """run_create in the experiment with this id: the new run and the tags it starts with, so
    that an answer needs no query."""
    tags = tags or {}
    project_id = token_project_allowing(actor, Role.EDITOR)
    if project_id is not None and connection.vendor == "postgresql" and PARENT_RUN_TAG not in tags:
        run, tags = _new_run(
            actor=actor,
            experiment_id=experiment_id,
            name=name,
            start_time=start_time,
            tags=tags,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _PG_CREATE_SQL,
                {
                    "project": project_id,
                    **{field: getattr(run, field) for field in _CREATED_FIELDS},
                    "tag_keys": list(tags),
                    "tag_values": list(tags.values()),
                },
            )
            row = cursor.fetchone()
        if row is not None:
            run.pk = row[0]
            run._state.adding = False
            run._state.db = connection.alias
            return run, tags
    experiment = experiment_for_user(actor=actor, experiment_id=experiment_id, need=Role.EDITOR)
    return _run_create(
        actor=actor, experiment=experiment, name=name, start_time=start_time, tags=tags
    )


# The order RETURNING lists them in, for Run.from_db.
_RUN_COLUMNS = [field.attname for field in Run._meta.concrete_fields]
# PostgreSQL, a token that may write, only status and end time (how every job ends its run):
# access check and change are one statement, which returns the run as the answer needs it.
_PG_FINISH_SQL = (
    "UPDATE tracking_run SET status = COALESCE(%(status)s, status), "  # noqa: S608 (constants)
    "end_time = COALESCE(%(end_time)s, end_time) "
    "WHERE run_id = %(run)s AND lifecycle = 'active' AND experiment_id IN "
    "(SELECT id FROM tracking_experiment WHERE project_id = %(project)s) "
    "RETURNING "
    + ", ".join(f'"{column}"' for column in _RUN_COLUMNS)
    + ", (SELECT username FROM accounts_user WHERE accounts_user.id = user_id)"
)


def run_update_by_id(
    *,
    actor: Actor,
    run_id: str,
    status: str | None = None,
    end_time: int | None = None,
    name: str | None = None,
) -> Run:
    """run_update for the run with MLflow's id: one statement for the common case, the general
    path (which gives every error) otherwise."""
    _check_status(status)
    if end_time is not None:
        validate_int64(end_time, field="end_time")
    project_id = token_project_allowing(actor, Role.EDITOR)
    if name is None and project_id is not None and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _PG_FINISH_SQL,
                {"status": status, "end_time": end_time, "run": run_id, "project": project_id},
            )
            row = cursor.fetchone()
        if row is not None:
            run = Run.from_db(connection.alias, _RUN_COLUMNS, row[:-1])
            if run.user_id is not None:
                run.user = User.from_db(
                    connection.alias, ["id", "username"], [run.user_id, row[-1]]
                )
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
    fields: list[str] = []
    if status is not None:
        _check_status(status)
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
    if not tags:
        # One statement (finishing a run, what every job does last) needs no transaction.
        if fields:
            run.save(update_fields=fields)
        return run
    with transaction.atomic():
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

"""Logging to a run: metric points, params and tags, all-or-nothing.

Surfaces parse their wire format into tracking.batch's shapes; this service validates the whole
batch (tracking.validation), decides who may write, and hands the rows to the store
(tracking.store), which writes them in one transaction. After commit the run is marked dirty for
its summaries; the request never computes one.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from accounts.access import Actor, token_project_allowing
from accounts.models import Role
from tracking import store
from tracking.batch import MetricColumns, MetricIn, ParamIn, TagIn, metric_columns
from tracking.errors import InvalidInput, NotFound
from tracking.models import Lifecycle, Run
from tracking.selectors.lookups import run_for_user
from tracking.services.summaries import summary_mark_dirty
from tracking.store import RunRef
from tracking.validation import PARENT_RUN_TAG, RUN_NAME_TAG, validate_batch


def run_link_parent(*, run: Run, parent_run_id: str) -> None:
    """Make the run a child of another run of its project (MLflow's `mlflow.parentRunId` tag);
    an id that names no such run leaves the run as it is, as MLflow's server does."""
    parent = (
        Run.objects.filter(run_id=parent_run_id, experiment__project_id=run.experiment.project_id)
        .exclude(pk=run.pk)
        .only("pk")
        .first()
    )
    if parent is not None and parent.pk != run.parent_id:
        Run.objects.filter(pk=run.pk).update(parent_id=parent.pk)
        run.parent_id = parent.pk


def _after_commit(written: store.Written, metrics: MetricColumns) -> None:
    if metrics:
        transaction.on_commit(lambda: summary_mark_dirty(written.run_pk))


def run_log_batch(
    *,
    run: Run,
    metrics: Sequence[MetricIn] | MetricColumns = (),
    params: Sequence[ParamIn] = (),
    tags: Sequence[TagIn] = (),
) -> None:
    """Write one batch all-or-nothing; a retried batch changes nothing (clients retry POSTs)."""
    metrics = metric_columns(metrics)
    if run.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput(
            f"The run {run.run_id} is deleted; restore it before logging to it.", field="run_id"
        )
    validate_batch(metrics=metrics, params=params, tags=tags)
    if not (metrics or params or tags):
        return
    with transaction.atomic():
        written = store.log_batch(run=RunRef(pk=run.pk), metrics=metrics, params=params, tags=tags)
        if written is None:
            # Checked active a moment ago: deleted or purged since.
            raise NotFound(f"Run '{run.run_id}' not found.")
        run.metric_seq = written.seq
        latest = {tag.key: tag.value for tag in tags}
        if RUN_NAME_TAG in latest:
            run.name = latest[RUN_NAME_TAG]
        if PARENT_RUN_TAG in latest:
            run_link_parent(run=run, parent_run_id=latest[PARENT_RUN_TAG])
        _after_commit(written, metrics)


def run_log_batch_by_id(
    *,
    actor: Actor,
    run_id: str,
    metrics: Sequence[MetricIn] | MetricColumns = (),
    params: Sequence[ParamIn] = (),
    tags: Sequence[TagIn] = (),
) -> None:
    """run_log_batch for the run with MLflow's id, as the actor: log-batch, log-metric,
    log-param and set-tag, the calls a training loop and a sweep make most.

    A token that may write names its run and project to the store, which checks both as it
    writes (no query for the run first). Anything else, and every error, goes through
    run_for_user, which says which error it is.
    """
    metrics = metric_columns(metrics)
    validate_batch(metrics=metrics, params=params, tags=tags)
    project_id = token_project_allowing(actor, Role.EDITOR)
    if (
        (metrics or params or tags)
        and project_id is not None
        # A parent is another run to look up in the project: run_log_batch does that.
        and not any(tag.key == PARENT_RUN_TAG for tag in tags)
    ):
        written = store.log_batch(
            run=RunRef.in_project(run_id, project_id), metrics=metrics, params=params, tags=tags
        )
        if written is not None:
            _after_commit(written, metrics)
            return
    # Not in the token's project, deleted, or not a token: run_for_user says which.
    run = run_for_user(actor=actor, run_id=run_id, need=Role.EDITOR)
    run_log_batch(run=run, metrics=metrics, params=params, tags=tags)

"""The store: one public function per hot write of tracking, each with a PostgreSQL
implementation (`postgresql.py`: one statement, access check included) and a portable one
(`portable.py`: the ORM, any database), chosen here and nowhere else.

Callers (the services) validate first (tracking.validation) and decide who may write; the store
only writes, all-or-nothing, and says whether the run was there to write to. The two
implementations are held equal by tests/tracking/test_store_contract.py on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from django.db import connection

from tracking.batch import MetricColumns, ParamIn, TagIn
from tracking.models import Run
from tracking.store import portable, postgresql
from tracking.store.common import RunRef, Written

__all__ = [
    "RunRef",
    "Written",
    "create_run",
    "finish_run",
    "log_batch",
    "log_metric",
    "log_param",
    "set_tag",
]


def implementation() -> ModuleType:
    """The implementation for the database in use: the only place that chooses."""
    return postgresql if connection.vendor == "postgresql" else portable


def log_batch(
    *,
    run: RunRef,
    metrics: MetricColumns,
    params: Sequence[ParamIn] = (),
    tags: Sequence[TagIn] = (),
) -> Written | None:
    """Write a validated batch to the active run `run` names, all-or-nothing: points (a stored
    point is skipped, so a retried batch writes nothing twice), each key's latest point, params
    (immutable: InvalidInput when one would change) and tags (last write wins; `mlflow.runName`
    renames the run). None when no active run matches; nothing is written then."""
    return implementation().log_batch(run=run, metrics=metrics, params=params, tags=tags)


def log_metric(*, run: RunRef, metrics: MetricColumns) -> Written | None:
    """One metric point (or a few): log_batch with points only."""
    return log_batch(run=run, metrics=metrics)


def log_param(*, run: RunRef, param: ParamIn) -> Written | None:
    """One param: log_batch with that param only."""
    return log_batch(run=run, metrics=MetricColumns([], [], [], []), params=[param])


def set_tag(*, run: RunRef, tag: TagIn) -> Written | None:
    """One tag: log_batch with that tag only."""
    return log_batch(run=run, metrics=MetricColumns([], [], [], []), tags=[tag])


def create_run(*, run: Run, tags: dict[str, str], project_id: int) -> bool:
    """Insert the unsaved `run` with its first tags, if its experiment is active and in the
    project; False (nothing written) otherwise. Sets `run.pk`."""
    return implementation().create_run(run=run, tags=tags, project_id=project_id)


def finish_run(*, run: RunRef, status: str | None, end_time: int | None) -> Run | None:
    """Set the active run's status and end time (None keeps a field); the run as stored, with
    its user, or None when no active run matches."""
    return implementation().finish_run(run=run, status=status, end_time=end_time)

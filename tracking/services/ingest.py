"""The write path for what a run logs: metric points, params and tags, all-or-nothing."""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction

from tracking.errors import InvalidInput
from tracking.models import Lifecycle, Param, Run, RunTag
from tracking.services.summaries import summary_schedule

# MLflow's limits, so a batch the official client accepts is one we accept.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INSERT_BATCH_SIZE = 1000

RUN_NAME_TAG = "mlflow.runName"
PARENT_RUN_TAG = "mlflow.parentRunId"
USER_TAG = "mlflow.user"

_KEY_CHARACTERS = re.compile(r"^[/\w.\- :]*$")


@dataclass(frozen=True, slots=True)
class MetricIn:
    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True, slots=True)
class ParamIn:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class TagIn:
    key: str
    value: str


def validate_key(key: object, *, what: str, field: str) -> str:
    """A metric, param or tag key as MLflow allows it, or InvalidInput saying why not."""
    if not isinstance(key, str):
        raise InvalidInput(f"{what} must be a string.", field=field)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{what} '{key[:50]}...' is longer than {MAX_KEY_LENGTH} characters.", field=field
        )
    if not _KEY_CHARACTERS.match(key):
        raise InvalidInput(
            f"Invalid {what.lower()} '{key}': names may only contain alphanumerics, underscores "
            "(_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/).",
            field=field,
        )
    # Keys may become file names (MLflow's own store writes them as files), so a key must not
    # resolve to another path.
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise InvalidInput(
            f"Invalid {what.lower()} '{key}': it would resolve to the path '{norm}'; "
            "names must not resolve to other names when treated as paths.",
            field=field,
        )
    return key


def validate_int64(value: object, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"'{field}' must be an integer.", field=field)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(f"'{field}' is outside the 64-bit integer range.", field=field)
    return value


def validate_text(value: object, *, limit: int, what: str, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string.", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters.", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain NUL characters.", field=field)
    return value


def _validate_batch(
    *,
    run: Run,
    metrics: Sequence[MetricIn],
    params: Sequence[ParamIn],
    tags: Sequence[TagIn],
) -> None:
    if run.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput(
            f"The run {run.run_id} is deleted; restore it before logging to it.", field="run_id"
        )
    if len(metrics) > MAX_METRICS_PER_BATCH:
        raise InvalidInput(
            f"A batch may hold at most {MAX_METRICS_PER_BATCH} metrics; this one has "
            f"{len(metrics)}.",
            field="metrics",
        )
    if len(params) > MAX_PARAMS_TAGS_PER_BATCH:
        raise InvalidInput(
            f"A batch may hold at most {MAX_PARAMS_TAGS_PER_BATCH} params; this one has "
            f"{len(params)}.",
            field="params",
        )
    if len(tags) > MAX_PARAMS_TAGS_PER_BATCH:
        raise InvalidInput(
            f"A batch may hold at most {MAX_PARAMS_TAGS_PER_BATCH} tags; this one has {len(tags)}.",
            field="tags",
        )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidInput(
            f"A batch may hold at most {MAX_ENTITIES_PER_BATCH} metrics, params and tags in "
            f"total; this one has {total}.",
            field="metrics",
        )
    for i, metric in enumerate(metrics):
        validate_key(metric.key, what="Metric name", field=f"metrics[{i}].key")
        if isinstance(metric.value, bool) or not isinstance(metric.value, int | float):
            raise InvalidInput(f"'metrics[{i}].value' must be a number.", field="value")
        validate_int64(metric.timestamp, field=f"metrics[{i}].timestamp")
        validate_int64(metric.step, field=f"metrics[{i}].step")
    seen: dict[str, str] = {}
    for i, param in enumerate(params):
        validate_key(param.key, what="Param key", field=f"params[{i}].key")
        validate_text(
            param.value, limit=MAX_PARAM_VALUE_LENGTH, what="Param value", field=f"params[{i}]"
        )
        if param.key in seen:
            raise InvalidInput(
                f"Duplicate parameter key '{param.key}' in one batch: each param may be logged "
                "once.",
                field=f"params[{i}].key",
            )
        seen[param.key] = param.value
    for i, tag in enumerate(tags):
        validate_key(tag.key, what="Tag key", field=f"tags[{i}].key")
        validate_text(tag.value, limit=MAX_TAG_VALUE_LENGTH, what="Tag value", field=f"tags[{i}]")
        if tag.key == RUN_NAME_TAG and len(tag.value) > Run._meta.get_field("name").max_length:
            raise InvalidInput("The run name is longer than 250 characters.", field=f"tags[{i}]")
    if params:
        _check_params_unchanged(run=run, params=seen)


def _check_params_unchanged(*, run: Run, params: dict[str, str]) -> None:
    """Params are immutable: the same value again is fine, a different one is an error."""
    stored = Param.objects.filter(run=run, key__in=list(params)).values_list("key", "value")
    for key, value in stored:
        if params[key] != value:
            raise InvalidInput(
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{value}' for run ID='{run.run_id}'. Attempted logging new "
                f"value '{params[key]}'.",
                field="params",
            )


# Raw SQL on purpose: the ORM's bulk_update builds a CASE expression per row and field, which
# cost more than half of every log-batch request. On PostgreSQL the rows travel as arrays
# through unnest(), so a 1000-point batch is one short statement with six parameters instead of
# 6000 placeholders for the driver to rewrite; SQLite takes a plain VALUES list.
_PG_POINTS = (
    "SELECT %s, * FROM unnest(%s::varchar[], %s::bigint[], %s::bigint[], %s::float8[], "
    "%s::boolean[])"
)
_PG_LATEST = (
    "SELECT %s, u.*, %s FROM unnest(%s::varchar[], %s::bigint[], %s::bigint[], "
    "%s::float8[], %s::boolean[]) AS u"
)
_INSERT_POINTS_SQL = (
    'INSERT INTO tracking_metric (run_id, "key", step, "timestamp", value, is_nan) {rows} '
    "ON CONFLICT DO NOTHING"
)
# The latest point of a key changes only when the batch's best point orders after it
# (step, then timestamp, then value); seq moves on regardless, since the summary is now stale.
_NEWER = (
    '(excluded.step, excluded."timestamp", excluded.value, excluded.is_nan) > '
    '(tracking_latestmetric.step, tracking_latestmetric."timestamp", '
    "tracking_latestmetric.value, tracking_latestmetric.is_nan)"
)
_UPSERT_LATEST_SQL = (
    'INSERT INTO tracking_latestmetric (run_id, "key", step, "timestamp", value, is_nan, seq) '
    "{rows} "
    'ON CONFLICT (run_id, "key") DO UPDATE SET seq = excluded.seq, '
    + ", ".join(
        f"{col} = CASE WHEN {_NEWER} THEN excluded.{col} ELSE tracking_latestmetric.{col} END"
        for col in ("step", '"timestamp"', "value", "is_nan")
    )
)


def _values_clause(width: int, count: int) -> str:
    row = "(" + ", ".join(["%s"] * width) + ")"
    return "VALUES " + ", ".join([row] * count)


def _insert_points(cursor, *, run_pk: int, points: list[tuple]) -> None:
    """Insert (key, step, timestamp, value, is_nan) rows; existing identical points are skipped."""
    if connection.vendor == "postgresql":
        columns = [list(column) for column in zip(*points, strict=True)]
        cursor.execute(_INSERT_POINTS_SQL.format(rows=_PG_POINTS), [run_pk, *columns])
        return
    for start in range(0, len(points), INSERT_BATCH_SIZE):
        chunk = points[start : start + INSERT_BATCH_SIZE]
        params: list = []
        for point in chunk:
            params += (run_pk, *point)
        cursor.execute(_INSERT_POINTS_SQL.format(rows=_values_clause(6, len(chunk))), params)


def _upsert_latest(cursor, *, run_pk: int, seq: int, rows: list[tuple]) -> None:
    """Upsert (key, step, timestamp, value, is_nan) rows, given in key order, as latest points."""
    if connection.vendor == "postgresql":
        columns = [list(column) for column in zip(*rows, strict=True)]
        cursor.execute(_UPSERT_LATEST_SQL.format(rows=_PG_LATEST), [run_pk, seq, *columns])
        return
    for start in range(0, len(rows), INSERT_BATCH_SIZE):
        chunk = rows[start : start + INSERT_BATCH_SIZE]
        params: list = []
        for row in chunk:
            params += (run_pk, *row, seq)
        cursor.execute(_UPSERT_LATEST_SQL.format(rows=_values_clause(7, len(chunk))), params)


def _write_metrics(*, run: Run, metrics: Sequence[MetricIn]) -> None:
    points: dict[tuple, None] = {}
    best: dict[str, tuple] = {}
    for metric in metrics:
        value = float(metric.value)
        is_nan = math.isnan(value)
        stored = 0.0 if is_nan else value
        points[(metric.key, metric.step, metric.timestamp, stored, is_nan)] = None
        order = (metric.step, metric.timestamp, stored, is_nan)
        if metric.key not in best or order > best[metric.key]:
            best[metric.key] = order
    with connection.cursor() as cursor:
        # Takes the run's row lock until commit, which serialises batches of one run: seq stays
        # monotonic, and two batches never upsert the same LatestMetric rows concurrently.
        cursor.execute(
            "UPDATE tracking_run SET metric_seq = metric_seq + 1 WHERE id = %s "
            "RETURNING metric_seq",
            [run.pk],
        )
        seq = cursor.fetchone()[0]
        run.metric_seq = seq
        # A retried batch hits the unique constraint and writes nothing twice.
        _insert_points(cursor, run_pk=run.pk, points=list(points))
        # In key order, like every multi-row write here, so concurrent writers lock alike.
        _upsert_latest(
            cursor, run_pk=run.pk, seq=seq, rows=[(key, *best[key]) for key in sorted(best)]
        )


def _write_params(*, run: Run, params: Sequence[ParamIn]) -> None:
    # Sorted like every other multi-row write here, so concurrent batches lock rows in one order.
    Param.objects.bulk_create(
        [Param(run=run, key=p.key, value=p.value) for p in sorted(params, key=lambda p: p.key)],
        ignore_conflicts=True,
    )
    # A concurrent batch may have logged a different value between validation and insert;
    # re-reading inside the transaction turns that race into the same error as a slow retry.
    _check_params_unchanged(run=run, params={p.key: p.value for p in params})


def _write_tags(*, run: Run, tags: Sequence[TagIn]) -> None:
    # Last write wins, inside the batch too (PostgreSQL refuses to upsert one row twice).
    latest = {tag.key: tag.value for tag in tags}
    RunTag.objects.bulk_create(
        [RunTag(run=run, key=key, value=value) for key, value in sorted(latest.items())],
        update_conflicts=True,
        unique_fields=["run", "key"],
        update_fields=["value"],
    )
    changes: dict[str, object] = {}
    if RUN_NAME_TAG in latest and latest[RUN_NAME_TAG] != run.name:
        changes["name"] = latest[RUN_NAME_TAG]
    if PARENT_RUN_TAG in latest:
        parent = (
            Run.objects.filter(
                run_id=latest[PARENT_RUN_TAG], experiment__project_id=run.experiment.project_id
            )
            .exclude(pk=run.pk)
            .only("pk")
            .first()
        )
        if parent is not None and parent.pk != run.parent_id:
            changes["parent_id"] = parent.pk
    if changes:
        Run.objects.filter(pk=run.pk).update(**changes)
        for field, value in changes.items():
            setattr(run, field, value)


def run_log_batch(
    *,
    run: Run,
    metrics: Sequence[MetricIn] = (),
    params: Sequence[ParamIn] = (),
    tags: Sequence[TagIn] = (),
) -> None:
    """Write one batch all-or-nothing; a retried batch changes nothing (clients retry POSTs)."""
    _validate_batch(run=run, metrics=metrics, params=params, tags=tags)
    if not (metrics or params or tags):
        return
    with transaction.atomic():
        if metrics:
            _write_metrics(run=run, metrics=metrics)
        if params:
            _write_params(run=run, params=params)
        if tags:
            _write_tags(run=run, tags=tags)
        if metrics:
            run_pk = run.pk
            transaction.on_commit(lambda: summary_schedule(run_pk))

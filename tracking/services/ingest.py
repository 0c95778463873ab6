"""The write path for what a run logs: metric points, params and tags, all-or-nothing."""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from tracking.errors import InvalidInput
from tracking.models import LatestMetric, Lifecycle, Metric, Param, Run, RunTag
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


def _order(step: int, timestamp: int, value: float, is_nan: bool) -> tuple:
    # MLflow stores NaN as 0 and compares (step, timestamp, value); NaN must not poison max().
    return (step, timestamp, 0.0 if is_nan else value, is_nan)


def _write_metrics(*, run: Run, metrics: Sequence[MetricIn]) -> None:
    # The lock serialises batches of one run: metric_seq stays monotonic, and the
    # read-compare-write of LatestMetric below cannot interleave with another batch.
    seq = (
        Run.objects.select_for_update().filter(pk=run.pk).values_list("metric_seq", flat=True).get()
        + 1
    )
    Run.objects.filter(pk=run.pk).update(metric_seq=seq)
    run.metric_seq = seq

    points: dict[tuple, Metric] = {}
    best: dict[str, tuple] = {}
    for metric in metrics:
        value = float(metric.value)
        is_nan = math.isnan(value)
        stored = 0.0 if is_nan else value
        identity = (metric.key, metric.step, metric.timestamp, stored, is_nan)
        if identity in points:
            continue
        points[identity] = Metric(
            run=run,
            key=metric.key,
            step=metric.step,
            timestamp=metric.timestamp,
            value=stored,
            is_nan=is_nan,
        )
        order = _order(metric.step, metric.timestamp, stored, is_nan)
        if metric.key not in best or order > best[metric.key]:
            best[metric.key] = order
    # A retried batch hits the unique constraint and writes nothing twice.
    Metric.objects.bulk_create(
        list(points.values()), ignore_conflicts=True, batch_size=INSERT_BATCH_SIZE
    )

    keys = sorted(best)
    existing = {
        latest.key: latest
        for latest in LatestMetric.objects.filter(run=run, key__in=keys).order_by("key")
    }
    to_create: list[LatestMetric] = []
    to_update: list[LatestMetric] = []
    for key in keys:
        step, timestamp, value, is_nan = best[key]
        latest = existing.get(key)
        if latest is None:
            to_create.append(
                LatestMetric(
                    run=run,
                    key=key,
                    step=step,
                    timestamp=timestamp,
                    value=value,
                    is_nan=is_nan,
                    seq=seq,
                )
            )
            continue
        if best[key] > _order(latest.step, latest.timestamp, latest.value, latest.is_nan):
            latest.step, latest.timestamp, latest.value, latest.is_nan = (
                step,
                timestamp,
                value,
                is_nan,
            )
        # Stale even when the latest point did not change: the summary must cover this batch.
        latest.seq = seq
        to_update.append(latest)
    if to_create:
        LatestMetric.objects.bulk_create(to_create, batch_size=INSERT_BATCH_SIZE)
    if to_update:
        LatestMetric.objects.bulk_update(
            to_update, ["step", "timestamp", "value", "is_nan", "seq"], batch_size=INSERT_BATCH_SIZE
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

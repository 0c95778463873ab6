"""The write path for what a run logs: metric points, params and tags, all-or-nothing."""

from __future__ import annotations

import functools
import math
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from django.db import DataError, IntegrityError, connection, transaction

from accounts.access import Actor, token_project_allowing
from accounts.models import Role
from tracking.errors import InvalidInput, NotFound
from tracking.models import Lifecycle, Param, Run, RunTag
from tracking.selectors.lookups import run_for_user
from tracking.services.statements import may_fail
from tracking.services.summaries import summary_after_write

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
_DIVISION_BY_ZERO = "22012"


@dataclass(frozen=True, slots=True)
class MetricIn:
    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(slots=True)
class MetricColumns:
    """A batch's points as four columns, the shape the database takes them in.

    What the MLflow endpoints parse a batch into: a thousand MetricIn objects cost more than the
    rest of the request. Whoever builds one guarantees the types (str, float, int, int); keys and
    the number of points are still validated here.
    """

    keys: list[str]
    values: list[float]
    timestamps: list[int]
    steps: list[int]

    def __len__(self) -> int:
        return len(self.keys)


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


def metric_columns(metrics: Sequence[MetricIn] | MetricColumns) -> MetricColumns:
    """The points as columns, checking the types of each MetricIn on the way."""
    if isinstance(metrics, MetricColumns):
        return metrics
    for i, metric in enumerate(metrics):
        if isinstance(metric.value, bool) or not isinstance(metric.value, int | float):
            raise InvalidInput(f"'metrics[{i}].value' must be a number.", field="value")
        validate_int64(metric.timestamp, field=f"metrics[{i}].timestamp")
        validate_int64(metric.step, field=f"metrics[{i}].step")
    try:
        values = [float(m.value) for m in metrics]
    except OverflowError:
        raise InvalidInput("A metric value is too large for a float.", field="value") from None
    return MetricColumns(
        keys=[m.key for m in metrics],
        values=values,
        timestamps=[m.timestamp for m in metrics],
        steps=[m.step for m in metrics],
    )


def _validate_keys(keys: list) -> None:
    # Once per distinct key: a batch is typically 100 keys x 10 steps.
    distinct = dict.fromkeys(keys) if set(map(type, keys)) <= {str} else keys
    for key in distinct:
        try:
            validate_key(key, what="Metric name", field="metrics")
        except InvalidInput as error:
            # The first point with the key, as a point-by-point check would name it.
            error.field = f"metrics[{keys.index(key)}].key"
            raise


def _validate_batch(
    *,
    metrics: MetricColumns,
    params: Sequence[ParamIn],
    tags: Sequence[TagIn],
) -> None:
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
    _validate_keys(metrics.keys)
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
    validate_tags(tags)


def validate_tags(tags: Sequence[TagIn]) -> None:
    for i, tag in enumerate(tags):
        validate_key(tag.key, what="Tag key", field=f"tags[{i}].key")
        validate_text(tag.value, limit=MAX_TAG_VALUE_LENGTH, what="Tag value", field=f"tags[{i}]")
        if tag.key == RUN_NAME_TAG and len(tag.value) > Run._meta.get_field("name").max_length:
            raise InvalidInput("The run name is longer than 250 characters.", field=f"tags[{i}]")


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
# cost more than half of every log-batch request.
_INSERT_POINTS_SQL = (
    'INSERT INTO tracking_metric (run_id, "key", step, "timestamp", value, is_nan, seq) {rows} '
    "ON CONFLICT DO NOTHING"
)
# On PostgreSQL ON CONFLICT costs each point a second pass through the primary key (4-5 ms of a
# 1,000-point batch, a third of the statement): batches are first written without it, and one
# that holds a stored point (a retry) fails on the key, undone whole, and is written
# again with it.
_PG_INSERT_POINTS_SQL = _INSERT_POINTS_SQL.removesuffix(" ON CONFLICT DO NOTHING")
_UNIQUE_VIOLATION = "23505"
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
# PostgreSQL: a whole batch is one statement, one round trip. Its first part bumps the run's
# seq, which takes the run's row lock until commit: batches of one run are serialised, seq stays
# monotonic and two batches never upsert the same LatestMetric rows at once. Only a run that
# matches {where} (and is active) gets anything: no row back means nothing was written. The
# points travel as five array literals through unnest() (see _pg_arrays), and so does the latest
# point of each key, picked in Python (_latest_per_key) and in key order, so concurrent writers
# lock rows alike; a retried batch hits the primary key and writes nothing twice (see
# _PG_INSERT_POINTS_SQL).
_PG_POINTS_CTES = (
    """
u AS (
    SELECT * FROM unnest(%(keys)s::varchar[], %(steps)s::bigint[], %(timestamps)s::bigint[],
                         %(values)s::float8[], %(nans)s::boolean[])
        AS u ("key", step, "timestamp", value, is_nan)
), points AS (
    {insert_points}
), latest AS (
    """  # noqa: S608 (only this module's constants go in)
    + _UPSERT_LATEST_SQL.format(
        rows="SELECT r.id, l.*, r.metric_seq FROM r, unnest(%(latest_keys)s::varchar[], "
        "%(latest_steps)s::bigint[], %(latest_timestamps)s::bigint[], "
        "%(latest_values)s::float8[], %(latest_nans)s::boolean[]) AS l"
    )
    + """
)"""
)
# Params are immutable: a key logged before keeps its row, and the conflict clause returns it
# only when the value is the same (it sees the latest committed row, even one written by a
# concurrent batch after this statement began). Fewer rows back than params sent means a
# changed value, and the final SELECT then divides by zero: the error undoes the whole
# statement, and the general path, which has the words for it, runs instead.
_PG_PARAMS_CTE = """
params AS (
    INSERT INTO tracking_param (run_id, "key", value)
    SELECT r.id, u.* FROM r, unnest(%(param_keys)s::varchar[], %(param_values)s::varchar[]) AS u
    ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value
        WHERE tracking_param.value = excluded.value
    RETURNING 1
)"""
_PG_PARAMS_CHECK = ", 1 / ((SELECT count(*) FROM params) = %(param_count)s)::int"
_PG_TAGS_CTE = """
tags AS (
    INSERT INTO tracking_runtag (run_id, "key", value)
    SELECT r.id, u.* FROM r, unnest(%(tag_keys)s::varchar[], %(tag_values)s::varchar[]) AS u
    ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value
)"""
_RUN_BY_PK = "id = %(run)s"
_RUN_BY_ID_IN_PROJECT = (
    "run_id = %(run)s AND experiment_id IN "
    "(SELECT id FROM tracking_experiment WHERE project_id = %(project)s)"
)


@functools.cache
def _pg_batch_sql(*, where: str, metrics: bool, params: bool, tags: bool, dedupe: bool) -> str:
    """The one statement for a batch with these parts (only this module's constants go in);
    `dedupe` skips points stored already instead of failing on them."""
    # Tags may rename the run (mlflow.runName); %(name)s is NULL otherwise.
    rename = ", name = COALESCE(%(name)s, name)" if tags else ""
    ctes = [
        f"""r AS (
    UPDATE tracking_run SET metric_seq = metric_seq + {int(metrics)}{rename}
    WHERE {where} AND lifecycle = 'active'
    RETURNING id, metric_seq
)"""  # noqa: S608 (constants)
    ]
    if metrics:
        insert = _INSERT_POINTS_SQL if dedupe else _PG_INSERT_POINTS_SQL
        rows = insert.format(rows="SELECT r.id, u.*, r.metric_seq FROM r, u")
        ctes.append(_PG_POINTS_CTES.replace("{insert_points}", rows))
    if params:
        ctes.append(_PG_PARAMS_CTE)
    if tags:
        ctes.append(_PG_TAGS_CTE)
    check = _PG_PARAMS_CHECK if params else ""
    return "WITH " + ", ".join(ctes) + f"\nSELECT id, metric_seq{check} FROM r"


def _latest_per_key(
    keys: list[str], steps: list[int], timestamps: list[int], values: list[float], nans: list[bool]
) -> dict[str, tuple[int, int, float, bool]]:
    """Each key's latest point of a batch: (step, timestamp, value, is_nan), the highest in that
    order, as _NEWER orders it (`values` as stored: 0 for NaN). Picked here rather than by
    DISTINCT ON in the batch's statement: for 1,000 points this loop takes 0.22 ms, and the
    statement without the sort 1.0 to 1.4 ms less of PostgreSQL, the busier of the two."""
    best: dict[str, tuple[int, int, float, bool]] = {}
    for key, order in zip(keys, zip(steps, timestamps, values, nans, strict=True), strict=True):
        current = best.get(key)
        if current is None or order > current:
            best[key] = order
    return best


def _pg_arrays(metrics: MetricColumns) -> dict[str, str]:
    """The columns, and the latest point of each key, as PostgreSQL array literals.

    Written by orjson in C rather than adapted element by element by the driver, which cost
    more than the insert itself. Safe as literals: keys are validated to word characters, '.',
    '-', ' ', ':' and '/' (nothing that needs escaping in JSON or inside a quoted array
    element), the rest are numbers, and floats are written in their shortest exact form.
    """
    values = metrics.values
    nans = [value != value for value in values]
    if True in nans:
        # NaN is stored as 0 with is_nan set (see Metric).
        values = [0.0 if nan else value for value, nan in zip(values, nans, strict=True)]
    best = _latest_per_key(metrics.keys, metrics.steps, metrics.timestamps, values, nans)
    latest_keys = sorted(best)
    latest = [best[key] for key in latest_keys]
    return {
        "keys": "{" + _json_items(metrics.keys) + "}",
        "steps": "{" + _json_items(metrics.steps) + "}",
        "timestamps": "{" + _json_items(metrics.timestamps) + "}",
        "values": "{" + _float_items(values) + "}",
        "nans": "{" + _bool_items(nans) + "}",
        "latest_keys": "{" + _json_items(latest_keys) + "}",
        "latest_steps": "{" + _json_items([point[0] for point in latest]) + "}",
        "latest_timestamps": "{" + _json_items([point[1] for point in latest]) + "}",
        "latest_values": "{" + _float_items([point[2] for point in latest]) + "}",
        "latest_nans": "{" + _bool_items([point[3] for point in latest]) + "}",
    }


def _json_items(items: list) -> str:
    """The items of a JSON array, without its brackets."""
    return orjson.dumps(items).decode()[1:-1]


def _float_items(values: list[float]) -> str:
    if math.inf in values or -math.inf in values:
        # JSON has no infinities (orjson writes null); repr writes them as PostgreSQL reads them.
        return ",".join(map(repr, values))
    return _json_items(values)


def _bool_items(flags: list[bool]) -> str:
    return ",".join(["t" if flag else "f" for flag in flags])


def _pg_write_batch(
    *,
    where: str,
    params: dict,
    metrics: MetricColumns,
    run_params: Sequence[ParamIn] = (),
    tags: Sequence[TagIn] = (),
) -> tuple[int, int] | None:
    """(run pk, its seq) of the run matching `where` that got the batch, or None when no run
    matched or a param would change (nothing was written then)."""
    if metrics:
        params = {**params, **_pg_arrays(metrics)}
    if run_params:
        ordered = sorted(run_params, key=lambda p: p.key)  # one lock order for concurrent writers
        params["param_keys"] = [p.key for p in ordered]
        params["param_values"] = [p.value for p in ordered]
        params["param_count"] = len(ordered)
    if tags:
        latest = dict(sorted({tag.key: tag.value for tag in tags}.items()))  # last write wins
        params["tag_keys"] = list(latest)
        params["tag_values"] = list(latest.values())
        params["name"] = latest.get(RUN_NAME_TAG)
    for dedupe in (False, True) if metrics else (True,):
        sql = _pg_batch_sql(
            where=where,
            metrics=bool(metrics),
            params=bool(run_params),
            tags=bool(tags),
            dedupe=dedupe,
        )
        try:
            # Outside a transaction (a token's request) a refused statement needs no savepoint.
            with may_fail(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()
        except IntegrityError as error:
            if dedupe or _sqlstate(error) != _UNIQUE_VIOLATION:
                raise
        except DataError as error:
            if _sqlstate(error) != _DIVISION_BY_ZERO:
                raise
            return None
    raise AssertionError("unreachable: the deduplicating statement returns or raises")


def _sqlstate(error: Exception) -> str | None:
    return getattr(error.__cause__, "sqlstate", None)


def _values_clause(width: int, count: int) -> str:
    row = "(" + ", ".join(["%s"] * width) + ")"
    return "VALUES " + ", ".join([row] * count)


def _sqlite_write_metrics(*, run: Run, metrics: MetricColumns) -> int | None:
    nans = [math.isnan(value) for value in metrics.values]
    values = [0.0 if nan else value for value, nan in zip(metrics.values, nans, strict=True)]
    points = dict.fromkeys(
        zip(metrics.keys, metrics.steps, metrics.timestamps, values, nans, strict=True)
    )
    best = _latest_per_key(metrics.keys, metrics.steps, metrics.timestamps, values, nans)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tracking_run SET metric_seq = metric_seq + 1 WHERE id = %s "
            "AND lifecycle = 'active' RETURNING metric_seq",
            [run.pk],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        seq = row[0]
        rows = list(points)
        for start in range(0, len(rows), INSERT_BATCH_SIZE):
            chunk = rows[start : start + INSERT_BATCH_SIZE]
            cursor.execute(
                _INSERT_POINTS_SQL.format(rows=_values_clause(7, len(chunk))),
                [x for point in chunk for x in (run.pk, *point, seq)],
            )
        latest = [(key, *best[key]) for key in sorted(best)]
        for start in range(0, len(latest), INSERT_BATCH_SIZE):
            chunk = latest[start : start + INSERT_BATCH_SIZE]
            cursor.execute(
                _UPSERT_LATEST_SQL.format(rows=_values_clause(7, len(chunk))),
                [x for row in chunk for x in (run.pk, *row, seq)],
            )
        return seq


def _write_metrics(*, run: Run, metrics: MetricColumns) -> None:
    if connection.vendor == "postgresql":
        written = _pg_write_batch(where=_RUN_BY_PK, params={"run": run.pk}, metrics=metrics)
        seq = written[1] if written else None
    else:
        seq = _sqlite_write_metrics(run=run, metrics=metrics)
    if seq is None:
        # Validated as active a moment ago: deleted or purged since.
        raise NotFound(f"Run '{run.run_id}' not found.")
    run.metric_seq = seq


def _write_params(*, run: Run, params: Sequence[ParamIn]) -> None:
    # Sorted like every other multi-row write here, so concurrent batches lock rows in one order.
    Param.objects.bulk_create(
        [Param(run=run, key=p.key, value=p.value) for p in sorted(params, key=lambda p: p.key)],
        ignore_conflicts=True,
    )
    # Params are immutable. Keys logged before (by an earlier or a concurrent batch) were
    # skipped above; reading them back inside the transaction finds any with another value,
    # and the error rolls the whole batch back. One check, after the insert, covers both.
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
    _validate_batch(metrics=metrics, params=params, tags=tags)
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
            run_pk, seq = run.pk, run.metric_seq
            transaction.on_commit(lambda: summary_after_write(run_pk=run_pk, seq=seq))


def run_log_batch_by_id(
    *,
    actor: Actor,
    run_id: str,
    metrics: Sequence[MetricIn] | MetricColumns = (),
    params: Sequence[ParamIn] = (),
    tags: Sequence[TagIn] = (),
) -> None:
    """run_log_batch for the run with MLflow's id, as the actor: log-batch and log-metric, the
    calls a training loop and a sweep make most.

    On PostgreSQL, for a token that may write, access check, lock and write are one statement
    (no query for the run first). Anything else, and every error, goes the general way.
    """
    metrics = metric_columns(metrics)
    _validate_batch(metrics=metrics, params=params, tags=tags)
    project_id = token_project_allowing(actor, Role.EDITOR)
    if (
        (metrics or params or tags)
        and project_id is not None
        and connection.vendor == "postgresql"
        # A parent is another run to look up in the project: the general path does that.
        and not any(tag.key == PARENT_RUN_TAG for tag in tags)
    ):
        written = _pg_write_batch(
            where=_RUN_BY_ID_IN_PROJECT,
            params={"run": str(run_id), "project": project_id},
            metrics=metrics,
            run_params=params,
            tags=tags,
        )
        if written is not None:
            if metrics:
                run_pk, seq = written[:2]
                # Outside a transaction the statement has committed and this runs at once.
                transaction.on_commit(lambda: summary_after_write(run_pk=run_pk, seq=seq))
            return
    # Not in the token's project, deleted, a changed param, or not a token: the general path
    # says which.
    run = run_for_user(actor=actor, run_id=run_id, need=Role.EDITOR)
    run_log_batch(run=run, metrics=metrics, params=params, tags=tags)

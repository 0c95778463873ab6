# ruff: noqa: S608 (statements are built from the models' _meta and this module's constants;
# every value travels as a parameter)
"""The store on PostgreSQL: each write is one statement, one round trip, with the access check
(the run in the token's project, active) inside it.

Column lists come from the models' `_meta`; the points travel as array literals through
unnest() (see _arrays). The portable implementation (portable.py) is the reference: both are
held to the same rows by tests/tracking/test_store_contract.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import orjson
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Model

from accounts.models import User
from tracking.batch import MetricColumns, ParamIn, TagIn
from tracking.errors import InvalidInput
from tracking.models import Experiment, LatestMetric, Metric, Param, Run, RunTag
from tracking.store.common import (
    RunRef,
    Written,
    last_tag_values,
    latest_per_key,
    new_name,
    raise_if_params_changed,
    stored_values,
)

_UNIQUE_VIOLATION = "23505"
_DIVISION_BY_ZERO = "22012"
_POINT_FIELDS = ["run", "key", "step", "timestamp", "value", "is_nan", "seq"]


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _columns(model: type[Model], names: list[str]) -> list[str]:
    return [connection.ops.quote_name(model._meta.get_field(name).column) for name in names]


def _array_casts(model: type[Model], names: list[str], prefix: str = "") -> list[str]:
    """`%(<prefix><name>)s::<type>[]` for each field, the element type being the column's own."""
    return [
        f"%({prefix}{name})s::{model._meta.get_field(name).db_type(connection)}[]" for name in names
    ]


def _run_where(by_pk: bool) -> str:
    """The run a write names: by primary key, or by MLflow's id in the token's project."""
    if by_pk:
        return "id = %(run)s"
    return (
        f"run_id = %(run)s AND experiment_id IN (SELECT id FROM {_table(Experiment)} "
        "WHERE project_id = %(project)s)"
    )


@functools.cache
def _batch_sql(*, by_pk: bool, metrics: bool, params: bool, tags: bool, dedupe: bool) -> str:
    """The one statement for a batch with these parts; `dedupe` skips points stored already
    instead of failing on them."""
    run_table, metric_table = _table(Run), _table(Metric)
    latest_table = _table(LatestMetric)
    where = _run_where(by_pk)
    # Its first part bumps the run's seq, which takes the run's row lock until commit: batches
    # of one run are serialised, seq stays monotonic and two batches never upsert the same
    # latest points at once. No row back means no active run matched: nothing was written.
    rename = ", name = COALESCE(%(name)s, name)" if tags else ""
    ctes = [
        f"""r AS (
    UPDATE {run_table} SET metric_seq = metric_seq + {int(metrics)}{rename}
    WHERE {where} AND lifecycle = 'active'
    RETURNING id, metric_seq
)"""
    ]
    if metrics:
        point_columns = ", ".join(_columns(Metric, _POINT_FIELDS))
        values = ", ".join(_array_casts(Metric, _POINT_FIELDS[1:6]))
        latest_values = ", ".join(_array_casts(LatestMetric, _POINT_FIELDS[1:6], "latest_"))
        latest_columns = ", ".join(_columns(LatestMetric, _POINT_FIELDS))
        # Without ON CONFLICT a point is checked against the primary key once instead of
        # twice; a batch that holds a stored point (a retry) fails whole and comes back with it.
        conflict = " ON CONFLICT DO NOTHING" if dedupe else ""
        # The latest point of a key changes only when the batch's best point orders after it
        # (step, then timestamp, then value); seq moves on regardless (the summary is stale).
        newer = (
            '(excluded.step, excluded."timestamp", excluded.value, excluded.is_nan) > '
            '(l0.step, l0."timestamp", l0.value, l0.is_nan)'
        )
        kept = ", ".join(
            f"{col} = CASE WHEN {newer} THEN excluded.{col} ELSE l0.{col} END"
            for col in ("step", '"timestamp"', "value", "is_nan")
        )
        ctes.append(
            f"""points AS (
    INSERT INTO {metric_table} ({point_columns})
    SELECT r.id, u.*, r.metric_seq FROM r, unnest({values}) AS u{conflict}
), latest AS (
    INSERT INTO {latest_table} AS l0 ({latest_columns})
    SELECT r.id, l.*, r.metric_seq FROM r, unnest({latest_values}) AS l
    ON CONFLICT (run_id, "key") DO UPDATE SET seq = excluded.seq, {kept}
)"""
        )
    if params:
        # Params are immutable: a key logged before keeps its row, and the conflict clause
        # returns it only when the value is the same. Fewer rows back than params sent means
        # a changed value, and the final SELECT divides by zero, undoing the whole statement.
        param_arrays = ", ".join(_array_casts(Param, ["key", "value"], "param_"))
        ctes.append(
            f"""params AS (
    INSERT INTO {_table(Param)} ({", ".join(_columns(Param, ["run", "key", "value"]))})
    SELECT r.id, u.* FROM r, unnest({param_arrays}) AS u
    ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value
        WHERE {_table(Param)}.value = excluded.value
    RETURNING 1
)"""
        )
    if tags:
        ctes.append(_tags_cte("r.id"))
    check = ", 1 / ((SELECT count(*) FROM params) = %(param_count)s)::int" if params else ""
    return "WITH " + ", ".join(ctes) + f"\nSELECT id, metric_seq{check} FROM r"


def _tags_cte(run_column: str) -> str:
    columns = ", ".join(_columns(RunTag, ["run", "key", "value"]))
    arrays = ", ".join(_array_casts(RunTag, ["key", "value"], "tag_"))
    return f"""tags AS (
    INSERT INTO {_table(RunTag)} ({columns})
    SELECT {run_column}, u.* FROM r, unnest({arrays}) AS u
    ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value
)"""


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


def _arrays(metrics: MetricColumns) -> dict[str, str]:
    """The columns, and the latest point of each key, as PostgreSQL array literals.

    Written by orjson in C rather than adapted element by element by the driver. Safe as
    literals: keys are validated to word characters, '.', '-', ' ', ':' and '/' (nothing that
    needs escaping in JSON or inside a quoted array element), the rest are numbers, and floats
    are written in their shortest exact form.
    """
    values, nans = stored_values(metrics.values)
    best = latest_per_key(metrics.keys, metrics.steps, metrics.timestamps, values, nans)
    latest_keys = sorted(best)  # key order, so concurrent writers lock rows alike
    latest = [best[key] for key in latest_keys]
    return {
        "key": "{" + _json_items(metrics.keys) + "}",
        "step": "{" + _json_items(metrics.steps) + "}",
        "timestamp": "{" + _json_items(metrics.timestamps) + "}",
        "value": "{" + _float_items(values) + "}",
        "is_nan": "{" + _bool_items(nans) + "}",
        "latest_key": "{" + _json_items(latest_keys) + "}",
        "latest_step": "{" + _json_items([point[0] for point in latest]) + "}",
        "latest_timestamp": "{" + _json_items([point[1] for point in latest]) + "}",
        "latest_value": "{" + _float_items([point[2] for point in latest]) + "}",
        "latest_is_nan": "{" + _bool_items([point[3] for point in latest]) + "}",
    }


def _may_fail() -> AbstractContextManager:
    """Around one statement that may be refused: a savepoint when a caller's transaction is
    open, so the error leaves that transaction usable; nothing otherwise, since a statement
    outside a transaction is undone by its own error and needs no BEGIN round trip."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def _sqlstate(error: Exception) -> str | None:
    return getattr(error.__cause__, "sqlstate", None)


def _run_params(run: RunRef) -> dict:
    if run.pk is not None:
        return {"run": run.pk}
    return {"run": run.run_id, "project": run.project_id}


def log_batch(
    *, run: RunRef, metrics: MetricColumns, params: Sequence[ParamIn], tags: Sequence[TagIn]
) -> Written | None:
    arguments = _run_params(run)
    if metrics:
        arguments.update(_arrays(metrics))
    if params:
        ordered = sorted(params, key=lambda p: p.key)  # one lock order for concurrent writers
        arguments.update(
            {
                "param_key": [p.key for p in ordered],
                "param_value": [p.value for p in ordered],
                "param_count": len(ordered),
            }
        )
    if tags:
        values = last_tag_values(tags)
        arguments.update(
            {"tag_key": list(values), "tag_value": list(values.values()), "name": new_name(values)}
        )
    for dedupe in (False, True) if metrics else (True,):
        sql = _batch_sql(
            by_pk=run.pk is not None,
            metrics=bool(metrics),
            params=bool(params),
            tags=bool(tags),
            dedupe=dedupe,
        )
        try:
            # Outside a transaction (a token's request) a refused statement needs no savepoint.
            with _may_fail(), connection.cursor() as cursor:
                cursor.execute(sql, arguments)
                row = cursor.fetchone()
            return None if row is None else Written(run_pk=row[0], seq=row[1])
        except IntegrityError as error:
            if dedupe or _sqlstate(error) != _UNIQUE_VIOLATION:
                raise
        except DataError as error:
            if _sqlstate(error) != _DIVISION_BY_ZERO:
                raise
            raise_if_params_changed(run=run, params=params)
            # The other value was written and is gone again (its batch was undone).
            raise InvalidInput("Changing param values is not allowed.", field="params") from None
    raise AssertionError("unreachable: the deduplicating statement returns or raises")


# Every column but the key, in the model's order: the run as a whole, nothing typed by hand.
_RUN_FIELDS = [field for field in Run._meta.concrete_fields if not field.primary_key]


@functools.cache
def _create_sql() -> str:
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _RUN_FIELDS)
    values = ", ".join(f"%({field.attname})s" for field in _RUN_FIELDS)
    return f"""
WITH e AS (
    SELECT id FROM {_table(Experiment)}
    WHERE id = %(experiment_id)s AND project_id = %(project)s AND lifecycle = 'active'
), r AS (
    INSERT INTO {_table(Run)} ({columns})
    SELECT {values} FROM e
    RETURNING id
), {_tags_cte("r.id")}
SELECT id FROM r
"""


def create_run(*, run: Run, tags: dict[str, str], project_id: int) -> bool:
    arguments = {
        field.attname: field.get_db_prep_save(getattr(run, field.attname), connection)
        for field in _RUN_FIELDS
    }
    arguments.update(
        {"project": project_id, "tag_key": list(tags), "tag_value": list(tags.values())}
    )
    with connection.cursor() as cursor:
        cursor.execute(_create_sql(), arguments)
        row = cursor.fetchone()
    if row is None:
        return False
    run.pk = row[0]
    run._state.adding = False
    run._state.db = connection.alias
    return True


# The order RETURNING lists them in, for Run.from_db.
_RUN_COLUMNS = [field.attname for field in Run._meta.concrete_fields]


@functools.cache
def _finish_sql(by_pk: bool) -> str:
    where = _run_where(by_pk)
    returning = ", ".join(
        connection.ops.quote_name(field.column) for field in Run._meta.concrete_fields
    )
    return (
        f"UPDATE {_table(Run)} SET status = COALESCE(%(status)s, status), "
        "end_time = COALESCE(%(end_time)s, end_time) "
        f"WHERE {where} AND lifecycle = 'active' "
        f"RETURNING {returning}, (SELECT username FROM {_table(User)} u WHERE u.id = user_id)"
    )


def finish_run(*, run: RunRef, status: str | None, end_time: int | None) -> Run | None:
    with connection.cursor() as cursor:
        cursor.execute(
            _finish_sql(run.pk is not None),
            {**_run_params(run), "status": status, "end_time": end_time},
        )
        row = cursor.fetchone()
    if row is None:
        return None
    found = Run.from_db(connection.alias, _RUN_COLUMNS, row[:-1])
    if found.user_id is not None:
        found.user = User.from_db(connection.alias, ["id", "username"], [found.user_id, row[-1]])
    return found

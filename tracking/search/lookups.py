"""The query conditions a comparison becomes: MLflow's LIKE, integers, times, metrics and keys."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from django.db.models import Exists, F, Lookup, Model, OuterRef, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from tracking.models import INDEXED_VALUE_LENGTH, LatestMetric, Param, RunTag
from tracking.search.grammar import METRIC, PARAM, TAG, Comparison, SearchError, like_to_glob


class Like(Lookup):
    """`LIKE` with MLflow's meaning: `%` and `_` are wildcards, matching is case-sensitive.

    SQLite's own LIKE ignores case, so there it becomes GLOB; PostgreSQL's LIKE treats a backslash
    as an escape, which MLflow's patterns do not have.
    """

    lookup_name = "mlp_like"
    prepare_rhs = False
    case_sensitive = True

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        pattern = self.rhs
        if connection.vendor == "sqlite":
            if self.case_sensitive:
                return f"{lhs_sql} GLOB %s", (*lhs_params, like_to_glob(pattern))
            # Without an ESCAPE clause SQLite's LIKE has no escape character at all.
            return f"{lhs_sql} LIKE %s", (*lhs_params, pattern)
        operator = "LIKE" if self.case_sensitive else "ILIKE"
        return f"{lhs_sql} {operator} %s", (*lhs_params, pattern.replace("\\", "\\\\"))


class ILike(Like):
    lookup_name = "mlp_ilike"
    case_sensitive = False


# --- comparisons as query conditions -----------------------------------------------------------

NEVER = Q(pk__in=[])
_LOOKUPS = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_INT64 = (-(2**63), 2**63 - 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Milliseconds of the first and (almost) last instants a Python datetime can hold.
_DATETIME_MS = (-62_135_596_800_000, 253_402_300_799_998)


def string_condition(field: str, comparator: str, value, *, nullable: bool = False):
    present = Q(**{f"{field}__isnull": False}) if nullable else Q()
    if comparator == "=":
        return Q(**{field: value})
    if comparator == "!=":
        return present & ~Q(**{field: value})
    if comparator == "LIKE":
        return Like(F(field), value)
    if comparator == "ILIKE":
        return ILike(F(field), value)
    if comparator == "IN":
        return Q(**{f"{field}__in": list(value)})
    if comparator == "NOT IN":
        return present & ~Q(**{f"{field}__in": list(value)})
    raise SearchError(f"{comparator} is not supported here.")


def _integer_comparison(comparator: str, value: float, bounds: tuple[int, int]):
    """Rewrite `<int column> comparator value` as an exact integer comparison.

    Returns (comparator, int) with the int inside bounds, or True/False when every or no value in
    bounds satisfies it. Passing a float or an out-of-range int to the database would round it
    or overflow the column.
    """
    low, high = bounds
    if isinstance(value, float):
        if math.isinf(value):
            above = value > 0
            return (comparator in ("<", "<=", "!=")) if above else (comparator in (">", ">=", "!="))
        if comparator in ("=", "!="):
            if not value.is_integer():
                return comparator == "!="
            value = int(value)
        elif comparator == ">":
            comparator, value = ">=", math.floor(value) + 1
        elif comparator == ">=":
            comparator, value = ">=", math.ceil(value)
        elif comparator == "<":
            comparator, value = "<=", math.ceil(value) - 1
        else:
            comparator, value = "<=", math.floor(value)
    if value > high:
        return comparator in ("<", "<=", "!=")
    if value < low:
        return comparator in (">", ">=", "!=")
    return comparator, value


def integer_condition(field: str, comparator: str, value) -> Q:
    outcome = _integer_comparison(comparator, value, _INT64)
    if outcome is True:
        return Q(**{f"{field}__isnull": False})
    if outcome is False:
        return NEVER
    comparator, number = outcome
    if comparator == "!=":
        return Q(**{f"{field}__lt": number}) | Q(**{f"{field}__gt": number})
    return Q(**{f"{field}__{_LOOKUPS[comparator]}": number})


def _ms(value: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=value)


def milliseconds_condition(field: str, comparator: str, value) -> Q:
    """Compare a DateTimeField as MLflow's whole milliseconds since the epoch."""
    outcome = _integer_comparison(comparator, value, _DATETIME_MS)
    if outcome is True:
        return Q()
    if outcome is False:
        return NEVER
    comparator, n = outcome
    # A datetime's millisecond value is floor(ms), so `= n` covers [n, n + 1).
    start, end = _ms(n), _ms(n + 1)
    return {
        "=": Q(**{f"{field}__gte": start, f"{field}__lt": end}),
        "!=": Q(**{f"{field}__lt": start}) | Q(**{f"{field}__gte": end}),
        ">": Q(**{f"{field}__gte": end}),
        ">=": Q(**{f"{field}__gte": start}),
        "<": Q(**{f"{field}__lt": start}),
        "<=": Q(**{f"{field}__lt": end}),
    }[comparator]


def metric_condition(comparator: str, value, prefix: str = "") -> Q:
    """The condition on a LatestMetric row, or on the one `prefix` (`name__`) joins."""
    number = float(value)
    is_nan, value_field = f"{prefix}is_nan", f"{prefix}value"
    # NaN is stored as 0 with is_nan set; like MLflow (and IEEE), NaN satisfies only `!=`.
    if comparator == "!=":
        return (
            Q(**{is_nan: True})
            | Q(**{f"{value_field}__lt": number})
            | Q(**{f"{value_field}__gt": number})
        )
    return Q(**{is_nan: False, f"{value_field}__{_LOOKUPS[comparator]}": number})


def key_condition(model: type[Model], owner: str, comparison: Comparison):
    """Whether the owner has a row of `model` for the key that satisfies the comparison."""
    rows = model.objects.filter(**{owner: OuterRef("pk")}, key=comparison.key)
    if comparison.comparator == "IS NULL":
        return ~Exists(rows)
    if comparison.comparator == "IS NOT NULL":
        return Exists(rows)
    if model is LatestMetric:
        return Exists(rows.filter(metric_condition(comparison.comparator, comparison.value)))
    condition = string_condition("value", comparison.comparator, comparison.value)
    if (
        model in _SHORT_VALUE_INDEXED
        and comparison.comparator == "="
        and isinstance(comparison.value, str)
        and len(comparison.value) <= INDEXED_VALUE_LENGTH
    ):
        # Always true when the value matches; it lets the database use the partial index.
        condition &= Q(LessThanOrEqual(Length("value"), INDEXED_VALUE_LENGTH))
    return Exists(rows.filter(condition))


RUN_KEY_MODELS = {METRIC: LatestMetric, PARAM: Param, TAG: RunTag}
_SHORT_VALUE_INDEXED = (Param, RunTag)

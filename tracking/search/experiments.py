"""Experiment filters as query conditions: `filter_experiments`."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from tracking.models import Experiment, ExperimentTag
from tracking.search.grammar import MAX_INT_DIGITS, TAG, Comparison
from tracking.search.lookups import key_condition, milliseconds_condition, string_condition
from tracking.search.parser import parse_experiment_filter


def _experiment_id_condition(comparator: str, value) -> Q:
    # MLflow's ids are strings; only the canonical spelling of one of ours can match.
    values = value if isinstance(value, tuple) else (value,)
    ids = [
        int(v)
        for v in values
        if v.isascii() and v.isdigit() and len(v) <= MAX_INT_DIGITS and str(int(v)) == v
    ]
    if comparator in ("=", "IN"):
        return Q(pk__in=ids)
    return ~Q(pk__in=ids)


_EXPERIMENT_TIME_FIELDS = {"creation_time": "created_at", "last_update_time": "updated_at"}


def _experiment_condition(comparison: Comparison):
    if comparison.kind == TAG:
        return key_condition(ExperimentTag, "experiment", comparison)
    if comparison.key in _EXPERIMENT_TIME_FIELDS:
        field = _EXPERIMENT_TIME_FIELDS[comparison.key]
        return milliseconds_condition(field, comparison.comparator, comparison.value)
    if comparison.key == "experiment_id":
        return _experiment_id_condition(comparison.comparator, comparison.value)
    return string_condition("name", comparison.comparator, comparison.value)


def filter_experiments(qs: QuerySet[Experiment], text: str | None) -> QuerySet[Experiment]:
    """The experiments of qs that satisfy a filter string; an empty filter keeps them all."""
    for comparison in parse_experiment_filter(text or ""):
        qs = qs.filter(_experiment_condition(comparison))
    return qs

"""Run filters as query conditions: `filter_runs`, and `filter_and_order_runs` for searches."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import FilteredRelation, Q, QuerySet

from tracking.models import Run
from tracking.search.grammar import (
    DATASET,
    METRIC,
    NUMERIC_COMPARATORS,
    RUN_GRAMMAR,
    Comparison,
)
from tracking.search.lookups import (
    RUN_KEY_MODELS,
    integer_condition,
    key_condition,
    metric_condition,
    string_condition,
)
from tracking.search.ordering import order_runs_by_clauses
from tracking.search.parser import parse_filter, parse_order_by

_RUN_STRING_FIELDS = {
    "run_id": ("run_id", False),
    "run_name": ("name", False),
    "status": ("status", False),
    "user_id": ("user__username", True),
    "artifact_uri": ("artifact_uri", False),
}


def _run_condition(comparison: Comparison):
    if comparison.kind == DATASET:
        # Imported here: the selector imports this package's errors.
        from tracking.selectors.datasets import run_dataset_condition

        return run_dataset_condition(comparison.key, comparison.comparator, comparison.value)
    if comparison.kind in RUN_KEY_MODELS:
        return key_condition(RUN_KEY_MODELS[comparison.kind], "run", comparison)
    if comparison.key in RUN_GRAMMAR.numeric_attributes:
        return integer_condition(comparison.key, comparison.comparator, comparison.value)
    field, nullable = _RUN_STRING_FIELDS[comparison.key]
    return string_condition(field, comparison.comparator, comparison.value, nullable=nullable)


def filter_runs(qs: QuerySet[Run], text: str | None) -> QuerySet[Run]:
    """The runs of qs that satisfy a filter string; an empty filter keeps them all."""
    for comparison in parse_filter(text or ""):
        qs = qs.filter(_run_condition(comparison))
    return qs


# A run satisfies these only with a real (not NaN) value of the metric.
_REAL_VALUE_COMPARATORS = frozenset(NUMERIC_COMPARATORS) - {"!="}


def filter_and_order_runs(
    qs: QuerySet[Run], text: str | None, order_by: Iterable[str] | None
) -> QuerySet[Run]:
    """`order_runs(filter_runs(qs, text), order_by)`, reading a metric that is both compared to
    a number and ordered by only once.

    Apart, such a metric costs each candidate run an EXISTS and two ordering subqueries; here
    its row (one per run and key) is joined once and compared and sorted on, and as every run
    left has a real value of it, the NaN and missing ranks need no sorting.
    """
    comparisons = parse_filter(text or "")
    clauses = parse_order_by(order_by)
    ordered_metrics = {clause.key for clause in clauses if clause.kind == METRIC}
    joined: dict[str, str] = {}
    for comparison in comparisons:
        if (
            comparison.kind != METRIC
            or comparison.key not in ordered_metrics
            or comparison.comparator not in _REAL_VALUE_COMPARATORS
        ):
            qs = qs.filter(_run_condition(comparison))
            continue
        name = joined.get(comparison.key)
        if name is None:
            name = joined[comparison.key] = f"search_metric_{len(joined)}"
            condition = Q(latest_metrics__key=comparison.key)
            qs = qs.alias(**{name: FilteredRelation("latest_metrics", condition=condition)})
        qs = qs.filter(metric_condition(comparison.comparator, comparison.value, f"{name}__"))
    return order_runs_by_clauses(qs, clauses, joined=joined)

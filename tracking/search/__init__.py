"""MLflow's search grammar for runs and experiments, turned into ORM queries.

`grammar` and `parser` are plain Python: what a filter or order_by may say, and the parser that
reads one. `lookups` holds the query conditions a comparison becomes, `runs` and `experiments`
apply filters, `ordering` sorts. Callers import from here; the query side loads on first use, so
importing the parser alone never imports Django.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tracking.search.grammar import (
    ATTRIBUTE,
    EXPERIMENT_GRAMMAR,
    LIKE_COMPARATORS,
    LIST_COMPARATORS,
    MAX_FILTER_CLAUSES,
    MAX_FILTER_LENGTH,
    MAX_IN_VALUES,
    MAX_ORDER_BY_CLAUSES,
    MAX_ORDER_BY_LENGTH,
    MAX_PATTERN_BYTES,
    METRIC,
    NULL_COMPARATORS,
    NUMERIC_COMPARATORS,
    PARAM,
    RUN_GRAMMAR,
    TAG,
    Comparison,
    OrderBy,
    SearchError,
)
from tracking.search.parser import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_filter,
    parse_order_by,
)

if TYPE_CHECKING:
    from tracking.search.experiments import filter_experiments
    from tracking.search.ordering import order_experiments, order_runs
    from tracking.search.runs import filter_and_order_runs, filter_runs

_QUERY_SIDE = {
    "filter_experiments": "tracking.search.experiments",
    "order_experiments": "tracking.search.ordering",
    "order_runs": "tracking.search.ordering",
    "filter_and_order_runs": "tracking.search.runs",
    "filter_runs": "tracking.search.runs",
}


def __getattr__(name: str):
    module = _QUERY_SIDE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ATTRIBUTE",
    "EXPERIMENT_GRAMMAR",
    "LIKE_COMPARATORS",
    "LIST_COMPARATORS",
    "MAX_FILTER_CLAUSES",
    "MAX_FILTER_LENGTH",
    "MAX_IN_VALUES",
    "MAX_ORDER_BY_CLAUSES",
    "MAX_ORDER_BY_LENGTH",
    "MAX_PATTERN_BYTES",
    "METRIC",
    "NULL_COMPARATORS",
    "NUMERIC_COMPARATORS",
    "PARAM",
    "RUN_GRAMMAR",
    "TAG",
    "Comparison",
    "OrderBy",
    "SearchError",
    "filter_and_order_runs",
    "filter_experiments",
    "filter_runs",
    "order_experiments",
    "order_runs",
    "parse_experiment_filter",
    "parse_experiment_order_by",
    "parse_filter",
    "parse_order_by",
]

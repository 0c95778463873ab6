"""Search order: `order_runs` and `order_experiments`, by MLflow's rules for missing values."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Case, F, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from tracking.models import Experiment, Run
from tracking.search.grammar import ATTRIBUTE, METRIC, OrderBy
from tracking.search.lookups import RUN_KEY_MODELS
from tracking.search.parser import parse_experiment_order_by, parse_order_by

_RUN_ORDER_FIELDS = {
    "run_id": "run_id",
    "run_name": "name",
    "status": "status",
    "user_id": "user__username",
    "artifact_uri": "artifact_uri",
    "start_time": "start_time",
    "end_time": "end_time",
}


def _direction(expression, ascending: bool):
    # Runs without the key (NULL) sort last in both directions, as in MLflow.
    return expression.asc(nulls_last=True) if ascending else expression.desc(nulls_last=True)


def order_runs(qs: QuerySet[Run], order_by: Iterable[str] | None) -> QuerySet[Run]:
    """qs ordered by order_by clauses, then start_time DESC and run_id (MLflow's order)."""
    return order_runs_by_clauses(qs, parse_order_by(order_by), joined={})


def order_runs_by_clauses(
    qs: QuerySet[Run], clauses: list[OrderBy], *, joined: dict[str, str]
) -> QuerySet[Run]:
    ordering = []
    annotations = {}
    for index, clause in enumerate(clauses):
        if clause.kind == ATTRIBUTE:
            ordering.append(_direction(F(_RUN_ORDER_FIELDS[clause.key]), clause.ascending))
            continue
        if clause.kind == METRIC and clause.key in joined:
            # Every run left has a real value of this metric: no NaN or missing ranks to sort.
            ordering.append(_direction(F(f"{joined[clause.key]}__value"), clause.ascending))
            continue
        model = RUN_KEY_MODELS[clause.kind]
        rows = model.objects.filter(run=OuterRef("pk"), key=clause.key)
        value_name = f"search_order_{index}"
        if clause.kind == METRIC:
            # Real values first, then NaN, then runs without the metric, in either direction.
            rank_name = f"search_order_{index}_rank"
            ranks = rows.annotate(
                nan_rank=Case(When(is_nan=True, then=Value(1)), default=Value(0))
            ).values("nan_rank")[:1]
            annotations[rank_name] = Coalesce(
                Subquery(ranks, output_field=IntegerField()), Value(2)
            )
            ordering.append(F(rank_name).asc())
            rows = rows.filter(is_nan=False)
        annotations[value_name] = Subquery(rows.values("value")[:1])
        ordering.append(_direction(F(value_name), clause.ascending))
    ordering += [F("start_time").desc(), F("run_id").asc()]
    if annotations:
        qs = qs.annotate(**annotations)
    return qs.order_by(*ordering)


_EXPERIMENT_ORDER_FIELDS = {
    "name": "name",
    "experiment_id": "pk",
    "creation_time": "created_at",
    "last_update_time": "updated_at",
}


def order_experiments(
    qs: QuerySet[Experiment], order_by: Iterable[str] | None
) -> QuerySet[Experiment]:
    """qs ordered by order_by clauses, as MLflow's store orders: by default creation_time DESC
    then experiment_id ASC, and experiment_id DESC breaks ties an order_by leaves."""
    clauses = parse_experiment_order_by(order_by) or [
        OrderBy(ATTRIBUTE, "creation_time", ascending=False),
        OrderBy(ATTRIBUTE, "experiment_id", ascending=True),
    ]
    ordering = [_direction(F(_EXPERIMENT_ORDER_FIELDS[c.key]), c.ascending) for c in clauses]
    if not any(c.key == "experiment_id" for c in clauses):
        ordering.append(F("pk").desc())
    return qs.order_by(*ordering)

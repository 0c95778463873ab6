"""Metrics that name a logged model (MLflow 3's `model_id`, `dataset_name` and `dataset_digest`
on a metric): log-batch and log-metric write the run's points as before and, when a point names a
model, the model's copy too, in the same transaction."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from accounts.access import Actor
from accounts.models import Role
from tracking.mlflow_api import runs
from tracking.mlflow_api.base import run_of
from tracking.mlflow_api.wire import Fields, parse_float, parse_int
from tracking.services import logged_models as services
from tracking.services.logged_models import ModelMetricIn


def _model_metrics(items: list) -> list[ModelMetricIn]:
    points = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("model_id"):
            continue
        metric = Fields(item)
        points.append(
            ModelMetricIn(
                model_id=metric.str("model_id", required=True),
                key=metric.str("key", required=True),
                value=parse_float(metric.raw("value"), field=f"metrics[{i}].value"),
                timestamp=parse_int(metric.raw("timestamp"), field=f"metrics[{i}].timestamp"),
                step=parse_int(metric.raw("step") or 0, field=f"metrics[{i}].step"),
                dataset_name=metric.str("dataset_name", default="") or "",
                dataset_digest=metric.str("dataset_digest", default="") or "",
            )
        )
    return points


def _with_model_metrics(handler: Callable, items: Callable[[Fields], list]) -> Callable:
    """The run's batch as before, plus the points that name a model, in one transaction."""

    def logged(request, fields: Fields, actor: Actor) -> dict:
        raw = items(fields)
        if not any(isinstance(item, dict) and item.get("model_id") for item in raw):
            return handler(request, fields, actor)
        points = _model_metrics(raw)
        with transaction.atomic():
            body = handler(request, fields, actor)
            run = run_of(fields, actor, Role.EDITOR)
            services.logged_model_metrics_record(run=run, metrics=points)
        return body

    return logged


def _batch_items(fields: Fields) -> list:
    items = fields.raw("metrics")
    return items if isinstance(items, list) else []


log_batch = _with_model_metrics(runs.run_log_batch, _batch_items)
log_metric = _with_model_metrics(runs.run_log_metric, lambda fields: [fields.data])

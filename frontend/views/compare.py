"""Comparing runs: params, metrics and tags side by side, parallel coordinates, a scatter plot
and overlaid metric charts."""

from __future__ import annotations

import math

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.access import Actor
from frontend import selectors
from frontend.views.common import get_project
from tracking.models import Run, RunTag
from tracking.selectors.lookups import runs_for_user
from tracking.selectors.summaries import metric_summary_map

MAX_COMPARED = 20
DEFAULT_PARALLEL_PARAMS = 6


def _number(value):
    """A param's text as a number when it is one; NaN and infinities as None, never drawn."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return number if math.isfinite(number) else None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _rows(table: dict[str, dict[int, object]], runs: list[Run], only_diff: bool) -> list[dict]:
    rows = []
    for key, values in table.items():
        cells = [values.get(run.pk) for run in runs]
        differs = len({repr(c) for c in cells}) > 1
        if not only_diff or differs:
            rows.append({"key": key, "cells": cells, "differs": differs})
    return rows


@login_required
@require_safe
def compare(request, slug: str):
    project = get_project(request, slug)
    requested = []
    for value in request.GET.getlist("runs"):
        requested += [r.strip() for r in value.split(",") if r.strip()]
    requested = list(dict.fromkeys(requested))
    error = None
    if len(requested) > MAX_COMPARED:
        error = f"Compare at most {MAX_COMPARED} runs at a time; the first ones are shown."
        requested = requested[:MAX_COMPARED]
    runs = runs_for_user(actor=Actor(user=request.user), run_ids=requested, project=project)
    found = {run.run_id for run in runs}
    missing = [r for r in requested if r not in found]
    only_diff = request.GET.get("diff") == "1"

    params = selectors.runs_params(runs)
    summaries = metric_summary_map(runs=runs)
    metric_table: dict[str, dict[int, object]] = {}
    for run in runs:
        for key, summary in summaries.get(run.pk, {}).items():
            metric_table.setdefault(key, {})[run.pk] = summary
    metric_table = dict(sorted(metric_table.items()))
    tag_table: dict[str, dict[int, object]] = {}
    for run_pk, key, value in (
        RunTag.objects.filter(run__in=runs)
        .exclude(key__startswith="mlflow.")
        .values_list("run_id", "key", "value")
    ):
        tag_table.setdefault(key, {})[run_pk] = value
    tag_table = dict(sorted(tag_table.items()))

    metric_rows = []
    for key, values in metric_table.items():
        cells = [values.get(run.pk) for run in runs]
        latest = {repr(c.latest_value) if c else None for c in cells}
        differs = len(latest) > 1
        if not only_diff or differs:
            metric_rows.append({"key": key, "cells": cells, "differs": differs})

    model_keys = [k for k in metric_table if not k.startswith(selectors.SYSTEM_PREFIX)]
    differing_params = [
        key for key, values in params.items() if len({values.get(r.pk) for r in runs}) > 1
    ]
    chosen_params = [p for p in request.GET.getlist("pc") if p in params]
    if not chosen_params:
        pool = differing_params if only_diff or differing_params else list(params)
        chosen_params = pool[:DEFAULT_PARALLEL_PARAMS]
    chosen_metric = request.GET.get("pm") if request.GET.get("pm") in metric_table else None
    chosen_metric = chosen_metric or (model_keys[0] if model_keys else None)

    data = {
        "runs": [
            {
                "id": run.run_id,
                "name": run.name or run.run_id[:8],
                "params": {key: _number(values.get(run.pk)) for key, values in params.items()},
                "metrics": {
                    key: _finite(s.latest_value) for key, s in summaries.get(run.pk, {}).items()
                },
            }
            for run in runs
        ],
        "parallel": {"params": chosen_params, "metric": chosen_metric},
        "scatter": {
            "x": request.GET.get("sx") or (f"params.{chosen_params[0]}" if chosen_params else ""),
            "y": request.GET.get("sy") or (f"metrics.{chosen_metric}" if chosen_metric else ""),
        },
    }
    return render(
        request,
        "frontend/compare.html",
        {
            "project": project,
            "runs": runs,
            "missing": missing,
            "error": error,
            "param_rows": _rows(params, runs, only_diff),
            "metric_rows": metric_rows,
            "tag_rows": _rows(tag_table, runs, only_diff),
            "only_diff": only_diff,
            "metric_keys": model_keys,
            "all_metric_keys": list(metric_table),
            "param_keys": list(params),
            "chosen_params": chosen_params,
            "chosen_metric": chosen_metric,
            "compare_data": data,
            "runs_value": ",".join(r.run_id for r in runs),
        },
    )

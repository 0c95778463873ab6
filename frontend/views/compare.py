"""Comparing runs: params side by side, overlaid metric charts, parallel coordinates."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.access import Actor
from frontend import selectors
from frontend.views.common import get_project
from tracking.models import LatestMetric
from tracking.selectors.lookups import runs_for_user

MAX_COMPARED = 20


def _number(value: str):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


@login_required
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

    params = selectors.runs_params(runs)
    only_diff = request.GET.get("diff") == "1"
    param_rows = []
    for key, values in params.items():
        cells = [values.get(run.pk) for run in runs]
        differs = len(set(cells)) > 1
        if only_diff and not differs:
            continue
        param_rows.append({"key": key, "cells": cells, "differs": differs})

    metric_keys = selectors.runs_metric_keys(runs)
    model_keys = [k for k in metric_keys if not k.startswith(selectors.SYSTEM_PREFIX)]
    chosen_params = [p for p in request.GET.getlist("pc") if p in params] or list(params)[:4]
    chosen_metric = request.GET.get("pm") if request.GET.get("pm") in metric_keys else None
    chosen_metric = chosen_metric or (model_keys[0] if model_keys else None)
    latest = {}
    if chosen_metric:
        latest = dict(
            LatestMetric.objects.filter(run__in=runs, key=chosen_metric).values_list(
                "run_id", "value"
            )
        )
    parallel = {
        "axes": chosen_params + ([chosen_metric] if chosen_metric else []),
        "runs": [
            {
                "name": run.name or run.run_id[:8],
                "values": [_number(params.get(p, {}).get(run.pk)) for p in chosen_params]
                + ([latest.get(run.pk)] if chosen_metric else []),
            }
            for run in runs
        ],
    }
    return render(
        request,
        "frontend/compare.html",
        {
            "project": project,
            "runs": runs,
            "missing": missing,
            "error": error,
            "param_rows": param_rows,
            "only_diff": only_diff,
            "metric_keys": model_keys,
            "param_keys": list(params),
            "chosen_params": chosen_params,
            "chosen_metric": chosen_metric,
            "parallel": parallel,
            "runs_value": ",".join(r.run_id for r in runs),
        },
    )

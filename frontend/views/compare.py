"""Comparing runs: params, metrics and tags side by side, a difference view against a baseline
run, parallel coordinates, a scatter plot, a contour plot and overlaid metric charts."""

from __future__ import annotations

import math

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.access import Actor
from frontend import selectors
from frontend.comparison import (
    Axes,
    PageState,
    QueryErrors,
    chosen_axis,
    difference_rows,
    parse_brush,
    unknown_parameters,
)
from frontend.views.common import get_project
from tracking.models import Run
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
    get = request.GET
    errors = QueryErrors()
    for name in unknown_parameters(get):
        errors.add(f"Unknown parameter “{name}”.")
    requested = []
    for value in get.getlist("runs"):
        requested += [r.strip() for r in value.split(",") if r.strip()]
    requested = list(dict.fromkeys(requested))
    if len(requested) > MAX_COMPARED:
        errors.add(f"Compare at most {MAX_COMPARED} runs at a time; the first ones are shown.")
        requested = requested[:MAX_COMPARED]
    runs = runs_for_user(actor=Actor(user=request.user), run_ids=requested, project=project)
    found = {run.run_id for run in runs}
    missing = [r for r in requested if r not in found]
    if missing:
        errors.add(f"Not found in this project: {', '.join(missing)}")
    only_diff = get.get("diff") == "1"

    params = selectors.runs_params(runs)
    summaries = metric_summary_map(runs=runs)
    metric_table: dict[str, dict[int, object]] = {}
    for run in runs:
        for key, summary in summaries.get(run.pk, {}).items():
            metric_table.setdefault(key, {})[run.pk] = summary
    metric_table = dict(sorted(metric_table.items()))
    tag_table = selectors.runs_tags(runs)

    metric_rows = []
    for key, values in metric_table.items():
        cells = [values.get(run.pk) for run in runs]
        latest = {repr(c.latest_value) if c else None for c in cells}
        differs = len(latest) > 1
        if not only_diff or differs:
            metric_rows.append({"key": key, "cells": cells, "differs": differs})

    axes = Axes(params=list(params), metrics=list(metric_table))
    model_keys = [k for k in metric_table if not k.startswith(selectors.SYSTEM_PREFIX)]
    differing_params = [
        key for key, values in params.items() if len({values.get(r.pk) for r in runs}) > 1
    ]
    unknown_params = [p for p in get.getlist("pc") if p not in params]
    if unknown_params:
        errors.add(f"Parallel coordinates: no param {', '.join(unknown_params)} in these runs.")
    chosen_params = [p for p in get.getlist("pc") if p in params]
    if not chosen_params:
        pool = differing_params if only_diff or differing_params else list(params)
        chosen_params = pool[:DEFAULT_PARALLEL_PARAMS]
    metric_ids = axes.metric_ids()
    given = {
        "pm": chosen_axis(get, "pm", set(metric_table), "Parallel metric", errors),
        "sx": chosen_axis(get, "sx", axes.all_ids(), "Scatter X", errors),
        "sy": chosen_axis(get, "sy", metric_ids, "Scatter Y", errors),
        "cx": chosen_axis(get, "cx", axes.all_ids(), "Contour X", errors),
        "cy": chosen_axis(get, "cy", axes.all_ids(), "Contour Y", errors),
        "cz": chosen_axis(get, "cz", metric_ids, "Contour colour", errors),
    }
    chosen_metric = given["pm"] or (model_keys[0] if model_keys else None)
    default_x = f"params.{chosen_params[0]}" if chosen_params else ""
    default_y = f"metrics.{chosen_metric}" if chosen_metric else ""
    # The contour's default plane: the first two params that vary (or a param and another
    # metric), coloured by the metric.
    others = [f"metrics.{k}" for k in model_keys if k != chosen_metric]
    second = f"params.{chosen_params[1]}" if len(chosen_params) > 1 else None
    second = second or (others[0] if others else default_x)

    baseline = runs[0] if runs else None
    baseline_id = get.get("baseline")
    chosen_baseline = next((run for run in runs if run.run_id == baseline_id), None)
    if baseline_id:
        if chosen_baseline is not None:
            baseline = chosen_baseline
        else:
            errors.add(f"Baseline: “{baseline_id}” is not one of the compared runs.")
    diff_rows = []
    if baseline is not None:
        latest = {
            key: {pk: summary.latest_value for pk, summary in values.items()}
            for key, values in metric_table.items()
        }
        diff_rows = difference_rows(
            runs=runs, baseline=baseline, params=params, latest=latest, only_diff=only_diff
        )
    brush = parse_brush(get.get("brush"), axes, errors)

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
        "scatter": {"x": given["sx"] or default_x, "y": given["sy"] or default_y},
        "contour": {
            "x": given["cx"] or default_x,
            "y": given["cy"] or second,
            "z": given["cz"] or default_y,
        },
        "brush": brush,
    }
    state = PageState(
        runs=runs,
        only_diff=only_diff,
        params=[key for key in get.getlist("pc") if key in params],
        charts={name: value for name, value in given.items() if value},
        baseline=chosen_baseline,
        brush=brush,
    )
    return render(
        request,
        "frontend/compare.html",
        {
            "project": project,
            "runs": runs,
            "missing": missing,
            "errors": errors.messages,
            "param_rows": _rows(params, runs, only_diff),
            "metric_rows": metric_rows,
            "tag_rows": _rows(tag_table, runs, only_diff),
            "diff_rows": diff_rows,
            "baseline": baseline,
            "only_diff": only_diff,
            "metric_keys": model_keys,
            "all_metric_keys": list(metric_table),
            "param_keys": list(params),
            "chosen_params": chosen_params,
            "chosen_metric": chosen_metric,
            "compare_data": data,
            "runs_value": ",".join(r.run_id for r in runs),
            "hidden_diff": state.hidden("diff"),
            "hidden_parallel": state.hidden("pc", "pm"),
            "hidden_baseline": state.hidden("baseline"),
        },
        status=400 if errors else 200,
    )

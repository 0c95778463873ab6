"""The chart view of an experiment: every metric as a chart with the filtered runs overlaid."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from frontend import selectors
from frontend.views.common import chart_data_response, get_experiment
from frontend.views.metrics import BadParameter, int_param, series_request
from tracking.models import Run, RunStatus
from tracking.search import SearchError
from tracking.selectors.charts import points_per_run, runs_series
from tracking.selectors.series import X_AXES

# Overlaid lines stop being readable well before this; the page says when runs are left out.
MAX_CHART_RUNS = 100
DEFAULT_POINTS = 500
# Keys of one series request: the charts that come into view together, and those they combine.
MAX_CHART_KEYS = 20


def _chart_runs(request, experiment) -> tuple[selectors.RunsQuery, QuerySet[Run], str | None]:
    """The runs the table would list for the same query (children included)."""
    query = selectors.RunsQuery.from_get(request.GET)
    try:
        runs = selectors.experiment_runs(experiment=experiment, user=request.user, query=query)
    except SearchError as exc:
        return query, Run.objects.none(), str(exc)
    return query, runs, None


def _zoom(request) -> list[int] | None:
    """The zoomed x range of the URL (`xmin`, `xmax`), or None."""
    try:
        low, high = int(request.GET["xmin"]), int(request.GET["xmax"])
    except (KeyError, ValueError):
        return None
    return [low, high] if low < high else None


@login_required
@require_safe
def experiment_charts(request, slug: str, experiment_id: int):
    experiment = get_experiment(request, slug, experiment_id)
    project = experiment.project
    query, runs, error = _chart_runs(request, experiment)
    # One more than shown, so the page can tell that some were left out.
    runs = list(runs[: MAX_CHART_RUNS + 1])
    truncated = len(runs) > MAX_CHART_RUNS
    runs = runs[:MAX_CHART_RUNS]

    group_by = selectors.Grouping.parse(request.GET.get("group_by", ""))
    param_keys, tag_keys, metric_keys = selectors.chart_keys(runs)
    groups = selectors.run_groups(runs, group_by) if group_by else {}
    colours = selectors.colour_indexes(runs)
    x = request.GET.get("x", "step")
    hidden = [r for r in request.GET.get("hide", "").split(",") if r]

    state = query.state()
    kept = [(k, v) for k, v in state.items() if v and not (k == "sort" and v == "-start")]
    table_url = reverse("experiment", kwargs={"slug": slug, "experiment_id": experiment.pk})
    back = kept + [("col", c) for c in request.GET.getlist("col")]
    spec = {
        "seriesUrl": reverse(
            "experiment_charts_series", kwargs={"slug": slug, "experiment_id": experiment.pk}
        )
        + ("?" + urlencode(kept) if kept else ""),
        "runs": [
            {
                "id": run.run_id,
                "name": run.name or run.run_id[:8],
                "url": reverse("run", kwargs={"slug": slug, "run_id": run.run_id}),
                "colour": colours[run.pk],
                "parent": run.parent_id is not None,
                "group": groups.get(run.pk) if group_by else None,
            }
            for run in runs
        ],
        "keys": metric_keys,
        "maxKeys": MAX_CHART_KEYS,
        "groupBy": group_by.id if group_by else "",
        "x": x if x in X_AXES else "step",
        "smoothing": request.GET.get("smooth", "0"),
        "log": request.GET.get("log") == "1",
        "hidden": hidden,
        "pinned": [r for r in request.GET.get("pin", "").split(",") if r],
        "zoom": _zoom(request),
        "combine": [
            pair.split(":", 1)
            for pair in request.GET.getlist("combine")
            if pair.count(":") >= 1 and all(pair.split(":", 1))
        ],
        # Running runs: the charts fetch their data again every few seconds.
        "live": any(run.status == RunStatus.RUNNING for run in runs),
    }
    sort_choices = [("-start", "Newest first"), ("start", "Oldest first"), ("name", "Name")] + [
        choice
        for key in metric_keys
        for choice in (
            (f"-metrics.{key}", f"{key}, highest first"),
            (f"metrics.{key}", f"{key}, lowest first"),
        )
    ]
    return render(
        request,
        "frontend/experiment_charts.html",
        {
            "project": project,
            "experiment": experiment,
            "runs": runs,
            "truncated": truncated,
            "max_runs": MAX_CHART_RUNS,
            "filter_error": error,
            "state": state,
            "statuses": RunStatus.choices,
            "sort_choices": sort_choices,
            "group_by": group_by.id if group_by else "",
            "group_choices": [f"params.{k}" for k in param_keys] + [f"tags.{k}" for k in tag_keys],
            "metric_keys": metric_keys,
            "spec": spec,
            # Back to the table with the columns it had (the charts keep them in the URL).
            "table_url": table_url + ("?" + urlencode(back) if back else ""),
        },
    )


@login_required
@require_safe
def experiment_charts_series(request, slug: str, experiment_id: int):
    """Metric keys (`key`, repeated) of the view's runs, each downsampled on one grid: the data
    of the charts that came into view together, in one answer so the runs are found once."""
    experiment = get_experiment(request, slug, experiment_id)
    keys = list(dict.fromkeys(request.GET.getlist("key")))
    try:
        _, x, points = series_request(request)
        x_min = int_param(request, "x_min")
        x_max = int_param(request, "x_max")
        if not all(keys):
            raise BadParameter("Give every metric key as ?key=.")
        if len(keys) > MAX_CHART_KEYS:
            raise BadParameter(f"Ask for at most {MAX_CHART_KEYS} keys at a time.")
    except BadParameter as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    _, runs, error = _chart_runs(request, experiment)
    if error:
        return JsonResponse({"error": error}, status=400)
    # A chart needs only the runs' ids (and start, for a long run's relative axis).
    runs = list(runs.select_related(None).only("run_id", "start_time")[:MAX_CHART_RUNS])
    charts = []
    for key in keys:
        series, grid = runs_series(
            runs=runs,
            key=key,
            points=points_per_run(points, len(runs)),
            x=x,
            x_min=x_min,
            x_max=x_max,
        )
        payload = [
            {"run_id": run.run_id, "x": found.x, "last": found.last, "nan_x": found.nan_x}
            for run in runs
            if (found := series.get(run.pk)) is not None
        ]
        grid_out = {"lo": grid.lo, "width": grid.width} if grid else None
        charts.append({"key": key, "grid": grid_out, "runs": payload})
    return chart_data_response({"x_axis": x, "charts": charts})

"""The metric page and the chart data behind every chart (JSON, session-authenticated)."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import render

from frontend.views.common import can_edit, chart_data_response, get_run
from tracking.errors import InvalidInput
from tracking.models import LatestMetric, Metric, MetricSummary, Run
from tracking.selectors.series import MAX_POINTS, X_AXES, metric_series
from tracking.selectors.summaries import metric_summary_list
from tracking.validation import parse_int

DEFAULT_POINTS = 1000
OTHER_RUNS_CHOICES = 50
# Gaps a chart draws at most; a history mostly of NaN is drawn as its first gaps.
MAX_NAN_POINTS = 2000


class BadParameter(ValueError):
    pass


def int_param(request, name: str, *, default: int | None = None) -> int | None:
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    try:
        return parse_int(raw, field=name)
    except InvalidInput:
        raise BadParameter(f"'{name}' must be a whole number, not '{raw[:40]}'.") from None


def series_request(request) -> tuple[str, str, int]:
    """The key, the x axis and the number of points a chart asks for; BadParameter says what
    is wrong."""
    key = request.GET.get("key", "")
    x = request.GET.get("x", "step")
    if not key:
        raise BadParameter("Give the metric key as ?key=.")
    if x not in X_AXES:
        raise BadParameter(f"'x' must be one of {', '.join(X_AXES)}.")
    points = int_param(request, "points", default=DEFAULT_POINTS)
    if points < 1 or points > MAX_POINTS:
        raise BadParameter(f"'points' must be between 1 and {MAX_POINTS}.")
    return key, x, points


@login_required
def series_json(request, slug: str, run_id: str):
    """A downsampled series of one key: columns x, step, timestamp, last, min, max, count."""
    run = get_run(request, slug, run_id)
    try:
        key, x, points = series_request(request)
        ranges = {
            name: int_param(request, name)
            for name in ("step_min", "step_max", "time_min", "time_max")
        }
    except BadParameter as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    buckets = metric_series(run=run, key=key, points=points, x=x, **ranges)
    columns = ("x", "step", "timestamp", "last", "min", "max", "count")
    data = {name: [getattr(b, name) for b in buckets] for name in columns}
    nan_x = _nan_positions(run=run, key=key, x=x, **ranges)
    return chart_data_response(
        {
            "run_id": run.run_id,
            "run_name": run.name,
            "key": key,
            "x_axis": x,
            **data,
            "nan_x": nan_x,
        }
    )


def _nan_positions(*, run: Run, key: str, x: str, **ranges) -> list[int]:
    """x of the key's NaN points (at most MAX_NAN_POINTS), where the chart leaves a gap.

    The summary's NaN count spares the scan of a history known to hold none.
    """
    counts = list(MetricSummary.objects.filter(run=run, key=key).values_list("nan_count", "seq"))
    if counts and counts[0][0] == 0:
        latest = LatestMetric.objects.filter(run=run, key=key).values_list("seq", flat=True)
        if latest and counts[0][1] >= latest[0]:
            return []
    points = Metric.objects.filter(run=run, key=key, is_nan=True)
    for name, lookup in (
        ("step_min", "step__gte"),
        ("step_max", "step__lte"),
        ("time_min", "timestamp__gte"),
        ("time_max", "timestamp__lte"),
    ):
        if ranges.get(name) is not None:
            points = points.filter(**{lookup: ranges[name]})
    offset = run.start_time or 0
    return [
        step if x == "step" else timestamp - offset if x == "relative" else timestamp
        for step, timestamp in points.order_by("step", "timestamp").values_list(
            "step", "timestamp"
        )[:MAX_NAN_POINTS]
    ]


@login_required
def metric_page(request, slug: str, run_id: str, key: str):
    run = get_run(request, slug, run_id)
    summary = next((s for s in metric_summary_list(run=run) if s.key == key), None)
    if summary is None:
        raise Http404("This run has no metric with that key.")
    other_runs = list(
        Run.objects.active()
        .filter(experiment=run.experiment, latest_metrics__key=key)
        .exclude(pk=run.pk)
        .order_by("-start_time")
        .only("run_id", "name")[:OTHER_RUNS_CHOICES]
    )
    added = [r for r in request.GET.get("with", "").split(",") if r]
    return render(
        request,
        "frontend/metric.html",
        {
            "project": run.experiment.project,
            "run": run,
            "key": key,
            "summary": summary,
            "other_runs": other_runs,
            "added": added,
            "can_edit": can_edit(request, run.experiment.project),
            "x": request.GET.get("x", "step") if request.GET.get("x") in X_AXES else "step",
        },
    )


class _Echo:
    def write(self, value):
        return value


@login_required
def metric_csv(request, slug: str, run_id: str, key: str):
    """Every point of the key, streamed in step order, so a long history never sits in memory."""
    run = get_run(request, slug, run_id)
    if not LatestMetric.objects.filter(run=run, key=key).exists():
        raise Http404("This run has no metric with that key.")
    writer = csv.writer(_Echo())
    points = (
        Metric.objects.filter(run=run, key=key)
        .order_by("step", "timestamp", "value")
        .values_list("step", "timestamp", "value", "is_nan")
        .iterator(chunk_size=5000)
    )

    def rows():
        yield writer.writerow(["step", "timestamp", "value"])
        for step, timestamp, value, is_nan in points:
            yield writer.writerow([step, timestamp, "NaN" if is_nan else repr(value)])

    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{run.run_id}-{safe}.csv"'
    return response

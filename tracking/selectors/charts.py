"""One metric key of many runs, downsampled on one shared grid: the chart view of an experiment.

tracking.selectors.series downsamples one run in three queries; a chart of 100 runs would then
cost 300. Here every run's points are split on the same grid of x ranges in one grouped query,
so the query count does not grow with the runs, and the same bucket index means the same x range
in every run, which is what a group's mean and min-max band are computed over. Runs long enough
to have rollups are read through `metric_series`, which uses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Case, Count, F, Max, Min, Q, Value, When

from tracking.models import Metric, MetricRollup, Run
from tracking.selectors.series import MAX_POINTS, X_AXES, Bucket, XAxis, metric_series

# Bound values per query of last points: under SQLite's and PostgreSQL's parameter limits.
_LAST_CHUNK = 20_000


@dataclass
class RunSeries:
    """One run's buckets of the key, and where its NaN points break the line (x of the first
    NaN of each bucket that holds one)."""

    buckets: list[Bucket] = field(default_factory=list)
    nan_x: list[int] = field(default_factory=list)


@dataclass
class Grid:
    """The x ranges every run was split on: bucket i holds x in [lo + i*width, lo + (i+1)*width)."""

    lo: int
    width: int


def runs_series(
    *,
    runs: Sequence[Run],
    key: str,
    points: int,
    x: XAxis = "step",
    x_min: int | None = None,
    x_max: int | None = None,
) -> tuple[dict[int, RunSeries], Grid | None]:
    """Per run pk, at most `points` buckets of the key on a grid shared by the runs.

    `runs` come from a selector that applied the access rule. x_min/x_max narrow the x range, in
    the x axis' own unit (step, epoch ms, or ms since each run started). A run without the key
    gets no entry. Bounds, groups and last points: three queries (more only for very long
    histories of last points, or for runs read from their rollups).
    """
    if x not in X_AXES:
        raise ValueError(f"x must be one of {', '.join(X_AXES)}.")
    if points < 1:
        raise ValueError("points must be at least 1.")
    points = min(points, MAX_POINTS)
    by_pk = {run.pk: run for run in runs}
    if not by_pk:
        return {}, None
    result: dict[int, RunSeries] = {}

    if x == "step" and x_min is None and x_max is None:
        # Rollups exist only for keys of at least ROLLUP_MIN_POINTS points: a few runs at most.
        rolled = set(
            MetricRollup.objects.filter(run_id__in=by_pk, key=key)
            .values_list("run_id", flat=True)
            .distinct()
            .order_by()
        )
        for pk in rolled:
            result[pk] = RunSeries(
                buckets=metric_series(run=by_pk[pk], key=key, points=points, x="step")
            )
        pks = [pk for pk in by_pk if pk not in rolled]
    else:
        pks = list(by_pk)

    raw = "step" if x == "step" else "timestamp"
    position = F("timestamp") - F("run__start_time") if x == "relative" else F(raw)
    history = Metric.objects.filter(run_id__in=pks, key=key).annotate(pos=position)
    if x_min is not None:
        history = history.filter(pos__gte=x_min)
    if x_max is not None:
        history = history.filter(pos__lte=x_max)

    bounds = history.aggregate(lo=Min("pos"), hi=Max("pos")) if pks else {"lo": None}
    if bounds["lo"] is None:
        return result, None
    lo, hi = bounds["lo"], bounds["hi"]
    # Integer division on both SQLite and PostgreSQL, since every operand is an integer.
    width = max(1, -(-(hi - lo + 1) // points))
    real = Q(is_nan=False)
    groups = list(
        history.annotate(bucket=(F("pos") - Value(lo)) / Value(width))
        .values("run_id", "bucket")
        .annotate(
            low=Min(Case(When(real, then=F("value")))),
            high=Max(Case(When(real, then=F("value")))),
            count=Count("value", filter=real),
            end=Max(Case(When(real, then=F(raw)))),
            nan_at=Min(Case(When(is_nan=True, then=F("pos")))),
        )
        .order_by("run_id", "bucket")
    )
    last = _last_points(key=key, raw=raw, groups=groups)
    for group in groups:
        run = by_pk[group["run_id"]]
        series = result.setdefault(run.pk, RunSeries())
        if group["nan_at"] is not None:
            series.nan_x.append(group["nan_at"])
        if group["end"] is None:
            continue  # only NaN in this range: a gap, no point
        step, timestamp, value = last[(run.pk, group["end"])]
        series.buckets.append(
            Bucket(
                x=_x(x, step, timestamp, run),
                step=step,
                timestamp=timestamp,
                last=value,
                min=group["low"],
                max=group["high"],
                count=group["count"],
            )
        )
    return result, Grid(lo=lo, width=width)


def _x(x: str, step: int, timestamp: int, run: Run) -> int:
    if x == "step":
        return step
    return timestamp - (run.start_time or 0) if x == "relative" else timestamp


def _last_points(*, key: str, raw: str, groups: list[dict]) -> dict[tuple[int, int], tuple]:
    """(run pk, step or timestamp) -> the latest (step, timestamp, value) there, in MLflow's
    order; one query per _LAST_CHUNK bucket ends."""
    ends: dict[int, list[int]] = {}
    for group in groups:
        if group["end"] is not None:
            ends.setdefault(group["run_id"], []).append(group["end"])
    last: dict[tuple[int, int], tuple] = {}
    conditions: list[Q] = []
    size = 0

    def flush() -> None:
        nonlocal conditions, size
        if not conditions:
            return
        either = conditions[0]
        for condition in conditions[1:]:
            either |= condition
        rows = Metric.objects.filter(either, key=key, is_nan=False).values_list(
            "run_id", "step", "timestamp", "value"
        )
        for run_pk, step, timestamp, value in rows:
            at = (run_pk, step if raw == "step" else timestamp)
            if at not in last or (step, timestamp, value) > last[at]:
                last[at] = (step, timestamp, value)
        conditions, size = [], 0

    for run_pk, run_ends in ends.items():
        for start in range(0, len(run_ends), _LAST_CHUNK):
            chunk = run_ends[start : start + _LAST_CHUNK]
            conditions.append(Q(run_id=run_pk, **{f"{raw}__in": chunk}))
            size += len(chunk) + 1
            if size >= _LAST_CHUNK:
                flush()
    flush()
    return last

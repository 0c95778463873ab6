"""One metric key of many runs, downsampled on one shared grid: the chart view of an experiment.

tracking.selectors.series downsamples one run in three queries; a chart of 100 runs would then
cost 300. Here every run's points are split on the same grid of x ranges in one grouped query,
so the query count does not grow with the runs, and the same bucket index means the same x range
in every run, which is what a group's mean and min-max band are computed over. Runs long enough
to have coarse rollups are read through `metric_series`, which uses them; when the grid's
buckets are at least half a chart block wide, it is widened to whole blocks and the runs whose
chart blocks are fresh are read from those (tracking.services.rollups) instead of their points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

from django.db import connection
from django.db.models import F, Max, Min, OuterRef, Subquery

from mlplatform.db.binary import binary_rows
from tracking.models import LatestMetric, Metric, MetricRollup, MetricSummary, Run
from tracking.selectors.series import MAX_POINTS, X_AXES, XAxis, metric_series
from tracking.services.rollups import CHART_BLOCK_STEPS, ROLLUP_STEPS

# Points of all the runs of one chart together: 100 overlaid lines on a chart a few hundred
# pixels wide show no more with 500 points each than with 200, and cost the database and the
# browser more than twice as much.
POINTS_BUDGET = 20_000
MIN_POINTS_PER_RUN = 50


@dataclass
class RunSeries:
    """One run's buckets of the key as columns (x and the bucket's last value: a chart of many
    runs draws each as a line, with no band), and where its NaN points break the line (x of the
    first NaN of each bucket that holds one)."""

    x: list[int] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    nan_x: list[int] = field(default_factory=list)


@dataclass
class Grid:
    """The x ranges every run was split on: bucket i holds x in [lo + i*width, lo + (i+1)*width)."""

    lo: int
    width: int


def points_per_run(points: int, runs: int) -> int:
    """The buckets each run gets when `runs` runs share a chart asked for `points`."""
    return max(1, min(points, MAX_POINTS, max(MIN_POINTS_PER_RUN, POINTS_BUDGET // max(runs, 1))))


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
    gets no entry. Three queries: runs with rollups, the bounds, and the buckets with their last
    points; three more for each run read from its rollups, and two when chart blocks are read.
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

    whole_steps = x == "step" and x_min is None and x_max is None
    if whole_steps:
        # Rollups exist only for keys of at least ROLLUP_MIN_POINTS points: a few runs at most.
        rolled = set(
            MetricRollup.objects.filter(run_id__in=by_pk, key=key, width=ROLLUP_STEPS)
            .values_list("run_id", flat=True)
            .distinct()
            .order_by()
        )
        for pk in rolled:
            series = result[pk] = RunSeries()
            for b in metric_series(run=by_pk[pk], key=key, points=points, x="step"):
                series.x.append(b.x)
                series.last.append(b.last)
        pks = [pk for pk in by_pk if pk not in rolled]
    else:
        pks = list(by_pk)
    if not pks:
        return result, None

    bounds = _bounds(run_pks=pks, key=key, x=x, x_min=x_min, x_max=x_max)
    if bounds["lo"] is None:
        return result, None
    lo, hi = bounds["lo"], bounds["hi"]
    # Integer division on both SQLite and PostgreSQL, since every operand is an integer.
    width = max(1, -(-(hi - lo + 1) // points))
    blocks: dict[int, list[tuple]] = {}
    # Negative steps fall in the wrong block (tracking.services.rollups).
    if whole_steps and lo >= 0 and 2 * width >= CHART_BLOCK_STEPS:
        blocks = fresh_chart_blocks(run_pks=pks, key=key)
        if blocks:
            lo, width = block_grid(lo=lo, hi=hi, width=width, points=points)

    read_points = [pk for pk in pks if pk not in blocks]
    if read_points:
        rows = _bucket_rows(
            run_pks=read_points,
            key=key,
            x=x,
            lo=lo,
            width=width,
            x_min=x_min,
            x_max=x_max,
            last_in_scan=connection.vendor == "postgresql",
        )
        for run_pk, _bucket, nan_at, end, value in rows:
            series = result.get(run_pk)
            if series is None:
                series = result[run_pk] = RunSeries()
            if nan_at is not None:
                series.nan_x.append(nan_at)
            if end is not None:  # else only NaN in this range: a gap, no point
                series.x.append(end)
                series.last.append(value)
    for run_pk, run_blocks in blocks.items():
        series = result[run_pk] = RunSeries()
        current = None
        # Whole blocks in step order: a bucket's last point is its last block's.
        for _, step, value, _ in run_blocks:
            bucket = (step - lo) // width
            if bucket == current:
                series.x[-1], series.last[-1] = step, value
            else:
                series.x.append(step)
                series.last.append(value)
                current = bucket
    return result, Grid(lo=lo, width=width)


def block_grid(*, lo: int, hi: int, width: int, points: int) -> tuple[int, int]:
    """The grid widened to whole chart blocks: lo down to a block's first step, the width up to
    whole blocks, and wider still if that left more than `points` buckets."""
    lo -= lo % CHART_BLOCK_STEPS
    width = -(-width // CHART_BLOCK_STEPS) * CHART_BLOCK_STEPS
    while -(-(hi - lo + 1) // width) > points:
        width += CHART_BLOCK_STEPS
    return lo, width


def fresh_chart_blocks(*, run_pks: list[int], key: str) -> dict[int, list[tuple]]:
    """Per run whose chart blocks of the key cover its latest write and that has no NaN point
    (blocks leave NaN out, and a chart shows where NaN breaks the line): its blocks as (run pk,
    last step, last value, seq) in step order. Two queries."""
    # A summary is written in the transaction that refreshes the blocks, so with fresh blocks
    # its NaN count is the key's.
    latest = dict(
        LatestMetric.objects.filter(run_id__in=run_pks, key=key)
        .annotate(
            nans=Subquery(
                MetricSummary.objects.filter(run_id=OuterRef("run_id"), key=key).values(
                    "nan_count"
                )[:1]
            )
        )
        .filter(nans=0)
        .order_by()
        .values_list("run_id", "seq")
    )
    if not latest:
        return {}
    in_blocks = (
        MetricRollup.objects.filter(run_id__in=latest, key=key, width=CHART_BLOCK_STEPS)
        .order_by("run_id", "block")
        .values_list("run_id", "last_step", "last_value", "seq")
    )
    # A view of 100 runs reads some 10,000 blocks a chart: fetched at once, in binary, rather
    # than by the queryset's chunks of 100 rows parsed from text.
    rows = binary_rows(*in_blocks.query.sql_with_params())
    blocks: dict[int, list[tuple]] = {}
    for run_pk, found in groupby(rows, key=itemgetter(0)):
        found = list(found)
        # A refresh writes only the blocks with new points: blocks are as new as their newest.
        if max(row[3] for row in found) >= latest[run_pk]:
            blocks[run_pk] = found
    return blocks


def _bounds(*, run_pks: list[int], key: str, x: XAxis, x_min: int | None, x_max: int | None):
    """The lowest and highest x of the runs' points of the key (within x_min..x_max)."""
    raw = "step" if x == "step" else "timestamp"
    position = F("timestamp") - F("run__start_time") if x == "relative" else F(raw)
    history = Metric.objects.filter(key=key).annotate(pos=position)
    if x_min is not None:
        history = history.filter(pos__gte=x_min)
    if x_max is not None:
        history = history.filter(pos__lte=x_max)
    if x != "step":
        return history.filter(run_id__in=run_pks).aggregate(lo=Min("pos"), hi=Max("pos"))
    # Steps lead the points' primary key after (run, key): each run's first and last step is
    # one index probe, where MIN and MAX over every run together read all their points.
    of_run = history.filter(run=OuterRef("pk"))
    return (
        Run.objects.filter(pk__in=run_pks)
        .annotate(
            first=Subquery(of_run.order_by("step").values("step")[:1]),
            last=Subquery(of_run.order_by("-step").values("step")[:1]),
        )
        .aggregate(lo=Min("first"), hi=Max("last"))
    )


# Per run and bucket: the first NaN's x, the bucket's last x
# and the value of its latest real point there (highest step or timestamp, then the other, then
# value: MLflow's order). GROUP BY by position: PostgreSQL would not see two parameters of the
# same value as one expression.
# The latest value is read by a subquery per bucket (portable)
# or, on PostgreSQL, by ARRAY_AGG in the same scan, which on a chart of 100 runs took half the
# time; tests/tracking/test_charts_contract.py holds the two to the same rows.
_AGGREGATES = """
    SELECT m.run_id AS run_id, ({pos} - %(lo)s) / %(width)s AS bucket,
           MIN(CASE WHEN m.is_nan THEN {pos} END) AS nan_at,
           MAX(CASE WHEN NOT m.is_nan THEN {pos} END) AS end_pos,
           MAX(CASE WHEN NOT m.is_nan THEN m.{raw} END) AS end_at{extra}
    FROM {metric} m{join}
    WHERE m.key = %(key)s AND m.run_id IN ({runs}){range}
    GROUP BY 1, 2
"""
_BUCKETS_PORTABLE_SQL = """
SELECT g.run_id, g.bucket, g.nan_at, g.end_pos,
       (SELECT p.value FROM {metric} p
        WHERE p.run_id = g.run_id AND p.key = %(key)s AND p.{raw} = g.end_at AND NOT p.is_nan
        ORDER BY p.{tie} DESC, p.value DESC LIMIT 1)
FROM ({aggregates}) g
ORDER BY g.run_id, g.bucket
"""
_BUCKETS_PG_SQL = """
SELECT g.run_id, g.bucket, g.nan_at, g.end_pos, g.last_value
FROM ({aggregates}) g
ORDER BY g.run_id, g.bucket
"""
_PG_LAST_VALUE = """,
           (ARRAY_AGG(m.value ORDER BY m.{raw} DESC, m.{tie} DESC, m.value DESC)
            FILTER (WHERE NOT m.is_nan))[1] AS last_value"""


def _bucket_rows(
    *,
    run_pks: list[int],
    key: str,
    x: str,
    lo: int,
    width: int,
    x_min: int | None,
    x_max: int | None,
    last_in_scan: bool,
) -> list[tuple]:
    """One row per run and bucket; `last_in_scan` picks PostgreSQL's ARRAY_AGG for the latest
    value, which runs_series chooses by the database (the only place that does)."""
    quote = connection.ops.quote_name
    metric = quote(Metric._meta.db_table)
    raw = "step" if x == "step" else "timestamp"
    join, pos = "", f"m.{raw}"
    if x == "relative":
        join = f" JOIN {quote(Run._meta.db_table)} r ON r.id = m.run_id"
        pos = "(m.timestamp - r.start_time)"
    params: dict[str, object] = {"lo": lo, "width": width, "key": key}
    params.update({f"r{i}": pk for i, pk in enumerate(run_pks)})
    range_sql = ""
    if x_min is not None:
        range_sql += f" AND {pos} >= %(x_min)s"
        params["x_min"] = x_min
    if x_max is not None:
        range_sql += f" AND {pos} <= %(x_max)s"
        params["x_max"] = x_max
    tie = "timestamp" if raw == "step" else "step"
    aggregates = _AGGREGATES.format(
        pos=pos,
        raw=raw,
        metric=metric,
        join=join,
        runs=", ".join(f"%(r{i})s" for i in range(len(run_pks))),
        range=range_sql,
        extra=_PG_LAST_VALUE.format(raw=raw, tie=tie) if last_in_scan else "",
    )
    template = _BUCKETS_PG_SQL if last_in_scan else _BUCKETS_PORTABLE_SQL
    sql = template.format(aggregates=aggregates, metric=metric, raw=raw, tie=tie)
    return binary_rows(sql, params)

"""Downsampled metric series for charts, computed in the database.

A history can hold millions of points; a chart is a few thousand pixels wide. The points are
split into at most `points` equal ranges of step (or time) and each range keeps its min, max and
last value, so a spike survives downsampling.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from django.db import connection
from django.db.models import Count, F, Max, Min, Sum, Value

from tracking.models import LatestMetric, Metric, MetricRollup, Run
from tracking.services.rollups import ROLLUP_STEPS

XAxis = Literal["step", "time", "relative"]
X_AXES: tuple[str, ...] = ("step", "time", "relative")
MAX_POINTS = 5000


@dataclass(frozen=True)
class Bucket:
    """One range of a series: its last point (x, step, timestamp, value) and its extremes."""

    x: int
    step: int
    timestamp: int
    last: float
    min: float
    max: float
    count: int

    def as_dict(self) -> dict:
        return asdict(self)


def metric_series(
    *,
    run: Run,
    key: str,
    points: int,
    x: XAxis = "step",
    step_min: int | None = None,
    step_max: int | None = None,
    time_min: int | None = None,
    time_max: int | None = None,
) -> list[Bucket]:
    """At most `points` buckets of the key's non-NaN points, in x order, in three queries.

    A whole long history by step is read from its rollups when they are fresh: then buckets
    start at a multiple of ROLLUP_STEPS and span whole blocks, so they may be up to one block
    wider than the raw points' buckets, and are exact all the same.

    `x` chooses what the buckets split: step, or timestamp for "time" and "relative" (whose x is
    milliseconds since the run started). step_min/step_max and time_min/time_max (timestamps in
    ms, inclusive) narrow the range, which is how a zoomed chart asks for more detail.
    """
    if x not in X_AXES:
        raise ValueError(f"x must be one of {', '.join(X_AXES)}.")
    if points < 1:
        raise ValueError("points must be at least 1.")
    points = min(points, MAX_POINTS)
    field = "step" if x == "step" else "timestamp"

    history = Metric.objects.filter(run=run, key=key, is_nan=False)
    if step_min is not None:
        history = history.filter(step__gte=step_min)
    if step_max is not None:
        history = history.filter(step__lte=step_max)
    if time_min is not None:
        history = history.filter(timestamp__gte=time_min)
    if time_max is not None:
        history = history.filter(timestamp__lte=time_max)

    rollups_fresh = False
    ranged = any(v is not None for v in (step_min, step_max, time_min, time_max))
    if field == "step" and not ranged:
        lo, hi, rollups_fresh = _step_bounds(run=run, key=key)
    else:
        bounds = history.aggregate(lo=Min(field), hi=Max(field))
        lo, hi = bounds["lo"], bounds["hi"]
    if lo is None:
        return []
    # Integer division on both SQLite and PostgreSQL, since every operand is an integer.
    width = max(1, -(-(hi - lo + 1) // points))
    if rollups_fresh and lo >= 0 and width >= ROLLUP_STEPS:
        groups, last = _from_rollups(run=run, key=key, lo=lo, hi=hi, points=points)
    else:
        groups, last = _from_points(history, field=field, lo=lo, width=width)
    offset = run.start_time or 0
    buckets = []
    for group in groups:
        step, timestamp, value = last[group["end"]]
        buckets.append(
            Bucket(
                x=step if x == "step" else timestamp if x == "time" else timestamp - offset,
                step=step,
                timestamp=timestamp,
                last=value,
                min=group["low"],
                max=group["high"],
                count=group["count"],
            )
        )
    return buckets


# One round trip: the key's non-NaN step range (two index lookups) and whether its rollups
# cover its latest write (a refresh writes only the blocks with new points, so the rollups are
# as new as their highest seq: tracking.services.rollups). Scalar subqueries, because the
# three tables share no relation.
# ORDER BY ... LIMIT 1 rather than MIN/MAX: with statistics that misjudge the key as rare, the
# planner aggregated all of a million-point history instead of reading one end of the index.
_STEP_HEADER_SQL = """
SELECT (SELECT step FROM {metric} WHERE run_id = %(run)s AND key = %(key)s AND NOT is_nan
        ORDER BY step ASC LIMIT 1),
       (SELECT step FROM {metric} WHERE run_id = %(run)s AND key = %(key)s AND NOT is_nan
        ORDER BY step DESC LIMIT 1),
       (SELECT seq FROM {latest} WHERE run_id = %(run)s AND key = %(key)s),
       (SELECT MAX(seq) FROM {rollup} WHERE run_id = %(run)s AND key = %(key)s
        AND width = %(width)s)
"""


def _step_bounds(*, run: Run, key: str) -> tuple[int | None, int | None, bool]:
    quote = connection.ops.quote_name
    sql = _STEP_HEADER_SQL.format(
        metric=quote(Metric._meta.db_table),
        latest=quote(LatestMetric._meta.db_table),
        rollup=quote(MetricRollup._meta.db_table),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"run": run.pk, "key": key, "width": ROLLUP_STEPS})
        lo, hi, latest_seq, rollup_seq = cursor.fetchone()
    fresh = latest_seq is not None and rollup_seq is not None and rollup_seq >= latest_seq
    return lo, hi, fresh


Groups = list[dict]
Lasts = dict[int, tuple[int, int, float]]


def _from_points(history, *, field: str, lo: int, width: int) -> tuple[Groups, Lasts]:
    bucket = (F(field) - Value(lo)) / Value(width)
    # An aggregate per bucket, then the buckets' last points by their (indexed) step or
    # timestamp: window functions would sort every point of the history.
    groups = list(
        history.annotate(bucket=bucket)
        .values("bucket")
        .annotate(low=Min("value"), high=Max("value"), count=Count("*"), end=Max(field))
        .order_by("bucket")
    )
    ends = [group["end"] for group in groups]
    last: Lasts = {}
    for step, timestamp, value in history.filter(**{f"{field}__in": ends}).values_list(
        "step", "timestamp", "value"
    ):
        at = step if field == "step" else timestamp
        # The latest point wins ties, in MLflow's order: step, then timestamp, then value.
        if at not in last or (step, timestamp, value) > last[at]:
            last[at] = (step, timestamp, value)
    return groups, last


def _from_rollups(*, run: Run, key: str, lo: int, hi: int, points: int) -> tuple[Groups, Lasts]:
    first_block = lo // ROLLUP_STEPS
    span = hi - first_block * ROLLUP_STEPS + 1
    # Whole blocks per bucket, rounded up so there are never more than `points` buckets.
    per_bucket = -(-span // points)
    blocks = max(1, -(-per_bucket // ROLLUP_STEPS))
    rollups = MetricRollup.objects.filter(run=run, key=key, width=ROLLUP_STEPS)
    groups = list(
        rollups.annotate(bucket=(F("block") - Value(first_block)) / Value(blocks))
        .values("bucket")
        .annotate(low=Min("min"), high=Max("max"), count=Sum("count"), end=Max("last_step"))
        .order_by("bucket")
    )
    for group in groups:
        # SUM of a bigint is numeric on PostgreSQL.
        group["count"] = int(group["count"])
    ends = [group["end"] for group in groups]
    # Blocks hold disjoint steps, so one block ends at each bucket's last step.
    last: Lasts = {
        step: (step, timestamp, value)
        for step, timestamp, value in rollups.filter(last_step__in=ends).values_list(
            "last_step", "last_timestamp", "last_value"
        )
    }
    return groups, last

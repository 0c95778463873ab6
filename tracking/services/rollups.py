"""Metric rollups: per block of steps, what a chart needs of a long key, kept by the worker.

A chart of a million points would otherwise aggregate a million rows per request; with the
rollups it aggregates one row per ROLLUP_STEPS steps (tracking.selectors.series). The chart view
overlays a hundred runs of a few thousand steps, too short for those blocks but a hundred
thousand points a chart together: it reads blocks of CHART_BLOCK_STEPS (tracking.selectors.charts).
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Max

from tracking.models import Metric, MetricRollup

# Steps per block. A chart of `points` buckets reads (last step - first step) / ROLLUP_STEPS
# rows instead of every point.
ROLLUP_STEPS = 100
# Below this many non-NaN points the chart's aggregate over the raw points is already quick
# (tens of milliseconds), so shorter keys get no rollups and cost the worker nothing more.
ROLLUP_MIN_POINTS = 50_000
# The chart view's blocks: its grid is rounded to whole blocks, so a block as wide as a bucket of
# a hundred runs of a thousand steps; a key this long costs its run a tenth more rows. Kept for
# runs that have stopped (tracking.services.summaries).
CHART_BLOCK_STEPS = 10
CHART_BLOCK_MIN_POINTS = 1_000


# Integer division on both databases; the block of a negative step is wrong (truncation), so
# the series only uses rollups when the key's first non-NaN step is not negative. The last
# point of a block is its highest (step, timestamp, value), MLflow's order for "latest".
# {blocks} narrows the points to the blocks being written: all of them, or a run of touched
# ones.
# `WHERE true` is for SQLite, whose parser would otherwise read ON CONFLICT's ON as a join's.
_REFRESH_SQL = """
INSERT INTO {rollup} (run_id, key, width, block, count, min, max, first_step, last_step,
                      last_timestamp, last_value, seq)
SELECT g.run_id, g.key, {width}, g.block, g.n, g.lo, g.hi, g.s0, g.s1,
       (SELECT m.timestamp FROM {metric} m
        WHERE m.run_id = g.run_id AND m.key = g.key AND m.step = g.s1 AND NOT m.is_nan
        ORDER BY m.timestamp DESC, m.value DESC LIMIT 1),
       (SELECT m.value FROM {metric} m
        WHERE m.run_id = g.run_id AND m.key = g.key AND m.step = g.s1 AND NOT m.is_nan
        ORDER BY m.timestamp DESC, m.value DESC LIMIT 1),
       %(seq)s
FROM (
    SELECT m.run_id, m.key, m.step / {width} AS block, COUNT(*) AS n, MIN(m.value) AS lo,
           MAX(m.value) AS hi, MIN(m.step) AS s0, MAX(m.step) AS s1
    FROM {metric} m
    WHERE m.run_id = %(run)s AND m.key = %(key)s AND NOT m.is_nan{blocks}
    GROUP BY m.run_id, m.key, m.step / {width}
) g
WHERE true
ON CONFLICT (run_id, key, width, block) DO UPDATE SET
    count = excluded.count, min = excluded.min, max = excluded.max,
    first_step = excluded.first_step, last_step = excluded.last_step,
    last_timestamp = excluded.last_timestamp, last_value = excluded.last_value, seq = excluded.seq
"""
# The runs of consecutive blocks that points written after %(since)s fall in (gaps and
# islands: a block minus its rank is the same along a run of consecutive blocks). Read first,
# so each run of blocks is a plain step range on the (run, key, step, ...) index: tested
# point by point against the touched blocks instead, the planner, whose statistics may not
# have seen the key yet, chose a nested loop over the points and the blocks.
_TOUCHED_SQL = """
SELECT MIN(block), MAX(block) FROM (
    SELECT block, block - ROW_NUMBER() OVER (ORDER BY block) AS island
    FROM (SELECT DISTINCT step / {width} AS block FROM {metric}
          WHERE run_id = %(run)s AND seq > %(since)s AND key = %(key)s AND NOT is_nan) touched
) islands
GROUP BY island
ORDER BY 1
"""
# The points of blocks first..last: a step range that holds them whatever the sign of their
# steps (division truncates), then the blocks themselves.
_RANGE_WHERE = """
      AND m.step > (%(first)s - 1) * {width} AND m.step < (%(last)s + 1) * {width}
      AND m.step / {width} BETWEEN %(first)s AND %(last)s"""
# Past this many runs of touched blocks (points written all over the key), one range from
# the first to the last: fewer statements, some blocks written again as they were.
MAX_RANGES = 16


def rollup_refresh(*, run_pk: int, key: str, seq: int, width: int) -> None:
    """Bring the key's rollups of `width` steps a block up to the run's `seq`: whole the first
    time, then only the blocks that points written since the last refresh fall in.

    Call inside the summary's transaction and lock. Points committed after `seq` may be
    included; the rollups then look stale until the next refresh, which is safe. The rollups of
    a key are as new as their highest seq (tracking.selectors.series); a block keeps the seq of
    the refresh that last wrote it.
    """
    rows = MetricRollup.objects.filter(run_id=run_pk, key=key, width=width)
    since = rows.aggregate(since=Max("seq"))["since"]
    quote = connection.ops.quote_name
    names = {
        "rollup": quote(MetricRollup._meta.db_table),
        "metric": quote(Metric._meta.db_table),
        "width": int(width),
    }
    params = {"run": run_pk, "key": key, "seq": seq, "since": since}
    with connection.cursor() as cursor:
        if since is None:
            cursor.execute(_REFRESH_SQL.replace("{blocks}", "").format(**names), params)
            return
        cursor.execute(_TOUCHED_SQL.format(**names), params)
        ranges = cursor.fetchall()
        if len(ranges) > MAX_RANGES:
            ranges = [(ranges[0][0], ranges[-1][1])]
        sql = _REFRESH_SQL.replace("{blocks}", _RANGE_WHERE).format(**names)
        for first, last in ranges:
            cursor.execute(sql, {**params, "first": first, "last": last})

"""Metric rollups: per block of steps, what a chart needs of a long key, kept by the worker.

A chart of a million points would otherwise aggregate a million rows per request; with the
rollups it aggregates one row per ROLLUP_STEPS steps (tracking.selectors.series).
"""

from __future__ import annotations

from django.db import connection

from tracking.models import Metric, MetricRollup

# Steps per block. A chart of `points` buckets reads (last step - first step) / ROLLUP_STEPS
# rows instead of every point.
ROLLUP_STEPS = 100
# Below this many non-NaN points the chart's aggregate over the raw points is already quick
# (tens of milliseconds), so shorter keys get no rollups and cost the worker nothing more.
ROLLUP_MIN_POINTS = 50_000

# Integer division on both databases; the block of a negative step is wrong (truncation), so
# the series only uses rollups when the key's first non-NaN step is not negative. The last
# point of a block is its highest (step, timestamp, value), MLflow's order for "latest".
_REFRESH_SQL = """
INSERT INTO {rollup} (run_id, key, block, count, min, max, first_step, last_step,
                      last_timestamp, last_value, seq)
SELECT g.run_id, g.key, g.block, g.n, g.lo, g.hi, g.s0, g.s1,
       (SELECT m.timestamp FROM {metric} m
        WHERE m.run_id = g.run_id AND m.key = g.key AND m.step = g.s1 AND NOT m.is_nan
        ORDER BY m.timestamp DESC, m.value DESC LIMIT 1),
       (SELECT m.value FROM {metric} m
        WHERE m.run_id = g.run_id AND m.key = g.key AND m.step = g.s1 AND NOT m.is_nan
        ORDER BY m.timestamp DESC, m.value DESC LIMIT 1),
       %(seq)s
FROM (
    SELECT run_id, key, step / {width} AS block, COUNT(*) AS n, MIN(value) AS lo,
           MAX(value) AS hi, MIN(step) AS s0, MAX(step) AS s1
    FROM {metric}
    WHERE run_id = %(run)s AND key = %(key)s AND NOT is_nan
    GROUP BY run_id, key, step / {width}
) g
"""


def rollup_refresh(*, run_pk: int, key: str, seq: int) -> None:
    """Rewrite the key's rollups from its points, marked as covering the run's `seq`.

    Call inside the summary's transaction and lock. Points committed after `seq` may be
    included; the rollups then look stale until the next refresh, which is safe.
    """
    MetricRollup.objects.filter(run_id=run_pk, key=key).delete()
    sql = _REFRESH_SQL.format(
        rollup=connection.ops.quote_name(MetricRollup._meta.db_table),
        metric=connection.ops.quote_name(Metric._meta.db_table),
        width=int(ROLLUP_STEPS),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"run": run_pk, "key": key, "seq": seq})

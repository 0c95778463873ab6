"""Metric summaries: computed only by Celery workers, never lost.

A key's summary is stale exactly when its `LatestMetric.seq` is above the summary's `seq` (or
there is no summary). A write of points bumps seqs and, after commit, marks its run dirty
(`summary_mark_dirty`: the run joins a set, and a drain task is queued unless one is); a worker's
drain takes the dirty runs in bulk and summarises a batch of them with one aggregate statement
(`summary_compute_runs`). The reconciler marks
whatever is still stale, so a lost message, a flushed Redis or a killed worker delays a summary
but never loses it.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.db import DataError, connection, transaction
from django.db.models import F
from django.utils import timezone

from tracking.dirty_runs import dirty_runs
from tracking.models import (
    STOPPED_STATUSES,
    LatestMetric,
    Metric,
    MetricRollup,
    MetricSummary,
    Run,
)
from tracking.selectors.summaries import SUMMARY_FIELDS, stale_latest_metrics
from tracking.services import rollups
from tracking.services.rollups import rollup_refresh

logger = logging.getLogger(__name__)

# Arbitrary constant that namespaces our PostgreSQL advisory locks from anyone else's.
ADVISORY_LOCK_CLASS = 0x5355_4D4D
# Runs a drain takes from the set at a time, and the most it takes before it hands the rest to
# another drain task (so one task never holds a worker process for long under a busy sweep).
DRAIN_BATCH = 100
DRAIN_MAX_RUNS = 5000

INF = float("inf")


def _queue_drain() -> None:
    from tracking.tasks import summarize_dirty_runs  # tracking.tasks imports this module

    try:
        # The delay lets the writes of the next moment join this drain: they find it queued.
        summarize_dirty_runs.apply_async(countdown=settings.MLPLATFORM_SUMMARY_DELAY or None)
    except Exception:
        logger.exception("Could not queue a summary drain")
        # Without the marker the next write, or the reconciler, queues one again right away.
        dirty_runs().drain_started()


def summary_mark_dirty(*run_pks: int) -> None:
    """The runs' summaries are stale (a write of their points has committed): mark them and
    queue a drain unless one is queued. Never raises: the write has committed, and the
    reconciler catches up with whatever this could not mark."""
    if not run_pks:
        return
    try:
        # The marker's TTL bounds how long a lost message can hold it; after that the next
        # write queues again.
        queue = dirty_runs().mark(list(run_pks), drain_ttl=settings.MLPLATFORM_SUMMARY_PENDING_TTL)
    except Exception:
        logger.exception("Could not mark the summaries of runs %s stale", run_pks[:10])
        return
    if queue:
        _queue_drain()


def summary_drain() -> int:
    """Summarise the marked runs, a batch at a time; returns how many summaries it ran."""
    dirty = dirty_runs()
    # Cleared before any run is read: a run marked from now on queues another drain, and a
    # run marked before is among those this drain reads.
    dirty.drain_started()
    seen: set[int] = set()
    while len(seen) < DRAIN_MAX_RUNS:
        # Each run once: one written to all along stays marked, and its writes queue the next
        # drain.
        marks = [mark for mark in dirty.peek(DRAIN_BATCH + len(seen)) if mark[0] not in seen]
        if not marks:
            break
        run_pks = [run_pk for run_pk, _version in marks]
        summary_compute_runs(run_pks=run_pks)
        seen.update(run_pks)
        # A run marked again meanwhile keeps its mark (its version moved on).
        dirty.unmark(marks)
    else:
        _queue_drain()  # more than one task should hold a worker for
    return len(seen)


def _lock_runs(run_pks: list[int]) -> None:
    """Serialise summaries of each run, so concurrent tasks never write an older result last.
    Taken in one order, so two drains over overlapping runs cannot deadlock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, k) FROM"
                " (SELECT k FROM unnest(%s::int[]) AS k ORDER BY k) AS ordered",
                [ADVISORY_LOCK_CLASS, sorted({pk % 2_147_483_647 for pk in run_pks})],
            )
    # SQLite: every transaction here begins IMMEDIATE (settings), which already takes the one
    # write lock of the database for the whole transaction.


# One statement, so one snapshot (READ COMMITTED takes one per statement): for the given runs,
# every stale key with its summary so far and the LatestMetric seq it will cover, and the
# aggregates of the points that summary has not counted. A key with a summary merges the points
# written since its seq, found through the (run, seq) index; a key without one (new, or rebuilt)
# is aggregated whole. A write committed after the snapshot leaves its key stale, and it is
# merged next time. Every stale key gets a row, points or not (a retried batch moves seq and
# writes none). Raw SQL because points and LatestMetric are joined on (run, key), which the ORM
# cannot express without a relation. Written for both PostgreSQL and SQLite (FILTER needs
# SQLite 3.30, MATERIALIZED 3.35).
_AGGREGATES_SQL = """
WITH stale AS (
    SELECT lm.run_id, lm.key, lm.seq, s.seq AS since, s.count AS n0, s.nan_count AS n_nan0,
           s.min AS lo0, s.max AS hi0, s.sum AS total0, s.first_step AS step_lo0,
           s.last_step AS step_hi0, s.last_timestamp AS ts_hi0
    FROM {latest} lm
    LEFT JOIN {summary} s ON s.run_id = lm.run_id AND s.key = lm.key
    WHERE lm.run_id IN ({runs}) AND (s.seq IS NULL OR s.seq < lm.seq)
), run_since AS MATERIALIZED (
    SELECT run_id, MIN(since) AS since FROM stale WHERE since IS NOT NULL GROUP BY run_id
), writes AS MATERIALIZED (
    SELECT m.run_id, m.key, m.seq, {aggregates}
    FROM run_since r JOIN {metric} m ON m.run_id = r.run_id AND m.seq > r.since
    GROUP BY m.run_id, m.key, m.seq
), added AS (
    SELECT m.run_id, m.key, {aggregates}
    FROM stale st JOIN {metric} m ON m.run_id = st.run_id AND m.key = st.key
    WHERE st.since IS NULL
    GROUP BY m.run_id, m.key
    UNION ALL
    SELECT w.run_id, w.key, CAST(SUM(w.n) AS bigint), CAST(SUM(w.n_nan) AS bigint),
           CAST(SUM(w.n_pos_inf) AS bigint), CAST(SUM(w.n_neg_inf) AS bigint), MIN(w.lo),
           MAX(w.hi), SUM(w.total), MIN(w.step_lo), MAX(w.step_hi), MAX(w.ts_hi)
    FROM stale st JOIN writes w ON w.run_id = st.run_id AND w.key = st.key AND w.seq > st.since
    GROUP BY w.run_id, w.key
)
SELECT st.run_id, st.key, st.seq, st.since, st.n0, st.n_nan0, st.lo0, st.hi0, st.total0,
       st.step_lo0, st.step_hi0, st.ts_hi0, COALESCE(a.n, 0), COALESCE(a.n_nan, 0),
       COALESCE(a.n_pos_inf, 0), COALESCE(a.n_neg_inf, 0), a.lo, a.hi, a.total, a.step_lo,
       a.step_hi, a.ts_hi
FROM stale st
LEFT JOIN added a ON a.run_id = st.run_id AND a.key = st.key
ORDER BY st.run_id, st.key
"""
_POINT_AGGREGATES = """COUNT(*) AS n,
           COUNT(*) FILTER (WHERE m.is_nan) AS n_nan,
           COUNT(*) FILTER (WHERE NOT m.is_nan AND m.value = %(inf)s) AS n_pos_inf,
           COUNT(*) FILTER (WHERE NOT m.is_nan AND m.value = %(neg_inf)s) AS n_neg_inf,
           MIN(m.value) FILTER (WHERE NOT m.is_nan) AS lo,
           MAX(m.value) FILTER (WHERE NOT m.is_nan) AS hi,
           SUM({summed}) FILTER (
               WHERE NOT m.is_nan AND m.value > %(neg_inf)s AND m.value < %(inf)s
           ) AS total,
           MIN(m.step) AS step_lo,
           MAX(m.step) AS step_hi,
           MAX(m.timestamp) AS ts_hi"""
_ROW_FIELDS = (
    "run", "key", "seq", "since", "n0", "n_nan0", "lo0", "hi0", "total0", "step_lo0", "step_hi0",
    "ts_hi0", "n", "n_nan", "n_pos_inf", "n_neg_inf", "lo", "hi", "total", "step_lo", "step_hi",
    "ts_hi",
)  # fmt: skip


def _aggregates(*, run_pks: list[int], exact_sum: bool) -> list[dict]:
    # numeric cannot overflow where float8 raises; it keeps 15 digits of each value, which
    # only matters for sums that leave the float range anyway.
    sql = _AGGREGATES_SQL.format(
        aggregates=_POINT_AGGREGATES.format(
            summed="CAST(m.value AS numeric)" if exact_sum else "m.value"
        ),
        latest=connection.ops.quote_name(LatestMetric._meta.db_table),
        metric=connection.ops.quote_name(Metric._meta.db_table),
        summary=connection.ops.quote_name(MetricSummary._meta.db_table),
        runs=", ".join(f"%(run{i})s" for i in range(len(run_pks))),
    )
    params = {f"run{i}": pk for i, pk in enumerate(run_pks)}
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "inf": INF, "neg_inf": -INF})
        return [dict(zip(_ROW_FIELDS, row, strict=True)) for row in cursor.fetchall()]


def _sum(row: dict) -> float | None:
    """The sum of the non-NaN values, with ±Inf as values; None when it is undefined."""
    if row["n_pos_inf"] and row["n_neg_inf"]:
        # Inf - Inf: undefined. Stored as NULL (not NaN) so both databases agree; the mean is
        # then shown as unknown.
        return None
    if row["n_pos_inf"]:
        return INF
    if row["n_neg_inf"]:
        return -INF
    if row["n"] == row["n_nan"]:
        return None
    # float() of a Decimal past the float range gives ±Inf instead of raising.
    return float(row["total"] or 0.0)


def _least(*values):
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _greatest(*values):
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _merged_sum(row: dict) -> float | None:
    """The sum of the summary so far and of the new points, with _sum's meaning of None."""
    new_sum = _sum(row)
    if row["since"] is None or row["n0"] == row["n_nan0"]:
        return new_sum  # nothing summed before
    if row["n"] == row["n_nan"]:
        return row["total0"]  # nothing to add
    if row["total0"] is None or new_sum is None:
        return None  # Inf - Inf on either side stays undefined
    total = row["total0"] + new_sum
    # Inf + -Inf. A finite sum that leaves the float range becomes ±Inf and stays there, as the
    # full recomputation has it (it may differ when later values would bring it back in range;
    # `rebuild_summaries` sums everything again).
    return None if math.isnan(total) else total


def _summary(*, row: dict, computed_at) -> MetricSummary:
    """The key's summary so far (none when `since` is None) merged with the new points."""
    n0, n_nan0 = (row["n0"], row["n_nan0"]) if row["since"] is not None else (0, 0)
    return MetricSummary(
        run_id=row["run"],
        key=row["key"],
        count=n0 + row["n"],
        nan_count=n_nan0 + row["n_nan"],
        min=_least(row["lo0"], row["lo"]),
        max=_greatest(row["hi0"], row["hi"]),
        sum=_merged_sum(row),
        first_step=_least(row["step_lo0"], row["step_lo"]),
        last_step=_greatest(row["step_hi0"], row["step_hi"]),
        last_timestamp=_greatest(row["ts_hi0"], row["ts_hi"]),
        seq=row["seq"] or 0,
        computed_at=computed_at,
    )


def _read(*, run_pks: list[int]) -> list[dict]:
    if connection.vendor != "postgresql":
        return _aggregates(run_pks=run_pks, exact_sum=False)
    try:
        # A savepoint, so an overflow error leaves the transaction (and the lock) usable.
        with transaction.atomic():
            return _aggregates(run_pks=run_pks, exact_sum=False)
    except DataError:
        # PostgreSQL raises instead of overflowing to Infinity when finite values sum past the
        # float range.
        return _aggregates(run_pks=run_pks, exact_sum=True)


def _upsert(*, summaries: list[MetricSummary]) -> None:
    MetricSummary.objects.bulk_create(
        summaries,
        update_conflicts=True,
        unique_fields=["run", "key"],
        update_fields=SUMMARY_FIELDS,
        batch_size=500,
    )


def summary_compute_runs(*, run_pks: list[int]) -> int:
    """Recompute the summary of every stale key of the runs, all read in one statement, and
    the chart blocks of the stopped ones; returns how many summaries were written."""
    if not run_pks:
        return 0
    with transaction.atomic():
        _lock_runs(run_pks)
        rows = _read(run_pks=run_pks)
        now = timezone.now()
        # Count, min, max and sum merge: reading only the points written since the last summary
        # keeps a summary of a long run as cheap as one of a short run, in flat memory (one
        # row per key).
        summaries = [_summary(row=row, computed_at=now) for row in rows]
        if summaries:
            _upsert(summaries=summaries)
        for summary in summaries:
            if summary.count - summary.nan_count >= rollups.ROLLUP_MIN_POINTS:
                rollup_refresh(
                    run_pk=summary.run_id,
                    key=summary.key,
                    seq=summary.seq,
                    width=rollups.ROLLUP_STEPS,
                )
        _refresh_chart_blocks(run_pks=run_pks)
    return len(summaries)


def _refresh_chart_blocks(*, run_pks: list[int]) -> None:
    """Bring the chart blocks of the long keys of the runs that have stopped up to their
    summaries. A running run's blocks would lag its writes anyway, so the chart view reads its
    points; kept while runs ran, the blocks cost batched ingestion a fifth of its throughput.
    Finishing a run marks it dirty (tracking.services.runs), which brings it here."""
    long_keys = (
        MetricSummary.objects.filter(run_id__in=run_pks, run__status__in=STOPPED_STATUSES)
        .annotate(points=F("count") - F("nan_count"))
        .filter(points__gte=rollups.CHART_BLOCK_MIN_POINTS)
        .order_by()
        .values_list("run_id", "key", "seq")
    )
    for run_pk, key, seq in long_keys:
        rollup_refresh(run_pk=run_pk, key=key, seq=seq, width=rollups.CHART_BLOCK_STEPS)


def summary_compute(*, run_pk: int) -> int:
    """Recompute the summary of every stale key of one run; returns how many were written."""
    return summary_compute_runs(run_pks=[run_pk])


def summary_rebuild(*, run: Run) -> int:
    """Recompute every summary of the run from scratch; returns how many keys it has."""
    with transaction.atomic():
        _lock_runs([run.pk])
        # Without summaries every key is stale, so one pass recomputes them all; without
        # rollups, each long key's are written whole, points without a seq included.
        MetricSummary.objects.filter(run=run).delete()
        MetricRollup.objects.filter(run=run).delete()
        return summary_compute(run_pk=run.pk)


def summary_reconcile() -> int:
    """Mark every run with a stale key dirty; returns how many runs that is."""
    # order_by(): LatestMetric's default ordering by key would make DISTINCT per (run, key).
    run_pks = list(stale_latest_metrics().order_by().values_list("run_id", flat=True).distinct())
    for start in range(0, len(run_pks), DRAIN_BATCH):
        summary_mark_dirty(*run_pks[start : start + DRAIN_BATCH])
    if run_pks:
        logger.info("Reconciler marked the summaries of %d runs stale", len(run_pks))
    return len(run_pks)

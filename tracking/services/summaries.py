"""Metric summaries: scheduled after each write, computed by Celery workers, never lost.

A key's summary is stale exactly when its `LatestMetric.seq` is above the summary's `seq` (or
there is no summary). Writes only bump seqs and call `summary_schedule`; workers run
`summary_compute`, and the reconciler re-schedules whatever is still stale, so a lost message,
a flushed Redis or a killed worker delays a summary but never loses it.

One exception: on PostgreSQL the summaries of a run's first batch of points (a few points, all
the run has) are written right after it commits, by one statement, and nothing is queued
(`summary_after_write`). A sweep's trials, which log one batch each, cost the worker nothing.
"""

from __future__ import annotations

import logging
import os
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, DataError, connection, transaction
from django.utils import timezone

from tracking.models import LatestMetric, Metric, MetricSummary, Run
from tracking.selectors.summaries import SUMMARY_FIELDS, stale_latest_metrics
from tracking.services.rollups import ROLLUP_MIN_POINTS, rollup_refresh
from tracking.services.statements import may_fail

logger = logging.getLogger(__name__)

PENDING_KEY = "summary:pending:{}"
# Arbitrary constant that namespaces our PostgreSQL advisory locks from anyone else's.
ADVISORY_LOCK_CLASS = 0x5355_4D4D
# Test-only hook: seconds the task sleeps between reading the aggregates and writing them, so
# tests can write points or kill the worker in the middle of a summary. Never set it in
# production.
TEST_DELAY_ENV = "MLPLATFORM_TEST_SUMMARY_DELAY"

INF = float("inf")


def _pending_key(run_pk: int) -> str:
    return PENDING_KEY.format(run_pk)


def summary_schedule(run_pk: int) -> None:
    """Enqueue `summarize_run` for the run unless one is already pending; never raises."""
    from tracking.tasks import summarize_run  # tracking.tasks imports this module

    try:
        # Redis: SET NX EX. The TTL bounds how long a lost message can hold the marker; after
        # that the reconciler enqueues again.
        if not cache.add(_pending_key(run_pk), 1, timeout=settings.MLPLATFORM_SUMMARY_PENDING_TTL):
            return
    except Exception:
        # Redis down: enqueueing would fail too. The write is committed and its keys are
        # stale, so the reconciler catches up once the broker is back.
        logger.exception("Could not mark the summary of run %s pending", run_pk)
        return
    try:
        # The delay lets the writes of the next moment join this summary: their marker check
        # above finds it pending. The worker reads the points when the task starts, after them.
        summarize_run.apply_async((run_pk,), countdown=settings.MLPLATFORM_SUMMARY_DELAY or None)
    except Exception:
        logger.exception("Could not enqueue the summary of run %s", run_pk)
        # Without the marker the next write, or the reconciler, enqueues again right away.
        _clear_pending(run_pk)


# A run's first batch: every key's summary from the points, labelled with the LatestMetric seq
# of the same snapshot, as the worker does (a batch committed meanwhile is in both or in
# neither). The worker's aggregate (_AGGREGATES_SQL) written as one upsert: running
# summary_compute itself here, with its transaction, lock and ORM upsert, cost the sweep 2.3 ms
# of web CPU a trial (194 -> 141 runs/s). tests/tracking/test_first_batch_summaries.py holds
# the two to the same results. A newer summary the worker wrote in between is kept. NaN is
# left out of min, max and sum, and +Inf with -Inf make the sum NaN, stored as NULL, as the
# worker stores it; a sum of finite values past the float range raises, and the worker then
# sums in numeric.
_FIRST_SUMMARIES_SQL = """
INSERT INTO tracking_metricsummary (run_id, "key", count, nan_count, min, max, sum, first_step,
                                    last_step, last_timestamp, seq, computed_at)
SELECT lm.run_id, lm."key", COUNT(*), COUNT(*) FILTER (WHERE m.is_nan),
       MIN(m.value) FILTER (WHERE NOT m.is_nan), MAX(m.value) FILTER (WHERE NOT m.is_nan),
       NULLIF(SUM(m.value) FILTER (WHERE NOT m.is_nan), 'NaN'),
       MIN(m.step), MAX(m.step), MAX(m."timestamp"), lm.seq, now()
FROM tracking_latestmetric lm
JOIN tracking_metric m ON m.run_id = lm.run_id AND m."key" = lm."key"
WHERE lm.run_id = %(run)s
GROUP BY lm.run_id, lm."key", lm.seq
ON CONFLICT (run_id, "key") DO UPDATE SET
    count = excluded.count, nan_count = excluded.nan_count, min = excluded.min,
    max = excluded.max, sum = excluded.sum, first_step = excluded.first_step,
    last_step = excluded.last_step, last_timestamp = excluded.last_timestamp,
    seq = excluded.seq, computed_at = excluded.computed_at
WHERE tracking_metricsummary.seq < excluded.seq
"""


def summary_after_write(*, run_pk: int, seq: int) -> None:
    """After a write of points has committed (seq: the run's seq it left): summaries of a
    run's first batch at once on PostgreSQL, anything else by the worker; never raises."""
    if seq == 1 and connection.vendor == "postgresql" and _summarize_first_batch(run_pk):
        return
    summary_schedule(run_pk)


def _summarize_first_batch(run_pk: int) -> bool:
    """Whether the first batch's summaries are written; False leaves them to the worker.

    Only the first: it has at most a batch of points, while a later write would aggregate
    every point of the run in the request. Its rollups are not needed, a batch being far below
    ROLLUP_MIN_POINTS.
    """
    try:
        with may_fail(), connection.cursor() as cursor:
            cursor.execute(_FIRST_SUMMARIES_SQL, {"run": run_pk})
    except DatabaseError:
        # A float sum past the range (the worker sums in numeric), or the database gone: the
        # write has committed, and the worker (or the reconciler) will catch up.
        logger.info("The first summaries of run %s are left to the worker", run_pk, exc_info=True)
        return False
    return True


def _clear_pending(run_pk: int) -> None:
    try:
        cache.delete(_pending_key(run_pk))
    except Exception:
        logger.exception("Could not clear the pending summary marker of run %s", run_pk)


def _lock_run(run_pk: int) -> None:
    """Serialise summaries of one run, so concurrent tasks never write an older result last."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [ADVISORY_LOCK_CLASS, run_pk % 2_147_483_647],
            )
    # SQLite: every transaction here begins IMMEDIATE (settings), which already takes the one
    # write lock of the database for the whole transaction.


# One statement, so one snapshot (READ COMMITTED takes one per statement): the aggregates of
# every stale key and the LatestMetric seq they cover. A write committed after the snapshot
# leaves its key stale, and it is redone. Raw SQL because points and LatestMetric are joined
# on (run, key), which the ORM cannot express without a relation; the join also reads each
# key's seq once, where a correlated subquery in GROUP BY would run once per point.
# Written for both PostgreSQL and SQLite (FILTER needs SQLite 3.30).
_AGGREGATES_SQL = """
SELECT m.key, lm.seq,
       COUNT(*),
       COUNT(*) FILTER (WHERE m.is_nan),
       COUNT(*) FILTER (WHERE NOT m.is_nan AND m.value = %(inf)s),
       COUNT(*) FILTER (WHERE NOT m.is_nan AND m.value = %(neg_inf)s),
       MIN(m.value) FILTER (WHERE NOT m.is_nan),
       MAX(m.value) FILTER (WHERE NOT m.is_nan),
       SUM({summed}) FILTER (
           WHERE NOT m.is_nan AND m.value > %(neg_inf)s AND m.value < %(inf)s
       ),
       MIN(m.step),
       MAX(m.step),
       MAX(m.timestamp)
FROM {latest} lm
JOIN {metric} m ON m.run_id = lm.run_id AND m.key = lm.key
WHERE lm.run_id = %(run)s
  AND NOT EXISTS (
      SELECT 1 FROM {summary} s
      WHERE s.run_id = lm.run_id AND s.key = lm.key AND s.seq >= lm.seq
  )
GROUP BY m.key, lm.seq
ORDER BY m.key
"""
_ROW_FIELDS = (
    "key", "seq", "n", "n_nan", "n_pos_inf", "n_neg_inf", "lo", "hi", "total",
    "step_lo", "step_hi", "ts_hi",
)  # fmt: skip


def _aggregates(*, run_pk: int, exact_sum: bool) -> list[dict]:
    # numeric cannot overflow where float8 raises; it keeps 15 digits of each value, which
    # only matters for sums that leave the float range anyway.
    sql = _AGGREGATES_SQL.format(
        summed="CAST(m.value AS numeric)" if exact_sum else "m.value",
        latest=connection.ops.quote_name(LatestMetric._meta.db_table),
        metric=connection.ops.quote_name(Metric._meta.db_table),
        summary=connection.ops.quote_name(MetricSummary._meta.db_table),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"run": run_pk, "inf": INF, "neg_inf": -INF})
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


def _summary(*, run_pk: int, row: dict, computed_at) -> MetricSummary:
    return MetricSummary(
        run_id=run_pk,
        key=row["key"],
        count=row["n"],
        nan_count=row["n_nan"],
        min=row["lo"],
        max=row["hi"],
        sum=_sum(row),
        first_step=row["step_lo"],
        last_step=row["step_hi"],
        last_timestamp=row["ts_hi"],
        seq=row["seq"] or 0,
        computed_at=computed_at,
    )


def _read(*, run_pk: int) -> list[dict]:
    if connection.vendor != "postgresql":
        return _aggregates(run_pk=run_pk, exact_sum=False)
    try:
        # A savepoint, so an overflow error leaves the transaction (and the lock) usable.
        with transaction.atomic():
            return _aggregates(run_pk=run_pk, exact_sum=False)
    except DataError:
        # PostgreSQL raises instead of overflowing to Infinity when finite values sum past the
        # float range.
        return _aggregates(run_pk=run_pk, exact_sum=True)


def _test_delay() -> None:
    delay = os.environ.get(TEST_DELAY_ENV)
    if delay:
        time.sleep(float(delay))


def summary_compute(*, run_pk: int) -> int:
    """Recompute the summary of every stale key of the run; returns how many were written."""
    # Cleared before the points are read: a write committed from now on enqueues a new task,
    # and a write committed before is in the snapshot below.
    _clear_pending(run_pk)
    with transaction.atomic():
        _lock_run(run_pk)
        rows = _read(run_pk=run_pk)
        _test_delay()
        if not rows:
            return 0
        now = timezone.now()
        summaries = [_summary(run_pk=run_pk, row=row, computed_at=now) for row in rows]
        # Count, min, max and sum could be merged with the new points only, but points carry no
        # seq of their own (and ids commit out of order), so each changed key is recomputed in
        # the database; memory stays flat whatever the number of points.
        MetricSummary.objects.bulk_create(
            summaries,
            update_conflicts=True,
            unique_fields=["run", "key"],
            update_fields=SUMMARY_FIELDS,
            batch_size=500,
        )
        for row in rows:
            if row["n"] - row["n_nan"] >= ROLLUP_MIN_POINTS:
                rollup_refresh(run_pk=run_pk, key=row["key"], seq=row["seq"] or 0)
    return len(summaries)


def summary_rebuild(*, run: Run) -> int:
    """Recompute every summary of the run from scratch; returns how many keys it has."""
    with transaction.atomic():
        _lock_run(run.pk)
        # Without summaries every key is stale, so one pass recomputes them all.
        MetricSummary.objects.filter(run=run).delete()
        return summary_compute(run_pk=run.pk)


def summary_reconcile() -> int:
    """Enqueue a summary for every run with a stale key; returns how many runs that is."""
    # order_by(): LatestMetric's default ordering by key would make DISTINCT per (run, key).
    run_pks = list(stale_latest_metrics().order_by().values_list("run_id", flat=True).distinct())
    for run_pk in run_pks:
        summary_schedule(run_pk)
    if run_pks:
        logger.info("Reconciler re-queued the summaries of %d runs", len(run_pks))
    return len(run_pks)

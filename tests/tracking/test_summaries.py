"""Metric summaries: exact aggregates, staleness, scheduling at most once, the reconciler, the
rebuild command and the health figures. The worker process itself is in tests/e2e."""

from __future__ import annotations

import json
import math
import threading
import time
import tracemalloc
from collections import defaultdict

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import DatabaseError, OperationalError, connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlplatform.celery import app as celery_app
from mlplatform.health import healthz
from mlplatform.health_summaries import queue_backlog, summary_health
from tests.factories import ExperimentFactory, RunFactory
from tracking import tasks
from tracking.batch import MetricIn
from tracking.models import MetricSummary, Run
from tracking.selectors.summaries import (
    metric_summary_list,
    metric_summary_map,
    stale_latest_metrics,
)
from tracking.services import rollups, summaries
from tracking.services.ingest import run_log_batch
from tracking.services.summaries import summary_compute, summary_mark_dirty, summary_reconcile

pytestmark = pytest.mark.usefixtures("clean_marks")

NAN = float("nan")
INF = float("inf")


def new_run(experiment) -> Run:
    return RunFactory(experiment=experiment)


@pytest.fixture
def run(default_experiment) -> Run:
    return new_run(default_experiment)


def log(run: Run, *points: tuple[str, int, int, float]) -> None:
    run_log_batch(run=run, metrics=[MetricIn(k, v, ts, step) for k, step, ts, v in points])


def expected(points: list[tuple[str, int, int, float]]) -> dict[str, dict]:
    """The summaries recomputed in Python from what was logged; exact duplicates count once."""
    unique = {(k, step, ts, "nan" if math.isnan(v) else v) for k, step, ts, v in points}
    by_key: dict[str, list] = defaultdict(list)
    for k, step, ts, v in unique:
        by_key[k].append((step, ts, v))
    result = {}
    for k, rows in by_key.items():
        values = [v for _, _, v in rows if v != "nan"]
        undefined = INF in values and -INF in values
        result[k] = {
            "count": len(rows),
            "nan_count": len(rows) - len(values),
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "sum": None if undefined or not values else math.fsum(values),
            "first_step": min(step for step, _, _ in rows),
            "last_step": max(step for step, _, _ in rows),
            "last_timestamp": max(ts for _, ts, _ in rows),
        }
    return result


def stored(run: Run) -> dict[str, dict]:
    return {
        s.key: {
            "count": s.count,
            "nan_count": s.nan_count,
            "min": s.min,
            "max": s.max,
            "sum": s.sum,
            "first_step": s.first_step,
            "last_step": s.last_step,
            "last_timestamp": s.last_timestamp,
        }
        for s in MetricSummary.objects.filter(run=run)
    }


def assert_exact(run: Run, points: list) -> None:
    want, got = expected(points), stored(run)
    assert set(got) == set(want)
    for key, figures in want.items():
        total, got_total = figures.pop("sum"), got[key].pop("sum")
        assert got[key] == figures, key
        if total is None or math.isinf(total):
            assert got_total == total, key
        else:
            # Sums add in the database's order: values far apart in size round differently.
            finite = [abs(v) for k, _, _, v in points if k == key and math.isfinite(v)]
            slack = max(1e-9, max(finite, default=0.0) * len(finite) * 1e-15)
            assert math.isclose(got_total, total, rel_tol=1e-9, abs_tol=slack), key


def backlog() -> int:
    return queue_backlog()


# --- What a summary says ----------------------------------------------------------------------


@pytest.mark.django_db
def test_summary_counts_a_retried_point_once_whatever_the_order(run):
    points = [
        ("loss", 3, 30, 0.5),
        ("loss", 1, 10, 2.0),
        ("loss", 1, 10, 2.0),  # a retried point
        ("loss", 2, 20, -1.5),
        ("acc", 0, 5, 0.1),
    ]
    log(run, *points)

    assert summary_compute(run_pk=run.pk) == 2

    assert_exact(run, points)
    loss = MetricSummary.objects.get(run=run, key="loss")
    assert (loss.count, loss.min, loss.max, loss.mean) == (3, -1.5, 2.0, 1.0 / 3)
    assert (loss.first_step, loss.last_step, loss.last_timestamp) == (1, 3, 30)


@pytest.mark.django_db
def test_nan_is_counted_not_compared_and_infinities_are_values(run):
    log(run, ("m", 0, 1, NAN), ("m", 1, 1, INF), ("m", 2, 1, 3.0), ("only_nan", 0, 1, NAN))
    log(run, ("m", 3, 1, -INF), ("up", 0, 1, INF), ("up", 1, 1, 1.0))

    summary_compute(run_pk=run.pk)

    m = MetricSummary.objects.get(run=run, key="m")
    assert (m.count, m.nan_count, m.min, m.max) == (4, 1, -INF, INF)
    assert m.sum is None and m.mean is None  # Inf - Inf has no value
    only_nan = MetricSummary.objects.get(run=run, key="only_nan")
    assert (only_nan.count, only_nan.nan_count, only_nan.min, only_nan.max) == (1, 1, None, None)
    assert only_nan.mean is None
    up = MetricSummary.objects.get(run=run, key="up")
    assert (up.min, up.max, up.sum, up.mean) == (1.0, INF, INF, INF)


@pytest.mark.django_db
def test_sum_past_the_float_range_is_infinite_not_an_error(run):
    log(run, ("huge", 0, 1, 1e308), ("huge", 1, 1, 1e308), ("huge", 2, 1, NAN))

    summary_compute(run_pk=run.pk)

    huge = MetricSummary.objects.get(run=run, key="huge")
    assert (huge.count, huge.nan_count, huge.max, huge.sum, huge.mean) == (3, 1, 1e308, INF, INF)


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)
value = st.one_of(finite, st.sampled_from([NAN, INF, -INF, 0.0, 1.0]))
point = st.tuples(
    st.sampled_from(["loss", "acc", "eval/f1"]),
    st.integers(min_value=-3, max_value=12),
    st.integers(min_value=0, max_value=4),
    value,
)
batches = st.lists(st.lists(point, min_size=1, max_size=25), min_size=1, max_size=6)


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=batches, computes=st.lists(st.booleans(), min_size=6, max_size=6))
def test_summaries_equal_a_direct_recomputation_whenever_computed(
    default_experiment, batches, computes
):
    run = new_run(default_experiment)
    logged = []
    for batch, compute_now in zip(batches, computes, strict=False):
        log(run, *batch)
        logged += batch
        if compute_now:
            summary_compute(run_pk=run.pk)
            assert_exact(run, logged)
    summary_compute(run_pk=run.pk)

    assert_exact(run, logged)
    assert not stale_latest_metrics().filter(run=run).exists()


# --- Only changed keys, in SQL, idempotent ---------------------------------------------------


@pytest.mark.django_db
def test_only_keys_written_since_the_last_summary_are_recomputed(run):
    log(run, ("a", 0, 1, 1.0), ("b", 0, 1, 1.0))
    summary_compute(run_pk=run.pk)
    b_before = MetricSummary.objects.get(run=run, key="b").computed_at

    log(run, ("a", 1, 2, 5.0))

    assert summary_compute(run_pk=run.pk) == 1
    assert MetricSummary.objects.get(run=run, key="b").computed_at == b_before
    assert MetricSummary.objects.get(run=run, key="a").max == 5.0


@pytest.mark.django_db
def test_computing_twice_gives_the_same_result_and_writes_nothing_the_second_time(run):
    log(run, ("a", 0, 1, 1.0), ("a", 1, 1, NAN))
    summary_compute(run_pk=run.pk)
    first = list(MetricSummary.objects.filter(run=run).values())

    assert summary_compute(run_pk=run.pk) == 0
    assert list(MetricSummary.objects.filter(run=run).values()) == first


@pytest.mark.django_db
def test_aggregation_runs_in_the_database_whatever_the_number_of_points(run, monkeypatch):
    # A key this long also gets chart blocks: two statements more, tested with the rollups.
    monkeypatch.setattr(rollups, "CHART_BLOCK_MIN_POINTS", 10**12)
    for start in range(0, 3000, 1000):
        log(run, *[("big", step, step, float(step)) for step in range(start, start + 1000)])
    other = new_run(run.experiment)
    log(other, ("big", 0, 0, 0.0))

    with CaptureQueriesContext(connection) as many:
        summary_compute(run_pk=run.pk)
    with CaptureQueriesContext(connection) as one:
        summary_compute(run_pk=other.pk)

    assert len(many) == len(one) <= 8  # the aggregate, the upsert, the lock, savepoints
    [aggregate] = [q["sql"] for q in many.captured_queries if "GROUP BY" in q["sql"]]
    assert "COUNT(" in aggregate and "SUM(" in aggregate
    big = MetricSummary.objects.get(run=run, key="big")
    assert (big.count, big.sum, big.last_step) == (3000, sum(range(3000)), 2999)


def insert_points(run: Run, key: str, n: int) -> None:
    """n points with steps 1..n and values step/2, written by the database itself."""
    if connection.vendor == "postgresql":
        sql = (
            "INSERT INTO tracking_metric (run_id, key, step, timestamp, value, is_nan) "
            "SELECT %s, %s, x, x, x * 0.5, %s FROM generate_series(1, %s) AS g(x)"
        )
        params = [run.pk, key, False, n]
    else:
        sql = (
            "INSERT INTO tracking_metric (run_id, key, step, timestamp, value, is_nan) "
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < %s) "
            "SELECT %s, %s, x, x, x * 0.5, %s FROM g"
        )
        params = [n, run.pk, key, False]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.django_db
def test_a_long_history_is_summarised_in_flat_memory(run):
    insert_points(run, "long", 200_000)
    log(run, ("long", 0, 0, 0.0))  # through the write path, so the key is stale

    tracemalloc.start()
    try:
        summary_compute(run_pk=run.pk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    # Loading the points would take tens of megabytes; one aggregate row per key takes little.
    assert peak < 1_000_000
    summary = MetricSummary.objects.get(run=run, key="long")
    assert (summary.count, summary.min, summary.max) == (200_001, 0.0, 100_000.0)
    assert summary.sum == sum(range(200_001)) * 0.5


def points_read(run: Run) -> int:
    """Rows the worker's aggregate statement reads from the points table, by EXPLAIN ANALYZE."""
    sql = summaries._AGGREGATES_SQL.format(
        aggregates=summaries._POINT_AGGREGATES.format(summed="m.value"),
        latest="tracking_latestmetric",
        metric="tracking_metric",
        summary="tracking_metricsummary",
        runs="%(run0)s",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + sql, {"run0": run.pk, "inf": INF, "neg_inf": -INF}
        )
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def walk(node: dict) -> int:
        own = node["Actual Rows"] * node["Actual Loops"]
        read = own if node.get("Relation Name") == "tracking_metric" else 0
        return read + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN ANALYZE is PostgreSQL's")
def test_a_summary_merges_only_the_points_written_since_the_last_one(run):
    insert_points(run, "long", 20_000)
    log(run, ("long", 0, 0, 0.0))
    assert points_read(run) >= 20_001  # no summary yet: the whole key
    summary_compute(run_pk=run.pk)

    log(run, ("long", 30_000, 1, -4.0), ("long", 30_001, 1, NAN), ("new", 0, 1, 1.0))

    # The last write's three points, through the (run, seq) index, and the whole history of
    # the key that has no summary yet: its one point.
    assert points_read(run) == 3 + 1
    summary_compute(run_pk=run.pk)
    long = MetricSummary.objects.get(run=run, key="long")
    assert (long.count, long.nan_count, long.min, long.max) == (20_003, 1, -4.0, 10_000.0)
    assert (long.first_step, long.last_step) == (0, 30_001)
    assert long.sum == sum(range(20_001)) * 0.5 - 4.0
    assert MetricSummary.objects.get(run=run, key="new").count == 1


@pytest.mark.django_db
def test_a_retried_batch_that_adds_no_point_still_makes_the_summary_fresh(run):
    log(run, ("a", 0, 1, 1.0))
    summary_compute(run_pk=run.pk)
    log(run, ("a", 0, 1, 1.0))  # moves seq, stores nothing

    assert summary_compute(run_pk=run.pk) == 1
    assert not stale_latest_metrics().filter(run=run).exists()
    assert MetricSummary.objects.get(run=run, key="a").count == 1


@pytest.mark.django_db
def test_summaries_of_a_deleted_run_are_a_no_op(run):
    pk = run.pk
    run.delete()

    assert summary_compute(run_pk=pk) == 0


# --- Freshness as pages and APIs see it ------------------------------------------------------


@pytest.mark.django_db
def test_summary_list_shows_when_computed_and_whether_newer_points_exist(run):
    log(run, ("a", 0, 1, 1.0))
    [before] = metric_summary_list(run=run)
    assert (before.key, before.stale, before.count, before.computed_at) == ("a", True, None, None)
    assert before.latest_value == 1.0

    summary_compute(run_pk=run.pk)
    [fresh] = metric_summary_list(run=run)
    assert (fresh.stale, fresh.count, fresh.mean) == (False, 1, 1.0)
    assert fresh.computed_at is not None

    log(run, ("a", 1, 2, NAN))
    [stale] = metric_summary_list(run=run)
    assert stale.stale and stale.count == 1 and stale.computed_at == fresh.computed_at
    assert math.isnan(stale.latest_value)


@pytest.mark.django_db
def test_summary_map_reads_many_runs_in_two_queries(default_experiment, django_assert_num_queries):
    runs = [new_run(default_experiment) for _ in range(5)]
    for one in runs:
        log(one, ("a", 0, 1, 1.0), ("b", 0, 1, 2.0))
        summary_compute(run_pk=one.pk)

    with django_assert_num_queries(2):
        summaries = metric_summary_map(runs=runs)

    assert [list(summaries[one.pk]) for one in runs] == [["a", "b"]] * 5


# --- Scheduling: at most once while pending, never failing the write --------------------------


def marked(marks) -> set[int]:
    return {run_pk for run_pk, _version in marks.peek(1000)}


@pytest.mark.django_db
def test_writes_mark_their_runs_and_queue_one_drain_while_one_is_queued(
    default_experiment, clean_marks, django_capture_on_commit_callbacks
):
    first, second = new_run(default_experiment), new_run(default_experiment)
    before = backlog()
    for run, step in [(first, 0), (second, 0), (first, 1)]:
        with django_capture_on_commit_callbacks(execute=True):
            log(run, ("a", step, 1, 1.0))

    assert backlog() == before + 1
    assert marked(clean_marks) == {first.pk, second.pk}
    # Nothing was computed in the request.
    assert not MetricSummary.objects.exists()


@pytest.mark.django_db
def test_a_drain_summarises_every_marked_run_and_the_next_write_queues_again(
    default_experiment, clean_marks, django_capture_on_commit_callbacks
):
    runs = [new_run(default_experiment) for _ in range(3)]
    for run in runs:
        with django_capture_on_commit_callbacks(execute=True):
            log(run, ("a", 0, 1, 1.0), ("b", 0, 1, NAN))

    tasks.summarize_dirty_runs()

    assert not marked(clean_marks)
    for run in runs:
        assert_exact(run, [("a", 0, 1, 1.0), ("b", 0, 1, NAN)])
    before = backlog()
    with django_capture_on_commit_callbacks(execute=True):
        log(runs[0], ("a", 1, 1, 2.0))
    assert backlog() == before + 1


@pytest.mark.django_db
def test_a_drain_reads_all_its_runs_in_one_aggregate_statement(
    default_experiment, clean_marks, django_capture_on_commit_callbacks
):
    runs = [new_run(default_experiment) for _ in range(5)]
    logged = {run.pk: [] for run in runs}

    def write(run, *points):
        with django_capture_on_commit_callbacks(execute=True):
            log(run, *points)
        logged[run.pk] += points

    # Runs in every state a drain meets: summarised before and written since (a merge), never
    # summarised, summarised and untouched, NaN only, and a new key beside a summarised one.
    write(runs[0], ("a", 0, 1, 1.0), ("a", 1, 2, INF))
    write(runs[2], ("a", 0, 1, 3.0))
    write(runs[4], ("old", 0, 1, 2.0))
    summaries.summary_drain()
    write(runs[0], ("a", 2, 3, -2.0), ("a", 0, 1, 1.0))
    write(runs[1], ("a", 0, 1, 5.0), ("b", 3, 4, -INF))
    write(runs[3], ("n", 0, 1, NAN), ("n", 1, 2, NAN))
    write(runs[4], ("new", 7, 8, 0.5), ("old", 1, 2, 4.0))
    assert len(marked(clean_marks)) == 4

    with CaptureQueriesContext(connection) as queries:
        assert summaries.summary_drain() == 4

    aggregates = [q["sql"] for q in queries.captured_queries if "GROUP BY" in q["sql"]]
    assert len(aggregates) == 1
    assert not marked(clean_marks)
    for run in runs:
        assert_exact(run, logged[run.pk])
    assert not stale_latest_metrics().exists()


@pytest.mark.django_db
def test_a_run_marked_again_during_its_summary_stays_marked(run, clean_marks, slow_summaries):
    log(run, ("a", 0, 1, 1.0))
    summary_mark_dirty(run.pk)
    # Another write marks the run while the drain summarises it.
    slow_summaries(lambda: summary_mark_dirty(run.pk))

    summaries.summary_drain()

    assert marked(clean_marks) == {run.pk}


@pytest.mark.django_db
def test_a_broker_error_while_queueing_does_not_fail_the_write(run, monkeypatch):
    calls = []

    def broker_down(*args, **kwargs):
        calls.append(args)
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    # A dead broker cannot be produced here without stopping the one other tests share.
    monkeypatch.setattr(tasks.summarize_dirty_runs, "apply_async", broker_down)

    summary_mark_dirty(run.pk)
    # The drain marker is gone, so the next write tries to queue again at once.
    summary_mark_dirty(run.pk)

    assert len(calls) == 2


@pytest.mark.django_db(transaction=True)
def test_points_written_while_a_summary_is_computed_are_never_missed(
    default_experiment, monkeypatch, slow_summaries, clean_marks
):
    run = new_run(default_experiment)
    log(run, ("a", 0, 1, 1.0))
    read, go_on = threading.Event(), threading.Event()

    def pause_between_read_and_write():
        read.set()
        go_on.wait(10)

    # The write below lands strictly after the task's snapshot.
    slow_summaries(pause_between_read_and_write)

    def in_thread(function):
        def run_and_close():
            try:
                function()
            finally:
                connection.close()

        thread = threading.Thread(target=run_and_close)
        thread.start()
        return thread

    task = in_thread(lambda: summary_compute(run_pk=run.pk))
    assert read.wait(10)
    write = in_thread(lambda: log(run, ("a", 1, 2, 7.0)))
    # PostgreSQL commits the write during the pause; SQLite makes it wait for the task's lock.
    write.join(timeout=0.5)
    go_on.set()
    task.join()
    write.join()

    [summary] = metric_summary_list(run=run)
    assert summary.stale and summary.count == 1
    assert run.pk in marked(clean_marks)  # the write marked the run for the next drain
    monkeypatch.undo()
    summary_compute(run_pk=run.pk)
    assert_exact(run, [("a", 0, 1, 1.0), ("a", 1, 2, 7.0)])


@pytest.mark.django_db(transaction=True)
def test_concurrent_summaries_of_one_run_agree(default_experiment, slow_summaries):
    run = new_run(default_experiment)
    points = [("a", step, 1, float(step)) for step in range(50)] + [("b", 0, 1, NAN)]
    log(run, *points)
    slow_summaries(lambda: time.sleep(0.3))

    def compute():
        try:
            summary_compute(run_pk=run.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=compute) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert_exact(run, points)
    assert MetricSummary.objects.filter(run=run).count() == 2


# --- The reconciler and the rebuild command ---------------------------------------------------


@pytest.mark.django_db
def test_reconciler_marks_every_run_with_a_stale_key_and_queues_one_drain(
    default_experiment, clean_marks
):
    stale_runs = [new_run(default_experiment) for _ in range(2)]
    fresh = new_run(default_experiment)
    for one in [*stale_runs, fresh]:
        log(one, ("a", 0, 1, 1.0), ("b", 0, 1, 1.0))
    summary_compute(run_pk=fresh.pk)
    before = backlog()

    assert summary_reconcile() == 2
    assert backlog() == before + 1
    assert marked(clean_marks) == {run.pk for run in stale_runs}
    # A drain is queued: a second pass queues nothing more.
    assert summary_reconcile() == 2
    assert backlog() == before + 1


@pytest.mark.django_db
def test_reconciler_marks_a_run_whose_mark_was_flushed_with_its_message(run, clean_marks):
    log(run, ("a", 0, 1, 1.0))
    summary_mark_dirty(run.pk)
    celery_app.control.purge()
    # What FLUSHDB does to the marks.
    clean_marks.unmark(clean_marks.peek(10))
    clean_marks.drain_started()

    tasks.reconcile_summaries()

    assert backlog() == 1
    assert marked(clean_marks) == {run.pk}


@pytest.mark.django_db
def test_rebuild_summaries_recomputes_from_scratch(run, project, other_project):
    points = [("a", 0, 1, 1.0), ("a", 1, 2, 3.0), ("b", 0, 1, NAN)]
    log(run, *points)
    summary_compute(run_pk=run.pk)
    MetricSummary.objects.filter(run=run, key="a").update(count=99, min=-5.0)
    MetricSummary.objects.create(run=run, key="gone", count=1)
    elsewhere = new_run(ExperimentFactory(project=other_project))
    log(elsewhere, ("c", 0, 1, 1.0))

    call_command("rebuild_summaries", "--project", project.slug)

    assert_exact(run, points)
    assert not MetricSummary.objects.filter(run=elsewhere).exists()


@pytest.mark.django_db
def test_rebuild_summaries_of_one_run(run, default_experiment, capsys):
    log(run, ("a", 0, 1, 1.0))
    other = new_run(default_experiment)
    log(other, ("a", 0, 1, 1.0))

    call_command("rebuild_summaries", "--run", run.run_id)

    assert "Rebuilt 1 metric summaries of 1 runs." in capsys.readouterr().out
    assert MetricSummary.objects.filter(run=run).count() == 1
    assert not MetricSummary.objects.filter(run=other).exists()


@pytest.mark.django_db
def test_rebuild_summaries_names_an_unknown_project_or_run(project):
    with pytest.raises(CommandError, match="No project with the slug 'nope'"):
        call_command("rebuild_summaries", "--project", "nope")
    with pytest.raises(CommandError, match="No run with the id 'f00' in the project 'alpha'"):
        call_command("rebuild_summaries", "--project", "alpha", "--run", "f00")


# --- Reliability settings and health ---------------------------------------------------------


def test_summaries_are_acked_late_retried_on_database_errors_and_reconciled_periodically():
    drain = tasks.summarize_dirty_runs
    assert drain.acks_late and drain.reject_on_worker_lost
    assert celery_app.conf.worker_prefetch_multiplier == 1
    assert DatabaseError in drain.autoretry_for
    schedule = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert tasks.reconcile_summaries.name in schedule


@pytest.mark.django_db
def test_healthz_reports_the_summary_backlog_and_the_oldest_stale_summary(
    rf, run, django_user_model
):
    log(run, ("a", 0, 1, 1.0))
    summary_compute(run_pk=run.pk)
    MetricSummary.objects.filter(run=run).update(
        computed_at=MetricSummary.objects.get(run=run).computed_at.replace(year=2000)
    )
    log(run, ("a", 1, 2, 2.0))
    cache.delete("summary:health")

    request = rf.get("/healthz")
    request.user = django_user_model.objects.create_user("ops", is_staff=True)
    response = healthz(request)

    assert response.status_code == 200
    summaries = json.loads(response.content)["summaries"]
    assert summaries["stale_keys"] == 1
    assert summaries["oldest_stale_seconds"] > 20 * 365 * 86400
    assert isinstance(summaries["backlog"], int)


@pytest.mark.django_db
def test_health_figures_are_zero_when_every_summary_is_fresh(run):
    log(run, ("a", 0, 1, 1.0))
    summary_compute(run_pk=run.pk)

    figures = summary_health(use_cache=False)

    assert (figures["stale_keys"], figures["oldest_stale_seconds"]) == (0, 0.0)

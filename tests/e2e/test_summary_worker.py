"""Summaries computed by a real Celery worker process, through the real broker: Redis when
REDIS_URL is set (as in CI), the embedded filesystem broker otherwise."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings

from tests.e2e.worker import Worker, flush_broker
from tests.tracking.test_summaries import assert_exact, backlog, batches, log, new_run
from tracking.dirty_runs import DRAIN_KEY, RedisDirtyRuns, dirty_runs
from tracking.models import MetricSummary, Run
from tracking.selectors.summaries import metric_summary_list, stale_latest_metrics

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("clean_marks"),
]

DRAIN_TIMEOUT = 30


@pytest.fixture
def clean_broker(transactional_db):
    flush_broker()
    yield
    flush_broker()


@pytest.fixture
def workers(clean_broker, tmp_path):
    """Start workers with `workers(...)`; every one still running is stopped afterwards."""
    started: list[Worker] = []

    def start(**options) -> Worker:
        worker = Worker(tmp_path, **options).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(workers) -> Worker:
    return workers()


def wait_until_fresh(run: Run, worker: Worker) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while stale_latest_metrics().filter(run=run).exists():
        if time.monotonic() > deadline:
            pytest.fail(f"Summaries of run {run.pk} still stale; worker log:\n{worker.log()}")
        time.sleep(0.1)


def drain_queued() -> bool:
    marks = dirty_runs()
    if isinstance(marks, RedisDirtyRuns):
        return bool(marks.client.exists(DRAIN_KEY))
    return marks.marker.exists()


def wait_until_started(run: Run, worker: Worker) -> None:
    """Until the drain has read the points and pauses (slow_celery), before it writes."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    # The drain clears its marker just before it reads.
    while drain_queued():
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.05)
    time.sleep(0.5)


def log_concurrently(run: Run, batches: list[list]) -> None:
    """Each batch from its own writer thread, all at once, so they commit in any order."""
    errors: list[BaseException] = []

    def write(batch):
        try:
            log(run, *batch)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=batches)
def test_worker_summaries_of_random_concurrent_histories_equal_a_direct_recomputation(
    worker, default_experiment, batches
):
    run = new_run(default_experiment)

    log_concurrently(run, batches)
    wait_until_fresh(run, worker)

    assert_exact(run, [point for batch in batches for point in batch])


def test_with_the_worker_stopped_writes_succeed_and_summaries_wait_for_it(
    workers, default_experiment
):
    run = new_run(default_experiment)
    points = [("loss", step, step, 1.0 / (step + 1)) for step in range(50)]

    log(run, *points[:25])
    log(run, *points[25:])
    time.sleep(1)

    # The request path only marked the run and queued one drain: nothing was computed, and
    # the API says the summary is updating.
    assert not MetricSummary.objects.filter(run=run).exists()
    assert backlog() == 1
    [summary] = metric_summary_list(run=run)
    assert summary.stale
    worker = workers()
    wait_until_fresh(run, worker)
    assert_exact(run, points)


def test_a_worker_killed_in_the_middle_of_a_summary_leaves_it_exact_after_restart(
    workers, default_experiment
):
    slow = workers(summary_delay=30)
    run = new_run(default_experiment)
    points = [("loss", step, step, float(step)) for step in range(20)] + [("acc", 0, 0, 0.5)]

    log(run, *points)
    wait_until_started(run, slow)
    slow.kill()

    assert not MetricSummary.objects.filter(run=run).exists()
    # The message died with the worker (or waits out Redis' visibility timeout); the
    # reconciler in the restarted worker's beat re-queues the run.
    restarted = workers(beat=True)
    wait_until_fresh(run, restarted)
    assert_exact(run, points)


def test_a_pool_process_killed_mid_summary_gives_the_message_back_to_the_broker(
    workers, default_experiment
):
    # As the OOM killer would: only the process running the task dies.
    worker = workers(summary_delay=3, concurrency=1)
    run = new_run(default_experiment)
    points = [("loss", step, step, float(step)) for step in range(20)]

    log(run, *points)
    wait_until_started(run, worker)
    worker.kill_pool()

    assert not MetricSummary.objects.filter(run=run).exists()
    # No beat here: only acks_late with reject_on_worker_lost can bring the task back.
    wait_until_fresh(run, worker)
    assert_exact(run, points)
    assert "WorkerLostError" in worker.log()


def test_after_flushdb_of_the_broker_the_reconciler_restores_exactness(workers, default_experiment):
    runs = [new_run(default_experiment) for _ in range(3)]
    points = [("loss", step, 0, float(step) * 0.5) for step in range(10)] + [
        ("nan", 0, 0, float("nan"))
    ]
    for run in runs:
        log(run, *points)
    assert backlog() == 1

    # FLUSHDB of our Redis database (FLUSHALL would hit other users of a shared server), or
    # the embedded broker's files: every message and pending marker is gone.
    flush_broker()
    assert backlog() == 0

    worker = workers(beat=True)
    for run in runs:
        wait_until_fresh(run, worker)
        assert_exact(run, points)

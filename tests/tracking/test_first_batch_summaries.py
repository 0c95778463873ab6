"""On PostgreSQL the summaries of a run's first batch of points are written right after it
commits (no worker task), and they are exactly what the worker would have written."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from accounts.access import Actor
from accounts.authentication import authenticate_token
from tests.factories import ExperimentFactory, RunFactory, make_token
from tracking.models import MetricSummary, Run
from tracking.selectors.summaries import SUMMARY_FIELDS, stale_latest_metrics
from tracking.services.ingest import MetricIn, ParamIn, run_log_batch, run_log_batch_by_id
from tracking.services.summaries import summary_rebuild

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the first batch's summaries are PostgreSQL's"
)
NAN, INF = float("nan"), float("inf")


@pytest.fixture
def scheduled(monkeypatch) -> list[int]:
    """The runs whose summary the write path asked the worker for."""
    calls: list[int] = []
    monkeypatch.setattr("tracking.services.summaries.summary_schedule", calls.append)
    return calls


def summaries(run: Run) -> dict[str, dict]:
    """What each key's summary says (not when it was computed)."""
    fields = [field for field in SUMMARY_FIELDS if field != "computed_at"]
    return {row["key"]: row for row in MetricSummary.objects.filter(run=run).values("key", *fields)}


def same_summaries(left: dict, right: dict, points: list[tuple]) -> bool:
    """Equal, except that sums may differ by rounding: they add in another order, and with
    values far apart in size the order decides which small ones are absorbed."""
    if left.keys() != right.keys():
        return False
    for key in left:
        a, b = dict(left[key]), dict(right[key])
        sum_a, sum_b = a.pop("sum"), b.pop("sum")
        if a != b or (sum_a is None) != (sum_b is None):
            return False
        finite = [abs(v) for k, v, *_ in points if k == key and math.isfinite(v)]
        slack = max(finite, default=0.0) * len(finite) * 1e-15
        if sum_a is not None and not (sum_a == sum_b or abs(sum_a - sum_b) <= slack):
            return False
    return True


@on_postgresql
def test_a_runs_first_batch_comes_with_its_summaries_and_queues_nothing(
    default_experiment, scheduled, django_capture_on_commit_callbacks
):
    run = RunFactory(experiment=default_experiment)
    with django_capture_on_commit_callbacks(execute=True):
        run_log_batch(
            run=run, metrics=[MetricIn("loss", 0.5, 10, 0), MetricIn("loss", 0.25, 20, 1)]
        )
    assert scheduled == []
    assert not stale_latest_metrics().filter(run=run).exists()
    loss = MetricSummary.objects.get(run=run, key="loss")
    assert (loss.count, loss.min, loss.max, loss.mean, loss.seq) == (2, 0.25, 0.5, 0.375, 1)
    assert (loss.first_step, loss.last_step, loss.last_timestamp) == (0, 1, 20)

    # The next batch changes what only all the points can say: the worker's job.
    with django_capture_on_commit_callbacks(execute=True):
        run_log_batch(run=run, metrics=[MetricIn("loss", 1.0, 30, 2)])
    assert scheduled == [run.pk]
    assert stale_latest_metrics().filter(run=run).exists()


@on_postgresql
def test_a_sweep_trial_through_its_token_needs_no_worker(
    default_experiment, alice, project, scheduled, django_capture_on_commit_callbacks
):
    _token, raw = make_token(user=alice, project=project)
    token = authenticate_token(raw)
    actor = Actor(user=token.user, token=token)
    run = RunFactory(experiment=default_experiment)
    metrics = [MetricIn(f"m{i}", i / 3, 1, 0) for i in range(10)]
    with django_capture_on_commit_callbacks(execute=True):
        run_log_batch_by_id(
            actor=actor, run_id=run.run_id, metrics=metrics, params=[ParamIn("lr", "0.01")]
        )
    assert scheduled == []
    assert MetricSummary.objects.filter(run=run).count() == 10
    with django_capture_on_commit_callbacks(execute=True):
        run_log_batch_by_id(actor=actor, run_id=run.run_id, metrics=metrics[:1])
    assert scheduled == [run.pk]


@on_postgresql
def test_values_whose_sum_could_overflow_are_left_to_the_worker(
    default_experiment, scheduled, django_capture_on_commit_callbacks
):
    # PostgreSQL raises where a float sum overflows; the worker sums those in numeric.
    run = RunFactory(experiment=default_experiment)
    with django_capture_on_commit_callbacks(execute=True):
        run_log_batch(run=run, metrics=[MetricIn("big", 1e308, 1, 0), MetricIn("big", 1e308, 1, 1)])
    assert scheduled == [run.pk]
    assert not MetricSummary.objects.filter(run=run).exists()
    summary_rebuild(run=run)
    assert MetricSummary.objects.get(run=run, key="big").sum == INF


@on_postgresql
def test_points_written_around_the_app_are_counted_too(
    default_experiment, scheduled, django_capture_on_commit_callbacks
):
    run = RunFactory(experiment=default_experiment)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tracking_metric (run_id, key, step, timestamp, value, is_nan) "
            "VALUES (%s, 'loss', 5, 5, 9.0, false)",
            [run.pk],
        )
    with django_capture_on_commit_callbacks(execute=True):
        run_log_batch(run=run, metrics=[MetricIn("loss", 1.0, 1, 0)])
    assert scheduled == []
    loss = MetricSummary.objects.get(run=run, key="loss")
    assert (loss.count, loss.min, loss.max, loss.last_step) == (2, 1.0, 9.0, 5)


def test_the_first_batch_is_queued_for_the_worker_on_sqlite(
    default_experiment, scheduled, django_capture_on_commit_callbacks
):
    run = RunFactory(experiment=default_experiment)
    with django_capture_on_commit_callbacks(execute=True):
        run_log_batch(run=run, metrics=[MetricIn("loss", 1.0, 1, 0)])
    if connection.vendor == "postgresql":
        assert scheduled == []
    else:
        assert scheduled == [run.pk]


value = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6),
    st.sampled_from([NAN, INF, -INF, 0.0, -0.0, 1e299, -1e299]),
)
point = st.tuples(st.sampled_from(["a", "b", "c d"]), value, st.integers(0, 4), st.integers(-2, 2))


@on_postgresql
class TestSameAsTheWorker(HypothesisTestCase):
    @settings(max_examples=40, deadline=None)
    @given(st.lists(point, min_size=1, max_size=40))
    def test_any_first_batch_summarizes_as_the_worker_does(self, points):
        experiment = ExperimentFactory()
        run = RunFactory(experiment=experiment)
        batch = [MetricIn(k, v, t, s) for k, v, t, s in points]
        # Duplicates too: a retried point counts once, as the primary key keeps it once.
        with self.captureOnCommitCallbacks(execute=True):
            run_log_batch(run=run, metrics=batch + batch[:3])
        inline = summaries(run)
        assert set(inline) == {k for k, *_ in points}
        summary_rebuild(run=Run.objects.get(pk=run.pk))
        assert same_summaries(inline, summaries(run), points), (inline, summaries(run))

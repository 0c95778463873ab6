"""The write path: validation before any write, idempotent retries, exact latest metrics."""

import math
import threading

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from tests.factories import ExperimentFactory, ParamFactory, RunFactory
from tracking.batch import MetricIn, ParamIn, TagIn
from tracking.errors import InvalidInput
from tracking.models import LatestMetric, Lifecycle, Metric, MetricSummary, Param, Run, RunTag
from tracking.services.ingest import run_log_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(default_experiment):
    return RunFactory(experiment=default_experiment)


def latest(run, key):
    return LatestMetric.objects.get(run=run, key=key)


def test_a_batch_writes_points_params_and_tags(run):
    run_log_batch(
        run=run,
        metrics=[MetricIn("loss", 0.5, 1000, 0), MetricIn("loss", 0.25, 1001, 1)],
        params=[ParamIn("lr", "0.01")],
        tags=[TagIn("team", "rl")],
    )
    assert Metric.objects.filter(run=run, key="loss").count() == 2
    assert Param.objects.get(run=run, key="lr").value == "0.01"
    assert RunTag.objects.get(run=run, key="team").value == "rl"
    assert latest(run, "loss").value == 0.25


def test_retried_batch_writes_nothing_twice(run):
    batch = dict(
        metrics=[MetricIn("loss", 0.5, 1000, 0), MetricIn("loss", 0.5, 1000, 0)],
        params=[ParamIn("lr", "0.01")],
        tags=[TagIn("team", "rl")],
    )
    run_log_batch(run=run, **batch)
    run_log_batch(run=run, **batch)
    assert Metric.objects.filter(run=run).count() == 1
    assert Param.objects.filter(run=run).count() == 1
    assert RunTag.objects.filter(run=run, key="team").count() == 1


def test_each_metric_write_bumps_the_run_seq_and_marks_touched_keys(run):
    run_log_batch(run=run, metrics=[MetricIn("a", 1.0, 10, 5), MetricIn("b", 1.0, 10, 5)])
    run_log_batch(run=run, metrics=[MetricIn("a", 0.0, 5, 1)])
    run.refresh_from_db()
    assert run.metric_seq == 2
    # The older point did not change the latest value, but the key's summary is stale.
    assert (latest(run, "a").value, latest(run, "a").step, latest(run, "a").seq) == (1.0, 5, 2)
    assert latest(run, "b").seq == 1


def test_latest_metric_is_highest_step_then_timestamp_then_value(run):
    run_log_batch(
        run=run,
        metrics=[
            MetricIn("m", 3.0, 100, 2),
            MetricIn("m", 1.0, 200, 2),
            MetricIn("m", 2.0, 200, 2),
            MetricIn("m", 9.0, 999, 1),
        ],
    )
    assert latest(run, "m").value == 2.0
    run_log_batch(run=run, metrics=[MetricIn("m", -1.0, 1, 3)])
    assert latest(run, "m").value == -1.0


def test_the_latest_of_equal_steps_and_times_orders_nan_as_a_stored_zero(run):
    # NaN is stored as 0 with is_nan set, and the latest point orders by what is stored: a NaN
    # beats 0.0 and anything below it, and loses to anything above 0.
    run_log_batch(
        run=run,
        metrics=[
            MetricIn("below", -1.0, 5, 1),
            MetricIn("below", math.nan, 5, 1),
            MetricIn("below", 0.0, 5, 1),
            MetricIn("above", math.nan, 5, 1),
            MetricIn("above", 0.5, 5, 1),
            MetricIn("above", -math.inf, 5, 1),
        ],
    )

    assert math.isnan(latest(run, "below").display_value)
    assert latest(run, "above").value == 0.5


def test_nan_and_infinities_are_stored_and_read_back(run):
    run_log_batch(
        run=run,
        metrics=[
            MetricIn("n", math.nan, 1, 0),
            MetricIn("n", math.nan, 1, 0),
            MetricIn("p", math.inf, 1, 0),
            MetricIn("q", -math.inf, 1, 0),
        ],
    )
    nan_points = Metric.objects.filter(run=run, key="n")
    assert nan_points.count() == 1
    assert math.isnan(nan_points.get().display_value)
    assert math.isnan(latest(run, "n").display_value)
    assert latest(run, "p").value == math.inf
    assert latest(run, "q").value == -math.inf


def test_same_param_value_again_is_a_no_op(run):
    run_log_batch(run=run, params=[ParamIn("lr", "0.01")])
    run_log_batch(run=run, params=[ParamIn("lr", "0.01")])
    assert Param.objects.filter(run=run).count() == 1


def test_changing_a_param_is_refused_and_writes_nothing_else(run):
    ParamFactory(run=run, key="lr", value="0.01")
    with pytest.raises(InvalidInput, match="Changing param values is not allowed"):
        run_log_batch(
            run=run,
            metrics=[MetricIn("loss", 1.0, 1, 0)],
            params=[ParamIn("lr", "0.02")],
            tags=[TagIn("t", "v")],
        )
    assert not Metric.objects.filter(run=run).exists()
    assert not RunTag.objects.filter(run=run, key="t").exists()
    assert Param.objects.get(run=run, key="lr").value == "0.01"


def test_duplicate_param_keys_in_one_batch_are_refused(run):
    with pytest.raises(InvalidInput, match="Duplicate parameter key"):
        run_log_batch(run=run, params=[ParamIn("lr", "1"), ParamIn("lr", "1")])


def test_tags_last_write_wins_inside_a_batch_and_across_batches(run):
    run_log_batch(run=run, tags=[TagIn("t", "1"), TagIn("t", "2")])
    assert RunTag.objects.get(run=run, key="t").value == "2"
    run_log_batch(run=run, tags=[TagIn("t", "3")])
    assert RunTag.objects.get(run=run, key="t").value == "3"


def test_run_name_tag_renames_the_run(run):
    run_log_batch(run=run, tags=[TagIn("mlflow.runName", "renamed")])
    run.refresh_from_db()
    assert run.name == "renamed"


def test_parent_run_tag_sets_the_parent_within_the_project(run, other_project):
    parent = RunFactory(experiment=run.experiment)
    run_log_batch(run=run, tags=[TagIn("mlflow.parentRunId", parent.run_id)])
    run.refresh_from_db()
    assert run.parent == parent


def test_parent_run_tag_ignores_runs_of_other_projects(run, other_project):
    stranger = RunFactory(experiment=other_project.experiments.get())
    run_log_batch(run=run, tags=[TagIn("mlflow.parentRunId", stranger.run_id)])
    run.refresh_from_db()
    assert run.parent is None


def test_logging_to_a_deleted_run_is_refused(run):
    run.lifecycle = Lifecycle.DELETED
    run.save()
    with pytest.raises(InvalidInput, match="deleted"):
        run_log_batch(run=run, metrics=[MetricIn("loss", 1.0, 1, 0)])


@pytest.mark.parametrize(
    "batch, field",
    [
        ({"metrics": [MetricIn("x", 1.0, 1, 0)] * 1001}, "metrics"),
        ({"params": [ParamIn(f"p{i}", "1") for i in range(101)]}, "params"),
        ({"tags": [TagIn(f"t{i}", "1") for i in range(101)]}, "tags"),
        ({"metrics": [MetricIn("x" * 251, 1.0, 1, 0)]}, "metrics[0].key"),
        ({"metrics": [MetricIn("../x", 1.0, 1, 0)]}, "metrics[0].key"),
        ({"metrics": [MetricIn("a//b", 1.0, 1, 0)]}, "metrics[0].key"),
        ({"metrics": [MetricIn("", 1.0, 1, 0)]}, "metrics[0].key"),
        ({"metrics": [MetricIn("a$b", 1.0, 1, 0)]}, "metrics[0].key"),
        ({"metrics": [MetricIn("x", 1.0, 2**63, 0)]}, "metrics[0].timestamp"),
        ({"metrics": [MetricIn("x", 1.0, 1, -(2**63) - 1)]}, "metrics[0].step"),
        ({"params": [ParamIn("p", "v" * 6001)]}, "params[0]"),
        ({"tags": [TagIn("t", "v" * 8001)]}, "tags[0]"),
    ],
)
def test_invalid_batches_are_refused_before_any_write(run, batch, field):
    with pytest.raises(InvalidInput) as info:
        run_log_batch(run=run, **batch)
    assert info.value.field == field
    assert not Metric.objects.filter(run=run).exists()
    assert not Param.objects.filter(run=run).exists()


@pytest.mark.parametrize("first", [True, False], ids=["first batch", "later batch"])
def test_every_batch_marks_its_run_after_commit_and_computes_nothing(
    run, django_capture_on_commit_callbacks, monkeypatch, first
):
    if not first:
        run_log_batch(run=run, metrics=[MetricIn("loss", 0.5, 1, 0)])
    marked = []
    monkeypatch.setattr("tracking.services.ingest.summary_mark_dirty", marked.append)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run_log_batch(run=run, metrics=[MetricIn("loss", 1.0, 2, 1)])
        assert marked == []
    assert len(callbacks) == 1
    assert marked == [run.pk]
    # Summaries are the worker's alone, the run's first batch included.
    assert not MetricSummary.objects.filter(run=run).exists()


def test_a_batch_runs_in_a_fixed_number_of_queries(run, django_assert_max_num_queries):
    metrics = [MetricIn(f"k{i % 50}", float(i), i, i) for i in range(1000)]
    # SQLite caps the parameters of one statement, so 900 points take a few INSERTs there.
    with django_assert_max_num_queries(20):
        run_log_batch(run=run, metrics=metrics[:900], params=[ParamIn("a", "1")], tags=[])


class TestRetriesAreIdempotent(HypothesisTestCase):
    @settings(max_examples=25, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b", "c"]),
                st.floats(allow_nan=True, allow_infinity=True),
                st.integers(0, 5),
                st.integers(-3, 3),
            ),
            max_size=30,
        )
    )
    def test_any_batch_sent_twice_leaves_the_same_rows_and_the_true_latest(self, points):
        run = RunFactory(experiment=ExperimentFactory())
        metrics = [MetricIn(k, v, t, s) for k, v, t, s in points]
        run_log_batch(run=run, metrics=metrics)
        rows = sorted(Metric.objects.filter(run=run).values_list("key", "step", "timestamp"))
        run_log_batch(run=run, metrics=metrics)
        assert sorted(Metric.objects.filter(run=run).values_list("key", "step", "timestamp")) == (
            rows
        )
        for key in {k for k, *_ in points}:
            mine = [m for m in metrics if m.key == key]
            best = max(
                mine,
                key=lambda m: (m.step, m.timestamp, 0.0 if math.isnan(m.value) else m.value),
            )
            stored = LatestMetric.objects.get(run=run, key=key)
            assert (stored.step, stored.timestamp) == (best.step, best.timestamp)


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_for_one_run_neither_deadlock_nor_lose_points(default_experiment):
    run = RunFactory(experiment=default_experiment)
    errors = []

    def worker(n: int) -> None:
        try:
            keys = [f"k{i}" for i in range(10)]
            if n % 2:
                keys.reverse()
            for batch in range(5):
                run_log_batch(
                    run=Run.objects.get(pk=run.pk),
                    metrics=[MetricIn(k, float(n), batch, n * 10 + batch) for k in keys],
                    params=[ParamIn(k, "same") for k in keys],
                    tags=[TagIn(k, str(n)) for k in keys],
                )
        except Exception as exc:  # collected and asserted on below, in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    run.refresh_from_db()
    assert run.metric_seq == 20
    assert Metric.objects.filter(run=run).count() == 4 * 5 * 10
    assert Param.objects.filter(run=run).count() == 10
    assert set(LatestMetric.objects.filter(run=run).values_list("step", flat=True)) == {34}
    assert set(LatestMetric.objects.filter(run=run).values_list("seq", flat=True)) == {20}

"""Rollups of long keys: kept by the summary worker, and charts read them only while fresh."""

import math

import pytest

from tests.factories import RunFactory
from tracking.batch import MetricIn
from tracking.models import MetricRollup, Run
from tracking.selectors import series
from tracking.selectors.series import metric_series
from tracking.services import rollups, summaries
from tracking.services.ingest import run_log_batch
from tracking.services.summaries import summary_compute

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def short_rollups(monkeypatch):
    """Rollups from 500 points on, in blocks of 10 steps, so tests stay small; no chart view's
    blocks (tests/frontend/test_charts.py has those)."""
    monkeypatch.setattr(rollups, "ROLLUP_MIN_POINTS", 500)
    monkeypatch.setattr(rollups, "CHART_BLOCK_MIN_POINTS", 10**12)
    monkeypatch.setattr(rollups, "ROLLUP_STEPS", 10)
    monkeypatch.setattr(series, "ROLLUP_STEPS", 10)


@pytest.fixture
def run(default_experiment) -> Run:
    return RunFactory(experiment=default_experiment)


def value(step: int) -> float:
    return math.sin(step / 50) + (step % 7) / 7


def log_steps(run: Run, steps, key: str = "loss", at=lambda step: 1000 + step) -> None:
    points = [MetricIn(key, value(s), at(s), s) for s in steps]
    for start in range(0, len(points), 1000):  # the largest batch there is
        run_log_batch(run=run, metrics=points[start : start + 1000])


def raw_series(run: Run, **options) -> list:
    """The series computed from the points themselves, as without rollups."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(series, "ROLLUP_STEPS", 10**12)
        return metric_series(run=run, key="loss", **options)


def test_the_worker_rolls_up_long_keys_only(run):
    log_steps(run, range(2000))
    log_steps(run, range(100), key="short")

    summary_compute(run_pk=run.pk)

    blocks = MetricRollup.objects.filter(run=run).order_by("block")
    assert {b.key for b in blocks} == {"loss"} and len(blocks) == 200
    first = blocks[0]
    expected = [value(s) for s in range(10)]
    assert (first.count, first.min, first.max) == (10, min(expected), max(expected))
    assert (first.first_step, first.last_step, first.last_value) == (0, 9, value(9))


def test_a_chart_from_rollups_equals_the_chart_from_the_points(run, django_assert_num_queries):
    log_steps(run, range(5000))
    log_steps(run, [1234], at=lambda step: 999_999)  # a later point at the same step wins
    run_log_batch(run=run, metrics=[MetricIn("loss", 50.0, 5, 4321)])  # a spike
    run_log_batch(run=run, metrics=[MetricIn("loss", math.nan, 6, 4000)])  # left out
    summary_compute(run_pk=run.pk)

    with django_assert_num_queries(3):
        rolled = metric_series(run=run, key="loss", points=100)

    assert rolled == raw_series(run, points=100)
    assert len(rolled) == 100 and sum(b.count for b in rolled) == 5002
    assert max(b.max for b in rolled) == 50.0


def test_unaligned_buckets_span_whole_blocks_and_stay_exact(run):
    log_steps(run, range(3, 2990))
    summary_compute(run_pk=run.pk)

    buckets = metric_series(run=run, key="loss", points=37)

    assert len(buckets) <= 37
    assert sum(b.count for b in buckets) == 2987
    edges = [0] + [b.step + 1 for b in buckets]
    for bucket, start, end in zip(buckets, edges, edges[1:], strict=False):
        values = [value(s) for s in range(max(start, 3), end)]
        assert (bucket.min, bucket.max, bucket.last) == (min(values), max(values), values[-1])
        assert bucket.count == len(values)


def test_a_write_after_the_rollup_is_shown_at_once_from_the_points(run):
    log_steps(run, range(2000))
    summary_compute(run_pk=run.pk)

    run_log_batch(run=run, metrics=[MetricIn("loss", 1e6, 7, 1500)])

    buckets = metric_series(run=run, key="loss", points=50)
    assert max(b.max for b in buckets) == 1e6
    assert buckets == raw_series(run, points=50)


def test_zoomed_time_and_negative_step_charts_read_the_points(run):
    log_steps(run, range(-50, 2000))
    summary_compute(run_pk=run.pk)

    for options in (
        {"points": 20},
        {"points": 20, "step_min": 100, "step_max": 900},
        {"points": 20, "x": "time"},
    ):
        assert metric_series(run=run, key="loss", **options) == raw_series(run, **options)


def test_a_fine_chart_of_a_rolled_up_key_keeps_its_resolution(run):
    log_steps(run, range(2000))
    summary_compute(run_pk=run.pk)

    buckets = metric_series(run=run, key="loss", points=1000)

    assert len(buckets) == 1000 and buckets == raw_series(run, points=1000)


def test_rollups_go_with_their_run(run):
    log_steps(run, range(600))
    summary_compute(run_pk=run.pk)

    run.delete()

    assert not MetricRollup.objects.exists()


def rollup_rows(run: Run) -> dict:
    fields = ("count", "min", "max", "first_step", "last_step", "last_timestamp", "last_value")
    return {
        r["block"]: r for r in MetricRollup.objects.filter(run=run).values("block", "seq", *fields)
    }


def test_a_refresh_rewrites_only_the_blocks_new_points_fall_in(run):
    log_steps(run, range(2000))
    summary_compute(run_pk=run.pk)
    first = rollup_rows(run)
    old_seq = first[0]["seq"]

    log_steps(run, range(2000, 2015))  # the end of the key: a new and a half-full block
    log_steps(run, [1234], at=lambda step: 999_999)  # a later point at an old step wins
    run_log_batch(run=run, metrics=[MetricIn("loss", math.nan, 5, 555)])  # NaN: no block
    log_steps(run, range(-3, 0))  # block 0 holds steps -9 to 9 (division truncates)
    summary_compute(run_pk=run.pk)

    after = rollup_rows(run)
    rewritten = {block for block, row in after.items() if row["seq"] != old_seq}
    assert rewritten == {0, 123, 200, 201}
    assert after[0]["count"] == 13 and after[0]["first_step"] == -3
    assert after[123]["count"] == 11 and after[201]["count"] == 5
    assert {b: r for b, r in after.items() if b not in rewritten} == {
        b: r for b, r in first.items() if b not in rewritten
    }
    # The same rows as rollups written whole from the points.
    MetricRollup.objects.filter(run=run).delete()
    rollups.rollup_refresh(run_pk=run.pk, key="loss", seq=after[0]["seq"], width=10)
    whole = rollup_rows(run)
    drop_seq = lambda rows: {b: {**r, "seq": 0} for b, r in rows.items()}  # noqa: E731
    assert drop_seq(after) == drop_seq(whole)


def test_charts_read_incrementally_refreshed_rollups(run, django_assert_num_queries):
    log_steps(run, range(3000))
    summary_compute(run_pk=run.pk)
    log_steps(run, range(3000, 4000))
    summary_compute(run_pk=run.pk)
    log_steps(run, range(4000, 4500))
    summary_compute(run_pk=run.pk)

    assert series._step_bounds(run=run, key="loss") == (0, 4499, True)  # fresh: read
    with django_assert_num_queries(3):
        rolled = metric_series(run=run, key="loss", points=45)

    assert rolled == raw_series(run, points=45)


def test_rebuilding_summaries_rewrites_rollups_whole(run):
    log_steps(run, range(1000))
    summary_compute(run_pk=run.pk)
    # A point that came in outside the app has the column's default seq, 0.
    run.metrics.filter(key="loss", step=10).update(value=1e9, seq=0)

    summaries.summary_rebuild(run=run)

    assert MetricRollup.objects.get(run=run, key="loss", block=1).max == 1e9

"""The chart view's blocks: the worker keeps them for long keys of runs that have stopped, and a
chart of many runs reads them instead of the points, with the same lines as from the points,
only while they are fresh and only for runs without NaN."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from accounts.access import Actor
from tests.factories import RunFactory
from tracking.batch import MetricIn
from tracking.models import MetricRollup, Run, RunStatus
from tracking.selectors import charts
from tracking.selectors.charts import _bucket_rows, runs_series
from tracking.services import rollups
from tracking.services.ingest import run_log_batch
from tracking.services.runs import run_update, run_update_by_id
from tracking.services.summaries import summary_compute_runs, summary_drain

pytestmark = pytest.mark.django_db

BLOCK = 4


def small_blocks(patch: pytest.MonkeyPatch) -> None:
    """Blocks of 4 steps from 8 points on, so examples stay small."""
    patch.setattr(rollups, "CHART_BLOCK_STEPS", BLOCK)
    patch.setattr(charts, "CHART_BLOCK_STEPS", BLOCK)
    patch.setattr(rollups, "CHART_BLOCK_MIN_POINTS", 8)


@pytest.fixture(autouse=True)
def blocks_of_four(monkeypatch):
    small_blocks(monkeypatch)


def log(run: Run, points, key: str = "loss") -> None:
    run_log_batch(run=run, metrics=[MetricIn(key, v, t, s) for s, t, v in points])


def from_points(runs: list[Run], key: str, lo: int, width: int) -> dict[int, tuple[list, list]]:
    """The runs' lines on the grid, computed from their points."""
    rows = _bucket_rows(
        run_pks=[run.pk for run in runs],
        key=key,
        x="step",
        lo=lo,
        width=width,
        x_min=None,
        x_max=None,
        last_in_scan=connection.vendor == "postgresql",
    )
    lines: dict[int, tuple[list, list]] = {}
    for run_pk, _bucket, _nan_at, end, value in rows:
        if end is not None:
            xs, lasts = lines.setdefault(run_pk, ([], []))
            xs.append(end)
            lasts.append(value)
    return lines


def lines_of(series) -> dict[int, tuple[list, list]]:
    return {pk: (found.x, found.last) for pk, found in series.items() if found.x}


point = st.tuples(
    st.integers(0, 60),  # step
    st.integers(0, 3),  # timestamp: points often share a step
    st.floats(-10, 10),
)


class TestBlocksAndPoints(HypothesisTestCase):
    @settings(max_examples=15, deadline=None)
    @given(
        runs=st.lists(
            # Unique (step, timestamp), so every run has the 8 points that get blocks.
            st.lists(point, min_size=8, max_size=40, unique_by=lambda p: (p[0], p[1])),
            min_size=1,
            max_size=3,
        ),
        buckets=st.integers(1, 12),
    )
    def test_a_chart_from_blocks_equals_the_chart_from_the_points(self, runs, buckets):
        with pytest.MonkeyPatch.context() as patch:
            small_blocks(patch)
            made = []
            for points in runs:
                run = RunFactory(start_time=0, status=RunStatus.FINISHED)
                # Two writes: the second refreshes only the blocks its points fall in.
                half = len(points) // 2
                log(run, points[:half])
                summary_compute_runs(run_pks=[run.pk])
                log(run, points[half:])
                made.append(run)
            summary_compute_runs(run_pks=[run.pk for run in made])

            with CaptureQueriesContext(connection) as queries:
                series, grid = runs_series(runs=made, key="loss", points=buckets)

            steps = [s for points in runs for s, _, _ in points]
            width = -(-(max(steps) - min(steps) + 1) // buckets)
            from_blocks = not [q for q in queries.captured_queries if "AS bucket" in q["sql"]]
            assert from_blocks == (2 * width >= BLOCK)
            assert len(series) == len(made)
            for found, points in zip(series.values(), runs, strict=True):
                assert len(found.x) <= min(buckets, len({p[0] for p in points}))
            assert lines_of(series) == from_points(made, "loss", grid.lo, grid.width)


def hundred_steps(run: Run, key: str = "loss", *, nan_at: int | None = None) -> None:
    log(
        run,
        [(s, 1000 + s, math.nan if s == nan_at else math.sin(s / 7) + run.pk) for s in range(100)],
        key=key,
    )


def summarised_runs(experiment, count: int) -> list[Run]:
    """Finished runs of 100 steps of "loss", summarised, so they have their chart blocks."""
    made = [
        RunFactory(experiment=experiment, start_time=0, status=RunStatus.FINISHED)
        for _ in range(count)
    ]
    for run in made:
        hundred_steps(run)
    summary_compute_runs(run_pks=[run.pk for run in made])
    return made


def test_a_wide_grid_reads_the_blocks_not_the_points(default_experiment):
    made = summarised_runs(default_experiment, 5)

    with CaptureQueriesContext(connection) as queries:
        series, grid = runs_series(runs=made, key="loss", points=10)

    assert (grid.lo, grid.width) == (0, 12)  # 10 steps a bucket, widened to whole blocks
    assert not [q for q in queries.captured_queries if "AS bucket" in q["sql"]]
    assert lines_of(series) == from_points(made, "loss", 0, 12)
    assert all(found.x[-1] == 99 for found in series.values())


def test_a_narrow_grid_reads_the_points(default_experiment):
    made = summarised_runs(default_experiment, 2)

    with CaptureQueriesContext(connection) as queries:
        _, grid = runs_series(runs=made, key="loss", points=100)

    assert (grid.lo, grid.width) == (0, 1)
    assert [q for q in queries.captured_queries if "AS bucket" in q["sql"]]


def test_a_write_after_the_blocks_is_drawn_at_once_from_the_points(default_experiment):
    fresh, written = (
        RunFactory(experiment=default_experiment, start_time=0, status=RunStatus.FINISHED)
        for _ in range(2)
    )
    for run in (fresh, written):
        hundred_steps(run)
    summary_compute_runs(run_pks=[fresh.pk, written.pk])
    log(written, [(150, 5000, 42.0)])  # the worker has not seen it yet

    assert set(charts.fresh_chart_blocks(run_pks=[fresh.pk, written.pk], key="loss")) == {fresh.pk}
    series, grid = runs_series(runs=[fresh, written], key="loss", points=10)

    assert series[written.pk].x[-1] == 150 and series[written.pk].last[-1] == 42.0
    assert lines_of(series) == from_points([fresh, written], "loss", grid.lo, grid.width)


def test_a_run_with_nan_is_read_from_its_points_and_keeps_its_gap(default_experiment):
    clean, broken = (
        RunFactory(experiment=default_experiment, start_time=0, status=RunStatus.FINISHED)
        for _ in range(2)
    )
    hundred_steps(clean)
    hundred_steps(broken, nan_at=50)
    summary_compute_runs(run_pks=[clean.pk, broken.pk])
    assert MetricRollup.objects.filter(run=broken, width=BLOCK).exists()

    assert set(charts.fresh_chart_blocks(run_pks=[clean.pk, broken.pk], key="loss")) == {clean.pk}
    series, _ = runs_series(runs=[clean, broken], key="loss", points=10)

    assert series[broken.pk].nan_x == [50] and series[clean.pk].nan_x == []


def test_negative_steps_are_read_from_the_points(default_experiment):
    run = RunFactory(experiment=default_experiment, start_time=0, status=RunStatus.FINISHED)
    log(run, [(s, 1000, float(s)) for s in range(-50, 50)])
    summary_compute_runs(run_pks=[run.pk])

    with CaptureQueriesContext(connection) as queries:
        series, grid = runs_series(runs=[run], key="loss", points=10)

    assert (grid.lo, grid.width) == (-50, 10)
    assert [q for q in queries.captured_queries if "AS bucket" in q["sql"]]
    assert series[run.pk].x[0] == -41


def test_blocks_are_kept_for_long_keys_of_stopped_runs(default_experiment):
    run = RunFactory(experiment=default_experiment, start_time=0, status=RunStatus.FINISHED)
    hundred_steps(run)
    hundred_steps(run, key="short")
    log(run, [(s, 1000, 1.0) for s in range(7)], key="tiny")

    summary_compute_runs(run_pks=[run.pk])

    kept = {(r.key, r.width) for r in MetricRollup.objects.filter(run=run)}
    assert kept == {("loss", BLOCK), ("short", BLOCK)}  # not "tiny": 7 points
    assert MetricRollup.objects.filter(run=run, key="loss").count() == 25


def test_a_run_gets_its_blocks_when_it_stops(
    default_experiment, alice, alice_token, django_capture_on_commit_callbacks
):
    by_token = Actor(user=alice, token=alice_token[0])
    for finish in (
        lambda run: run_update(actor=Actor(user=alice), run=run, status=RunStatus.FINISHED),
        lambda run: run_update_by_id(actor=by_token, run_id=run.run_id, status="KILLED"),
    ):
        run = RunFactory(experiment=default_experiment, start_time=0)
        hundred_steps(run)
        summary_compute_runs(run_pks=[run.pk])
        # While it runs, its blocks would lag its writes: the chart reads its points.
        assert not MetricRollup.objects.filter(run=run).exists()

        with django_capture_on_commit_callbacks(execute=True):
            finish(run)
        summary_drain()

        assert MetricRollup.objects.filter(run=run, width=BLOCK).count() == 25
        assert set(charts.fresh_chart_blocks(run_pks=[run.pk], key="loss")) == {run.pk}

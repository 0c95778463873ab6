"""Downsampled chart series: computed in SQL, spikes survive, and the JSON endpoint checks input."""

import pytest
from django.urls import reverse

from tests.frontend.seed import T0, add_metric, make_run
from tracking.models import Metric
from tracking.selectors.series import metric_series

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(default_experiment, alice):
    return make_run(default_experiment, name="long", user=alice, start=T0)


@pytest.fixture
def long_run(run):
    values = [1.0] * 10_000
    values[4321] = 99.0  # a spike
    values[7000] = -5.0  # a dip
    add_metric(run, "loss", values, summarize=False)
    return run


def test_a_long_history_becomes_at_most_the_requested_buckets(long_run, django_assert_num_queries):
    with django_assert_num_queries(3):
        buckets = metric_series(run=long_run, key="loss", points=100, x="step")
    assert 90 <= len(buckets) <= 100
    assert sum(b.count for b in buckets) == 10_000
    assert [b.x for b in buckets] == sorted(b.x for b in buckets)


def test_spikes_and_dips_survive_downsampling(long_run):
    buckets = metric_series(run=long_run, key="loss", points=50, x="step")
    assert max(b.max for b in buckets) == 99.0
    assert min(b.min for b in buckets) == -5.0
    spiky = next(b for b in buckets if b.max == 99.0)
    assert spiky.last == 1.0  # the bucket's last point is not the spike


def test_a_short_history_is_returned_point_by_point(run):
    add_metric(run, "acc", [0.1, 0.5, 0.3], summarize=False)
    buckets = metric_series(run=run, key="acc", points=1000, x="step")
    assert [(b.step, b.last, b.min, b.max, b.count) for b in buckets] == [
        (0, 0.1, 0.1, 0.1, 1),
        (1, 0.5, 0.5, 0.5, 1),
        (2, 0.3, 0.3, 0.3, 1),
    ]


def test_time_and_relative_axes(run):
    add_metric(run, "acc", [0.1, 0.5], summarize=False)
    time = metric_series(run=run, key="acc", points=10, x="time")
    relative = metric_series(run=run, key="acc", points=10, x="relative")
    assert [b.x for b in time] == [T0, T0 + 1000]
    assert [b.x for b in relative] == [0, 1000]


def test_a_zoomed_range_gets_finer_buckets(long_run):
    buckets = metric_series(
        run=long_run, key="loss", points=100, x="step", step_min=4300, step_max=4349
    )
    assert [b.step for b in buckets] == list(range(4300, 4350))
    assert max(b.max for b in buckets) == 99.0


def test_nan_points_are_left_out_of_charts(run):
    add_metric(run, "acc", [0.1, float("nan"), 0.3], summarize=False)
    assert [b.step for b in metric_series(run=run, key="acc", points=10)] == [0, 2]


def test_a_missing_key_is_an_empty_series(run):
    assert metric_series(run=run, key="nope", points=10) == []


def test_duplicate_steps_keep_the_latest_point_as_last(run):
    Metric.objects.bulk_create(
        [
            Metric(run=run, key="k", step=0, timestamp=T0, value=5.0),
            Metric(run=run, key="k", step=0, timestamp=T0 + 5, value=2.0),
        ]
    )
    (bucket,) = metric_series(run=run, key="k", points=10)
    assert (bucket.last, bucket.min, bucket.max, bucket.count) == (2.0, 2.0, 5.0, 2)


def test_bad_arguments_are_refused(run):
    with pytest.raises(ValueError):
        metric_series(run=run, key="k", points=0)
    with pytest.raises(ValueError):
        metric_series(run=run, key="k", points=10, x="epoch")


@pytest.fixture
def series_url(project, run):
    return reverse("run_series", kwargs={"slug": project.slug, "run_id": run.run_id})


def test_the_series_endpoint_returns_columns(client, alice, series_url, long_run):
    client.force_login(alice)
    data = client.get(series_url, {"key": "loss", "points": "20", "x": "step"}).json()
    assert data["key"] == "loss" and data["x_axis"] == "step"
    assert len(data["x"]) == len(data["last"]) == len(data["min"]) == len(data["max"]) <= 20
    assert max(data["max"]) == 99.0


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"key": "loss", "x": "epoch"},
        {"key": "loss", "points": "many"},
        {"key": "loss", "points": "0"},
        {"key": "loss", "points": "100000"},
        {"key": "loss", "step_min": "x"},
    ],
)
def test_the_series_endpoint_refuses_bad_input_with_400(client, alice, series_url, params):
    client.force_login(alice)
    response = client.get(series_url, params)
    assert response.status_code == 400
    assert response.json()["error"]


def test_bob_reads_series_and_charlie_gets_404(client, bob, charlie, series_url, long_run):
    client.force_login(bob)
    assert client.get(series_url, {"key": "loss"}).status_code == 200
    client.force_login(charlie)
    assert client.get(series_url, {"key": "loss"}).status_code == 404


def test_the_series_endpoint_needs_a_session(client, series_url):
    assert client.get(series_url, {"key": "loss"}).status_code == 302

"""NaN points: counted on the run's overview and the metric page, and gaps in the chart data."""

import math

import pytest
from django.urls import reverse

from tests.frontend.seed import T0, add_metric, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(default_experiment, alice):
    run = make_run(default_experiment, name="nan-run", user=alice, start=T0)
    values = [float(i) for i in range(300)]
    values[100] = values[101] = values[200] = math.nan
    add_metric(run, "loss", values)
    add_metric(run, "clean", [1.0, 2.0])
    return run


def test_the_metric_page_counts_nan_points(client, alice, run):
    client.force_login(alice)
    url = reverse("metric", kwargs={"slug": "alpha", "run_id": run.run_id, "key": "loss"})
    html = client.get(url).content.decode()
    assert '<td id="nan-count">3</td>' in html
    assert "3 of the 300 points are NaN" in html


def test_the_overview_counts_nan_points(client, alice, run):
    client.force_login(alice)
    html = client.get(reverse("run", kwargs={"slug": "alpha", "run_id": run.run_id})).content
    row = html.decode().split('data-key="loss"')[1].split("</tr>")[0]
    assert '<td class="num">3</td>' in row


@pytest.mark.parametrize("x, expected", [("step", [100, 101, 200]), ("relative", [100_000])])
def test_the_series_says_where_nan_breaks_the_line(client, alice, run, x, expected):
    client.force_login(alice)
    url = reverse("run_series", kwargs={"slug": "alpha", "run_id": run.run_id})
    data = client.get(url, {"key": "loss", "x": x, "points": 1000}).json()
    assert data["nan_x"][: len(expected)] == expected
    assert not any(v != v for v in data["last"])  # NaN itself is never sent as a value


def test_a_key_without_nan_has_no_gaps(client, alice, run):
    client.force_login(alice)
    url = reverse("run_series", kwargs={"slug": "alpha", "run_id": run.run_id})
    response = client.get(url, {"key": "clean"})
    assert response.json()["nan_x"] == []

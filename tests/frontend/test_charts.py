"""The chart view of an experiment: the runs of the table's query, one grid, bounded queries."""

import json
import math

import pytest
from django.urls import reverse

from tests.frontend.seed import T0, add_metric, make_run, seed_experiment
from tracking.models import RunTag
from tracking.selectors.charts import runs_series

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(project, default_experiment, alice):
    return seed_experiment(default_experiment, alice)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def charts_url(experiment, **query) -> str:
    from urllib.parse import urlencode

    url = reverse(
        "experiment_charts",
        kwargs={"slug": experiment.project.slug, "experiment_id": experiment.pk},
    )
    return url + ("?" + urlencode(query) if query else "")


def series_url(experiment, **query) -> str:
    from urllib.parse import urlencode

    url = reverse(
        "experiment_charts_series",
        kwargs={"slug": experiment.project.slug, "experiment_id": experiment.pk},
    )
    return url + "?" + urlencode(query, doseq=True)


def spec_of(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="charts-spec" type="application/json">') + len(
        '<script id="charts-spec" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def sweep(experiment, user, n=8):
    """A parent with n child trials, each with params, a tag and three metrics, and a NaN."""
    parent = make_run(experiment, name="sweep", user=user, start=T0, params={"epochs": "10"})
    trials = []
    for i in range(n):
        trial = make_run(
            experiment,
            name=f"trial-{i}",
            user=user,
            start=T0 + 1000 * (i + 1),
            parent=parent,
            params={"lr": str(10 ** -(i % 4)), "optimizer": "adam" if i % 2 else "sgd"},
        )
        RunTag.objects.create(run=trial, key="team", value="rl" if i % 2 else "cv")
        for key in ("loss", "val_loss", "accuracy"):
            values = [1 / (s + 1 + i) for s in range(30)]
            if key == "loss" and i == 0:
                values[10] = math.nan
            add_metric(trial, key, values)
        trials.append(trial)
    return parent, trials


def test_runs_share_one_grid_and_keep_their_nan_as_a_gap(
    default_experiment, alice, django_assert_max_num_queries
):
    _, trials = sweep(default_experiment, alice, n=3)
    with django_assert_max_num_queries(4):
        series, grid = runs_series(runs=trials, key="loss", points=10, x="step")
    assert grid.lo == 0 and grid.width == 3
    assert set(series) == {t.pk for t in trials}
    first = series[trials[0].pk]
    assert first.nan_x == [10]
    # The bucket holding the NaN still has its real points' latest value.
    assert first.x == [2, 5, 8, 11, 14, 17, 20, 23, 26, 29]
    assert first.last[3] == 1 / 12
    assert all(not math.isnan(v) for v in first.last)
    assert series[trials[1].pk].x == [2, 5, 8, 11, 14, 17, 20, 23, 26, 29]
    assert series[trials[1].pk].last[0] == 1 / 4
    assert series[trials[1].pk].nan_x == []


def test_relative_axis_measures_from_each_runs_start(default_experiment, alice):
    _, trials = sweep(default_experiment, alice, n=2)
    series, _ = runs_series(runs=trials, key="accuracy", points=1000, x="relative")
    for trial in trials:
        assert series[trial.pk].x[:3] == [0, 1000, 2000]


def test_the_query_count_does_not_grow_with_the_runs(
    alice_client, default_experiment, alice, django_assert_max_num_queries
):
    sweep(default_experiment, alice, n=3)
    url = series_url(default_experiment, key="loss")
    with django_assert_max_num_queries(12) as few:
        assert alice_client.get(url).status_code == 200
    sweep(default_experiment, alice, n=12)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = alice_client.get(url)
    assert len(response.json()["charts"][0]["runs"]) == 15


def test_the_page_costs_the_same_with_more_runs(
    alice_client, default_experiment, alice, django_assert_max_num_queries
):
    sweep(default_experiment, alice, n=3)
    url = charts_url(default_experiment, group_by="params.lr")
    with django_assert_max_num_queries(14) as few:
        assert alice_client.get(url).status_code == 200
    sweep(default_experiment, alice, n=12)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert alice_client.get(url).status_code == 200


def test_the_page_lists_every_run_with_a_colour_and_a_chart_per_metric(
    alice_client, default_experiment, alice
):
    parent, trials = sweep(default_experiment, alice, n=20)
    response = alice_client.get(charts_url(default_experiment))
    spec = spec_of(response)
    assert {r["id"] for r in spec["runs"]} == {parent.run_id} | {t.run_id for t in trials}
    # Colour indexes are the runs' places by start time: 21 runs, 21 different indexes.
    assert sorted(r["colour"] for r in spec["runs"]) == list(range(21))
    assert spec["keys"] == ["accuracy", "loss", "val_loss"]
    html = response.content.decode()
    for key in spec["keys"]:
        assert f'data-key="{key}"' in html
    assert "<script>" not in html.replace('<script id="charts-spec"', "")


def test_the_charts_use_the_tables_filter_and_sort(alice_client, default_experiment, alice):
    _, trials = sweep(default_experiment, alice, n=6)
    query = {"filter": "params.optimizer = 'adam'", "sort": "-metrics.accuracy"}
    spec = spec_of(alice_client.get(charts_url(default_experiment, **query)))
    adam = [t for t in trials if t.params.get(key="optimizer").value == "adam"]
    # Highest accuracy first: the trial with the smallest i has the highest values.
    assert [r["id"] for r in spec["runs"]] == [t.run_id for t in adam]
    data = alice_client.get(spec["seriesUrl"] + "&key=loss").json()
    assert {r["run_id"] for r in data["charts"][0]["runs"]} == {t.run_id for t in adam}


def test_grouping_by_a_param_labels_every_run_with_its_value(
    alice_client, default_experiment, alice
):
    parent, trials = sweep(default_experiment, alice, n=4)
    spec = spec_of(alice_client.get(charts_url(default_experiment, group_by="params.lr")))
    groups = {r["id"]: r["group"] for r in spec["runs"]}
    assert groups[trials[0].run_id] == "1"
    assert groups[trials[1].run_id] == "0.1"
    assert groups[parent.run_id] == "(none)"
    spec = spec_of(alice_client.get(charts_url(default_experiment, group_by="tags.team")))
    assert {r["group"] for r in spec["runs"]} == {"rl", "cv", "(none)"}


def test_the_table_links_to_the_charts_with_its_filter(alice_client, default_experiment, runs):
    url = reverse("experiment", kwargs={"slug": "alpha", "experiment_id": default_experiment.pk})
    html = alice_client.get(url + "?filter=params.lr+%3D+%270.01%27").content.decode()
    assert 'id="charts-view-link"' in html
    assert "/charts/?filter=params.lr" in html
    # And back: the charts' Table link keeps the filter and the table's columns.
    charts = alice_client.get(
        charts_url(default_experiment, filter="params.lr = '0.01'", col="params.lr")
    )
    assert "?filter=params.lr+%3D+%270.01%27&amp;col=params.lr" in charts.content.decode()


def test_bad_input_gets_a_clear_400(alice_client, default_experiment, runs):
    for query, message in (
        ({}, "key"),
        ({"key": "loss", "x": "epoch"}, "'x'"),
        ({"key": "loss", "points": "0"}, "points"),
        ({"key": "loss", "points": "many"}, "points"),
        ({"key": "loss", "filter": "metrics.loss >> 1"}, "position"),
        ({"key": ["", "loss"]}, "every metric key"),
        ({"key": [f"k{i}" for i in range(21)]}, "at most 20 keys"),
    ):
        response = alice_client.get(series_url(default_experiment, **query))
        assert response.status_code == 400, query
        assert message in response.json()["error"]
    page = alice_client.get(charts_url(default_experiment, filter="metrics.loss >> 1"))
    assert page.status_code == 200 and b'id="filter-error"' in page.content


def test_charlie_gets_404_and_bob_reads_but_cannot_post(
    client, charlie, bob, other_project, default_experiment, runs
):
    client.force_login(charlie)
    assert client.get(charts_url(default_experiment)).status_code == 404
    assert client.get(series_url(default_experiment, key="loss")).status_code == 404
    client.force_login(bob)
    assert client.get(charts_url(default_experiment)).status_code == 200
    assert client.get(series_url(default_experiment, key="loss")).status_code == 200
    assert client.post(charts_url(default_experiment)).status_code == 405


def test_a_zoomed_range_is_fetched_in_finer_buckets(alice_client, default_experiment, alice):
    sweep(default_experiment, alice, n=2)
    whole = alice_client.get(series_url(default_experiment, key="accuracy", points=5)).json()
    assert len(whole["charts"][0]["runs"][0]["x"]) == 5
    zoomed = alice_client.get(
        series_url(default_experiment, key="accuracy", points=5, x_min=10, x_max=14)
    ).json()
    assert zoomed["charts"][0]["runs"][0]["x"] == [10, 11, 12, 13, 14]
    spec = spec_of(
        alice_client.get(
            charts_url(default_experiment, xmin=10, xmax=14, combine="loss:val_loss", live="x")
        )
    )
    assert spec["zoom"] == [10, 14]
    assert spec["combine"] == [["loss", "val_loss"]]
    assert spec["live"] is False  # every run has finished


def test_the_charts_that_come_into_view_together_are_one_request(
    alice_client, default_experiment, alice, django_assert_max_num_queries
):
    _, trials = sweep(default_experiment, alice, n=3)
    with django_assert_max_num_queries(12) as one:
        alice_client.get(series_url(default_experiment, key="loss"))
    keys = ["loss", "val_loss", "accuracy", "missing", "loss"]
    # The session, the experiment and the runs are read once; each key adds its own reads.
    per_key = len(one.captured_queries) - 5
    with django_assert_max_num_queries(5 + 4 * per_key):
        data = alice_client.get(series_url(default_experiment, key=keys)).json()
    assert [c["key"] for c in data["charts"]] == ["loss", "val_loss", "accuracy", "missing"]
    assert data["x_axis"] == "step"
    for chart in data["charts"][:3]:
        assert {r["run_id"] for r in chart["runs"]} == {t.run_id for t in trials}
        assert chart["grid"] == {"lo": 0, "width": 1}
    assert data["charts"][3] == {"key": "missing", "grid": None, "runs": []}


def _strict_json(body: bytes):
    """JSON as a browser's JSON.parse reads it: `NaN` and `Infinity` are syntax errors."""

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(body, parse_constant=refuse)


def test_a_diverged_run_is_valid_json_with_its_infinities_as_gaps(
    alice_client, default_experiment, alice
):
    run = make_run(default_experiment, name="diverged", user=alice, start=T0)
    add_metric(run, "loss", [1.0, math.inf, 0.5, -math.inf, 0.25])
    response = alice_client.get(series_url(default_experiment, key="loss", points=400))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    (chart,) = _strict_json(response.content)["charts"]
    (series,) = chart["runs"]
    assert series["x"] == [0, 1, 2, 3, 4]
    assert series["last"] == [1.0, None, 0.5, None, 0.25]

    url = reverse("run_series", kwargs={"slug": "alpha", "run_id": run.run_id}) + "?key=loss"
    response = alice_client.get(url)
    assert response.status_code == 200
    data = _strict_json(response.content)
    assert data["last"] == data["min"] == data["max"] == [1.0, None, 0.5, None, 0.25]
    assert data["count"] == [1, 1, 1, 1, 1]

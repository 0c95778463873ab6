"""The compare page: params, metrics and tags side by side, and the data its plots draw."""

import math

import pytest
from django.urls import reverse

from tests.frontend.seed import T0, add_metric, make_run
from tracking.models import RunTag

pytestmark = pytest.mark.django_db


def trial(experiment, user, i, *, parent=None, accuracy=None):
    run = make_run(
        experiment,
        name=f"trial-{i}",
        user=user,
        start=T0 + i * 1000,
        parent=parent,
        params={"lr": str(10**-i), "optimizer": "adam", "layers": str(2 + i % 2)},
    )
    RunTag.objects.create(run=run, key="team", value="rl")
    RunTag.objects.create(run=run, key="seed", value=str(i))
    add_metric(run, "accuracy", accuracy or [0.1 * i, 0.5 + 0.1 * i, 0.2 + 0.1 * i])
    add_metric(run, "loss", [1.0, 0.5])
    return run


@pytest.fixture
def trials(default_experiment, alice):
    parent = make_run(default_experiment, name="sweep", user=alice)
    return [trial(default_experiment, alice, i, parent=parent) for i in range(1, 4)]


def compare(client, runs, **query):
    url = reverse("compare", kwargs={"slug": "alpha"})
    return client.get(url, {"runs": ",".join(r.run_id for r in runs), **query})


def test_metrics_show_latest_min_and_max_and_tags_sit_side_by_side(client, alice, trials):
    client.force_login(alice)
    response = compare(client, trials)
    rows = {row["key"]: row for row in response.context["metric_rows"]}
    first = rows["accuracy"]["cells"][0]
    assert (first.latest_value, first.min, first.max) == (0.30000000000000004, 0.1, 0.6)
    assert rows["accuracy"]["differs"] and not rows["loss"]["differs"]
    tags = {row["key"]: row for row in response.context["tag_rows"]}
    assert tags["seed"]["cells"] == ["1", "2", "3"] and not tags["team"]["differs"]
    html = response.content.decode()
    assert 'id="compare-metrics"' in html and 'id="compare-tags"' in html


def test_only_differences_hides_equal_rows_in_every_table(client, alice, trials):
    client.force_login(alice)
    response = compare(client, trials, diff="1")
    assert [r["key"] for r in response.context["param_rows"]] == ["layers", "lr"]
    assert [r["key"] for r in response.context["metric_rows"]] == ["accuracy"]
    assert [r["key"] for r in response.context["tag_rows"]] == ["seed"]
    # Constant params are no parallel axes either.
    assert response.context["compare_data"]["parallel"]["params"] == ["layers", "lr"]


def test_nan_is_no_value_not_zero(client, alice, default_experiment, trials):
    broken = trial(default_experiment, alice, 9, accuracy=[0.5, math.nan])
    client.force_login(alice)
    response = compare(client, [*trials, broken])
    data = response.context["compare_data"]
    assert data["runs"][-1]["metrics"]["accuracy"] is None
    assert "NaN" in response.content.decode()  # the table says so
    assert "NaN," not in response.content.decode().split('id="compare-data"')[1]


def test_the_page_costs_the_same_for_more_runs(
    client, alice, default_experiment, trials, django_assert_max_num_queries
):
    client.force_login(alice)
    with django_assert_max_num_queries(12) as few:
        assert compare(client, trials[:2]).status_code == 200
    more = trials + [trial(default_experiment, alice, i) for i in range(4, 12)]
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert compare(client, more).status_code == 200


def test_charlie_gets_404_and_bob_reads_but_cannot_post(
    client, bob, charlie, other_project, trials
):
    client.force_login(charlie)
    assert compare(client, trials).status_code == 404
    client.force_login(bob)
    assert compare(client, trials).status_code == 200
    assert client.post(reverse("compare", kwargs={"slug": "alpha"})).status_code == 405

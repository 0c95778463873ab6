"""The compare page's difference view, contour and brush: what the server renders and checks."""

import json
import math

import pytest
from django.urls import reverse

from tests.frontend.seed import T0, add_metric, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def sweep(default_experiment, alice):
    """Three runs: lr 0.1, 0.01 and 0; the last run's latest accuracy is NaN."""
    runs = []
    for i, (lr, accuracy) in enumerate([("0.1", 0.5), ("0.01", 0.6), ("0", math.nan)]):
        run = make_run(
            default_experiment,
            name=f"trial-{i}",
            user=alice,
            start=T0 + i * 1000,
            params={"lr": lr, "optimizer": "adam" if i < 2 else "sgd", "epochs": "3"},
        )
        add_metric(run, "accuracy", [0.1, accuracy])
        add_metric(run, "loss", [1.0, 0.5])
        runs.append(run)
    return runs


def compare(client, runs, **query):
    url = reverse("compare", kwargs={"slug": "alpha"})
    return client.get(url, {"runs": ",".join(r.run_id for r in runs), **query})


def diff_row(response, kind, key):
    return next(r for r in response.context["diff_rows"] if (r.kind, r.key) == (kind, key))


def test_the_first_run_is_the_baseline_unless_another_is_picked(client, alice, sweep):
    client.force_login(alice)
    response = compare(client, sweep)
    assert response.status_code == 200
    assert response.context["baseline"] == sweep[0]
    response = compare(client, sweep, baseline=sweep[1].run_id)
    assert response.status_code == 200
    assert response.context["baseline"] == sweep[1]
    html = response.content.decode()
    assert f'<option value="{sweep[1].run_id}" selected>' in html
    assert 'trial-1 <span class="muted small">(baseline)</span>' in html


def test_every_run_shows_its_difference_from_the_baseline_absolute_and_percent(
    client, alice, sweep
):
    client.force_login(alice)
    response = compare(client, sweep, baseline=sweep[1].run_id)
    lr = diff_row(response, "param", "lr")
    first, base, last = lr.cells
    assert base.baseline and base.delta is None
    assert first.delta == pytest.approx(0.09) and first.percent == pytest.approx(900)
    assert (first.delta_text, first.percent_text, first.direction) == ("+0.09", "+900.0%", "up")
    assert last.delta == pytest.approx(-0.01) and last.percent == pytest.approx(-100)
    accuracy = diff_row(response, "metric", "accuracy")
    assert accuracy.cells[0].delta == pytest.approx(-0.1)
    assert "+0.09 (+900.0%)" in response.content.decode()


def test_a_baseline_of_zero_has_no_percentage_and_nan_no_difference(client, alice, sweep):
    client.force_login(alice)
    response = compare(client, sweep, baseline=sweep[2].run_id)
    lr = diff_row(response, "param", "lr")
    assert lr.cells[0].delta == pytest.approx(0.1) and lr.cells[0].percent is None
    accuracy = diff_row(response, "metric", "accuracy")
    # NaN against a number: they differ, but by no amount.
    assert accuracy.cells[0].delta is None and not accuracy.cells[0].same
    assert math.isnan(accuracy.cells[2].value)
    text = response.content.decode().split('id="compare-difference"')[1]
    assert "NaN" in text


def test_only_differences_hides_rows_where_every_run_equals_the_baseline(client, alice, sweep):
    client.force_login(alice)
    response = compare(client, sweep, baseline=sweep[0].run_id, diff="1")
    keys = [(r.kind, r.key) for r in response.context["diff_rows"]]
    assert keys == [("param", "lr"), ("param", "optimizer"), ("metric", "accuracy")]
    # Text that differs is marked so, with no difference to compute.
    optimizer = diff_row(response, "param", "optimizer")
    assert [c.same for c in optimizer.cells] == [True, True, False]
    assert optimizer.cells[2].delta is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"colour": "red"}, "Unknown parameter “colour”."),
        ({"baseline": "f" * 32}, "Baseline: “" + "f" * 32 + "” is not one of the compared runs."),
        ({"cx": "params.nope"}, "Contour X: “params.nope” is not a param or metric"),
        ({"cz": "params.lr"}, "Contour colour: “params.lr” is not a param or metric"),
        ({"sx": "attributes.name"}, "Scatter X: “attributes.name”"),
        ({"pm": "nope"}, "Parallel metric: “nope”"),
        ({"pc": "nope"}, "Parallel coordinates: no param nope"),
        ({"brush": "{not json"}, "Brush: expected"),
        ({"brush": "[1, 2]"}, "Brush: expected"),
        ({"brush": '{"params.nope": {"min": 0, "max": 1}}'}, "Brush: “params.nope”"),
        ({"brush": '{"params.lr": {"min": 1, "max": 0}}'}, "Brush: expected"),
        ({"brush": '{"params.lr": {"min": "a", "max": 1}}'}, "Brush: expected"),
        ({"brush": '{"params.lr": {"in": [1]}}'}, "Brush: expected"),
        ({"brush": '{"params.lr": {"min": 1e999, "max": 1e999}}'}, "Brush: expected"),
        ({"brush": "x" * 5000}, "Brush: expected"),
    ],
)
def test_a_bad_parameter_is_an_error_on_the_page_not_a_500(client, alice, sweep, query, message):
    client.force_login(alice)
    response = compare(client, sweep, **query)
    assert response.status_code == 400
    assert any(message in error for error in response.context["errors"])
    html = response.content.decode()
    assert 'id="compare-errors"' in html and 'role="alert"' in html
    # The rest of the page still renders, from the defaults.
    assert response.context["baseline"] == sweep[0]
    assert 'id="contour"' in html and 'id="compare-difference"' in html


def test_another_projects_run_is_an_error_and_shows_nothing_of_it(
    client, alice, charlie, other_project, sweep
):
    foreign = make_run(other_project.experiments.get(), name="foreign", user=charlie)
    client.force_login(alice)
    response = compare(client, [*sweep, foreign], baseline=foreign.run_id)
    assert response.status_code == 400
    assert f"Not found in this project: {foreign.run_id}" in response.context["errors"]
    assert any("Baseline" in error for error in response.context["errors"])
    assert response.context["baseline"] == sweep[0]
    assert "foreign" not in response.content.decode().replace(foreign.run_id, "")


def test_charlie_gets_404_whatever_the_parameters(client, charlie, other_project, sweep):
    client.force_login(charlie)
    assert compare(client, sweep, baseline=sweep[1].run_id).status_code == 404
    assert compare(client, sweep, brush="{bad").status_code == 404


def test_bob_reads_the_new_views_and_gets_no_edit_control(client, bob, sweep):
    client.force_login(bob)
    response = compare(client, sweep, baseline=sweep[1].run_id, cz="metrics.loss")
    assert response.status_code == 200
    main = response.content.decode().split('<main id="main">')[1]
    assert 'method="post"' not in main


def test_the_contour_gets_the_chosen_axes_or_two_varying_params_and_a_metric(client, alice, sweep):
    client.force_login(alice)
    data = compare(client, sweep).context["compare_data"]
    assert data["contour"] == {"x": "params.lr", "y": "params.optimizer", "z": "metrics.accuracy"}
    # The NaN run reaches the page as no value, for the contour to leave out and count.
    assert [run["metrics"]["accuracy"] for run in data["runs"]] == [0.5, 0.6, None]
    query = {"cx": "metrics.loss", "cy": "params.epochs", "cz": "metrics.loss"}
    data = compare(client, sweep, **query).context["compare_data"]
    assert data["contour"] == {"x": "metrics.loss", "y": "params.epochs", "z": "metrics.loss"}


def test_a_brush_reaches_the_page_and_every_form_carries_it(client, alice, sweep):
    client.force_login(alice)
    brush = {"params.lr": {"min": 0.01, "max": 0.1}, "params.optimizer": {"in": ["adam"]}}
    response = compare(client, sweep, brush=json.dumps(brush), cz="metrics.loss")
    assert response.status_code == 200
    assert response.context["compare_data"]["brush"] == brush
    for form in ("hidden_diff", "hidden_parallel", "hidden_baseline"):
        state = dict(response.context[form])
        assert json.loads(state["brush"]) == brush
        assert state["cz"] == "metrics.loss"
    assert "baseline" not in dict(response.context["hidden_diff"])
    assert "diff" not in dict(response.context["hidden_diff"])
    assert "pm" not in dict(response.context["hidden_parallel"])


def test_with_one_varying_param_the_contour_plots_it_against_another_metric(client, alice, sweep):
    client.force_login(alice)
    data = compare(client, sweep, diff="1", pc="lr").context["compare_data"]
    assert data["contour"] == {"x": "params.lr", "y": "metrics.loss", "z": "metrics.accuracy"}

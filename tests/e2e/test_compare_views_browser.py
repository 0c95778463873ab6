"""The compare page's contour plot, difference view and cross-view brushing in headless Chromium.

Reuses the live server, the Chromium page and the helpers of test_browser.py; screenshots go to
test-artifacts/screenshots/ like theirs.
"""

import math
import os
from pathlib import Path

import pytest

from tests.e2e import test_browser
from tests.e2e.test_browser import CHROMIUM, canvas_has_ink, log_in, shot, wait_for_js
from tests.frontend.seed import T0, add_metric, make_run

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Debian chromium is not installed (apt-get install chromium)",
    ),
]

# test_browser's fixture: Debian's Chromium against the live server.
page = test_browser.page

OPTIMIZERS = ["adam", "sgd", "rmsprop"]


def seed_grid(experiment, user, n: int = 9):
    """A sweep over lr (log-spaced) and optimizer; val_accuracy rises with lr, one run's is NaN."""
    runs = []
    for i in range(n):
        run = make_run(
            experiment,
            name=f"trial-{i}",
            user=user,
            start=T0 + 1000 * i,
            params={
                "lr": str(10 ** -(i % 5)),
                "optimizer": OPTIMIZERS[i % 3],
                "batch": str(16 * (1 + i % 4)),
            },
        )
        last = math.nan if i == n - 1 else 0.5 + i / 40
        add_metric(run, "val_accuracy", [0.4, last])
        add_metric(run, "loss", [1.0, 1.0 - i / 20])
        runs.append(run)
    return runs


def open_compare(page, base, runs, query=""):
    ids = ",".join(r.run_id for r in runs)
    page.goto(f"{base}/p/alpha/compare/?runs={ids}{query}")
    wait_for_js(page, "document.getElementById('contour').dataset.state === 'drawn'")


def test_the_contour_draws_a_coloured_field_with_a_legend_and_counts_nan_runs(
    page, live_server, project, default_experiment, alice
):
    runs = seed_grid(default_experiment, alice)
    base = live_server.url
    log_in(page, base)
    open_compare(page, base, runs, "&cx=params.lr&cy=params.optimizer&cz=metrics.val_accuracy")
    page.locator("#contour").scroll_into_view_if_needed()
    assert canvas_has_ink(page, "#contour")
    # The field is coloured, not only the frame: many distinct colours inside the plot.
    colours = page.eval_on_selector(
        "#contour",
        """(c) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set();
            for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] + ',' + d[i+1] + ',' + d[i+2]);
            return seen.size;
        }""",
    )
    assert colours >= 8
    axes = page.eval_on_selector("#contour", "c => c.contour")
    assert axes["x"] == {"name": "lr", "log": True, "categories": None}
    assert axes["y"]["categories"] == ["adam", "rmsprop", "sgd"]
    assert axes["z"]["name"] == "val_accuracy"
    # The NaN run is left out and counted, never drawn at 0.
    assert page.get_attribute("#contour", "data-points") == "8"
    assert page.get_attribute("#contour", "data-left-out") == "1"
    assert "1 left out without a value of val_accuracy (NaN or not logged)" in page.inner_text(
        "#contour-status"
    )
    legend = page.locator("#contour-legend .tick").all_inner_texts()
    assert legend[0] == "0.675" and legend[-1] == "0.5"  # highest on top, lowest at the bottom
    assert "val_accuracy" in page.inner_text("#contour-legend .title")
    shot(page, "30-compare-contour")

    # Another colour metric redraws and is kept in the URL for a reload.
    page.select_option("#contour-z", "metrics.loss")
    wait_for_js(page, "location.search.includes('cz=metrics.loss')")
    assert page.get_attribute("#contour", "data-points") == "9"
    assert "loss" in page.inner_text("#contour-legend .title")
    page.reload()
    wait_for_js(page, "document.getElementById('contour').dataset.state === 'drawn'")
    assert page.input_value("#contour-z") == "metrics.loss"


def test_a_baseline_is_picked_in_the_difference_view(
    page, live_server, project, default_experiment, alice
):
    runs = seed_grid(default_experiment, alice, n=4)
    base = live_server.url
    log_in(page, base)
    open_compare(page, base, runs)
    table = page.locator("#compare-difference")
    assert "(baseline)" in table.locator("th.baseline").inner_text()
    assert "trial-0" in table.locator("th.baseline").inner_text()
    page.select_option("#baseline", runs[2].run_id)
    page.wait_for_url(f"**baseline={runs[2].run_id}**")
    assert "trial-2" in table.locator("th.baseline").inner_text()
    # trial-0's lr (1) against the baseline's (0.01): +0.99, +9900%.
    row = table.locator('tr[data-key="params.lr"]')
    first = row.locator('td[data-col="0"]').inner_text()
    assert "+0.99" in first and "+9900.0%" in first
    accuracy = table.locator('tr[data-key="metrics.val_accuracy"] td[data-col="0"]').inner_text()
    assert "-0.05" in accuracy
    shot(page, "31-compare-difference")
    # "Only differences" keeps the baseline and hides rows where every run equals it.
    page.locator("#difference-title").scroll_into_view_if_needed()
    page.check("#only-diff")
    page.wait_for_url("**diff=1**")
    assert f"baseline={runs[2].run_id}" in page.url
    keys = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.key)")
    assert "params.lr" in keys and "params.optimizer" in keys


def test_brushing_an_axis_filters_the_scatter_contour_and_tables_and_survives_a_reload(
    page, live_server, project, default_experiment, alice
):
    runs = seed_grid(default_experiment, alice, n=6)
    base = live_server.url
    log_in(page, base)
    open_compare(page, base, runs, "&pc=optimizer&pc=lr&pm=loss")
    wait_for_js(page, "document.getElementById('parallel').dataset.state === 'drawn'")
    page.locator("#parallel").scroll_into_view_if_needed()
    assert page.locator("#compare-params th[data-col]:visible").count() == 6
    # Drag along the optimizer axis (the first) over its lowest category only: "adam".
    box = page.locator("#parallel").bounding_box()
    x = box["x"] + 56
    bottom = box["y"] + 340 - 24
    page.mouse.move(x, bottom + 2)
    page.mouse.down()
    page.mouse.move(x, bottom - 30, steps=5)
    page.mouse.up()
    wait_for_js(page, "location.search.includes('brush=')")
    adam = [i for i in range(6) if OPTIMIZERS[i % 3] == "adam"]
    assert page.get_attribute("#parallel", "data-selected") == str(len(adam))
    assert page.get_attribute("#scatter", "data-highlighted") == str(len(adam))
    assert page.get_attribute("#contour", "data-highlighted") == str(len(adam))
    visible = page.locator("#compare-params th[data-col]:visible").all_inner_texts()
    assert [name.strip() for name in visible] == [f"trial-{i}" for i in adam]
    assert page.is_visible("#clear-brush")
    shot(page, "32-compare-brushed")

    page.reload()
    wait_for_js(page, "document.getElementById('contour').dataset.state === 'drawn'")
    assert page.get_attribute("#parallel", "data-selected") == str(len(adam))
    assert page.locator("#compare-params th[data-col]:visible").count() == len(adam)
    assert "runs in the brushed ranges" in page.inner_text("#parallel-status")
    # The metric charts draw only the brushed runs.
    card = '#compare-grid .chart-card[data-key="loss"]'
    page.locator(card).scroll_into_view_if_needed()
    wait_for_js(page, f"document.querySelector('{card}').dataset.state === 'drawn'")
    assert page.get_attribute(card, "data-lines") == str(len(adam))
    # Another form of the page keeps the brush.
    page.select_option("#baseline", runs[3].run_id)
    page.wait_for_url(f"**baseline={runs[3].run_id}**")
    assert "brush=" in page.url
    assert page.locator("#compare-difference th[data-col]:visible").count() == len(adam)

    page.click("#clear-brush")
    wait_for_js(page, "!location.search.includes('brush=')")
    assert page.get_attribute("#parallel", "data-selected") == "6"
    assert page.locator("#compare-params th[data-col]:visible").count() == 6
    page.locator(card).scroll_into_view_if_needed()
    wait_for_js(page, f"document.querySelector('{card}').dataset.lines === '6'")
    assert page.get_attribute("#scatter", "data-highlighted") == page.get_attribute(
        "#scatter", "data-points"
    )


def test_a_bad_parameter_is_an_error_on_the_page_and_a_viewer_sees_no_edit_control(
    page, live_server, project, default_experiment, alice, bob
):
    runs = seed_grid(default_experiment, alice, n=3)
    base = live_server.url
    log_in(page, base, "bob")
    ids = ",".join(r.run_id for r in runs)
    response = page.goto(f"{base}/p/alpha/compare/?runs={ids}&baseline=nope&colour=red")
    assert response.status == 400
    errors = page.inner_text("#compare-errors")
    assert "Unknown parameter “colour”" in errors and "Baseline: “nope”" in errors
    wait_for_js(page, "document.getElementById('contour').dataset.state === 'drawn'")
    # The page has no edit control: its only POST form is the top bar's "Log out".
    assert page.locator("main form[method=post]").count() == 0

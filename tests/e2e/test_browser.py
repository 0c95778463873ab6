"""The pages in headless Chromium against a live server with seeded data.

Uses Debian's chromium (/usr/bin/chromium); Playwright never downloads a browser here.
Screenshots of each page go to test-artifacts/screenshots/ (git-ignored). The pages' Content-
Security-Policy forbids evaluating strings, so waits are functions (`"() => ..."`), not bare
expressions.
"""

import os
from pathlib import Path

import pytest
from django.db import connections

from tests.frontend.seed import seed_experiment

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    # Skipped on a developer's machine without chromium; CI installs it, so there it must run.
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Debian chromium is not installed (apt-get install chromium)",
    ),
]


def wait_for_js(page, expression: str, **options) -> None:
    """Wait until a JavaScript expression is true. Passed as a function: the pages' CSP refuses
    the eval a bare expression would need."""
    page.wait_for_function(f"() => ({expression})", **options)


@pytest.fixture
def page(live_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the seeding ORM calls happen
    # before it starts and the server answers from its own thread.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        # While Playwright's event loop runs, Django keeps the test's connection apart from the
        # thread's, and nothing else closes it: open, it keeps PostgreSQL from dropping the
        # test database at the end of the run.
        connections.close_all()
        context.close()
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def canvas_has_ink(page, selector: str) -> bool:
    """Whether any pixel of the first canvas under `selector` has been drawn on."""
    return page.eval_on_selector(
        selector,
        """(root) => {
            const canvas = root.tagName === 'CANVAS' ? root : root.querySelector('canvas');
            if (!canvas || !canvas.width || !canvas.height) return false;
            const ctx = canvas.getContext('2d');
            const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
            return false;
        }""",
    )


def test_a_user_browses_filters_charts_and_compares_runs(
    page, live_server, project, default_experiment, alice
):
    runs = seed_experiment(default_experiment, alice)
    base = live_server.url

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.get_by_role("link", name="Alpha").is_visible()
    shot(page, "01-projects")

    page.get_by_role("link", name="Alpha").click()
    page.wait_for_url(f"{base}/p/alpha/")
    rows = page.locator("table.runs tbody tr[data-run-id]")
    assert rows.count() == 3
    shot(page, "02-project")

    page.fill("#filter", "metrics.accuracy > 0.9 and params.lr = '0.01'")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function(
        "() => document.querySelectorAll('table.runs tbody tr[data-run-id]').length === 1"
    )
    assert rows.first.get_attribute("data-run-id") == runs["good"].run_id
    assert "filter=" in page.url  # the filter is kept in the URL
    shot(page, "03-filtered")

    page.fill("#filter", "metrics.accuracy >> 1")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_selector("#filter-error")
    assert "position" in page.inner_text("#filter-error")

    page.goto(f"{base}/p/alpha/runs/{runs['good'].run_id}/")
    assert page.locator("#params-table").inner_text().count("0.01") == 1
    accuracy = page.locator('#metrics-table tr[data-key="accuracy"]').inner_text()
    assert "1" in accuracy and "0.02" in accuracy and "50" in accuracy
    shot(page, "04-run-overview")

    page.get_by_role("tab", name="Model metrics").click()
    page.wait_for_selector("#metric-filter")
    page.fill("#metric-filter", "metric_step")
    visible = page.locator(".chart-card:not([hidden])")
    page.wait_for_function(
        "() => document.querySelectorAll('.chart-card:not([hidden])').length === 3"
    )
    assert sorted(visible.nth(i).get_attribute("data-key") for i in range(3)) == [
        "metric_step",
        "metric_step_3",
        "metric_step_4",
    ]
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart-card:not([hidden])')]"
        ".every(c => c.dataset.state === 'drawn')"
    )
    for i in range(3):
        assert canvas_has_ink(
            page, f'.chart-card[data-key="{visible.nth(i).get_attribute("data-key")}"]'
        )
    assert "q=metric_step" in page.url
    # Log scale and smoothing on the grid too, kept in the URL.
    page.check("#log-y")
    page.fill("#smoothing", "0.5")
    page.dispatch_event("#smoothing", "input")
    wait_for_js(page, "location.search.includes('log=1') && location.search.includes('smooth=0.5')")
    assert (
        page.eval_on_selector(
            '.chart-card[data-key="metric_step"] .chart', "c => c.uplot.scales.y.distr"
        )
        == 3
    )
    shot(page, "05-model-metrics")

    page.goto(f"{base}/p/alpha/runs/{runs['good'].run_id}/metrics/loss/")
    page.wait_for_selector("#metric-chart canvas")
    assert canvas_has_ink(page, "#metric-chart")
    # uPlot draws its axes on the canvas; the page states the axis in text beside it.
    assert page.get_attribute("#metric-chart", "data-axis") == "step"
    assert page.inner_text("#axis-label") == "X axis: Step"
    step_ticks = page.eval_on_selector("#metric-chart canvas", "c => c.toDataURL()")
    shot(page, "06-metric-step")
    page.get_by_label("Time", exact=True).check()
    page.wait_for_function("() => document.querySelector('#metric-chart').dataset.axis === 'time'")
    assert page.inner_text("#axis-label") == "X axis: Time"
    assert page.eval_on_selector("#metric-chart canvas", "c => c.toDataURL()") != step_ticks
    shot(page, "07-metric-time")

    page.goto(f"{base}/p/alpha/")
    page.check(f'input[name="runs"][value="{runs["good"].run_id}"]')
    page.check(f'input[name="runs"][value="{runs["bad"].run_id}"]')
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url("**/p/alpha/compare/**")
    assert "Compare 2 runs" in page.inner_text("h1")
    assert "0.01" in page.inner_text("table.compare") and "0.1" in page.inner_text("table.compare")
    page.wait_for_function("() => document.getElementById('parallel').dataset.state === 'drawn'")
    assert canvas_has_ink(page, "#parallel")
    page.locator('#compare-grid .chart-card[data-key="accuracy"]').scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector('#compare-grid .chart-card[data-key=\"accuracy\"]')"
        ".dataset.state === 'drawn'"
    )
    shot(page, "08-compare")

    page.goto(f"{base}/p/alpha/runs/{runs['good'].run_id}/artifacts/")
    assert "No artifacts" in page.inner_text("main")
    shot(page, "09-artifacts")


def log_in(page, base: str, username: str = "alice") -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def seed_sweep(experiment, user, n: int = 12):
    """A parent with n trials: lr and optimizer vary, loss and val_loss fall, one NaN."""
    import math

    from tests.frontend.seed import T0, add_metric, make_run

    parent = make_run(experiment, name="sweep", user=user, start=T0, params={"epochs": "10"})
    trials = []
    for i in range(n):
        trial = make_run(
            experiment,
            name=f"trial-{i:02d}",
            user=user,
            start=T0 + 1000 * (i + 1),
            parent=parent,
            params={"lr": str(10 ** -(1 + i % 3)), "optimizer": "adam" if i % 2 else "sgd"},
        )
        for key in ("loss", "val_loss"):
            values = [(1 + i / 10) / (s + 1) + 0.01 * (s % 5) for s in range(60)]
            if key == "loss" and i == 0:
                values[30] = math.nan
            add_metric(trial, key, values)
        add_metric(trial, "gpu_memory", [60_000 + 100 * s for s in range(60)])
        trials.append(trial)
    return parent, trials


def test_the_chart_view_overlays_every_run_and_groups_them(
    page, live_server, project, default_experiment, alice
):
    _, trials = seed_sweep(default_experiment, alice)
    base = live_server.url
    log_in(page, base)
    page.goto(f"{base}/p/alpha/e/{default_experiment.pk}/?filter=params.optimizer+%3D+%27adam%27")
    series_requests = []
    page.on(
        "request",
        lambda r: series_requests.append(r.url) if "/charts/series.json" in r.url else None,
    )
    page.click("#charts-view-link")
    page.wait_for_url("**/charts/**")
    assert "filter=params.optimizer" in page.url  # the toggle keeps the filter
    adam = [t for t in trials if int(t.name[-2:]) % 2]
    assert page.locator("#chart-runs li").count() == len(adam)
    cards = page.locator("#runs-charts .chart-card")
    assert sorted(cards.nth(i).get_attribute("data-key") for i in range(cards.count())) == [
        "gpu_memory",
        "loss",
        "val_loss",
    ]
    wait_for_js(
        page,
        "[...document.querySelectorAll('#runs-charts .chart-card')]"
        ".every(c => c.dataset.state === 'drawn')",
    )
    assert page.get_attribute('.chart-card[data-key="loss"]', "data-lines") == str(len(adam))
    assert canvas_has_ink(page, '.chart-card[data-key="loss"]')
    # The charts that came into view together were asked for in one request.
    assert len(series_requests) == 1 and series_requests[0].count("key=") == 3
    # Every run is named in the chart's series, each in its own colour.
    names = page.eval_on_selector(
        '.chart-card[data-key="loss"] .chart', "c => c.uplot.series.slice(1).map(s => s.label)"
    )
    assert sorted(names) == sorted(t.name for t in adam)
    colours = page.eval_on_selector(
        '.chart-card[data-key="loss"] .chart', "c => c.uplot.series.slice(1).map(s => s._stroke)"
    )
    assert len(set(colours)) == len(adam)
    # The y axis is as wide as "61,900", so no digit is cut off.
    widths = page.eval_on_selector(
        '.chart-card[data-key="gpu_memory"] .chart',
        """c => {
            const u = c.uplot, ctx = u.ctx;
            ctx.font = u.axes[1].font[0];
            const labels = u.axes[1]._values || [];
            const text = labels.reduce((a, v) => v && v.length > a.length ? v : a, '');
            return [u.axes[1]._size, ctx.measureText(text).width / devicePixelRatio, text];
        }""",
    )
    assert widths[0] > widths[1] and widths[2].replace(",", "").isdigit(), widths
    assert len(widths[2].replace(",", "")) == 5
    # Hovering shows the values under the cursor.
    box = page.locator('.chart-card[data-key="val_loss"] .u-over').bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = page.locator('.chart-card[data-key="val_loss"] .chart-tip')
    tip.wait_for(state="visible")
    assert "trial-" in tip.inner_text()
    shot(page, "10-charts")

    # Hiding a run takes its line away and is kept in the URL.
    page.uncheck(f'#chart-runs input[value="{adam[0].run_id}"]')
    wait_for_js(
        page,
        f"document.querySelector('.chart-card[data-key=\"loss\"]').dataset.lines === "
        f"'{len(adam) - 1}'",
    )
    assert f"hide={adam[0].run_id}" in page.url
    # Pinning a run puts it first in the list and draws it last (on top), thicker.
    pinned = adam[-1]
    page.click(f'#chart-runs li[data-run-id="{pinned.run_id}"] button.pin')
    wait_for_js(page, f"location.search.includes('pin={pinned.run_id}')")
    assert page.get_attribute("#chart-runs li:first-child", "data-run-id") == pinned.run_id
    top = page.eval_on_selector(
        '.chart-card[data-key="loss"] .chart', "c => c.uplot.series.slice(-1)[0].label"
    )
    assert top == f"{pinned.name} (pinned)"
    page.check("#log-y")
    page.fill("#smoothing", "0.6")
    page.dispatch_event("#smoothing", "input")
    wait_for_js(page, "location.search.includes('smooth=0.6') && location.search.includes('log=1')")
    page.reload()
    wait_for_js(
        page, "document.querySelector('.chart-card[data-key=\"loss\"]').dataset.state === 'drawn'"
    )
    assert page.is_checked("#log-y")
    assert not page.is_checked(f'#chart-runs input[value="{adam[0].run_id}"]')

    # val_loss drawn on the loss chart too, dashed, kept in the URL.
    page.select_option('.chart-card[data-key="loss"] select.combine', "val_loss")
    wait_for_js(
        page,
        "document.querySelector('.chart-card[data-key=\"loss\"]').dataset.keys === 'loss,val_loss'",
    )
    assert "combine=loss%3Aval_loss" in page.url
    assert page.get_attribute('.chart-card[data-key="loss"]', "data-lines") == str(
        2 * (len(adam) - 1)
    )
    # Dragging across a chart zooms every chart, with data fetched for that range.
    page.uncheck("#log-y")
    wait_for_js(page, "!location.search.includes('log=1')")
    box = page.locator('.chart-card[data-key="val_loss"] .u-over').bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + 40, steps=5)
    page.mouse.up()
    wait_for_js(page, "location.search.includes('xmin=') && location.search.includes('xmax=')")
    wait_for_js(
        page,
        "(() => { const u = document.querySelector('.chart-card[data-key=\"gpu_memory\"] .chart')"
        ".uplot; return u && u.data[0][0] >= 25; })()",
    )
    shot(page, "10b-charts-zoomed-combined")
    page.click("#reset-zoom")
    wait_for_js(page, "!location.search.includes('xmin=')")

    # A new grouping keeps how the charts are drawn.
    page.select_option("#group-by", "params.lr")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**group_by=params.lr**")
    assert "smooth=0.6" in page.url and "combine=loss%3Aval_loss" in page.url

    # Grouped by lr: one mean line and its band per value.
    page.goto(f"{base}/p/alpha/e/{default_experiment.pk}/charts/?group_by=params.lr")
    wait_for_js(
        page, "document.querySelector('.chart-card[data-key=\"loss\"]').dataset.state === 'drawn'"
    )
    labels = page.eval_on_selector(
        '.chart-card[data-key="loss"] .chart', "c => c.uplot.series.slice(1).map(s => s.label)"
    )
    means = [label for label in labels if label.startswith("params.lr = ") and "(" in label]
    assert len([m for m in means if not m.endswith(" max") and not m.endswith(" min")]) == 3
    assert (
        page.eval_on_selector('.chart-card[data-key="loss"] .chart', "c => c.uplot.bands.length")
        == 3
    )
    shot(page, "11-charts-grouped")


def test_live_refresh_keeps_ticked_boxes_expanded_children_and_scroll(
    page, live_server, project, default_experiment, alice
):
    from tracking.models import LatestMetric

    runs = seed_experiment(default_experiment, alice)
    base = live_server.url
    log_in(page, base)
    page.set_viewport_size({"width": 1400, "height": 420})
    page.goto(f"{base}/p/alpha/")
    assert page.get_attribute("#runs-table", "data-live-url")  # a run is in progress
    page.check(f'input[name="runs"][value="{runs["good"].run_id}"]')
    page.click(f'tr[data-run-id="{runs["good"].run_id}"] button.expand')
    page.wait_for_selector(f'tr.child-row[data-run-id="{runs["child"].run_id}"]')
    page.evaluate("window.scrollTo(0, 150)")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0

    # The running run logs a new accuracy; the next refresh shows it in place.
    LatestMetric.objects.filter(run=runs["live"], key="accuracy").update(value=0.123456)
    wait_for_js(
        page,
        "(parseInt(document.getElementById('runs-table').dataset.refreshes || '0') >= 1)",
        timeout=15_000,
    )
    assert "0.123456" in page.inner_text(f'tr[data-run-id="{runs["live"].run_id}"]')
    assert page.is_checked(f'input[name="runs"][value="{runs["good"].run_id}"]')
    assert page.locator(f'tr.child-row[data-run-id="{runs["child"].run_id}"]').count() == 1
    assert page.evaluate("window.scrollY") == scrolled
    shot(page, "12-live-refresh")


def test_nan_is_a_gap_and_a_count(page, live_server, project, default_experiment, alice):
    import math

    from tests.frontend.seed import T0, add_metric, make_run

    run = make_run(default_experiment, name="nan-run", user=alice, start=T0)
    values = [math.sin(i / 10) + 2 for i in range(300)]
    for i in range(140, 160):
        values[i] = math.nan
    add_metric(run, "loss", values)
    base = live_server.url
    log_in(page, base)
    page.goto(f"{base}/p/alpha/runs/{run.run_id}/metrics/loss/")
    wait_for_js(page, "document.querySelector('#metric-chart').dataset.axis === 'step'")
    assert page.inner_text("#nan-count") == "20"
    gap = page.eval_on_selector(
        "#metric-chart",
        """c => {
            const u = c.uplot, xs = u.data[0], ys = u.data[1];
            const nulls = xs.filter((x, i) => ys[i] === null);
            return [u.series[1].spanGaps, nulls];
        }""",
    )
    assert gap[0] is False
    assert gap[1] and all(140 <= x < 160 for x in gap[1])
    shot(page, "13-metric-nan-gap")
    page.goto(f"{base}/p/alpha/runs/{run.run_id}/")
    row = page.inner_text('#metrics-table tr[data-key="loss"]')
    assert row.split()[-1] == "20"


def test_a_diverged_run_charts_with_gaps_where_it_is_infinite(
    page, live_server, project, default_experiment, alice
):
    import math

    from tests.frontend.seed import T0, add_metric, make_run

    same = {"optimizer": "adam"}
    diverged = make_run(default_experiment, name="diverged", user=alice, start=T0, params=same)
    values = [1 / (i + 1) for i in range(50)]
    values[20], values[30] = math.inf, -math.inf
    add_metric(diverged, "loss", values)
    steady = make_run(default_experiment, name="steady", user=alice, start=T0 + 1000, params=same)
    add_metric(steady, "loss", [1 / (i + 2) for i in range(50)])
    base = live_server.url
    log_in(page, base)

    # Each run its own line: the infinite points are gaps, the rest is drawn.
    page.goto(f"{base}/p/alpha/e/{default_experiment.pk}/charts/")
    card = '.chart-card[data-key="loss"]'
    wait_for_js(page, f"document.querySelector('{card}').dataset.state === 'drawn'")
    nulls = page.eval_on_selector(
        f"{card} .chart",
        "c => c.uplot.data.slice(1).map(ys => c.uplot.data[0].filter((x, i) => ys[i] === null))",
    )
    assert sorted(nulls) == [[], [20, 30]]

    # Grouped: the group's mean skips them, and stays a number everywhere.
    page.goto(f"{base}/p/alpha/e/{default_experiment.pk}/charts/?group_by=params.optimizer")
    wait_for_js(page, f"document.querySelector('{card}').dataset.state === 'drawn'")
    means = page.eval_on_selector(f"{card} .chart", "c => c.uplot.data[1]")
    assert len(means) == 50 and all(isinstance(v, int | float) for v in means)
    assert means[20] == pytest.approx(1 / 22)

    # The run's own metric page draws too.
    page.goto(f"{base}/p/alpha/runs/{diverged.run_id}/metrics/loss/")
    wait_for_js(page, "document.querySelector('#metric-chart').dataset.axis === 'step'")
    assert canvas_has_ink(page, "#metric-chart canvas")
    shot(page, "13b-diverged-run-gaps")


def test_markdown_renders_and_a_script_in_a_description_does_not_run(
    page, live_server, project, default_experiment, alice
):
    from tests.frontend.seed import make_run
    from tracking.models import RunTag

    hostile = (
        "Sweep over **lr**.\n\n<script>window.pwned = 1</script>\n\n"
        '<img src=x onerror="window.pwned = 2"> [click](javascript:window.pwned=3)'
    )
    default_experiment.description = hostile
    default_experiment.save()
    run = make_run(default_experiment, name="described", user=alice)
    RunTag.objects.create(run=run, key="mlflow.note.content", value=hostile)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    base = live_server.url
    log_in(page, base)
    for url, box in (
        (f"{base}/p/alpha/e/{default_experiment.pk}/", "#experiment-description"),
        (f"{base}/p/alpha/runs/{run.run_id}/", "#run-description"),
    ):
        page.goto(url)
        page.wait_for_load_state("load")
        assert page.inner_text(f"{box} strong") == "lr"
        assert page.locator(f"{box} script, {box} img").count() == 0
        assert page.locator(f'{box} a[href^="javascript"]').count() == 0
        assert page.evaluate("window.pwned") is None
    assert dialogs == []
    shot(page, "14-markdown-description")


def test_the_clients_printed_links_land_on_their_pages(
    page, live_server, project, default_experiment, alice, charlie, other_project
):
    from tests.frontend.seed import make_run

    run = make_run(default_experiment, name="printed", user=alice)
    base = live_server.url
    printed = f"{base}/#/experiments/{default_experiment.pk}/runs/{run.run_id}"
    # Not logged in yet: the link survives the log-in.
    page.goto(printed)
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/p/alpha/runs/{run.run_id}/")
    assert "printed" in page.inner_text("h1")
    page.goto(f"{base}/#/experiments/{default_experiment.pk}")
    page.wait_for_url(f"{base}/p/alpha/e/{default_experiment.pk}/")
    shot(page, "15-printed-link")
    # Someone outside the project gets a 404, not the run.
    page.context.clear_cookies()
    log_in(page, base, "charlie")
    page.goto(printed)
    page.wait_for_url(f"{base}/go/experiments/**")
    assert "Not found" in page.inner_text("body")


def test_an_editor_edits_a_run_and_a_viewer_cannot(
    page, live_server, project, default_experiment, alice, bob
):
    from tests.frontend.seed import make_run

    run = make_run(default_experiment, name="to-edit", user=alice)
    base = live_server.url
    log_in(page, base)
    page.goto(f"{base}/p/alpha/runs/{run.run_id}/")
    page.click("#edit-run summary")
    page.fill("#run-name", "edited")
    page.get_by_role("button", name="Rename").click()
    page.wait_for_selector("h1:has-text('edited')")
    page.fill("#tag-key", "stage")
    page.fill("#tag-value", "best")
    page.get_by_role("button", name="Add tag").click()
    page.wait_for_selector('#tags-table tr[data-key="stage"]')
    shot(page, "16-run-edited")
    page.get_by_role("button", name="Remove tag stage").click()
    page.wait_for_selector("text=Tag stage removed.")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#edit-run summary")
    page.click("#delete-run")
    page.wait_for_selector("#restore-run")
    page.click("#restore-run")
    page.wait_for_selector("#edit-run")

    page.context.clear_cookies()
    log_in(page, base, "bob")
    page.goto(f"{base}/p/alpha/runs/{run.run_id}/")
    assert page.locator("#edit-run, #add-tag, #restore-run").count() == 0


def test_a_sweeps_table_is_compact_and_the_chooser_opens_over_it(
    page, live_server, project, default_experiment, alice
):
    from tests.frontend.seed import T0, add_metric, make_run

    for i in range(40):
        run = make_run(
            default_experiment,
            name=f"a-rather-long-trial-name-for-the-sweep-{i:02d}",
            user=alice,
            start=T0 + 1000 * i,
            params={"epochs": "10", "lr": str(10 ** -(i % 4)), "optimizer": "adam"},
        )
        add_metric(run, "val_accuracy", [0.5 + i / 100])
    base = live_server.url
    log_in(page, base)
    page.goto(f"{base}/p/alpha/")
    rows = page.locator("table.runs tbody tr[data-run-id]")
    assert rows.count() == 40
    heights = page.eval_on_selector_all(
        "table.runs tbody tr[data-run-id]",
        "rows => rows.map(r => r.getBoundingClientRect().height)",
    )
    assert max(heights) < 34, heights  # one line per run, nothing wraps
    headers = page.inner_text("table.runs thead")
    assert "lr" in headers and "val_accuracy" in headers and "epochs" not in headers
    shot(page, "17-compact-table")

    apply = page.get_by_role("button", name="Apply").bounding_box()
    page.click("details.columns summary")
    page.fill("#column-search", "epo")
    visible = page.locator("#column-options label:visible")
    assert visible.count() == 1 and "epochs" in visible.inner_text()
    assert page.get_by_role("button", name="Apply").bounding_box() == apply
    shot(page, "18-column-chooser")


def test_compare_tables_parallel_coordinates_and_scatter(
    page, live_server, project, default_experiment, alice
):
    import math

    from tests.frontend.seed import T0, add_metric, make_run

    runs = []
    for i in range(6):
        run = make_run(
            default_experiment,
            name=f"trial-{i}",
            user=alice,
            start=T0 + 1000 * i,
            params={"lr": str(10**-i), "optimizer": ["adam", "sgd", "rmsprop"][i % 3]},
        )
        add_metric(run, "val_accuracy", [0.5, math.nan if i == 5 else 0.6 + i / 20])
        runs.append(run)
    base = live_server.url
    log_in(page, base)
    ids = ",".join(r.run_id for r in runs)
    page.goto(f"{base}/p/alpha/compare/?runs={ids}")
    wait_for_js(page, "document.getElementById('parallel').dataset.state === 'drawn'")
    axes = page.eval_on_selector("#parallel", "c => c.parallel")
    by_name = {axis["name"]: axis for axis in axes}
    assert by_name["lr"]["log"] is True
    assert by_name["optimizer"]["categories"] == ["adam", "rmsprop", "sgd"]
    assert "val_accuracy" in by_name
    assert page.get_attribute("#parallel", "data-selected") == "6"
    assert canvas_has_ink(page, "#parallel")
    # Brush the top half of the metric axis (the last one): the better runs stay coloured.
    box = page.locator("#parallel").bounding_box()
    x = box["x"] + box["width"] - 120
    page.mouse.move(x, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(x, box["y"] + 150, steps=5)
    page.mouse.up()
    selected = int(page.get_attribute("#parallel", "data-selected"))
    assert 0 < selected < 6
    assert "runs in the brushed ranges" in page.inner_text("#parallel-status")
    wait_for_js(page, "document.getElementById('scatter').dataset.state === 'drawn'")
    # The run whose latest accuracy is NaN is left out, not drawn at 0.
    assert page.get_attribute("#scatter", "data-points") == "5"
    page.select_option("#scatter-x", "params.optimizer")
    wait_for_js(page, "location.search.includes('sx=params.optimizer')")
    shot(page, "19-compare")
    page.check("#only-diff")
    page.wait_for_url("**diff=1**")
    assert page.locator("#compare-params tbody tr").count() == 2

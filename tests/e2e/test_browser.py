"""The pages in headless Chromium against a live server with seeded data.

Uses Debian's chromium (/usr/bin/chromium); Playwright never downloads a browser here.
Screenshots of each page go to test-artifacts/screenshots/ (git-ignored). The pages' Content-
Security-Policy forbids evaluating strings, so waits are functions (`"() => ..."`), not bare
expressions.
"""

import os
from pathlib import Path

import pytest

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

"""No Content-Security-Policy: an injected script would have run. Every page now carries a
policy (django-csp) allowing scripts and styles from the site itself or with the request's
nonce; no page has an inline script without the nonce or an inline event handler."""

import os
import re
from pathlib import Path

import pytest
from django.db import connections
from django.urls import reverse

from accounts.access import Actor
from tests.frontend.seed import seed_experiment
from tests.frontend.test_pages import page_urls
from tracking.services.experiments import experiment_create, experiment_delete

CHROMIUM = "/usr/bin/chromium"
# Inline scripts the browser would run; JSON data blocks (json_script) are not run.
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def policy(response) -> str:
    return response["Content-Security-Policy"]


def nonce_of(response) -> str:
    match = re.search(r"'nonce-([^']+)'", policy(response))
    assert match, policy(response)
    return match.group(1)


@pytest.mark.django_db
def test_every_page_has_a_policy_and_no_inline_script_without_its_nonce(
    client, alice, project, default_experiment
):
    runs = seed_experiment(default_experiment, alice)
    client.force_login(alice)
    urls = [
        *page_urls(project, default_experiment, runs["good"]),
        "/",
        "/accounts/tokens/",
        f"/accounts/projects/{project.slug}/members/",
        f"/accounts/projects/{project.slug}/tokens/",
        "/accounts/password/",
        "/api/v1/docs/",
        "/p/no-such-project/",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        if response["Content-Type"].startswith("application/json"):
            continue  # data a page fetches, never rendered as a document
        csp = policy(response)
        assert "default-src 'self'" in csp
        assert "object-src 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        if not response["Content-Type"].startswith("text/html"):
            continue
        html = response.content.decode()
        for tag in INLINE_SCRIPT.findall(html):
            assert f'nonce="{nonce_of(response)}"' in tag, (url, tag)
        assert not EVENT_HANDLER.search(html), (url, EVENT_HANDLER.search(html).group(0))


@pytest.mark.django_db
def test_the_log_in_page_has_a_policy_for_anonymous_visitors(client):
    response = client.get("/accounts/login/")
    assert "script-src 'self' 'nonce-" in policy(response)


@pytest.mark.django_db
def test_each_request_gets_its_own_nonce(client, alice, project):
    client.force_login(alice)
    url = reverse("project", kwargs={"slug": project.slug})
    assert nonce_of(client.get(url)) != nonce_of(client.get(url))


# --- in the browser: the policy is enforced and every script still runs ----------------------


@pytest.fixture
def browser_page(live_server):
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        # Injected by the browser itself, so the page's own policy does not apply to it.
        context.add_init_script(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation', e => "
            "window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.console_errors = []
        page.on(
            "console",
            lambda message: message.type == "error" and page.console_errors.append(message.text),
        )
        yield page
        # While Playwright's event loop runs, Django keeps the test's connection apart from the
        # thread's, and nothing else closes it: open, it keeps PostgreSQL from dropping the
        # test database at the end of the run.
        connections.close_all()
        context.close()
        browser.close()


def assert_no_violation(page, what: str) -> None:
    assert page.evaluate("window.__csp") == [], what
    csp_errors = [m for m in page.console_errors if "Content Security Policy" in m]
    assert csp_errors == [], what


@pytest.mark.browser
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_pages_run_their_scripts_under_the_policy(
    browser_page, live_server, project, default_experiment, alice
):
    page = browser_page
    runs = seed_experiment(default_experiment, alice)
    doomed = experiment_create(actor=Actor(user=alice), project=project, name="doomed")
    experiment_delete(actor=Actor(user=alice), experiment=doomed)
    base = live_server.url

    response = page.goto(f"{base}/accounts/login/")
    assert "'nonce-" in response.headers["content-security-policy"]
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    # htmx and app.js ran: the runs table filters in place.
    response = page.goto(f"{base}/p/alpha/")
    assert "script-src 'self' 'nonce-" in response.headers["content-security-policy"]
    assert page.evaluate("typeof window.htmx") == "object"
    page.fill("#filter", "params.lr = '0.01'")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function(
        "() => document.querySelectorAll('table.runs tbody tr[data-run-id]').length === 1"
    )
    assert_no_violation(page, "project page")

    # The purge confirmation, once an inline onsubmit, now comes from app.js.
    page.goto(f"{base}/p/alpha/?deleted=1")
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Purge doomed for good").click()
    page.wait_for_timeout(300)
    assert dialogs and "cannot be undone" in dialogs[0]
    assert page.url.endswith("/p/alpha/?deleted=1")  # dismissed: nothing was sent

    # uPlot and charts.js draw the charts.
    page.goto(f"{base}/p/alpha/runs/{runs['good'].run_id}/metrics/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart-card:not([hidden])')]"
        ".every(c => c.dataset.state === 'drawn')"
    )
    assert_no_violation(page, "model metrics")

    page.goto(f"{base}/p/alpha/runs/{runs['good'].run_id}/metrics/loss/")
    page.wait_for_selector("#metric-chart canvas")
    assert_no_violation(page, "metric page")

    page.goto(f"{base}/p/alpha/compare/?runs={runs['good'].run_id},{runs['bad'].run_id}")
    page.wait_for_function("() => document.getElementById('parallel').dataset.state === 'drawn'")
    assert_no_violation(page, "compare page")

    # The API docs: Swagger UI's inline start-up script carries the nonce.
    page.goto(f"{base}/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .opblock")
    assert_no_violation(page, "API docs")

    # An injected inline script without the nonce is refused by the browser.
    page.goto(f"{base}/p/alpha/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__pwned = true'; document.body.appendChild(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned === undefined")
    assert any("script-src" in v for v in page.evaluate("window.__csp"))


@pytest.mark.django_db
def test_the_admin_has_the_policy_and_no_inline_script(admin_client, alice, project):
    for url in ("/admin/", "/admin/tracking/run/", "/admin/accounts/user/add/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert "script-src 'self'" in policy(response)
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (url, INLINE_SCRIPT.search(html).group(0))
        assert not EVENT_HANDLER.search(html), url


@pytest.mark.django_db
def test_json_answers_carry_no_policy_and_pages_do(client, alice, project):
    client.force_login(alice)
    page = client.get("/")
    assert "default-src 'self'" in policy(page)
    for url in ("/api/v1/projects/", "/api/2.0/mlflow/experiments/search"):
        answer = client.get(url)
        assert answer["Content-Type"].startswith("application/json"), url
        assert "Content-Security-Policy" not in answer, url

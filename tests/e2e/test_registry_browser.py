"""The registry's pages in headless Chromium: register a run's logged model, set an alias on
the model page, and read who moved it in the alias history (the CSP refuses eval, so waits are
functions)."""

import pytest

from tests.e2e.test_browser import page, wait_for_js  # noqa: F401 (the fixture)
from tests.e2e.test_browser import pytestmark as browser_marks
from tests.factories import ExperimentFactory, RunFactory
from tracking.models import LoggedModel, LoggedModelStatus

pytestmark = browser_marks


@pytest.fixture
def logged(project, alice):
    run = RunFactory(experiment=ExperimentFactory(project=project, name="train"), user=alice)
    model = LoggedModel.objects.create(
        experiment=run.experiment,
        name="clf",
        source_run=run,
        status=LoggedModelStatus.READY,
        user=alice,
    )
    model.artifact_location = f"mlflow-artifacts:/{model.artifact_root}"
    model.save(update_fields=["artifact_location"])
    return model


def test_register_a_runs_model_and_move_an_alias(page, live_server, logged):  # noqa: F811
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/p/alpha/models/{logged.model_id}/")
    page.fill("#register-name", "fraud-detector")
    page.get_by_role("button", name="Register", exact=True).click()
    page.wait_for_url(f"{base}/p/alpha/registry/m/fraud-detector/")
    wait_for_js(page, "document.querySelector('#version-1') !== null")
    assert "clf" in page.inner_text("#version-1")

    page.fill("#alias-name", "champion")
    page.select_option("#alias-version", "1")
    page.get_by_role("button", name="Set alias").click()
    wait_for_js(page, "document.querySelector('#alias-history') !== null")
    assert "@champion → v1" in page.inner_text("#model-aliases")
    history = page.inner_text("#alias-history")
    assert "alice" in history and "@champion -> version 1" in history

    page.goto(f"{base}/p/alpha/registry/")
    assert "fraud-detector" in page.inner_text("main")
    page.goto(f"{base}/p/alpha/models/{logged.model_id}/")
    assert page.get_by_role("link", name="fraud-detector v1").is_visible()

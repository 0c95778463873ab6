"""Editors rename, delete, restore and tag runs from the run page; viewers only read."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.frontend.seed import make_run
from tracking.models import Lifecycle, RunTag

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(default_experiment, alice):
    run = make_run(default_experiment, name="before", user=alice)
    RunTag.objects.create(run=run, key="team", value="rl")
    return run


def url(name, run) -> str:
    return reverse(name, kwargs={"slug": "alpha", "run_id": run.run_id})


def follow(client, response) -> str:
    assert response.status_code == 302
    return client.get(response["Location"]).content.decode()


def test_an_editor_renames_the_run(client, alice, run):
    client.force_login(alice)
    page = follow(client, client.post(url("run_rename", run), {"name": "after"}))
    run.refresh_from_db()
    assert run.name == "after"
    assert RunTag.objects.get(run=run, key="mlflow.runName").value == "after"
    assert "Run renamed to after." in page


def test_an_editor_deletes_and_restores_the_run(client, alice, run):
    client.force_login(alice)
    page = follow(client, client.post(url("run_delete", run)))
    run.refresh_from_db()
    assert run.lifecycle == Lifecycle.DELETED
    assert 'id="restore-run"' in page and 'id="edit-run"' not in page
    follow(client, client.post(url("run_restore", run)))
    run.refresh_from_db()
    assert run.lifecycle == Lifecycle.ACTIVE


def test_an_editor_adds_and_removes_tags(client, alice, run):
    client.force_login(alice)
    page = follow(client, client.post(url("run_tag_set", run), {"key": "stage", "value": "best"}))
    assert RunTag.objects.get(run=run, key="stage").value == "best"
    assert '<tr data-key="stage">' in page
    follow(client, client.post(url("run_tag_delete", run), {"key": "team"}))
    assert not RunTag.objects.filter(run=run, key="team").exists()


def test_bad_input_is_a_message_and_writes_nothing(client, alice, run):
    client.force_login(alice)
    page = follow(client, client.post(url("run_rename", run), {"name": ""}))
    assert "name: This field is required." in page
    page = follow(client, client.post(url("run_tag_set", run), {"key": "bad key!", "value": "x"}))
    assert "Tag key" in page
    page = follow(client, client.post(url("run_tag_delete", run), {"key": "missing"}))
    assert "No tag with name: missing" in page
    page = follow(client, client.post(url("run_rename", run), {"name": "x" * 251}))
    assert "at most 250 characters" in page
    run.refresh_from_db()
    assert run.name == "before"
    assert set(RunTag.objects.filter(run=run).values_list("key", flat=True)) == {"team"}


def test_a_viewer_sees_no_edit_controls_and_gets_403(client, bob, run):
    client.force_login(bob)
    page = client.get(url("run", run)).content.decode()
    for control in ('id="edit-run"', 'id="add-tag"', "Remove tag", 'id="restore-run"'):
        assert control not in page
    for name, data in (
        ("run_rename", {"name": "bob"}),
        ("run_delete", {}),
        ("run_restore", {}),
        ("run_tag_set", {"key": "k", "value": "v"}),
        ("run_tag_delete", {"key": "team"}),
    ):
        assert client.post(url(name, run), data).status_code == 403, name
    run.refresh_from_db()
    assert run.name == "before" and run.lifecycle == Lifecycle.ACTIVE
    assert set(RunTag.objects.filter(run=run).values_list("key", flat=True)) == {"team"}


def test_charlie_gets_404(client, charlie, other_project, run):
    client.force_login(charlie)
    for name in ("run_rename", "run_delete", "run_restore", "run_tag_set", "run_tag_delete"):
        assert client.post(url(name, run), {"name": "c", "key": "team"}).status_code == 404


def test_the_forms_need_their_csrf_token(alice, run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(url("run_rename", run), {"name": "x"}).status_code == 403
    assert client.get(url("run_rename", run)).status_code == 405

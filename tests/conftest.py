"""Shared fixtures: the healthchecks triad of users, alice, bob and charlie.

alice manages project P ("alpha"), bob is a viewer of P, charlie manages another project and
must never see anything of P.
"""

import shutil
from collections import Counter

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from whitenoise.middleware import WhiteNoiseMiddleware

from accounts.models import Role, TokenScope
from tests.factories import make_token
from tracking.dirty_runs import DIRTY_KEY, DRAIN_KEY, RedisDirtyRuns, dirty_runs
from tracking.services import summaries
from tracking.services.projects import project_create


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """pytest-xdist hands tests to its workers by node id and runs one test per id, so tests
    sharing an id would silently not run (pytest 9.2 gives schemathesis's per-operation tests
    one id)."""
    shared = sorted(nodeid for nodeid, n in Counter(ids).items() if n > 1)
    if shared:
        pytest.exit(f"tests share a node id and would not all run: {shared}", returncode=4)


@pytest.fixture(autouse=True, scope="session")
def static_files_scanned_once():
    """WhiteNoise reads every static file each time a middleware chain is built, which a
    server process does once but every test client does again; the files do not change during
    the run, so each test client gets the first scan's result."""
    scan = WhiteNoiseMiddleware.add_files_from_finders
    scanned: dict = {}

    def add_files_once(self):
        if not scanned:
            scan(self)
            scanned.update(self.files)
        self.files.update(scanned)

    WhiteNoiseMiddleware.add_files_from_finders = add_files_once
    yield
    WhiteNoiseMiddleware.add_files_from_finders = scan


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.org", "alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.org", "bob-password-1")


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_user(
        "charlie", "charlie@example.org", "charlie-password-1"
    )


@pytest.fixture
def project(alice, bob):
    """Project P: alice manages it, bob views it."""
    p = project_create(slug="alpha", name="Alpha", owner=alice)
    p.memberships.create(user=bob, role=Role.VIEWER)
    return p


@pytest.fixture
def other_project(charlie):
    return project_create(slug="other", name="Other", owner=charlie)


@pytest.fixture
def default_experiment(project):
    return project.experiments.get(name="Default")


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def alice_token(alice, project):
    """A write token of alice's for project P: (ApiToken, plaintext)."""
    return make_token(user=alice, project=project, scope=TokenScope.WRITE)


@pytest.fixture
def bob_token(bob, project):
    return make_token(user=bob, project=project, scope=TokenScope.WRITE)


@pytest.fixture
def charlie_token(charlie, other_project):
    return make_token(user=charlie, project=other_project, scope=TokenScope.WRITE)


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


# For tests of what PostgreSQL does with prepared statements (DB_PREPARED_STATEMENTS).
needs_prepared_statements = pytest.mark.skipif(
    settings.DATABASES["default"].get("OPTIONS", {}).get("prepare_threshold") is None,
    reason="PostgreSQL with prepared statements only",
)


@pytest.fixture
def clean_marks():
    """No run marked dirty and no drain marker, before and after: run pks repeat across tests
    (rolled back or flushed), and the marks live in Redis or the data directory."""

    def clear():
        marks = dirty_runs()
        if isinstance(marks, RedisDirtyRuns):
            marks.client.delete(DIRTY_KEY, DRAIN_KEY)
        else:
            shutil.rmtree(marks.folder, ignore_errors=True)
            marks.marker.unlink(missing_ok=True)

    clear()
    yield dirty_runs()
    clear()


@pytest.fixture
def slow_summaries(monkeypatch):
    """`slow_summaries(pause)`: each summary calls `pause()` between reading the points and
    writing the result, so a test can write or compute concurrently in that moment."""

    def slow(pause) -> None:
        read = summaries._read

        def read_then_pause(**kwargs):
            rows = read(**kwargs)
            pause()
            return rows

        monkeypatch.setattr(summaries, "_read", read_then_pause)

    return slow

"""The per-process cache of verified API tokens: no query for a known token, and nothing
that ends access (revocation, removal, role change, deactivation, expiry) outlives it."""

import time
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import token_cache
from accounts.models import ApiToken, Membership, Role
from accounts.services import membership_change_role, membership_remove, token_revoke
from tests.conftest import bearer

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
LOG_PARAM = "/api/2.0/mlflow/runs/log-parameter"


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    settings.MLPLATFORM_TOKEN_CACHE_SECONDS = 10
    token_cache._verified.clear()
    yield
    token_cache._verified.clear()


def _token_queries(api_client, raw: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(ME, **bearer(raw)).status_code == 200
    return sum("accounts_apitoken" in q["sql"] for q in queries.captured_queries)


def test_a_known_token_costs_no_query(api_client, alice_token):
    _token, raw = alice_token
    assert _token_queries(api_client, raw) == 2  # the read, and the first last_used write
    assert _token_queries(api_client, raw) == 0


def test_the_cache_is_keyed_by_the_whole_token_not_its_prefix(api_client, alice_token):
    _token, raw = alice_token
    assert api_client.get(ME, **bearer(raw)).status_code == 200
    forged = raw[:-1] + ("a" if raw[-1] != "a" else "b")
    assert api_client.get(ME, **bearer(forged)).status_code == 401


def test_revoking_ends_access_at_once(api_client, alice, alice_token):
    token, raw = alice_token
    assert api_client.get(ME, **bearer(raw)).status_code == 200
    token_revoke(token=token, by=alice)
    assert api_client.get(ME, **bearer(raw)).status_code == 401


def test_removing_the_member_ends_access_at_once(api_client, alice, bob, bob_token):
    _token, raw = bob_token
    assert api_client.get(ME, **bearer(raw)).status_code == 200
    membership = Membership.objects.get(user=bob)
    membership_remove(membership=membership, by=alice)
    assert api_client.get(ME, **bearer(raw)).status_code == 401


def test_a_lower_role_applies_at_once(api_client, alice, bob, bob_token, project):
    _token, raw = bob_token
    membership = Membership.objects.get(user=bob)
    membership_change_role(membership=membership, role=Role.EDITOR, by=alice)
    run = api_client.post(
        "/api/2.0/mlflow/runs/create", {"experiment_id": "0"}, format="json", **bearer(raw)
    ).json()["run"]["info"]["run_id"]
    body = {"run_id": run, "key": "lr", "value": "0.1"}
    assert api_client.post(LOG_PARAM, body, format="json", **bearer(raw)).status_code == 200
    membership_change_role(membership=membership, role=Role.VIEWER, by=alice)
    body["key"] = "momentum"
    response = api_client.post(LOG_PARAM, body, format="json", **bearer(raw))
    assert response.status_code == 403


def test_other_processes_forget_when_the_change_commits(
    api_client, alice, alice_token, django_capture_on_commit_callbacks
):
    token, raw = alice_token
    assert api_client.get(ME, **bearer(raw)).status_code == 200
    before = cache.get(token_cache.EPOCH_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        token_revoke(token=token, by=alice)
    assert cache.get(token_cache.EPOCH_KEY) != before

    # Another process: it still holds the token, learns of the new epoch at its next check.
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=None)
    assert api_client.get(ME, **bearer(raw)).status_code == 200  # cached again, unrevoked
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    cache.set(token_cache.EPOCH_KEY, f"changed-elsewhere-{uuid.uuid4()}")
    token_cache._epoch["checked"] = 0.0
    assert api_client.get(ME, **bearer(raw)).status_code == 401


def test_a_change_behind_the_services_back_is_seen_after_the_lifetime(
    api_client, alice_token, settings
):
    settings.MLPLATFORM_TOKEN_CACHE_SECONDS = 0.2
    token, raw = alice_token
    assert api_client.get(ME, **bearer(raw)).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert api_client.get(ME, **bearer(raw)).status_code == 200  # still trusted
    time.sleep(0.25)
    assert api_client.get(ME, **bearer(raw)).status_code == 401


def test_a_cached_token_still_expires_on_time(api_client, alice_token):
    token, raw = alice_token
    ApiToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now() + timedelta(milliseconds=300)
    )
    assert api_client.get(ME, **bearer(raw)).status_code == 200
    time.sleep(0.35)
    assert api_client.get(ME, **bearer(raw)).status_code == 401


def test_deactivating_the_user_in_the_admin_ends_access(admin_client, api_client, bob, bob_token):
    _token, raw = bob_token
    assert api_client.get(ME, **bearer(raw)).status_code == 200
    page = admin_client.get(f"/admin/accounts/user/{bob.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "is_active"}
    data.update(
        {
            "username": bob.username,
            "date_joined_0": bob.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": bob.date_joined.strftime("%H:%M:%S"),
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        }
    )
    response = admin_client.post(f"/admin/accounts/user/{bob.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    bob.refresh_from_db()
    assert not bob.is_active
    assert api_client.get(ME, **bearer(raw)).status_code == 401

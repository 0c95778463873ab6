"""API tokens: created once, stored hashed, listed, revoked; the user's page and the project's."""

import logging
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core import serializers
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import tokens
from accounts.access import Actor, role_in
from accounts.models import ApiToken, AuditAction, AuditEvent, Role, TokenScope
from accounts.services import token_create, token_revoke
from tests.conftest import bearer
from tests.factories import make_token

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r"mlp_[A-Za-z0-9]{32,}")


def everything_in_the_database() -> str:
    return "".join(
        serializers.serialize("json", model.objects.all())
        for model in apps.get_models()
        if model._meta.managed
    )


def test_token_format_is_mlp_and_at_least_32_base62_characters():
    raw = tokens.generate()
    assert TOKEN_RE.fullmatch(raw)
    assert tokens.looks_like_token(raw)
    assert tokens.generate() != raw


def test_created_token_is_stored_as_prefix_and_sha256_only(alice, project):
    token, raw = token_create(user=alice, project=project, name="ci", scope=TokenScope.WRITE)
    assert TOKEN_RE.fullmatch(raw)
    token.refresh_from_db()
    assert token.prefix == raw[: tokens.LOOKUP_LENGTH]
    assert len(token.digest) == 64
    assert tokens.matches(raw, token.digest)
    assert raw not in everything_in_the_database()


def test_token_create_records_an_audit_event(alice, project):
    token, _raw = token_create(user=alice, project=project, name="ci")
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_CREATED)
    assert event.user == alice
    assert event.project == project
    assert event.target_id == str(token.pk)


def test_token_create_rejects_a_project_the_user_is_not_in(charlie, project):
    with pytest.raises(ValidationError, match="not a member"):
        token_create(user=charlie, project=project, name="sneaky")
    assert not ApiToken.objects.exists()


def test_a_viewer_may_create_a_read_token_but_not_a_write_token(bob, project):
    token, _raw = token_create(user=bob, project=project, name="read", scope=TokenScope.READ)
    assert token.scope == TokenScope.READ
    with pytest.raises(ValidationError, match="write token needs"):
        token_create(user=bob, project=project, name="write", scope=TokenScope.WRITE)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "longer than"),
        ({"name": "ok", "scope": "admin"}, "scope"),
        ({"name": "ok", "expires_at": timezone.now() - timedelta(days=1)}, "past"),
    ],
)
def test_token_create_rejects_bad_input(alice, project, fields, message):
    with pytest.raises(ValidationError, match=message):
        token_create(user=alice, project=project, **fields)


def test_token_revoke_is_idempotent_and_audited_once(alice, alice_token):
    token, _raw = alice_token
    token_revoke(token=token, by=alice)
    first = token.revoked_at
    assert first is not None
    token_revoke(token=token, by=alice)
    assert token.revoked_at == first
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED).count() == 1


def test_tokens_page_needs_login(client):
    response = client.get("/accounts/tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_tokens_page_shows_the_plaintext_once_with_the_env_lines(client, alice, project, caplog):
    client.force_login(alice)
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            "/accounts/tokens/",
            {"name": "ray cluster", "project": "alpha", "scope": "write", "expires_in_days": "30"},
        )
    assert response.status_code == 200
    html = response.content.decode()
    raw = TOKEN_RE.search(html).group(0)
    assert "export MLFLOW_TRACKING_URI=http://testserver\n" in html
    assert f"export MLFLOW_TRACKING_TOKEN={raw}" in html
    assert 'data-copy-target="new-token"' in html
    assert "accounts/copy.js" in html
    assert "no-store" in response["Cache-Control"]

    token = ApiToken.objects.get(name="ray cluster")
    assert token.user == alice
    assert token.project == project
    assert token.expires_at > timezone.now() + timedelta(days=29)
    assert raw not in everything_in_the_database()
    assert raw not in caplog.text

    again = client.get("/accounts/tokens/").content.decode()
    assert raw not in again
    assert "ray cluster" in again
    assert token.prefix in again


def test_the_new_token_works_against_the_api(client, alice, project, api_client):
    client.force_login(alice)
    html = client.post(
        "/accounts/tokens/", {"name": "ci", "project": "alpha", "scope": "read"}
    ).content.decode()
    raw = TOKEN_RE.search(html).group(0)
    response = api_client.get("/api/v1/me/", **bearer(raw))
    assert response.status_code == 200
    assert response.json()["token"] == {"project": "alpha", "scope": "read", "expires_at": None}


def test_tokens_page_lists_only_projects_the_user_is_in(client, charlie, project, other_project):
    client.force_login(charlie)
    response = client.get("/accounts/tokens/")
    choices = [p.slug for p in response.context["form"].fields["project"].queryset]
    assert choices == ["other"]


def test_charlie_cannot_create_a_token_for_alices_project(client, charlie, project, other_project):
    client.force_login(charlie)
    response = client.post("/accounts/tokens/", {"name": "x", "project": "alpha", "scope": "read"})
    assert response.status_code == 200
    assert response.context["form"].errors["project"]
    assert not ApiToken.objects.exists()


def test_bad_token_form_input_is_a_form_error_not_a_500(client, alice, project):
    client.force_login(alice)
    response = client.post(
        "/accounts/tokens/",
        {"name": "", "project": "alpha", "scope": "root", "expires_in_days": "-3"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"name", "scope", "expires_in_days"}
    assert not ApiToken.objects.exists()


def test_bob_the_viewer_is_told_a_write_token_needs_editor(client, bob, project):
    client.force_login(bob)
    response = client.post("/accounts/tokens/", {"name": "x", "project": "alpha", "scope": "write"})
    assert "write token needs the editor" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_tokens_page_lists_the_users_tokens_with_their_details(client, alice, project, alice_token):
    token, _raw = alice_token
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    client.force_login(alice)
    html = client.get("/accounts/tokens/").content.decode()
    for text in ("test token", "alpha", "Write", token.prefix, "never", "Revoke"):
        assert text in html


def test_user_revokes_own_token_with_one_click(client, alice, alice_token, api_client):
    token, raw = alice_token
    client.force_login(alice)
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.is_revoked
    assert api_client.get("/api/v1/me/", **bearer(raw)).status_code == 401


def test_charlie_cannot_revoke_alices_token(client, charlie, other_project, alice_token):
    token, _raw = alice_token
    client.force_login(charlie)
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert not token.is_revoked


def test_bob_cannot_revoke_alices_token(client, bob, alice_token):
    token, _raw = alice_token
    client.force_login(bob)
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert not token.is_revoked


def test_revoking_needs_post(client, alice, alice_token):
    token, _raw = alice_token
    client.force_login(alice)
    assert client.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405


def test_manager_sees_all_tokens_of_the_project(client, alice, bob, project, bob_token):
    other_token, _ = make_token(user=alice, project=project, name="alice's own")
    client.force_login(alice)
    response = client.get("/accounts/projects/alpha/tokens/")
    assert response.status_code == 200
    html = response.content.decode()
    assert bob_token[0].prefix in html
    assert other_token.prefix in html
    assert "bob" in html


def test_manager_revokes_a_members_token_and_returns_to_the_project_page(client, alice, bob_token):
    token, _raw = bob_token
    client.force_login(alice)
    response = client.post(
        f"/accounts/tokens/{token.pk}/revoke/", {"next": "/accounts/projects/alpha/tokens/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/projects/alpha/tokens/"
    token.refresh_from_db()
    assert token.is_revoked
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_REVOKED)
    assert event.user == alice
    assert "bob" in event.detail


def test_revoke_does_not_redirect_off_site(client, alice, alice_token):
    token, _raw = alice_token
    client.force_login(alice)
    response = client.post(
        f"/accounts/tokens/{token.pk}/revoke/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == "/accounts/tokens/"


def test_viewer_gets_403_on_the_project_tokens_page(client, bob, project):
    client.force_login(bob)
    assert client.get("/accounts/projects/alpha/tokens/").status_code == 403


def test_editor_gets_403_on_the_project_tokens_page(client, bob, project):
    project.memberships.filter(user=bob).update(role=Role.EDITOR)
    client.force_login(bob)
    assert client.get("/accounts/projects/alpha/tokens/").status_code == 403


def test_charlie_gets_404_on_alices_project_tokens_page(client, charlie, project):
    client.force_login(charlie)
    assert client.get("/accounts/projects/alpha/tokens/").status_code == 404


def test_superusers_see_any_projects_tokens(client, django_user_model, project, alice_token):
    admin = django_user_model.objects.create_superuser("root")
    client.force_login(admin)
    response = client.get("/accounts/projects/alpha/tokens/")
    assert response.status_code == 200
    assert alice_token[0].prefix in response.content.decode()


def test_project_tokens_page_query_count_does_not_grow_with_tokens(
    client, alice, bob, project, django_assert_max_num_queries
):
    for n in range(10):
        make_token(user=bob if n % 2 else alice, project=project, name=f"t{n}")
    client.force_login(alice)
    with django_assert_max_num_queries(8):
        assert client.get("/accounts/projects/alpha/tokens/").status_code == 200


def test_revoking_from_the_project_tokens_page_comes_back_to_it(client, alice, bob, project):
    from tests.factories import make_token

    make_token(user=bob, project=project, name="bob's job")
    client.force_login(alice)
    body = client.get("/accounts/projects/alpha/tokens/").content.decode()
    assert "bob's job" in body or "bob&#x27;s job" in body
    assert 'name="next" value="/accounts/projects/alpha/tokens/"' in body
    own = client.get("/accounts/tokens/").content.decode()
    assert 'name="next"' not in own


# --- the manage scope: a token that may delete, for managers only -------------------------------


@pytest.fixture
def bob_the_editor(bob, project):
    project.memberships.filter(user=bob).update(role=Role.EDITOR)
    return bob


def test_a_manager_may_create_a_manage_token_and_it_acts_as_manager(alice, project):
    token, _raw = token_create(user=alice, project=project, name="ops", scope=TokenScope.MANAGE)
    assert token.max_role == Role.MANAGER
    assert role_in(actor=Actor(user=alice, token=token), project=project) == Role.MANAGER


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_only_a_manager_may_create_a_manage_token(bob, project, role):
    project.memberships.filter(user=bob).update(role=role)
    with pytest.raises(ValidationError, match="manage token needs the manager role"):
        token_create(user=bob, project=project, name="ops", scope=TokenScope.MANAGE)
    assert not ApiToken.objects.exists()


def test_a_manage_token_never_lifts_its_user_above_their_role(bob_the_editor, project):
    # Made while bob managed the project, kept after he was demoted to editor.
    token, _raw = make_token(user=bob_the_editor, project=project, scope=TokenScope.MANAGE)
    assert role_in(actor=Actor(user=bob_the_editor, token=token), project=project) == Role.EDITOR


def test_the_token_page_offers_the_manage_scope_and_creates_it_for_a_manager(
    client, alice, project
):
    client.force_login(alice)
    page = client.get("/accounts/tokens/").content.decode()
    assert '<option value="manage">Manage</option>' in page
    response = client.post(
        "/accounts/tokens/", {"name": "ops", "project": "alpha", "scope": "manage"}
    )
    assert response.status_code == 200
    assert ApiToken.objects.get().scope == TokenScope.MANAGE
    assert "manage access" in response.content.decode()


def test_an_editor_is_told_a_manage_token_needs_a_manager(client, bob_the_editor, project):
    client.force_login(bob_the_editor)
    response = client.post(
        "/accounts/tokens/", {"name": "x", "project": "alpha", "scope": "manage"}
    )
    assert response.status_code == 200
    assert "manage token needs the manager role" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_the_native_api_creates_a_manage_token_for_a_manager_only(
    api_client, alice, bob_the_editor, project
):
    api_client.force_login(bob_the_editor)
    refused = api_client.post(
        "/api/v1/tokens/", {"project": "alpha", "name": "x", "scope": "manage"}, format="json"
    )
    assert refused.status_code == 400
    assert "manage token needs the manager role" in refused.json()["error"]["message"]
    assert not ApiToken.objects.exists()

    api_client.force_login(alice)
    created = api_client.post(
        "/api/v1/tokens/", {"project": "alpha", "name": "x", "scope": "manage"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["scope"] == "manage"


def test_the_command_creates_a_manage_token_for_a_manager_only(alice, bob_the_editor, project):
    out = StringIO()
    call_command(
        "create_api_token",
        "alice",
        "--project",
        "alpha",
        "--scope",
        "manage",
        stdout=out,
        stderr=StringIO(),
    )
    assert ApiToken.objects.get().scope == TokenScope.MANAGE
    with pytest.raises(CommandError, match="manage token needs the manager role"):
        call_command(
            "create_api_token",
            "bob",
            "--project",
            "alpha",
            "--scope",
            "manage",
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert ApiToken.objects.count() == 1


def test_a_managers_manage_token_revokes_a_members_token_of_its_project(
    api_client, alice, project, bob_token
):
    _, raw = make_token(user=alice, project=project, scope=TokenScope.MANAGE)
    token, _ = bob_token
    response = api_client.delete(f"/api/v1/tokens/{token.pk}/", **bearer(raw))
    assert response.status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_database_refuses_an_unknown_scope(alice, project):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_token(user=alice, project=project, scope="admin")

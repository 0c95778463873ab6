"""A token escapes its project and scope: `DELETE /api/v1/tokens/<id>/` with a read token of
project A revoked the same user's write token of project C. Token management through a token
stays inside that token's project, and a read token can revoke only itself."""

import pytest
from django.urls import reverse

from accounts.models import ApiToken, Role, TokenScope
from tests.conftest import bearer
from tests.factories import make_token
from tracking.services.projects import project_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def project_c(alice):
    return project_create(slug="gamma", name="Gamma", owner=alice)


def revoke(api_client, token: ApiToken, raw: str | None = None):
    headers = bearer(raw) if raw else {}
    return api_client.delete(reverse("api-token", args=[token.pk]), **headers)


def revoked(token: ApiToken) -> bool:
    token.refresh_from_db()
    return token.revoked_at is not None


def test_a_read_token_of_one_project_cannot_revoke_a_token_of_another(
    api_client, alice, project, project_c
):
    _, read_a = make_token(user=alice, project=project, scope=TokenScope.READ)
    write_c, _ = make_token(user=alice, project=project_c, scope=TokenScope.WRITE)

    response = revoke(api_client, write_c, read_a)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not revoked(write_c)


def test_a_write_token_cannot_revoke_its_users_token_of_another_project(
    api_client, alice, project, project_c
):
    _, write_a = make_token(user=alice, project=project, scope=TokenScope.WRITE)
    other, _ = make_token(user=alice, project=project_c, scope=TokenScope.READ)

    assert revoke(api_client, other, write_a).status_code == 404
    assert not revoked(other)


def test_a_read_token_can_revoke_itself(api_client, alice, project):
    read_a, raw = make_token(user=alice, project=project, scope=TokenScope.READ)

    assert revoke(api_client, read_a, raw).status_code == 204
    assert revoked(read_a)


def test_a_read_token_cannot_revoke_its_users_other_token_of_the_project(
    api_client, alice, project
):
    _, read_a = make_token(user=alice, project=project, scope=TokenScope.READ)
    sibling, _ = make_token(user=alice, project=project, scope=TokenScope.WRITE)

    response = revoke(api_client, sibling, read_a)

    assert response.status_code == 403
    assert not revoked(sibling)


def test_a_write_token_revokes_its_users_other_token_of_the_project(api_client, alice, project):
    _, write_a = make_token(user=alice, project=project, scope=TokenScope.WRITE)
    sibling, _ = make_token(user=alice, project=project, scope=TokenScope.READ)

    assert revoke(api_client, sibling, write_a).status_code == 204
    assert revoked(sibling)


def test_a_managers_token_cannot_revoke_members_tokens(api_client, alice, bob, project):
    # A token acts at most as an editor: managing other people's tokens needs the session.
    _, write_a = make_token(user=alice, project=project, scope=TokenScope.WRITE)
    bobs, _ = make_token(user=bob, project=project, scope=TokenScope.READ)

    assert revoke(api_client, bobs, write_a).status_code == 404
    assert not revoked(bobs)


def test_charlie_cannot_revoke_alices_token_with_his_token(
    api_client, alice, project, charlie_token
):
    alices, _ = make_token(user=alice, project=project)
    assert revoke(api_client, alices, charlie_token[1]).status_code == 404
    assert not revoked(alices)


def test_a_session_keeps_revoking_own_tokens_anywhere_and_members_tokens_it_manages(
    api_client, alice, bob, project, project_c
):
    project.memberships.filter(user=bob).update(role=Role.EDITOR)
    mine_c, _ = make_token(user=alice, project=project_c)
    bobs, _ = make_token(user=bob, project=project)
    api_client.force_login(alice)

    assert revoke(api_client, mine_c).status_code == 204
    assert revoke(api_client, bobs).status_code == 204
    assert revoked(mine_c) and revoked(bobs)


def test_bob_the_viewer_cannot_revoke_alices_token_in_a_session(api_client, bob, project):
    alices, _ = make_token(user=bob.__class__.objects.get(username="alice"), project=project)
    api_client.force_login(bob)
    assert revoke(api_client, alices).status_code == 404
    assert not revoked(alices)

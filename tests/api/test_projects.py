"""Projects, members and API tokens through the native API."""

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, Project, Role, TokenScope
from tests.factories import make_token

from .helpers import API, client_for, error_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_session(alice):
    client = APIClient()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_session(bob):
    client = APIClient()
    client.force_login(bob)
    return client


@pytest.fixture
def charlie_session(charlie):
    client = APIClient()
    client.force_login(charlie)
    return client


def test_alice_lists_her_projects_with_her_role(alice_session, project, other_project):
    response = alice_session.get(f"{API}/projects/")
    assert response.status_code == 200
    assert [(p["slug"], p["role"]) for p in response.json()] == [("alpha", "manager")]


def test_bob_sees_his_viewer_role_and_a_read_token_caps_it(bob, bob_session, project):
    assert bob_session.get(f"{API}/projects/alpha/").json()["role"] == "viewer"
    _token, raw = make_token(user=bob, project=project, scope=TokenScope.READ)
    assert client_for(raw).get(f"{API}/projects/").json()[0]["role"] == "viewer"


def test_a_write_token_is_capped_to_editor(alice_token):
    response = client_for(alice_token[1]).get(f"{API}/projects/alpha/")
    assert response.json()["role"] == "editor"


def test_charlie_gets_404_for_alices_project(charlie_session, project):
    assert charlie_session.get(f"{API}/projects/alpha/").status_code == 404
    assert charlie_session.get(f"{API}/projects/alpha/members/").status_code == 404
    response = charlie_session.patch(f"{API}/projects/alpha/", {"name": "x"}, format="json")
    assert response.status_code == 404


def test_project_list_query_count_is_pinned(alice, alice_session, django_assert_max_num_queries):
    from tracking.services.projects import project_create

    for i in range(15):
        project_create(slug=f"p{i}", name=f"P{i}", owner=alice)
    with django_assert_max_num_queries(4):
        assert len(alice_session.get(f"{API}/projects/").json()) == 15


def test_alice_creates_a_project_and_manages_it(alice_session):
    response = alice_session.post(
        f"{API}/projects/", {"slug": "beta", "name": "Beta"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "manager"
    assert Project.objects.get(slug="beta").experiments.filter(name="Default").exists()


def test_a_bad_or_taken_slug_is_refused(alice_session, project):
    bad = alice_session.post(f"{API}/projects/", {"slug": "Not A Slug"}, format="json")
    assert bad.status_code == 400
    assert "slug" in error_fields(bad)
    taken = alice_session.post(f"{API}/projects/", {"slug": "alpha"}, format="json")
    assert taken.status_code == 409
    assert "slug" in error_fields(taken)


def test_a_token_cannot_create_projects(alice_token):
    response = client_for(alice_token[1]).post(f"{API}/projects/", {"slug": "x"}, format="json")
    assert response.status_code == 403


def test_project_creation_can_be_kept_to_staff(alice_session, settings):
    settings.MLPLATFORM_PROJECT_CREATION_STAFF_ONLY = True
    response = alice_session.post(f"{API}/projects/", {"slug": "gamma"}, format="json")
    assert response.status_code == 403


def test_alice_renames_her_project_and_bob_cannot(alice_session, bob_session, project):
    response = alice_session.patch(
        f"{API}/projects/alpha/", {"name": "Alpha 2", "description": "d"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Alpha 2"
    refused = bob_session.patch(f"{API}/projects/alpha/", {"name": "B"}, format="json")
    assert refused.status_code == 403


# --- members --------------------------------------------------------------------------------


def test_alice_lists_members_and_bob_cannot(alice_session, bob_session, project):
    response = alice_session.get(f"{API}/projects/alpha/members/")
    assert [(m["username"], m["role"]) for m in response.json()] == [
        ("alice", "manager"),
        ("bob", "viewer"),
    ]
    assert bob_session.get(f"{API}/projects/alpha/members/").status_code == 403


def test_alice_adds_promotes_and_removes_charlie(alice_session, charlie, project):
    added = alice_session.post(
        f"{API}/projects/alpha/members/", {"user": "charlie", "role": "editor"}, format="json"
    )
    assert added.status_code == 201, added.content
    member_url = f"{API}/projects/alpha/members/{added.json()['id']}/"
    promoted = alice_session.patch(member_url, {"role": "manager"}, format="json")
    assert promoted.json()["role"] == "manager"
    assert alice_session.delete(member_url).status_code == 204
    assert not Membership.objects.filter(project=project, user=charlie).exists()


def test_member_errors_name_the_field(alice_session, alice, project):
    unknown = alice_session.post(
        f"{API}/projects/alpha/members/", {"user": "nobody", "role": "viewer"}, format="json"
    )
    assert unknown.status_code == 400
    bad_role = alice_session.post(
        f"{API}/projects/alpha/members/", {"user": "bob", "role": "owner"}, format="json"
    )
    assert "role" in error_fields(bad_role)
    alice_member = Membership.objects.get(project=project, user=alice)
    last_manager = alice_session.patch(
        f"{API}/projects/alpha/members/{alice_member.pk}/", {"role": "viewer"}, format="json"
    )
    assert last_manager.status_code == 400


def test_bob_cannot_add_members(bob_session, project):
    response = bob_session.post(
        f"{API}/projects/alpha/members/", {"user": "charlie"}, format="json"
    )
    assert response.status_code == 403


# --- tokens ---------------------------------------------------------------------------------


def test_alice_creates_a_token_and_sees_the_plaintext_once(alice_session, project):
    response = alice_session.post(
        f"{API}/tokens/", {"project": "alpha", "name": "ci", "scope": "read"}, format="json"
    )
    assert response.status_code == 201, response.content
    plaintext = response.json()["token"]
    assert plaintext.startswith("mlp_")
    assert response["Cache-Control"] == "no-store"
    assert client_for(plaintext).get(f"{API}/me/").status_code == 200
    listed = alice_session.get(f"{API}/tokens/").json()
    assert [t["name"] for t in listed] == ["ci"]
    assert "token" not in listed[0]


def test_bob_the_viewer_cannot_create_a_write_token(bob_session, project):
    response = bob_session.post(
        f"{API}/tokens/", {"project": "alpha", "name": "x", "scope": "write"}, format="json"
    )
    assert response.status_code == 400


def test_charlie_cannot_create_a_token_for_alices_project(charlie_session, project):
    response = charlie_session.post(
        f"{API}/tokens/", {"project": "alpha", "name": "x", "scope": "read"}, format="json"
    )
    assert response.status_code == 404


def test_token_input_errors_name_the_field(alice_session, project):
    response = alice_session.post(
        f"{API}/tokens/", {"project": "alpha", "name": "", "scope": "admin"}, format="json"
    )
    assert response.status_code == 400
    assert {"name", "scope"} <= set(error_fields(response))


def test_a_token_cannot_mint_tokens(alice_token):
    response = client_for(alice_token[1]).post(
        f"{API}/tokens/", {"project": "alpha", "name": "x", "scope": "read"}, format="json"
    )
    assert response.status_code == 403


def test_revoking_a_token(alice_session, alice, bob, project, charlie_session):
    token, raw = make_token(user=alice, project=project, scope=TokenScope.READ)
    assert charlie_session.delete(f"{API}/tokens/{token.pk}/").status_code == 404
    assert alice_session.delete(f"{API}/tokens/{token.pk}/").status_code == 204
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert client_for(raw).get(f"{API}/me/").status_code == 401


def test_a_manager_revokes_a_members_token_but_a_viewer_cannot(
    alice_session, bob_session, alice, bob, project
):
    Membership.objects.filter(project=project, user=bob).update(role=Role.EDITOR)
    bobs, _ = make_token(user=bob, project=project, scope=TokenScope.WRITE)
    alices, _ = make_token(user=alice, project=project, scope=TokenScope.READ)
    assert bob_session.delete(f"{API}/tokens/{alices.pk}/").status_code == 404
    assert alice_session.delete(f"{API}/tokens/{bobs.pk}/").status_code == 204


def test_member_and_token_lists_have_pinned_query_counts(
    alice, alice_session, project, django_user_model, django_assert_max_num_queries
):
    for i in range(10):
        user = django_user_model.objects.create_user(f"user{i}", f"u{i}@example.org", "pw")
        project.memberships.create(user=user, role=Role.VIEWER)
        make_token(user=alice, project=project, scope=TokenScope.READ)
    with django_assert_max_num_queries(6):
        assert len(alice_session.get(f"{API}/projects/alpha/members/").json()) == 12
    with django_assert_max_num_queries(3):
        assert len(alice_session.get(f"{API}/tokens/").json()) == 10

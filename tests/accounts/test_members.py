"""Project members: managers add, change and remove; the last manager always stays."""

import pytest
from django.core.exceptions import ValidationError

from accounts.access import can_create_project
from accounts.models import AuditAction, AuditEvent, Membership, Role
from accounts.services import membership_add, membership_change_role, membership_remove
from tests.factories import make_token

pytestmark = pytest.mark.django_db

MEMBERS = "/accounts/projects/alpha/members/"


def role_of(project, user) -> str | None:
    membership = project.memberships.filter(user=user).first()
    return membership.role if membership else None


# --- services -------------------------------------------------------------------------------


def test_manager_adds_a_user_by_username(alice, charlie, project):
    membership_add(project=project, identifier="charlie", role=Role.EDITOR, by=alice)
    assert role_of(project, charlie) == Role.EDITOR
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_ADDED)
    assert (event.user, event.project, event.target_repr) == (alice, project, "charlie")
    assert "editor" in event.detail


def test_manager_adds_a_user_by_email_in_any_case(alice, charlie, project):
    membership_add(project=project, identifier="Charlie@Example.org", role="viewer", by=alice)
    assert role_of(project, charlie) == Role.VIEWER


@pytest.mark.parametrize(
    ("identifier", "role", "message"),
    [
        ("nobody", "viewer", "No active user"),
        ("", "viewer", "Enter a username"),
        ("bob", "viewer", "already a member"),
        ("charlie", "owner", "role must be one of"),
    ],
)
def test_adding_a_member_rejects_bad_input(alice, bob, charlie, project, identifier, role, message):
    with pytest.raises(ValidationError, match=message):
        membership_add(project=project, identifier=identifier, role=role, by=alice)
    assert project.memberships.count() == 2


def test_a_deactivated_user_cannot_be_added(alice, charlie, project):
    charlie.is_active = False
    charlie.save()
    with pytest.raises(ValidationError, match="No active user"):
        membership_add(project=project, identifier="charlie", role="viewer", by=alice)


def test_manager_changes_a_role_and_it_is_audited(alice, bob, project):
    membership = project.memberships.get(user=bob)
    membership_change_role(membership=membership, role=Role.EDITOR, by=alice)
    assert role_of(project, bob) == Role.EDITOR
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_ROLE_CHANGED)
    assert event.detail == "viewer → editor"


def test_the_last_manager_cannot_be_demoted(alice, project):
    with pytest.raises(ValidationError, match="at least one manager"):
        membership_change_role(
            membership=project.memberships.get(user=alice), role=Role.VIEWER, by=alice
        )
    assert role_of(project, alice) == Role.MANAGER


def test_the_last_manager_cannot_be_removed(alice, project):
    with pytest.raises(ValidationError, match="at least one manager"):
        membership_remove(membership=project.memberships.get(user=alice), by=alice)
    assert role_of(project, alice) == Role.MANAGER


def test_a_manager_can_step_down_once_there_is_another(alice, bob, project):
    membership_change_role(membership=project.memberships.get(user=bob), role="manager", by=alice)
    membership_change_role(membership=project.memberships.get(user=alice), role="editor", by=alice)
    assert role_of(project, alice) == Role.EDITOR
    membership_remove(membership=project.memberships.get(user=alice), by=bob)
    assert role_of(project, alice) is None


def test_removing_a_member_revokes_their_tokens_for_that_project_only(
    alice, bob, project, other_project, bob_token
):
    other_project.memberships.create(user=bob, role=Role.EDITOR)
    elsewhere, _raw = make_token(user=bob, project=other_project)
    membership_remove(membership=project.memberships.get(user=bob), by=alice)
    token = bob_token[0]
    token.refresh_from_db()
    elsewhere.refresh_from_db()
    assert token.is_revoked
    assert not elsewhere.is_revoked
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_REMOVED)
    assert event.target_repr == "bob"
    assert "1 token" in event.detail


def test_project_creation_is_open_unless_a_setting_keeps_it_to_staff(
    settings, alice, django_user_model
):
    staff = django_user_model.objects.create_user("root", is_staff=True)
    settings.MLPLATFORM_PROJECT_CREATION_STAFF_ONLY = False
    assert can_create_project(alice)
    settings.MLPLATFORM_PROJECT_CREATION_STAFF_ONLY = True
    assert not can_create_project(alice)
    assert can_create_project(staff)


def test_project_creation_is_recorded_in_the_audit_trail(alice, project):
    event = AuditEvent.objects.get(action=AuditAction.PROJECT_CREATED, project=project)
    assert event.user == alice


# --- pages ----------------------------------------------------------------------------------


def test_members_page_lists_members_with_forms_for_the_manager(client, alice, project):
    client.force_login(alice)
    response = client.get(MEMBERS)
    assert response.status_code == 200
    html = response.content.decode()
    assert "alice" in html and "bob" in html
    assert "Add a member" in html
    assert "/members/add/" in html


def test_viewer_sees_the_members_read_only(client, bob, project):
    client.force_login(bob)
    response = client.get(MEMBERS)
    assert response.status_code == 200
    html = response.content.decode()
    assert "alice" in html
    assert "Add a member" not in html
    assert "/remove/" not in html
    assert "/role/" not in html


def test_charlie_gets_404_on_alices_members_page(client, charlie, project):
    client.force_login(charlie)
    assert client.get(MEMBERS).status_code == 404


def test_unknown_project_is_404(client, alice):
    client.force_login(alice)
    assert client.get("/accounts/projects/nope/members/").status_code == 404


def test_manager_adds_a_member_through_the_page(client, alice, charlie, project):
    client.force_login(alice)
    response = client.post(MEMBERS + "add/", {"identifier": "charlie", "role": "editor"})
    assert response.status_code == 302
    assert response["Location"] == MEMBERS
    assert role_of(project, charlie) == Role.EDITOR


def test_adding_an_unknown_user_is_a_form_error(client, alice, project):
    client.force_login(alice)
    response = client.post(MEMBERS + "add/", {"identifier": "nobody", "role": "editor"})
    assert response.status_code == 200
    assert "No active user has the username or email nobody" in response.content.decode()
    assert project.memberships.count() == 2


def test_adding_with_a_bad_role_is_a_form_error(client, alice, charlie, project):
    client.force_login(alice)
    response = client.post(MEMBERS + "add/", {"identifier": "charlie", "role": "god"})
    assert response.status_code == 200
    assert response.context["add_form"].errors["role"]
    assert role_of(project, charlie) is None


def test_manager_changes_a_role_through_the_page(client, alice, bob, project):
    client.force_login(alice)
    membership = project.memberships.get(user=bob)
    response = client.post(f"{MEMBERS}{membership.pk}/role/", {"role": "editor"})
    assert response.status_code == 302
    assert role_of(project, bob) == Role.EDITOR


def test_the_page_refuses_to_demote_the_last_manager(client, alice, project):
    client.force_login(alice)
    membership = project.memberships.get(user=alice)
    response = client.post(f"{MEMBERS}{membership.pk}/role/", {"role": "viewer"}, follow=True)
    assert "at least one manager" in response.content.decode()
    assert role_of(project, alice) == Role.MANAGER


def test_a_bad_role_on_the_page_is_an_error_message(client, alice, bob, project):
    client.force_login(alice)
    membership = project.memberships.get(user=bob)
    response = client.post(f"{MEMBERS}{membership.pk}/role/", {"role": "x"}, follow=True)
    assert "Choose a role" in response.content.decode()
    assert role_of(project, bob) == Role.VIEWER


def test_manager_removes_a_member_through_the_page(client, alice, bob, project):
    client.force_login(alice)
    membership = project.memberships.get(user=bob)
    response = client.post(f"{MEMBERS}{membership.pk}/remove/")
    assert response.status_code == 302
    assert role_of(project, bob) is None


def test_the_page_refuses_to_remove_the_last_manager(client, alice, project):
    client.force_login(alice)
    membership = project.memberships.get(user=alice)
    response = client.post(f"{MEMBERS}{membership.pk}/remove/", follow=True)
    assert "at least one manager" in response.content.decode()
    assert role_of(project, alice) == Role.MANAGER


@pytest.mark.parametrize("suffix", ["add/", "{pk}/role/", "{pk}/remove/"])
def test_bob_the_viewer_gets_403_on_member_writes(client, bob, charlie, project, suffix):
    client.force_login(bob)
    pk = project.memberships.get(user=bob).pk
    data = {"identifier": "charlie", "role": "manager"}
    response = client.post(MEMBERS + suffix.format(pk=pk), data)
    assert response.status_code == 403
    assert role_of(project, bob) == Role.VIEWER
    assert role_of(project, charlie) is None


@pytest.mark.parametrize("suffix", ["add/", "{pk}/role/", "{pk}/remove/"])
def test_charlie_gets_404_on_member_writes(client, bob, charlie, project, suffix):
    client.force_login(charlie)
    pk = project.memberships.get(user=bob).pk
    data = {"identifier": "charlie", "role": "manager"}
    response = client.post(MEMBERS + suffix.format(pk=pk), data)
    assert response.status_code == 404
    assert role_of(project, bob) == Role.VIEWER
    assert role_of(project, charlie) is None


def test_a_membership_of_another_project_is_404_here(
    client, alice, charlie, project, other_project
):
    client.force_login(alice)
    foreign = other_project.memberships.get(user=charlie)
    assert client.post(f"{MEMBERS}{foreign.pk}/remove/").status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


def test_superusers_manage_members_of_any_project(client, django_user_model, charlie, project):
    admin = django_user_model.objects.create_superuser("root")
    client.force_login(admin)
    response = client.post(MEMBERS + "add/", {"identifier": "charlie", "role": "viewer"})
    assert response.status_code == 302
    assert role_of(project, charlie) == Role.VIEWER


def test_members_page_query_count_does_not_grow_with_members(
    client, alice, project, django_user_model, django_assert_max_num_queries
):
    for n in range(10):
        user = django_user_model.objects.create_user(f"member{n}")
        project.memberships.create(user=user, role=Role.EDITOR)
    client.force_login(alice)
    with django_assert_max_num_queries(8):
        assert client.get(MEMBERS).status_code == 200


def test_removing_someone_already_removed_says_so(alice, bob, project):
    membership = project.memberships.get(user=bob)
    membership_remove(membership=membership, by=alice)
    with pytest.raises(ValidationError, match="no longer a member"):
        membership_remove(membership=membership, by=alice)
    with pytest.raises(ValidationError, match="no longer a member"):
        membership_change_role(membership=membership, role="editor", by=alice)

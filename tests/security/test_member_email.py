"""Adding a member by username answered with the user's email, so any user with a project of
their own could collect everyone's address. Emails are shown only to their owner and to
superusers, in the API and on the members page."""

import pytest

pytestmark = pytest.mark.django_db

CHARLIE_EMAIL = "charlie@example.org"


def members_url(project) -> str:
    return f"/api/v1/projects/{project.slug}/members/"


def test_adding_by_username_does_not_answer_with_the_email(api_client, alice, charlie, project):
    api_client.force_login(alice)

    response = api_client.post(members_url(project), {"user": "charlie"}, format="json")

    assert response.status_code == 201
    assert response.json()["username"] == "charlie"
    assert response.json()["email"] == ""
    assert CHARLIE_EMAIL not in response.content.decode()
    listing = api_client.get(members_url(project))
    assert CHARLIE_EMAIL not in listing.content.decode()
    membership_id = response.json()["id"]
    patched = api_client.patch(
        f"{members_url(project)}{membership_id}/", {"role": "editor"}, format="json"
    )
    assert CHARLIE_EMAIL not in patched.content.decode()


def test_the_members_page_after_adding_shows_no_email(client, alice, charlie, project):
    client.force_login(alice)

    response = client.post(
        f"/accounts/projects/{project.slug}/members/add/",
        {"identifier": "charlie", "role": "viewer"},
        follow=True,
    )

    assert response.status_code == 200
    assert "charlie" in response.content.decode()
    assert CHARLIE_EMAIL not in response.content.decode()


def test_a_member_sees_their_own_email(client, api_client, bob, project):
    client.force_login(bob)
    assert (
        "bob@example.org"
        in client.get(f"/accounts/projects/{project.slug}/members/").content.decode()
    )


def test_a_superuser_sees_every_members_email(api_client, django_user_model, charlie, project):
    api_client.force_login(django_user_model.objects.create_superuser("root"))
    api_client.post(members_url(project), {"user": "charlie"}, format="json")
    assert CHARLIE_EMAIL in api_client.get(members_url(project)).content.decode()


def test_bob_cannot_add_members_and_charlie_gets_404(api_client, bob, charlie, project):
    api_client.force_login(bob)
    assert (
        api_client.post(members_url(project), {"user": "charlie"}, format="json").status_code == 403
    )
    api_client.force_login(charlie)
    assert api_client.post(members_url(project), {"user": "bob"}, format="json").status_code == 404

"""Every account form refuses a POST without the CSRF token, and accepts it with one."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from accounts.models import ApiToken, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)


def csrf_token(client: Client, page: str) -> str:
    client.get(page)
    return client.cookies["csrftoken"].value


def test_login_without_csrf_token_is_403(csrf_client, alice):
    response = csrf_client.post(
        "/accounts/login/", {"username": "alice", "password": "alice-password-1"}
    )
    assert response.status_code == 403
    assert SESSION_KEY not in csrf_client.session


def test_login_with_csrf_token_works(csrf_client, alice):
    token = csrf_token(csrf_client, "/accounts/login/")
    response = csrf_client.post(
        "/accounts/login/",
        {"username": "alice", "password": "alice-password-1", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302


def test_signup_without_csrf_token_is_403(csrf_client, settings, django_user_model):
    settings.MLPLATFORM_SIGNUP_ENABLED = True
    password = "Dave-has-a-long-passphrase-7"
    data = {"username": "dave", "email": "d@example.org", "password1": password}
    response = csrf_client.post("/accounts/signup/", {**data, "password2": password})
    assert response.status_code == 403
    assert not django_user_model.objects.filter(username="dave").exists()


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/accounts/logout/", {}),
        (
            "/accounts/password/",
            {"old_password": "alice-password-1", "new_password1": "Xx-9876543210-long"},
        ),
        ("/accounts/tokens/", {"name": "ci", "project": "alpha", "scope": "read"}),
        ("/accounts/tokens/{token}/revoke/", {}),
        ("/accounts/projects/alpha/members/add/", {"identifier": "charlie", "role": "editor"}),
        ("/accounts/projects/alpha/members/{bob}/role/", {"role": "manager"}),
        ("/accounts/projects/alpha/members/{bob}/remove/", {}),
    ],
)
def test_signed_in_forms_without_csrf_token_are_403_and_change_nothing(
    csrf_client, alice, bob, charlie, project, alice_token, path, data
):
    csrf_client.force_login(alice)
    url = path.format(token=alice_token[0].pk, bob=project.memberships.get(user=bob).pk)
    response = csrf_client.post(url, data)
    assert response.status_code == 403
    assert SESSION_KEY in csrf_client.session
    alice.refresh_from_db()
    assert alice.check_password("alice-password-1")
    assert ApiToken.objects.get().revoked_at is None
    assert sorted(project.memberships.values_list("user__username", "role")) == [
        ("alice", Role.MANAGER),
        ("bob", Role.VIEWER),
    ]


def test_token_form_with_csrf_token_works(csrf_client, alice, project):
    csrf_client.force_login(alice)
    token = csrf_token(csrf_client, "/accounts/tokens/")
    response = csrf_client.post(
        "/accounts/tokens/",
        {"name": "ci", "project": "alpha", "scope": "read", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 200
    assert ApiToken.objects.filter(name="ci").exists()

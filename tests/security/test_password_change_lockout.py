"""The password-change form was not covered by the log-in lockout (django-axes): a stolen
session could try old passwords without limit. Wrong old passwords now lock out like wrong
passwords on the log-in form, for that username and address."""

import pytest
from django.contrib.auth import SESSION_KEY

pytestmark = pytest.mark.django_db

URL = "/accounts/password/"


def change(client, old: str, ip: str = "203.0.113.5"):
    return client.post(
        URL,
        {"old_password": old, "new_password1": "a-New-pass-42!", "new_password2": "a-New-pass-42!"},
        REMOTE_ADDR=ip,
    )


def test_repeated_wrong_old_passwords_lock_the_form(client, alice, settings):
    client.force_login(alice)
    first = change(client, "wrong")
    assert first.status_code == 200
    assert first.context["form"].has_error("old_password", "password_incorrect")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        change(client, "wrong")

    locked = change(client, "alice-password-1")

    assert locked.status_code == 429
    assert "Too many failed" in locked.content.decode()
    alice.refresh_from_db()
    assert alice.check_password("alice-password-1")


def test_the_lockout_covers_the_log_in_form_too(client, alice, settings):
    client.force_login(alice)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        change(client, "wrong")
    client.logout()

    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "alice-password-1"},
        REMOTE_ADDR="203.0.113.5",
    )

    assert response.status_code == 429
    assert SESSION_KEY not in client.session


def test_the_right_old_password_still_changes_it(client, alice):
    client.force_login(alice)
    change(client, "wrong")

    response = change(client, "alice-password-1")

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a-New-pass-42!")


def test_another_address_is_not_locked(client, alice, settings):
    client.force_login(alice)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        change(client, "wrong")

    assert change(client, "alice-password-1", ip="198.51.100.1").status_code == 302

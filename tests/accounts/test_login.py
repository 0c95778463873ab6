"""Browser log-in, log-out, lockout, password change and sign-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session

from accounts.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
ROOT = Path(__file__).resolve().parents[2]


def log_in(client, username, password, ip="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_login_page_renders_our_template(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert "registration/login.html" in [t.name for t in response.templates]
    assert "Sign up" not in response.content.decode()


def test_alice_logs_in_and_it_is_audited_with_her_address(client, alice):
    response = log_in(client, "alice", "alice-password-1", ip="192.0.2.7")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session[SESSION_KEY] == str(alice.pk)
    event = AuditEvent.objects.get(action=AuditAction.LOGIN)
    assert (event.user, event.ip) == (alice, "192.0.2.7")


def test_the_session_cookie_is_httponly_and_samesite_lax(client, alice):
    response = log_in(client, "alice", "alice-password-1")
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def test_secure_cookies_follow_the_https_setting():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mlplatform.settings"}
    for value, expected in (("1", "True True"), ("0", "False False")):
        env["SECURE_SSL"] = value
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert result.stdout.strip() == expected, result.stderr


def test_a_wrong_password_is_refused_and_audited_with_the_name_tried(client, alice):
    response = log_in(client, "alice", "wrong", ip="192.0.2.8")
    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    assert "correct username and password" in response.content.decode()
    event = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert (event.user, event.username, event.ip) == (None, "alice", "192.0.2.8")


def test_an_authenticated_user_is_sent_on_from_the_login_page(client, alice):
    client.force_login(alice)
    assert client.get(LOGIN).status_code == 302


def test_logout_is_post_only(client, alice):
    client.force_login(alice)
    assert client.get(LOGOUT).status_code == 405
    assert SESSION_KEY in client.session


def test_logout_ends_the_session_on_the_server(client, alice):
    log_in(client, "alice", "alice-password-1")
    old_key = client.cookies["sessionid"].value
    assert Session.objects.filter(session_key=old_key).exists()

    response = client.post(LOGOUT)
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert not Session.objects.filter(session_key=old_key).exists()
    assert AuditEvent.objects.filter(action=AuditAction.LOGOUT, user=alice).exists()

    # Replaying the old cookie gets nowhere.
    client.cookies["sessionid"] = old_key
    assert client.get("/accounts/tokens/").status_code == 302


def test_lockout_after_repeated_failures_for_that_username_and_address(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "alice", "wrong", ip="203.0.113.5")

    locked = log_in(client, "alice", "alice-password-1", ip="203.0.113.5")
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.content.decode()
    assert "alice" in locked.content.decode()
    assert SESSION_KEY not in client.session
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED, detail="locked out").exists()


def test_lockout_does_not_lock_alice_out_from_her_own_address(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        log_in(client, "alice", "wrong", ip="203.0.113.5")

    response = log_in(client, "alice", "alice-password-1", ip="198.51.100.1")
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(alice.pk)


def test_lockout_of_one_username_leaves_others_at_that_address_alone(client, alice, bob, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        log_in(client, "alice", "wrong", ip="203.0.113.5")

    response = log_in(client, "bob", "bob-password-1", ip="203.0.113.5")
    assert response.status_code == 302


def test_password_change_needs_login(client):
    response = client.get("/accounts/password/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_password_change_applies_the_password_validators(client, alice):
    client.force_login(alice)
    response = client.post(
        "/accounts/password/",
        {"old_password": "alice-password-1", "new_password1": "12345", "new_password2": "12345"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "too short" in html
    assert "entirely numeric" in html
    alice.refresh_from_db()
    assert alice.check_password("alice-password-1")


def test_password_change_works(client, alice):
    client.force_login(alice)
    new = "a-much-Longer-passphrase-42"
    response = client.post(
        "/accounts/password/",
        {"old_password": "alice-password-1", "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/done/"
    alice.refresh_from_db()
    assert alice.check_password(new)


def test_signup_is_off_by_default(client):
    assert client.get("/accounts/signup/").status_code == 404
    response = client.post(
        "/accounts/signup/",
        {
            "username": "eve",
            "email": "e@x.org",
            "password1": "Pw-0123456789",
            "password2": "Pw-0123456789",
        },
    )
    assert response.status_code == 404


def test_signup_when_enabled_creates_a_user_and_logs_them_in(client, settings, django_user_model):
    settings.MLPLATFORM_SIGNUP_ENABLED = True
    assert "Sign up" in client.get(LOGIN).content.decode()
    assert client.get("/accounts/signup/").status_code == 200
    password = "Dave-has-a-long-passphrase-7"
    response = client.post(
        "/accounts/signup/",
        {
            "username": "dave",
            "email": "dave@example.org",
            "password1": password,
            "password2": password,
        },
    )
    assert response.status_code == 302
    dave = django_user_model.objects.get(username="dave")
    assert not dave.is_staff
    assert dave.check_password(password)
    assert client.session[SESSION_KEY] == str(dave.pk)


def test_signup_rejects_weak_passwords(client, settings, django_user_model):
    settings.MLPLATFORM_SIGNUP_ENABLED = True
    response = client.post(
        "/accounts/signup/",
        {
            "username": "dave",
            "email": "dave@example.org",
            "password1": "password",
            "password2": "password",
        },
    )
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    assert not django_user_model.objects.filter(username="dave").exists()

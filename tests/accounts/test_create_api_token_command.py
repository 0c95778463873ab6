"""`create_api_token`: a token for scripts, alone on the last line; clear one-line errors."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import tokens
from accounts.models import ApiToken, TokenScope

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_a_working_token_alone_on_the_last_line(alice, project):
    out, err = run("alice", "--project", "alpha", "--scope", "read", "--name", "nightly")
    raw = out.strip().splitlines()[-1]
    assert tokens.looks_like_token(raw)
    token = ApiToken.objects.get()
    assert (token.user, token.project, token.scope, token.name) == (
        alice,
        project,
        TokenScope.READ,
        "nightly",
    )
    assert tokens.matches(raw, token.digest)
    assert "shown only now" in err


def test_expiry_in_days(alice, project):
    run("alice", "--project", "alpha", "--expires-days", "7")
    token = ApiToken.objects.get()
    assert token.expires_at is not None
    assert token.scope == TokenScope.WRITE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--project", "alpha"], "No user named 'nobody'"),
        (["alice", "--project", "nope"], "No project with the slug 'nope'"),
        (["charlie", "--project", "alpha"], "not a member"),
        (["alice", "--project", "alpha", "--scope", "admin"], "Unknown scope 'admin'"),
        (["alice", "--project", "alpha", "--expires-days", "0"], "--expires-days"),
        (["bob", "--project", "alpha", "--scope", "write"], "write token needs"),
    ],
)
def test_errors_are_one_line_and_create_nothing(alice, bob, charlie, project, args, message):
    with pytest.raises(CommandError, match=message) as excinfo:
        run(*args)
    assert "\n" not in str(excinfo.value)
    assert not ApiToken.objects.exists()


def test_a_deactivated_user_gets_no_token(alice, project):
    alice.is_active = False
    alice.save()
    with pytest.raises(CommandError, match="deactivated"):
        run("alice", "--project", "alpha")


@pytest.mark.django_db(transaction=True)
def test_as_a_subprocess_stdout_is_the_token_and_errors_exit_non_zero(alice, project):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    from django.db import connection

    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{connection.settings_dict['NAME']}"
    else:
        s = connection.settings_dict
        env["DATABASE_URL"] = f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    manage = [sys.executable, str(ROOT / "manage.py"), "create_api_token"]

    ok = subprocess.run(
        [*manage, "alice", "--project", "alpha"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    raw = ok.stdout.strip().splitlines()[-1]
    assert tokens.looks_like_token(raw)
    assert tokens.matches(raw, ApiToken.objects.get().digest)

    bad = subprocess.run(
        [*manage, "nobody", "--project", "alpha"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert bad.returncode != 0
    assert "No user named 'nobody'" in bad.stderr
    assert bad.stdout == ""

"""`manage.py create_project <slug> --owner <username> [--name NAME]`."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import Project, Role
from tracking.models import DEFAULT_EXPERIMENT_NAME

ROOT = Path(__file__).resolve().parents[2]


def create_project(*args: str) -> str:
    out = StringIO()
    call_command("create_project", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_creates_the_project_with_its_owner_as_manager(alice):
    out = create_project("vision", "--owner", "alice", "--name", "Vision team")

    assert out == "Created project vision: /p/vision/\n"
    project = Project.objects.get(slug="vision")
    assert project.name == "Vision team"
    assert project.memberships.get().user == alice
    assert project.memberships.get().role == Role.MANAGER
    assert list(project.experiments.values_list("name", flat=True)) == [DEFAULT_EXPERIMENT_NAME]


@pytest.mark.django_db
def test_the_name_defaults_to_the_slug(alice):
    create_project("vision", "--owner", "alice")

    assert Project.objects.get(slug="vision").name == "vision"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("vision", "--owner", "nobody"), "No user named 'nobody'."),
        (("alpha", "--owner", "alice"), "A project with the slug 'alpha' already exists."),
        (("Not A Slug", "--owner", "alice"), "Use 1-50 lowercase letters"),
        (("vision-", "--owner", "alice"), "Use 1-50 lowercase letters"),
        (("vision", "--owner", "alice", "--name", "x" * 201), "Invalid project: name:"),
    ],
)
def test_bad_input_is_a_one_line_error_and_writes_nothing(project, args, message):
    with pytest.raises(CommandError) as excinfo:
        create_project(*args)

    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
    assert list(Project.objects.values_list("slug", flat=True)) == ["alpha"]


@pytest.mark.django_db
def test_a_deactivated_owner_is_refused(alice):
    alice.is_active = False
    alice.save()

    with pytest.raises(CommandError, match="deactivated"):
        create_project("vision", "--owner", "alice")
    assert not Project.objects.exists()


def _database_url() -> str:
    """The URL of the test database this test runs against, for a child process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or "postgres"
    return f"postgresql://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_the_command_line_exits_non_zero_with_one_line_on_error(alice):
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "mlplatform.settings",
        "DATABASE_URL": _database_url(),
        "MLPLATFORM_DATA_DIR": str(settings.DATA_DIR),
    }
    # System checks import every URLconf; this test is about the command and its exit code.
    command = [sys.executable, "manage.py", "create_project", "vision", "--owner", "alice"]
    command.append("--skip-checks")

    created = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)

    assert created.returncode == 0, created.stderr
    assert created.stdout == "Created project vision: /p/vision/\n"
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        "CommandError: A project with the slug 'vision' already exists."
    ]
    assert Project.objects.get(slug="vision").memberships.get().user == alice

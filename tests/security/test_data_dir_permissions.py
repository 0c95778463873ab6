"""`db.sqlite3` (with session keys) was 0644 in a 0755 data directory. A data directory the
platform creates is 0700, and the files it creates there (database, secret key) are 0600."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import server_env

pytestmark = pytest.mark.e2e

MLPLATFORM = Path(sys.executable).parent / "mlplatform"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def migrate(data_dir: Path) -> None:
    # The usual umask, so the modes come from the platform and not from this test.
    env = server_env(data_dir)
    subprocess.run(
        [str(MLPLATFORM), "migrate", "--verbosity", "0"],
        env=env,
        check=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o022),
    )


def test_a_new_data_directory_and_its_files_are_for_the_owner_alone(tmp_path):
    data_dir = tmp_path / "fresh" / "data"

    migrate(data_dir)

    assert mode(data_dir) == 0o700
    assert mode(data_dir / "secret_key") == 0o600
    assert mode(data_dir / "db.sqlite3") == 0o600
    assert (data_dir / "db.sqlite3").stat().st_size > 0  # the database really is in it
    for extra in ("db.sqlite3-wal", "db.sqlite3-shm"):
        if (data_dir / extra).exists():
            assert mode(data_dir / extra) == 0o600


def test_an_existing_data_directory_keeps_the_mode_its_owner_gave_it(tmp_path):
    data_dir = tmp_path / "mine"
    data_dir.mkdir(mode=0o750)
    data_dir.chmod(0o750)

    migrate(data_dir)

    assert mode(data_dir) == 0o750
    assert mode(data_dir / "db.sqlite3") == 0o600


@pytest.mark.django_db
def test_uploaded_artifacts_are_for_the_owner_alone(client, alice, project, alice_token):
    from django.conf import settings

    from tests.conftest import bearer
    from tests.factories import ExperimentFactory, RunFactory

    if settings.ARTIFACTS_BACKEND:
        pytest.skip("another artifact backend is configured")
    run = RunFactory(experiment=ExperimentFactory(project=project), user=alice)
    path = f"{run.experiment_id}/{run.run_id}/artifacts/deep/model.bin"

    response = client.generic(
        "PUT",
        f"/api/2.0/mlflow-artifacts/artifacts/{path}",
        b"weights",
        "application/octet-stream",
        **bearer(alice_token[1]),
    )

    assert response.status_code == 200
    stored = Path(settings.ARTIFACTS_ROOT) / path
    assert mode(stored) == 0o600
    assert mode(stored.parent) == 0o700

"""The benchmark's quick mode runs its whole workload against a live server of ours.

A smoke test only: it checks that every figure completes without an error and lands in the
JSON result, never how fast anything was (the machine is shared; timings are for the docs).
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from benchmarks import servers
from benchmarks.report import EVERYDAY_ROWS, MORE_ROWS, ROWS

pytestmark = pytest.mark.e2e

FIGURES = {row[0] for row in [*ROWS, *EVERYDAY_ROWS, *MORE_ROWS]}


@pytest.fixture
def database_url(tmp_path):
    """PostgreSQL when the suite runs on it (a fresh database beside the test one), else SQLite."""
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'bench.sqlite3'}"
        return
    maintenance = servers.database_url(configured, "postgres")
    name = f"{urlsplit(configured).path.lstrip('/')}_benchsmoke"
    yield servers.fresh_database(maintenance, name)
    import psycopg

    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def our_server(database_url, tmp_path):
    server = servers.start_ours(database_url, tmp_path, redis_url=os.environ.get("REDIS_URL"))
    yield server
    server.stop()


def test_quick_benchmark_completes_against_our_server(our_server, database_url, tmp_path):
    out = tmp_path / "result.json"
    completed = subprocess.run(
        [
            sys.executable, "-m", "benchmarks", "run", "--quick",
            "--target", our_server.url,
            "--token", our_server.token,
            "--username", our_server.username,
            "--password", our_server.password,
            "--project", our_server.project,
            "--database-url", database_url,
            "--pid", str(our_server.pids[0]),
            "--out", str(out),
        ],
        cwd=Path(servers.REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["ours"] is True
    assert set(result["figures"]) >= FIGURES
    failed = {k: v for k, v in result["figures"].items() if v.get("status") == "error"}
    assert failed == {}
    assert result["figures"]["memory"]["peak_rss_mb_total"] > 0
    skipped = {k: v for k, v in result["figures"].items() if v.get("status") == "n/a"}
    assert skipped == {}
    # Correctness, not speed: under the mixed load no request may fail and no point be lost.
    mixed = result["figures"]["mixed"]
    assert (mixed["errors"], mixed["other_errors"], mixed["lost_points"]) == (0, 0, 0), mixed
    assert mixed["points_acknowledged"] > 0
    assert len(result["figures"]["everyday_search"]["rounds"]) == 2

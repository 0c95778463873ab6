"""The database settings from the environment: DATABASE_URL's own options survive, parallel
workers are off and connections last ten minutes by default, and a bad DB_PARALLEL_WORKERS is
refused at start-up."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from tests.fresh_process import run_with_settings

PROBE = """
import json
from django.conf import settings
print(json.dumps(settings.DATABASES["default"]))
"""
URL = "postgresql://u@db.example:5432/mlp?sslmode=verify-full&options=-c%20statement_timeout%3D5000"


def options_for(tmp_path, **environ: str):
    return run_with_settings(PROBE, tmp_path, DATABASE_URL=URL, **environ)


def test_the_urls_options_are_kept_and_parallel_workers_are_off(tmp_path):
    result = options_for(tmp_path)
    assert result.returncode == 0, result.stderr
    database = json.loads(result.stdout)
    assert database["CONN_MAX_AGE"] == 600
    assert database["CONN_HEALTH_CHECKS"] is True
    options = database["OPTIONS"]
    assert options["sslmode"] == "verify-full"
    assert options["options"] == "-c statement_timeout=5000 -c max_parallel_workers_per_gather=0"
    assert options["server_side_binding"] is True


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", "-c statement_timeout=5000"),
        ("2", "-c statement_timeout=5000 -c max_parallel_workers_per_gather=2"),
    ],
)
def test_db_parallel_workers_sets_or_leaves_the_servers_setting(tmp_path, value, expected):
    result = options_for(
        tmp_path, DB_PARALLEL_WORKERS=value, DB_PREPARED_STATEMENTS="false", DB_CONN_MAX_AGE="5"
    )
    assert result.returncode == 0, result.stderr
    database = json.loads(result.stdout)
    assert database["OPTIONS"] == {"sslmode": "verify-full", "options": expected}
    assert database["CONN_MAX_AGE"] == 5


@pytest.mark.parametrize("value", ["two", "-1", "²"])
def test_a_bad_db_parallel_workers_stops_the_start(tmp_path, value):
    result = options_for(tmp_path, DB_PARALLEL_WORKERS=value)
    assert result.returncode != 0
    assert "DB_PARALLEL_WORKERS must be a whole number or empty." in result.stderr


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's setting")
def test_a_connection_plans_no_parallel_workers():
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone() == ("0",)

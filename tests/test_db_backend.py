"""The PostgreSQL backend's health check (mlplatform/db/postgresql), on a real server."""

from __future__ import annotations

import psycopg
import pytest
from django.db import OperationalError, close_old_connections, connection

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backend"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def persistent(monkeypatch):
    """A persistent connection, as production has (the tests close theirs per request)."""
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    yield
    connection.close()


@pytest.fixture
def checks(monkeypatch):
    """Counts the health checks, which run `SELECT 1` on the connection."""
    done = []
    real = connection.is_usable

    def counted():
        done.append(1)
        return real()

    monkeypatch.setattr(connection, "is_usable", counted)
    return done


def request(sql: str = "SELECT 1") -> int:
    """What Django does around one request that runs one query: returns the backend's pid."""
    close_old_connections()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]
    finally:
        close_old_connections()


def idle_for_a_while() -> None:
    connection._last_good -= 60


def terminate(pid: int) -> None:
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_connection_in_steady_use_is_not_checked_before_each_request(persistent, checks):
    first = request()
    assert request() == first
    assert request() == first

    assert checks == []


def test_a_connection_idle_for_a_while_is_checked_before_it_is_used(persistent, checks):
    first = request()
    idle_for_a_while()

    assert request() == first
    assert checks == [1]


def test_an_idle_connection_the_server_dropped_is_replaced_before_the_request_uses_it(
    persistent, checks
):
    first = request()
    idle_for_a_while()
    terminate(first)

    assert request() != first
    assert checks == [1]


def test_a_connection_dropped_within_the_window_fails_one_request_then_is_replaced(persistent):
    first = request()
    terminate(first)

    with pytest.raises(OperationalError):
        request()

    assert connection.connection is None
    assert request() != first


def test_a_request_that_runs_no_query_does_not_vouch_for_the_connection(persistent, checks):
    request()
    idle_for_a_while()
    # A request that never touched the database starts and ends.
    close_old_connections()
    close_old_connections()

    request()

    assert checks == [1]

"""Seeding a peer's database directly, for what its API is too slow to seed in time.

MLflow's schema; FastTrackML's extends it with columns that copy as they are.

Through its API MLflow's server stores about a thousand points and a dozen runs a second on the
benchmark machine, so the 1,000,000-point metric alone would take a quarter of an hour. Seeding
is not a measured figure: the sweep figure times the runs the API creates, and the rest of the
experiment is made of copies of exactly those rows, so the data has the shape MLflow wrote.
"""

from __future__ import annotations

import sqlite3
import time
from urllib.parse import urlsplit

import psycopg

# The tables that hold a run's rows, each keyed by run_uuid, in MLflow's and FastTrackML's schema.
RUN_TABLES = ["runs", "params", "tags", "metrics", "latest_metrics"]


def _columns(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [row[0] for row in rows]


def _clone_expression(table: str, column: str) -> str:
    if column == "run_uuid":
        return "m.new_id"
    if table == "runs" and column == "row_num":
        # FastTrackML numbers runs for its UI; copies get numbers after the last one.
        return "(SELECT coalesce(max(row_num), 0) FROM runs) + 1 + m.g"
    return f't."{column}"'


def clone_runs(database_url: str, templates: list[str], copies: int) -> None:
    """Insert `copies` runs, copy g being template g % len(templates) under a new id."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "CREATE TEMP TABLE clone_map ON COMMIT DROP AS "
            "SELECT md5(random()::text || g::text) AS new_id, "
            "(%s::text[])[1 + g %% %s] AS template, g "
            "FROM generate_series(0, %s - 1) AS g",
            (templates, len(templates), copies),
        )
        for table in RUN_TABLES:
            columns = _columns(conn, table)
            select = ", ".join(_clone_expression(table, c) for c in columns)
            names = ", ".join(f'"{c}"' for c in columns)
            conn.execute(
                f"INSERT INTO {table} ({names}) SELECT {select} "  # noqa: S608 (names from the catalog)
                f"FROM clone_map m JOIN {table} t ON t.run_uuid = m.template"
            )


def insert_series(database_url: str, run_id: str, key: str, points: int) -> None:
    """`points` points of `key` (the workload's own values) and the matching latest value."""
    now = int(time.time() * 1000)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "SELECT %s, sin(g / 500.0) + (g %% 97) / 97.0, %s, %s, g, false "
            "FROM generate_series(0, %s - 1) AS g",
            (key, now, run_id, points),
        )
        last = points - 1
        conn.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (%s, sin(%s / 500.0) + (%s %% 97) / 97.0, %s, %s, false, %s) "
            "ON CONFLICT (key, run_uuid) DO UPDATE SET value = EXCLUDED.value, "
            "timestamp = EXCLUDED.timestamp, step = EXCLUDED.step",
            (key, last, last, now, last, run_id),
        )


def analyze(database_url: str) -> None:
    """Vacuum and refresh the planner's statistics, as autovacuum would within a minute of the
    seeding.

    Without it the search right after a bulk seed is planned on the statistics of an empty
    database, for every server alike, which measures the timing of autovacuum, not the server.
    The vacuum also marks the seeded pages all-visible, which index-only scans need: a server
    that has run for a while has that from autovacuum (which is off on some machines, this
    benchmark's among them), not from the minute after a bulk insert.
    """
    if database_url.startswith("sqlite"):
        # Our embedded default, in the CI smoke test; SQLite's planner keeps no such statistics
        # until ANALYZE either, and the command is the same.
        conn = sqlite3.connect(urlsplit(database_url).path, isolation_level=None)
        try:
            conn.execute("ANALYZE")
        finally:
            conn.close()
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")

"""Binary results (mlplatform/db/binary.py): the same Python values as text, where they apply."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.db.backends.utils import CursorWrapper

from mlplatform.db.binary import binary_results, binary_rows

pytestmark = pytest.mark.django_db

# Every type the binary reads return: integers of each width, floats with the non-finite ones,
# booleans, NULLs, and text beyond ASCII.
_SQL = {
    "postgresql": (
        "SELECT 2, CAST(%s AS bigint), CAST(%s AS smallint), CAST(%s AS double precision),"
        " CAST('NaN' AS double precision), CAST('-Infinity' AS double precision), TRUE, NULL,"
        " CAST(%s AS varchar(20)), CAST(%s AS text)"
    ),
    "sqlite": "SELECT 2, %s, %s, %s, NULL, NULL, 1, NULL, %s, %s",
}
_PARAMS = [1_796_347_085_032, -7, 0.012309277017182397, "lr ≥ 0.01", "naïve 日本 \\ \" '"]


def _rows(cursor) -> list[tuple]:
    cursor.execute(_SQL[connection.vendor], _PARAMS)
    return cursor.fetchall()


def _same(a: tuple, b: tuple) -> bool:
    return all(
        (isinstance(x, float) and math.isnan(x) and math.isnan(y))
        or (x == y and type(x) is type(y))
        for x, y in zip(a, b, strict=True)
    )


def test_binary_results_read_the_same_values_as_text():
    with connection.cursor() as cursor:
        text = _rows(cursor)
    with connection.cursor() as cursor:
        binary_results(cursor)
        binary = _rows(cursor)
    assert len(text) == len(binary) == 1
    assert _same(text[0], binary[0])
    assert binary[0][1] == 1_796_347_085_032
    assert binary[0][-1] == "naïve 日本 \\ \" '"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's result formats")
def test_a_server_binding_cursor_reads_in_binary_and_a_fresh_one_in_text():
    from psycopg.pq import Format

    with connection.cursor() as cursor:
        binary_results(cursor)
        assert cursor.cursor.format == Format.BINARY
        _rows(cursor)
        assert cursor.cursor.pgresult.fformat(0) == Format.BINARY
    # Each `connection.cursor()` is a new psycopg cursor: the setting goes with the cursor.
    with connection.cursor() as cursor:
        assert cursor.cursor.format == Format.TEXT


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's result formats")
def test_a_client_binding_cursor_stays_in_text():
    # What Django uses with DB_PREPARED_STATEMENTS off (a pooler in transaction mode): psycopg's
    # client-side cursors cannot read binary results.
    import psycopg
    from psycopg.pq import Format

    connection.ensure_connection()
    cursor = CursorWrapper(psycopg.ClientCursor(connection.connection), connection)
    try:
        binary_results(cursor)
        assert cursor.cursor.format == Format.TEXT
        with connection.cursor() as server_side:
            assert _same(_rows(cursor)[0], _rows(server_side)[0])
    finally:
        cursor.close()


def test_binary_rows_reads_every_row_of_a_statement():
    sql = {"postgresql": "SELECT n, n / 2.0::float8 FROM generate_series(1, 3) AS n"}.get(
        connection.vendor,
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 3) "
        "SELECT n, n / 2.0 FROM s",
    )
    rows = binary_rows(sql, [])
    assert rows == [(1, 0.5), (2, 1.0), (3, 1.5)]
    assert all(type(half) is float for _, half in rows)

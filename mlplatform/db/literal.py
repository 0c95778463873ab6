"""Statements that carry their values, for reads whose best plan depends on them.

A prepared statement is planned for its values on its first executions only; from then on
PostgreSQL may keep one generic plan made without them. For a search that is the wrong trade:
`params.seed = '17'` (one run) wants the runs found through the param index, `params.kind =
'cnn'` (most runs) wants the experiment's runs in order until the page is full, and a generic
plan picks one for both (19 ms against 0.3 ms for the second, in 10,000 runs). With its values
written in, each search is its own statement: planned for those values, and once repeated (a
dashboard, a sweep polled for its best trial) prepared with that plan, not planned again.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection


def with_values(sql: str, params: Sequence) -> tuple[str, Sequence | None]:
    """`sql` with `params` written in by the driver's client-side binding (what Django does
    when server-side binding is off), and None for parameters, on PostgreSQL; unchanged on
    other databases. Run the result with `cursor.execute(sql, None)`: no `%` is a placeholder.
    """
    if connection.vendor != "postgresql":
        return sql, params
    return connection.ops.compose_sql(sql, params), None

"""Statements that carry their values (mlplatform/db/literal.py), and the search that uses them."""

from __future__ import annotations

import math

import pytest
from django.db import connection

from mlplatform.db.binary import binary_rows
from mlplatform.db.literal import with_values
from tests.conftest import needs_prepared_statements
from tests.factories import ExperimentFactory, ParamFactory, RunFactory
from tracking.selectors import runs as run_selectors
from tracking.selectors.runs import run_search

pytestmark = pytest.mark.django_db

_SQL = "SELECT %s, %s, %s, %s, %s, %s"
# Quotes, a backslash, a `%` that must not become a placeholder, text beyond ASCII, and
# numbers at the edges of their types.
_PARAMS = ["it's 100% \\ done", 'naïve 日本 "x"', "%s", -(2**62), None, True]
# A float is written as a decimal literal, which a comparison with a float column reads back
# as the same double, down to the last bit.
_FLOATS = [0.1, 0.30000000000000004, 5e-324, 1.7976931348623157e308, -0.0, 1e-7, -2.5]


def test_a_statement_with_its_values_reads_what_its_parameters_read():
    sql, params = with_values(_SQL, _PARAMS)
    if connection.vendor == "postgresql":
        assert params is None
        assert str(_PARAMS[3]) in sql
    else:
        assert (sql, params) == (_SQL, _PARAMS)
    assert binary_rows(sql, params) == binary_rows(_SQL, _PARAMS)


@pytest.mark.parametrize("number", [*_FLOATS, math.inf, -math.inf])
def test_a_float_written_in_compares_equal_to_the_same_double_in_a_column(number):
    literal, params = with_values("%s", [number])
    # The literal is what with_values wrote for a float, never text from outside the test.
    sql = (
        f"SELECT x = {literal}, x < {literal}, x > {literal}"  # noqa: S608
        " FROM (SELECT CAST(%s AS double precision) AS x) t"
    )
    assert binary_rows(sql, [*(params or []) * 3, number]) == [(True, False, False)]


@pytest.fixture
def noted(project, alice):
    experiment = ExperimentFactory(project=project)
    runs = [RunFactory(experiment=experiment, user=alice) for _ in range(3)]
    for run, note in zip(runs, ["it's 100% done", "it", "100%"], strict=True):
        ParamFactory(run=run, key="note", value=note)
    return experiment, runs


def _found(experiment, filter_string: str) -> list[str]:
    rows, _ = run_search(
        experiments=[experiment], filter_string=filter_string, prefetch=False, max_results=10
    )
    return [row.run_id for row in rows]


def test_a_search_finds_a_value_with_quotes_and_percent_signs_and_nothing_else(noted):
    experiment, runs = noted
    assert _found(experiment, 'params.note = "it\'s 100% done"') == [runs[0].run_id]
    assert _found(experiment, "params.note LIKE '%100\\%'") == []
    assert sorted(_found(experiment, "params.note LIKE '%100%'")) == sorted(
        [runs[0].run_id, runs[2].run_id]
    )


@needs_prepared_statements
def test_a_repeated_search_is_prepared_with_its_values_and_each_value_apart(noted):
    experiment, runs = noted
    run_selectors._row_page_sql.cache_clear()
    for _ in range(6):
        assert _found(experiment, "params.note = 'it'") == [runs[1].run_id]
        assert _found(experiment, "params.note = '100%'") == [runs[2].run_id]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, parameter_types::text FROM pg_prepared_statements"
            " WHERE NOT from_sql AND statement LIKE '%%tracking_param%%'"
        )
        prepared = cursor.fetchall()
    # One statement per value, each planned for it: no parameter left for a generic plan.
    assert sorted(types for _, types in prepared) == ["{}", "{}"]
    assert sorted("'100%'" in sql for sql, _ in prepared) == [False, True]

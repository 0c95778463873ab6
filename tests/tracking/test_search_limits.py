"""Bounds on what a client's search may cost: filter length and clauses, the compiled-search
cache, and experiment ids."""

import json

import pytest
from django.http import Http404
from django.urls import reverse

from accounts.access import Actor
from tests.conftest import bearer
from tests.factories import ExperimentFactory, RunFactory
from tracking.errors import InvalidInput
from tracking.search import (
    MAX_FILTER_CLAUSES,
    MAX_FILTER_LENGTH,
    MAX_ORDER_BY_CLAUSES,
    MAX_ORDER_BY_LENGTH,
    SearchError,
    parse_filter,
    parse_order_by,
)
from tracking.selectors import runs as run_selectors
from tracking.selectors.lookups import experiment_for_user
from tracking.selectors.runs import run_search
from tracking.validation import experiment_pks, parse_pk

MLFLOW = "/api/2.0/mlflow/"


def _clauses(count: int) -> str:
    return " and ".join(f"metrics.m{i} > 0" for i in range(count))


def _mlflow_search(client, raw_token, payload):
    return client.generic(
        "POST", MLFLOW + "runs/search", json.dumps(payload), "application/json", **bearer(raw_token)
    )


def _invalid_parameter(response) -> str:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
    return body["message"]


# --- the parser's limits -----------------------------------------------------------------------


def test_a_filter_of_the_most_clauses_parses():
    assert len(parse_filter(_clauses(MAX_FILTER_CLAUSES))) == MAX_FILTER_CLAUSES


def test_one_clause_more_is_refused_at_its_position():
    text = _clauses(MAX_FILTER_CLAUSES + 1)
    with pytest.raises(SearchError, match=f"at most {MAX_FILTER_CLAUSES} comparisons") as caught:
        parse_filter(text)
    assert caught.value.position == text.rindex("metrics.")


def test_a_filter_longer_than_the_limit_is_refused_before_it_is_read():
    text = "params.p = '" + "x" * MAX_FILTER_LENGTH + "'"
    with pytest.raises(SearchError, match=f"at most {MAX_FILTER_LENGTH}"):
        parse_filter(text)
    assert parse_filter("params.p = '" + "x" * (MAX_FILTER_LENGTH - 14) + "'")


def test_order_by_is_bounded_in_clauses_and_length():
    assert len(parse_order_by([f"params.p{i}" for i in range(MAX_ORDER_BY_CLAUSES)])) == 20
    with pytest.raises(SearchError, match=f"at most {MAX_ORDER_BY_CLAUSES} clauses"):
        parse_order_by(f"params.p{i}" for i in range(MAX_ORDER_BY_CLAUSES + 1))
    with pytest.raises(SearchError, match=f"at most {MAX_ORDER_BY_LENGTH}"):
        parse_order_by(["params." + "p" * MAX_ORDER_BY_LENGTH])


# --- every surface answers 400 -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_thousand_and_one_anded_clauses_are_a_json_400_on_runs_search(
    api_client, alice_token, project
):
    payload = {"experiment_ids": ["0"], "filter": " and ".join(["metrics.m > 0"] * 1001)}
    assert "at most" in _invalid_parameter(_mlflow_search(api_client, alice_token[1], payload))


@pytest.mark.django_db
def test_too_many_clauses_within_the_length_are_a_json_400_on_runs_search(
    api_client, alice_token, project
):
    payload = {"experiment_ids": ["0"], "filter": _clauses(MAX_FILTER_CLAUSES + 1)}
    message = _invalid_parameter(_mlflow_search(api_client, alice_token[1], payload))
    assert f"at most {MAX_FILTER_CLAUSES} comparisons" in message


@pytest.mark.django_db
def test_an_over_long_filter_is_a_json_400_on_runs_search(api_client, alice_token, project):
    payload = {"experiment_ids": ["0"], "filter": "run_name = '" + "x" * MAX_FILTER_LENGTH + "'"}
    message = _invalid_parameter(_mlflow_search(api_client, alice_token[1], payload))
    assert f"at most {MAX_FILTER_LENGTH} are allowed" in message


@pytest.mark.django_db
def test_the_most_clauses_still_search_on_runs_search(
    api_client, alice_token, project, default_experiment, alice
):
    RunFactory(experiment=default_experiment, user=alice)
    payload = {"experiment_ids": ["0"], "filter": _clauses(MAX_FILTER_CLAUSES)}
    response = _mlflow_search(api_client, alice_token[1], payload)
    assert response.status_code == 200, response.content
    assert response.json() == {}


@pytest.mark.django_db
def test_too_many_clauses_are_a_json_400_on_the_native_api(
    api_client, alice_token, default_experiment
):
    url = f"/api/v1/experiments/{default_experiment.pk}/runs/"
    query = {"filter": _clauses(MAX_FILTER_CLAUSES + 1)}
    response = api_client.get(url, query, **bearer(alice_token[1]))
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert f"at most {MAX_FILTER_CLAUSES} comparisons" in error["fields"]["filter"][0]


@pytest.mark.django_db
def test_too_many_clauses_are_a_form_error_on_the_runs_page(client, alice, project):
    client.force_login(alice)
    url = reverse("project", kwargs={"slug": project.slug})
    response = client.get(url, {"filter": _clauses(MAX_FILTER_CLAUSES + 1)})
    assert response.status_code == 200
    assert f"at most {MAX_FILTER_CLAUSES} comparisons" in response.context["table"]["filter_error"]
    assert 'id="filter-error"' in response.content.decode()


# --- the compiled-search cache -----------------------------------------------------------------


def _row_search(experiments, filter_string, order_by=None):
    rows, _ = run_search(
        experiments=experiments,
        filter_string=filter_string,
        order_by=order_by,
        max_results=10,
        prefetch=False,
    )
    return rows


@pytest.mark.django_db
def test_the_compiled_search_cache_stays_within_its_entries(default_experiment):
    run_selectors._row_page_sql.cache_clear()
    for i in range(run_selectors._CACHED_SEARCHES + 44):
        _row_search([default_experiment], f"params.p = '{i}'")
    info = run_selectors._row_page_sql.cache_info()
    assert info.maxsize == run_selectors._CACHED_SEARCHES
    assert info.currsize == run_selectors._CACHED_SEARCHES
    assert info.misses == run_selectors._CACHED_SEARCHES + 44


@pytest.mark.django_db
def test_a_large_search_is_answered_but_not_cached(default_experiment, alice):
    run = RunFactory(experiment=default_experiment, user=alice, name="wanted")
    run_selectors._row_page_sql.cache_clear()
    name = "x" * run_selectors._CACHED_SEARCH_LENGTH
    assert _row_search([default_experiment], f"run_name = '{name}'") == []
    assert [r.run_id for r in _row_search([default_experiment], "run_name = 'wanted'")] == [
        run.run_id
    ]
    # Many experiments make the key and the SQL large too.
    experiments = [default_experiment] + [
        ExperimentFactory(project=default_experiment.project)
        for _ in range(run_selectors._CACHED_EXPERIMENTS)
    ]
    assert [r.run_id for r in _row_search(experiments, "run_name = 'wanted'")] == [run.run_id]
    info = run_selectors._row_page_sql.cache_info()
    assert (info.currsize, info.misses) == (1, 1)


@pytest.mark.django_db
def test_the_largest_cached_search_keeps_each_entry_small():
    # The biggest SQL per character: metric comparisons and orderings (subqueries each).
    order_by = tuple(f"metrics.o{i} DESC" for i in range(MAX_ORDER_BY_CLAUSES))
    budget = run_selectors._CACHED_SEARCH_LENGTH - sum(len(clause) for clause in order_by)
    parts: list[str] = []
    while len(" and ".join([*parts, f"metrics.m{len(parts)} > 0"])) <= budget:
        parts.append(f"metrics.m{len(parts)} > 0")
    ids = tuple(range(run_selectors._CACHED_EXPERIMENTS))
    key = (ids, " and ".join(parts), order_by, "ACTIVE_ONLY", None, 0, 50_001)
    assert run_selectors._cacheable(*key[:3])

    sql, params = run_selectors._compile_row_page(*key)

    # At most 256 entries of this size: a few megabytes per process, whatever clients send.
    assert len(sql) + len(repr(params)) + len(repr(key)) < 64 * 1024


# --- experiment ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["²", "٣", "1" * 5000, "1" * 20, str(2**63), "-1", " 7", "", True]
)
def test_only_ascii_digits_of_a_64_bit_key_are_an_experiment_id(value):
    assert parse_pk(value) is None
    with pytest.raises(InvalidInput, match="Invalid experiment id") as caught:
        experiment_pks(["1", value])
    assert caught.value.field == "experiment_ids"
    assert len(caught.value.message) < 100


def test_experiment_ids_parse_to_keys_and_are_bounded_in_number():
    assert experiment_pks(["0", "12", 7, str(2**63 - 1)]) == [0, 12, 7, 2**63 - 1]
    with pytest.raises(InvalidInput, match="At most"):
        experiment_pks(["1"] * 10_001)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["²", "1" * 4000, 10**30])
def test_an_absurd_experiment_id_is_not_found(alice, project, value):
    with pytest.raises(Http404):
        experiment_for_user(actor=Actor(user=alice), experiment_id=value)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["²", "1" * 5000])
def test_runs_search_refuses_an_experiment_id_that_is_not_digits(
    api_client, alice_token, project, value
):
    payload = {"experiment_ids": [value]}
    _invalid_parameter(_mlflow_search(api_client, alice_token[1], payload))

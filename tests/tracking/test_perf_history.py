"""get-history and runs/search written from rows: the same bytes, in few queries, indexed."""

import base64
import json
import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import bearer
from tests.factories import ExperimentFactory, RunFactory
from tracking.batch import MetricIn, ParamIn, TagIn
from tracking.mlflow_api.wire import dumps, metric_out, run_out
from tracking.models import INDEXED_VALUE_LENGTH, Metric, Param, Run, RunTag
from tracking.selectors.metrics import metric_history, metric_history_rows
from tracking.selectors.runs import run_search
from tracking.services.ingest import run_log_batch
from tracking.store import RunRef

pytestmark = pytest.mark.django_db

API = "/api/2.0/mlflow/"


@pytest.fixture
def run(project, alice) -> Run:
    return RunFactory(experiment=ExperimentFactory(project=project), user=alice)


def history(api_client, token: str, run: Run, key: str, **query):
    return api_client.get(
        API + "metrics/get-history",
        {"run_id": run.run_id, "metric_key": key, **query},
        **bearer(token),
    )


def all_pages(api_client, token: str, run: Run, key: str, size: int) -> list[dict]:
    seen, page_token = [], None
    while True:
        query = {"max_results": size, **({"page_token": page_token} if page_token else {})}
        response = history(api_client, token, run, key, **query)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += body["metrics"]
        page_token = body.get("next_page_token")
        if not page_token:
            return seen


def test_a_page_is_byte_for_byte_what_the_dict_serializer_writes(api_client, alice_token, run):
    values = [0.1, math.nan, math.inf, -math.inf, 1e300, -0.0, 3.0, 2**53 + 0.5]
    run_log_batch(run=run, metrics=[MetricIn("k", v, 2**62, i) for i, v in enumerate(values)])
    points = Metric.objects.filter(run=run, key="k").order_by("step", "timestamp", "value")

    response = history(api_client, alice_token[1], run, "k")

    assert response.content.decode() == dumps({"metrics": [metric_out(p) for p in points]})


def test_points_sharing_a_step_and_timestamp_page_by_value_each_exactly_once(
    api_client, alice_token, run
):
    run_log_batch(
        run=run,
        metrics=[
            MetricIn("k", value, timestamp, step)
            for step in range(3)
            for timestamp in (5, 6)
            for value in (2.0, -1.0, math.nan, 0.0)
        ],
    )

    seen = all_pages(api_client, alice_token[1], run, "k", size=1)

    order = [(m["step"], m["timestamp"]) for m in seen]
    assert order == sorted(order) and len(seen) == 3 * 2 * 4
    assert {json.dumps(m, sort_keys=True) for m in seen} == {
        json.dumps(m, sort_keys=True) for m in all_pages(api_client, alice_token[1], run, "k", 25)
    }
    first_values = [m["value"] for m in seen[:4]]
    assert first_values == [-1.0, 0.0, "NaN", 2.0]


def test_a_page_costs_the_same_queries_whatever_its_size(
    api_client, alice_token, run, django_assert_max_num_queries
):
    run_log_batch(run=run, metrics=[MetricIn("k", float(i), i, i) for i in range(600)])
    token = metric_history_rows(run=run, key="k", max_results=10)[1]

    with django_assert_max_num_queries(6):
        body = history(api_client, alice_token[1], run, "k", max_results=500, page_token=token)
    assert body.status_code == 200
    assert [m["step"] for m in body.json()["metrics"]] == list(range(10, 510))


@pytest.mark.parametrize(
    "position",
    [
        {"s": 1, "t": 2, "i": 3},  # the former (step, timestamp, id) token
        {"s": 1, "t": 2, "v": "x", "n": False},
        {"s": 1, "t": 2, "v": 1.0, "n": 0},
        {"s": True, "t": 2, "v": 1.0, "n": False},
        [1, 2, 3],
    ],
)
def test_a_malformed_page_token_is_a_400(api_client, alice_token, run, position):
    token = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()

    response = history(api_client, alice_token[1], run, "loss", page_token=token)

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_metric_history_still_gives_metric_instances_for_the_native_api(run):
    run_log_batch(run=run, metrics=[MetricIn("k", math.nan, 1, 0), MetricIn("k", 2.0, 1, 1)])

    points, token = metric_history(run=run, key="k", max_results=1)
    rest, end = metric_history(run=run, key="k", page_token=token)

    assert [(p.step, math.isnan(p.display_value)) for p in points] == [(0, True)]
    assert [(p.key, p.step, p.display_value) for p in rest] == [("k", 1, 2.0)] and end is None


def test_search_writes_runs_exactly_as_the_prefetching_serializer(api_client, alice_token, run):
    experiment = run.experiment
    for i in range(3):
        other = RunFactory(experiment=experiment, user=run.user)
        run_log_batch(
            run=other,
            metrics=[MetricIn("acc", [0.5, math.nan, math.inf][i], 1, 0), MetricIn("b", 1, 1, 0)],
            params=[ParamIn("lr", "0.01"), ParamIn("a", str(i))],
            tags=[TagIn("team", "rl")],
        )
    payload = {"experiment_ids": [str(experiment.pk)], "order_by": ["params.a"]}

    response = api_client.post(
        API + "runs/search",
        json.dumps(payload),
        content_type="application/json",
        **bearer(alice_token[1]),
    )

    expected, _ = run_search(experiments=[experiment], order_by=["params.a"])
    assert response.content.decode() == dumps({"runs": [run_out(r) for r in expected]})


@pytest.mark.parametrize("count", [3, 30])
def test_search_costs_the_same_queries_for_3_or_30_runs(
    api_client, alice_token, run, django_assert_max_num_queries, count
):
    for _ in range(count):
        other = RunFactory(experiment=run.experiment, user=run.user)
        run_log_batch(
            run=other,
            metrics=[MetricIn("acc", 0.9, 1, 0)],
            params=[ParamIn("lr", "0.01")],
            tags=[TagIn("team", "rl")],
        )
    payload = {
        "experiment_ids": [str(run.experiment_id)],
        "filter": "metrics.acc > 0.5 and params.lr = '0.01' and tags.team = 'rl'",
        "order_by": ["metrics.acc DESC"],
    }

    with django_assert_max_num_queries(10):
        response = api_client.post(
            API + "runs/search",
            json.dumps(payload),
            content_type="application/json",
            **bearer(alice_token[1]),
        )
    assert len(response.json()["runs"]) == count


@pytest.mark.parametrize("model", [Param, RunTag])
def test_short_param_and_tag_values_are_indexed_by_key_and_value(model):
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    # On PostgreSQL the run rides along (INCLUDE), so the search reads no table rows.
    expected = ["key", "value", "run_id"] if connection.vendor == "postgresql" else ["key", "value"]
    assert any(c["index"] and c["columns"] == expected for c in found.values())


def test_latest_metrics_are_unique_by_run_and_key_and_carry_the_value_on_postgresql():
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "tracking_latestmetric")
    constraint = found["latestmetric_unique_key"]
    assert constraint["unique"] and constraint["columns"] == ["run_id", "key"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conname = 'latestmetric_unique_key'"
            )
            assert cursor.fetchone()[0] == "UNIQUE (run_id, key) INCLUDE (value, is_nan)"


@pytest.mark.parametrize("length", [1, INDEXED_VALUE_LENGTH, INDEXED_VALUE_LENGTH + 1, 6000])
def test_equality_search_finds_values_of_any_length(run, length):
    value = "v" * length
    run_log_batch(run=run, params=[ParamIn("p", value)], tags=[TagIn("t", value)])
    RunFactory(experiment=run.experiment)

    for text in (f"params.p = '{value}'", f"tags.t = '{value}'"):
        found, _ = run_search(experiments=[run.experiment], filter_string=text)
        assert found == [run]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
def test_a_page_read_by_run_id_within_a_project_needs_no_sort(run):
    run_log_batch(run=run, metrics=[MetricIn("loss", float(i), i, i) for i in range(50)])
    ref = RunRef.in_project(run.run_id, run.experiment.project_id)
    with CaptureQueriesContext(connection) as queries:
        rows, _ = metric_history_rows(run=ref, key="loss")
    assert [row[0] for row in rows] == list(range(50))
    [query] = queries.captured_queries
    with connection.cursor() as cursor:
        # A tiny test table makes any plan cheap; with sorting priced out, a Sort is left only
        # where the planner cannot see that the index gives the order.
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + query["sql"], query.get("params"))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The primary key's order is the page's: a Sort node would sort every 25,000-point page.
    assert "Sort" not in plan, plan
    assert "tracking_metric_pkey" in plan, plan

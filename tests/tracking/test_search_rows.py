"""runs/search's fast paths find and write exactly what the general ones do.

The search joins a metric that is both compared and ordered by instead of reading it three
times, `run_details` reads rows with its own SQL (an array parameter on PostgreSQL), and
`run_rows_out` writes the body as text; each is checked here against the path it replaces.
"""

import json
import math

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import User
from tests.conftest import bearer, needs_prepared_statements
from tests.factories import ExperimentFactory, ParamFactory, RunFactory, RunTagFactory
from tracking.batch import MetricIn, ParamIn, TagIn
from tracking.mlflow_api.wire import dumps, metric_out, run_info_out, run_out, run_rows_out
from tracking.models import LatestMetric, Param, Run, RunTag
from tracking.search import filter_and_order_runs, filter_runs, order_runs
from tracking.selectors import runs as run_selectors
from tracking.selectors.runs import RunDetails, RunRow, run_details, run_search
from tracking.services.ingest import run_log_batch

API = "/api/2.0/mlflow/"

# 0.5 and 0.25 repeat, so ties fall to start_time (which repeats too) and then run_id.
_ACC = [0.5, 0.25, math.nan, math.inf, -math.inf, None, 0.5, 0.0, 0.25, 0.9, None, 0.5, -0.0]


@pytest.fixture
def sweep(project, alice) -> list[Run]:
    """Runs with real, tied, NaN, infinite and missing accuracies, and some params and tags."""
    experiment = ExperimentFactory(project=project)
    made = []
    for i in range(26):
        run = RunFactory(experiment=experiment, user=alice, start_time=1000 + i % 4)
        acc = _ACC[i % len(_ACC)]
        metrics = [MetricIn("loss", float(i % 5), 1, 0)]
        if acc is not None:
            metrics.append(MetricIn("acc", acc, 1, 0))
        run_log_batch(
            run=run,
            metrics=metrics,
            params=[ParamIn("lr", ["0.1", "0.01"][i % 2])],
            tags=[TagIn("team", ["rl", "cv"][i % 3 % 2])],
        )
        made.append(run)
    return made


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text",
    [
        "metrics.acc > 0.2",
        "metrics.acc >= 0.25 and params.lr = '0.01'",
        "metrics.acc = 0.5",
        "metrics.acc < 1e999 and metrics.acc > -1e999",
        "metrics.acc <= 0.5 and metrics.acc != 0.25 and tags.team = 'rl'",
        "metrics.acc != 0.5",
        "metrics.acc IS NOT NULL and metrics.loss < 3",
        "metrics.loss > 0 and metrics.acc > 0",
        "metrics.acc > 0.5 and metrics.acc IS NULL",
    ],
)
@pytest.mark.parametrize(
    "order_by",
    [
        ["metrics.acc DESC"],
        ["metrics.acc"],
        ["metrics.loss DESC", "metrics.acc ASC"],
        ["params.lr", "metrics.acc DESC"],
        ["metrics.acc DESC", "start_time ASC"],
    ],
)
def test_a_metric_compared_and_ordered_by_finds_what_filter_then_order_finds(sweep, text, order_by):
    runs = Run.objects.filter(experiment=sweep[0].experiment)

    joined = list(filter_and_order_runs(runs, text, order_by))

    assert joined == list(order_runs(filter_runs(runs, text), order_by))


@pytest.mark.django_db
def test_a_metric_compared_and_ordered_by_is_read_once(sweep):
    qs = filter_and_order_runs(Run.objects.all(), "metrics.acc > 0.2", ["metrics.acc DESC"])

    assert str(qs.query).count(LatestMetric._meta.db_table) == 1


@pytest.mark.django_db
def test_run_details_are_the_rows_the_orm_reads(sweep, monkeypatch):
    ParamFactory(run=sweep[3], key="Z", value='ü "quoted"\n')
    RunTagFactory(run=sweep[3], key="a", value="")
    # Pages of more runs than a chunk take several queries per model.
    monkeypatch.setattr(run_selectors, "_PREFETCH_CHUNK", 4)
    runs = [*sweep[:7], RunFactory(experiment=sweep[0].experiment)]

    details = run_details(runs)

    def rows(model, *fields):
        found = {}
        query = model.objects.filter(run__in=runs).order_by("key").values_list("run_id", *fields)
        for run_pk, *row in query:
            found.setdefault(run_pk, []).append(tuple(row))
        return found

    assert details.params == rows(Param, "key", "value")
    assert details.tags == rows(RunTag, "key", "value")
    assert details.metrics == rows(LatestMetric, "key", "value", "is_nan", "timestamp", "step")
    assert runs[-1].pk not in details.params


def _expected_body(rows: list[RunRow], details: RunDetails, next_token: str | None) -> str:
    """The body as `run_out` dicts and `dumps` write it, from unsaved model instances."""
    out = []
    for row in rows:
        user = User(username=row.username) if row.username is not None else None
        run = Run(
            pk=row.pk,
            run_id=row.run_id,
            name=row.name,
            experiment_id=row.experiment_id,
            status=row.status,
            start_time=row.start_time,
            end_time=row.end_time,
            lifecycle=row.lifecycle,
            artifact_uri=row.artifact_uri,
            user=user,
        )
        data: dict = {}
        metrics = [
            metric_out(LatestMetric(key=k, value=v, is_nan=n, timestamp=t, step=s))
            for k, v, n, t, s in details.metrics.get(row.pk, [])
        ]
        if metrics:
            data["metrics"] = metrics
        for name, found in (("params", details.params), ("tags", details.tags)):
            if found.get(row.pk):
                data[name] = [{"key": k, "value": v} for k, v in found[row.pk]]
        out.append({"info": run_info_out(run), "data": data, "inputs": {}, "outputs": {}})
    body: dict = {"runs": out} if out else {}
    if next_token:
        body["next_page_token"] = next_token
    return dumps(body)


_text = st.text(max_size=12)
_metric = st.tuples(
    _text,
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**63), 2**63 - 1),
)
_row = st.builds(
    RunRow,
    pk=st.integers(1, 5),
    run_id=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    name=_text,
    experiment_id=st.integers(1, 2**40),
    status=st.sampled_from(["RUNNING", "FINISHED", "FAILED"]),
    start_time=st.integers(0, 2**62),
    end_time=st.none() | st.integers(0, 2**62),
    lifecycle=st.sampled_from(["active", "deleted"]),
    artifact_uri=_text,
    username=st.none() | _text,
)
_pairs = st.lists(st.tuples(_text, _text), max_size=3)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(_row, max_size=4),
    metrics=st.dictionaries(st.integers(1, 5), st.lists(_metric, min_size=1, max_size=3)),
    params=st.dictionaries(st.integers(1, 5), _pairs.filter(bool)),
    tags=st.dictionaries(st.integers(1, 5), _pairs.filter(bool)),
    next_token=st.none() | st.just("") | _text,
)
def test_the_search_body_is_byte_for_byte_what_dumps_writes(
    rows, metrics, params, tags, next_token
):
    details = RunDetails()
    details.metrics, details.params, details.tags = metrics, params, tags

    assert run_rows_out(rows, details, next_token) == _expected_body(rows, details, next_token)


@pytest.mark.django_db
def test_every_page_of_a_search_is_what_the_prefetching_serializer_writes(
    api_client, alice_token, sweep
):
    payload = {
        "experiment_ids": [str(sweep[0].experiment_id)],
        "filter": "metrics.acc >= 0 and tags.team = 'rl'",
        "order_by": ["metrics.acc DESC"],
        "max_results": 3,
    }
    token, pages = None, 0
    while True:
        body = {**payload, **({"page_token": token} if token else {})}
        response = api_client.post(
            API + "runs/search",
            json.dumps(body),
            content_type="application/json",
            **bearer(alice_token[1]),
        )
        expected, token = run_search(
            experiments=[sweep[0].experiment],
            filter_string=payload["filter"],
            order_by=payload["order_by"],
            max_results=3,
            page_token=body.get("page_token"),
        )
        page = {"runs": [run_out(run) for run in expected]} if expected else {}
        if token:
            page["next_page_token"] = token
        assert response.content.decode() == dumps(page)
        pages += 1
        if not token:
            break
    assert pages > 1


@pytest.mark.django_db
def test_a_repeated_search_compiles_once_and_still_sees_new_runs(sweep, alice):
    experiment = sweep[0].experiment
    search = {
        "experiments": [experiment],
        "filter_string": "params.lr = '0.01'",
        "order_by": ["metrics.loss ASC"],
        "max_results": 100,
        "prefetch": False,
    }
    run_selectors._row_page_sql.cache_clear()
    first, _ = run_search(**search)
    newcomer = RunFactory(experiment=experiment, user=alice)
    run_log_batch(
        run=newcomer, metrics=[MetricIn("loss", -1.0, 1, 0)], params=[ParamIn("lr", "0.01")]
    )
    second, _ = run_search(**search)

    info = run_selectors._row_page_sql.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    # The SQL is kept, not the rows: the new run comes first by its loss.
    assert [row.run_id for row in second] == [newcomer.run_id] + [row.run_id for row in first]
    other, _ = run_search(**{**search, "filter_string": "params.lr = '0.1'"})
    assert {row.run_id for row in other}.isdisjoint(row.run_id for row in second)


@pytest.mark.django_db
@needs_prepared_statements
def test_the_details_of_one_run_keep_their_plan_and_read_what_many_runs_read(sweep):
    by_one = [run_details([run]) for run in sweep[:3]]
    # Prepared on its fifth execution; PostgreSQL plans it for the values five times more
    # before it may keep a plan.
    for _ in range(12):
        details = run_details([sweep[0]])
    many = run_details(sweep[:3])
    for run, one in zip(sweep[:3], by_one, strict=True):
        assert one.params.get(run.pk) == many.params.get(run.pk)
        assert one.tags.get(run.pk) == many.tags.get(run.pk)
        assert one.metrics.get(run.pk) == many.metrics.get(run.pk)
    assert details.metrics == {sweep[0].pk: many.metrics[sweep[0].pk]}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans FROM pg_prepared_statements"
            " WHERE NOT from_sql AND statement LIKE '%%tracking_runmodellink%%'"
            " AND statement NOT LIKE '%%ANY(%%'"
        )
        (generic_plans,) = cursor.fetchone()
    # A prepared one-run read is planned once, not on every call (ANY($1) was).
    assert generic_plans > 0

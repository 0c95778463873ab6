"""A hostile fuzz of the MLflow API: hypothesis-made requests (wrong types, huge and deep values,
unicode edge cases, real ids mixed in) against every MLflow endpoint never get a 5xx or an HTML
page, and a refused request writes nothing.

The endpoints come from the URL configuration itself, so a new endpoint is fuzzed without
being listed here.
"""

from __future__ import annotations

import inspect
import json

import pytest
from django.db.models import Count, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import URLPattern, URLResolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase
from rest_framework.test import APIClient

from accounts.models import Membership, Project, Role, TokenScope, User
from tests.factories import make_token
from tracking.batch import MetricIn, ParamIn, TagIn
from tracking.mlflow_api import urls as mlflow_urls
from tracking.models import (
    Experiment,
    ExperimentTag,
    LatestMetric,
    LoggedModel,
    Metric,
    Param,
    Run,
    RunInput,
    RunTag,
)
from tracking.services.ingest import run_log_batch
from tracking.services.projects import project_create

pytestmark = pytest.mark.django_db

PREFIX = "/api/2.0/mlflow/"
FIELDS = [
    "run_id", "run_uuid", "experiment_id", "experiment_ids", "run_ids", "key", "value", "step",
    "timestamp", "metrics", "params", "tags", "name", "new_name", "filter", "max_results",
    "order_by", "page_token", "metric_key", "path", "status", "end_time", "start_time",
    "run_name", "view_type", "run_view_type", "experiment_name", "start_step", "end_step",
    "datasets", "models", "model_id", "artifact_location",
]  # fmt: skip


def _fields_read_by(handler) -> list[str]:
    """The request fields a handler names in its source (with the run and experiment ids every
    handler may look up), so each endpoint is fuzzed mostly on what it reads."""
    source = inspect.getsource(handler)
    named = [field for field in FIELDS if f'"{field}"' in source]
    return sorted({*named, "run_id", "experiment_id"})


def _endpoints(patterns=None, prefix=PREFIX) -> list[tuple[str, list[str], list[str]]]:
    """(path, methods, fields) of every MLflow endpoint, from the URL configuration."""
    found = []
    for pattern in mlflow_urls.urlpatterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            found += _endpoints(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and not str(pattern.pattern).startswith("^"):
            initkwargs = pattern.callback.view_initkwargs
            methods = [m for m in initkwargs["http_method_names"] if m != "options"]
            handler = initkwargs.get("handler")
            fields = _fields_read_by(handler) if handler else FIELDS
            found.append((prefix + str(pattern.pattern), methods, fields))
    return found


ENDPOINTS = _endpoints()
EXAMPLES_PER_ENDPOINT = 25

# Values a hostile or broken client may send for any field.
EDGE_STRINGS = [
    "", "0", "-1", "²", "٣", "NaN", "Infinity", "-Infinity", "loss\n", "a/../b", "\x00",
    "\ud800", "' OR 1=1 --", "x" * 300, "9" * 400, "metrics.a > 1 and", "params.x = '1'",
    "attributes.start_time DESC", "tags.`a b` = 'c'", "%", "../../etc/passwd", "/abs",
]  # fmt: skip
edge = st.sampled_from(EDGE_STRINGS)
# What every field of every endpoint is tried with, one at a time, beside valid ids.
PROBES = [
    "²", "9" * 400, "\ud800", "\x00", "loss\n", "x" * 300, "-1", "NaN", "", "a/../b",
    "metrics.a > 1 and", ["²"], ["9" * 400], ["\ud800"], 2**64, -1.5, {},
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    edge,
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["key", "value", "step", "timestamp", "x"]), children)
    ),
    max_leaves=12,
)


def _count(rows) -> Coalesce:
    return Coalesce(
        Subquery(
            rows.order_by().annotate(one=Value(1)).values("one").annotate(n=Count("*")).values("n")
        ),
        0,
    )


def rows_of_the_project(project) -> tuple[int, ...]:
    """How many rows each tracking table holds for the project, in one query: through its runs'
    indexes, so it stays cheap whatever the rest of the test database holds (on PostgreSQL,
    pages of rows that earlier tests rolled back)."""
    runs = Run.objects.filter(experiment__project=project)
    counted = [
        Experiment.objects.filter(project=project),
        ExperimentTag.objects.filter(experiment__project=project),
        runs,
        *(
            model.objects.filter(run__in=runs)
            for model in (RunTag, Param, Metric, LatestMetric, RunInput)
        ),
        LoggedModel.objects.filter(experiment__project=project),
    ]
    names = {f"n{i}": _count(rows) for i, rows in enumerate(counted)}
    return Project.objects.filter(pk=project.pk).annotate(**names).values_list(*names).get()


class TestHostileRequests(HypothesisTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.user = User.objects.create_user("fuzzer", password="fuzz-password-1")
        cls.project = project_create(slug="fuzz", name="Fuzz", owner=cls.user)
        viewer = User.objects.create_user("viewer", password="viewer-password-1")
        Membership.objects.create(project=cls.project, user=viewer, role=Role.VIEWER)
        cls.tokens = [
            make_token(user=cls.user, project=cls.project, scope=TokenScope.WRITE)[1],
            make_token(user=viewer, project=cls.project, scope=TokenScope.READ)[1],
        ]
        cls.experiment = cls.project.experiments.get(name="Default")
        run = Run.objects.create(experiment=cls.experiment, name="target", user=cls.user)
        run_log_batch(
            run=run,
            metrics=[MetricIn("loss", 0.5, 1, 0)],
            params=[ParamIn("lr", "0.1")],
            tags=[TagIn("team", "rl")],
        )
        cls.target_run = run
        cls.api = APIClient()

    def real_ids(self) -> list:
        return [self.target_run.run_id, str(self.experiment.pk), "0", "loss", "lr", "team"]

    def send(self, method: str, path: str, body: dict, raw: str | None = None, token=None):
        # One client: each new one loads the middleware again (whitenoise scans the files).
        client = self.__class__.api
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token or self.tokens[0]}")
        # The count after the last request, unless nothing has been counted since a write.
        before = getattr(self, "_rows", None) or rows_of_the_project(self.project)
        self._rows = None
        if method == "get":
            query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
            try:
                response = client.get(path, query)
            except UnicodeEncodeError:
                return  # a lone surrogate cannot even be put in a URL
        else:
            raw = json.dumps(body) if raw is None else raw
            response = client.generic(method.upper(), path, raw, "application/json")
        assert response.status_code < 500, (path, body, response.content[:500])
        assert response["Content-Type"].startswith("application/json"), (path, response)
        json.loads(response.content)
        if response.status_code >= 400:
            after = rows_of_the_project(self.project)
            assert after == before, (path, body, response.content[:300])
            self._rows = after

    def test_every_field_of_every_endpoint_with_every_edge_value(self):
        for path, methods, fields in ENDPOINTS:
            base = {"run_id": self.target_run.run_id, "experiment_id": str(self.experiment.pk)}
            for field in fields:
                for value in PROBES:
                    with self.subTest(path=path, field=field, value=value):
                        self.send(methods[0], path, {**base, field: value})

    def fuzz(self, data, path: str, methods: list[str], fields: list[str]) -> None:
        self._rows = None  # each example runs in a transaction of its own, undone after it
        method = data.draw(st.sampled_from(methods), label="method")
        real = st.sampled_from(self.real_ids())
        field_value = st.one_of(
            st.lists(st.one_of(edge, real), min_size=1, max_size=2), edge, real, values
        )
        names = data.draw(st.lists(st.sampled_from(fields), unique=True, max_size=5))
        body = {name: data.draw(field_value, label=name) for name in names}
        token = data.draw(st.sampled_from(self.tokens), label="token")
        raw = None
        if method != "get":
            valid = json.dumps(body)
            # Mostly well-formed JSON, so the fields get read; sometimes a broken body.
            raw = data.draw(
                st.sampled_from([valid, valid, valid, valid[:-1], "[" * 2000]), label="raw"
            )
        self.send(method, path, body, raw, token)


def _fuzz_test(path: str, methods: list[str], fields: list[str]):
    @settings(
        max_examples=EXAMPLES_PER_ENDPOINT,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def test(self, data):
        self.fuzz(data, path, methods, fields)

    return test


# One test per endpoint, so each gets its share of examples and a failure names it.
for _path, _methods, _fields in ENDPOINTS:
    _name = "test_" + _path.removeprefix(PREFIX).replace("/", "_").replace("-", "_")
    setattr(TestHostileRequests, _name, _fuzz_test(_path, _methods, _fields))


def test_every_endpoint_is_fuzzed():
    paths = {path.removeprefix(PREFIX) for path, _methods, _fields in ENDPOINTS}
    assert {"runs/log-batch", "runs/search", "experiments/create", "artifacts/list"} <= paths

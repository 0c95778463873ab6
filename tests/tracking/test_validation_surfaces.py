"""One set of rules (tracking.validation), every surface: the MLflow API, the native API and the
pages refuse the same inputs with a 400 (or a form error) and write nothing."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import bearer
from tests.factories import RunFactory
from tracking.models import LatestMetric, Metric, Param, Run, RunTag
from tracking.validation import (
    MAX_DESCRIPTION_LENGTH,
    MAX_KEY_LENGTH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VALUE_LENGTH,
)

pytestmark = pytest.mark.django_db

MLFLOW = "/api/2.0/mlflow/"


def metric(key="loss", value=0.5, step=0) -> dict:
    return {"key": key, "value": value, "timestamp": 1, "step": step}


# Each: (what is wrong, metrics, params, tags). Valid neighbours sit beside the bad item, so a
# surface that wrote the batch in parts would be caught.
BAD_BATCHES = [
    ("key ends in a newline", [metric("ok"), metric("loss\n")], [], []),
    ("key too long", [metric("k" * (MAX_KEY_LENGTH + 1))], [], []),
    ("key resolves to another path", [metric("a/../b")], [], []),
    ("key with a control character", [metric("lo\tss")], [], []),
    ("step beyond int64", [metric(step=2**63)], [], []),
    ("value that is no number", [metric(value="NaNx")], [], []),
    ("too many metrics", [metric(step=i) for i in range(MAX_METRICS_PER_BATCH + 1)], [], []),
    ("param value with NUL", [metric()], [{"key": "lr", "value": "0.1\x00"}], []),
    ("param value too long", [], [{"key": "lr", "value": "x" * (MAX_PARAM_VALUE_LENGTH + 1)}], []),
    ("duplicate param", [], [{"key": "lr", "value": "1"}, {"key": "lr", "value": "2"}], []),
    ("tag value with a lone surrogate", [metric()], [], [{"key": "team", "value": "\ud800"}]),
    ("run name with a newline", [], [], [{"key": "mlflow.runName", "value": "a\nb"}]),
]


def body(metrics, params, tags) -> bytes:
    # json.dumps writes a lone surrogate as the escape a client would send.
    return json.dumps({"metrics": metrics, "params": params, "tags": tags}).encode()


@pytest.fixture
def run(default_experiment, alice) -> Run:
    return RunFactory(experiment=default_experiment, user=alice, name="base")


def nothing_written(run: Run) -> None:
    assert not Metric.objects.filter(run=run).exists()
    assert not LatestMetric.objects.filter(run=run).exists()
    assert not Param.objects.filter(run=run).exists()
    assert not RunTag.objects.filter(run=run).exists()
    run.refresh_from_db()
    assert run.name == "base" and run.metric_seq == 0


@pytest.mark.parametrize(
    ("what", "metrics", "params", "tags"), BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES]
)
def test_the_mlflow_api_refuses_it(client, run, alice_token, what, metrics, params, tags):
    payload = json.loads(body(metrics, params, tags))
    payload["run_id"] = run.run_id
    response = client.post(
        MLFLOW + "runs/log-batch",
        json.dumps(payload),
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    assert response.status_code == 400, response.content
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    nothing_written(run)


@pytest.mark.parametrize(
    ("what", "metrics", "params", "tags"), BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES]
)
def test_the_native_api_refuses_it(client, run, alice_token, what, metrics, params, tags):
    response = client.post(
        reverse("api-run-log", kwargs={"run_id": run.run_id}),
        body(metrics, params, tags),
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    assert response.status_code == 400, response.content
    assert "error" in response.json()
    nothing_written(run)


@pytest.mark.parametrize(
    ("endpoint", "payload"),
    [
        ("runs/log-metric", metric("loss\n")),
        ("runs/log-parameter", {"key": "lr", "value": "\ud800"}),
        ("runs/set-tag", {"key": "mlflow.runName", "value": "two\nlines"}),
        ("runs/set-tag", {"key": "mlflow.note.content", "value": "x" * 9000}),
    ],
)
def test_the_single_item_mlflow_calls_refuse_it_too(client, run, alice_token, endpoint, payload):
    response = client.post(
        MLFLOW + endpoint,
        json.dumps({**payload, "run_id": run.run_id}),
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    assert response.status_code == 400, response.content
    nothing_written(run)


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", "\ud800", "x" * 251], ids=repr)
def test_run_names_are_refused_alike_on_create(client, default_experiment, alice_token, name):
    mlflow = client.post(
        MLFLOW + "runs/create",
        json.dumps({"experiment_id": str(default_experiment.pk), "run_name": name}),
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    native = client.post(
        reverse("api-runs", kwargs={"experiment_id": default_experiment.pk}),
        json.dumps({"name": name}),
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    assert (mlflow.status_code, native.status_code) == (400, 400), (mlflow.content, native.content)
    assert not Run.objects.exists()


def test_descriptions_have_one_limit_on_the_api_and_the_page(client, alice, run, alice_token):
    too_long = "d" * (MAX_DESCRIPTION_LENGTH + 1)
    native = client.patch(
        reverse("api-run", kwargs={"run_id": run.run_id}),
        json.dumps({"description": too_long}),
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    page_client = Client()
    page_client.force_login(alice)
    page = page_client.post(
        reverse(
            "run_description", kwargs={"slug": run.experiment.project.slug, "run_id": run.run_id}
        ),
        {"description": too_long},
        follow=True,
    )
    assert native.status_code == 400
    assert f"at most {MAX_DESCRIPTION_LENGTH} characters".encode() in page.content
    assert not RunTag.objects.filter(run=run, key="mlflow.note.content").exists()
    # The longest allowed description is accepted everywhere.
    longest = "d" * MAX_DESCRIPTION_LENGTH
    native = client.patch(
        reverse("api-run", kwargs={"run_id": run.run_id}),
        json.dumps({"description": longest}),
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    assert native.status_code == 200, native.content


def test_experiment_ids_in_other_scripts_are_no_ids(client, alice_token):
    for experiment_id in ["²", "٣", "1" * 5000]:
        search = client.post(
            MLFLOW + "runs/search",
            json.dumps({"experiment_ids": [experiment_id]}),
            content_type="application/json",
            **bearer(alice_token[1]),
        )
        assert search.status_code == 400, search.content
        assert search.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        create = client.post(
            MLFLOW + "runs/create",
            json.dumps({"experiment_id": experiment_id}),
            content_type="application/json",
            **bearer(alice_token[1]),
        )
        assert create.status_code == 404, create.content
        assert create.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("name", ["two\nlines", "quote'\n", "\ud800", " "], ids=repr)
def test_experiment_names_are_refused_alike(client, alice, project, alice_token, name):
    mlflow = client.post(
        MLFLOW + "experiments/create",
        json.dumps({"name": name}),
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    native = client.post(
        reverse("api-experiments", kwargs={"slug": project.slug}),
        json.dumps({"name": name}),
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    assert mlflow.status_code == 400, mlflow.content
    assert native.status_code == 400, native.content
    if name.isprintable() or "\n" in name:  # a browser cannot send a lone surrogate
        page_client = Client()
        page_client.force_login(alice)
        page = page_client.post(
            reverse("experiment_new", kwargs={"slug": project.slug}), {"name": name}, follow=True
        )
        assert page.status_code == 200
    assert not project.experiments.exclude(name="Default").exists()


def test_a_body_nested_too_deep_is_a_400_on_both_apis(client, run, alice_token):
    deep = "[" * 3000 + "]" * 3000
    native = client.post(
        reverse("api-run-log", kwargs={"run_id": run.run_id}),
        '{"metrics": ' + deep + "}",
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    mlflow = client.post(
        MLFLOW + "runs/log-batch",
        f'{{"run_id": "{run.run_id}", "metrics": {deep}}}',
        content_type="application/json",
        **bearer(alice_token[1]),
    )
    assert native.status_code == 400 and native.json()["error"]["code"] == "invalid"
    assert mlflow.status_code == 400
    assert mlflow.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    nothing_written(run)

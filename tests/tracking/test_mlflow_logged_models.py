"""MLflow 3's endpoints on the wire: logged models, datasets, run inputs/outputs, /ajax-api and
unknown endpoints; shapes, MLflow's error codes, access, and nothing written on bad input."""

import json

import pytest

from accounts.models import TokenScope
from tests.conftest import bearer
from tests.factories import ExperimentFactory, RunFactory, make_token
from tracking.batch import MetricIn
from tracking.models import (
    Dataset,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelStatus,
    Metric,
    RunInput,
    RunModelLink,
)
from tracking.services.ingest import run_log_batch

pytestmark = pytest.mark.django_db

API = "/api/2.0/mlflow/"
AJAX = "/ajax-api/2.0/mlflow/"


@pytest.fixture
def run(project, alice):
    return RunFactory(experiment=ExperimentFactory(project=project), user=alice)


@pytest.fixture
def read_token(alice, project):
    return make_token(user=alice, project=project, scope=TokenScope.READ)[1]


def call(client, method, endpoint, raw=None, data=None, prefix=API):
    headers = bearer(raw) if raw else {}
    if method == "get":
        return client.get(prefix + endpoint, data or {}, **headers)
    body = json.dumps(data or {})
    return client.generic(method.upper(), prefix + endpoint, body, "application/json", **headers)


def ok(response):
    assert response.status_code == 200, response.content
    return response.json()


def error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error_code"] == code, response.json()


def create_model(client, raw, run, **fields):
    body = {"experiment_id": str(run.experiment_id), "source_run_id": run.run_id, **fields}
    return ok(call(client, "post", "logged-models", raw, body))["model"]


# --- unknown endpoints and /ajax-api ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/2.0/mlflow/nope",
        "/ajax-api/2.0/mlflow/nope/deeper",
        "/api/3.0/mlflow/traces",
        "/ajax-api/3.0/mlflow/nope",
        "/api/2.0/mlflow-artifacts/nope",
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_unknown_endpoints_answer_json_404_for_any_method(api_client, alice_token, path, method):
    # A POST with a token and no CSRF cookie was a 403 HTML page; the client needs this 404.
    response = api_client.generic(method.upper(), path, "{}", "application/json")
    error(response, 401, "UNAUTHENTICATED")
    response = api_client.generic(
        method.upper(), path, "{}", "application/json", **bearer(alice_token[1])
    )
    error(response, 404, "ENDPOINT_NOT_FOUND")


def test_unknown_endpoint_from_a_session_needs_no_csrf_token(alice, project):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    error(
        client.post("/api/2.0/mlflow/logged-models/x/y", "{}", "application/json"),
        404,
        "ENDPOINT_NOT_FOUND",
    )


def test_ajax_prefix_serves_the_same_endpoints(api_client, alice_token, run):
    body = ok(call(api_client, "get", "runs/get", alice_token[1], {"run_id": run.run_id}, AJAX))
    assert body["run"]["info"]["run_id"] == run.run_id
    created = create_model(api_client, alice_token[1], run, name="m")
    got = ok(
        call(
            api_client,
            "get",
            f"logged-models/{created['info']['model_id']}",
            alice_token[1],
            prefix=AJAX,
        )
    )
    assert got["model"]["info"]["name"] == "m"


def test_ajax_only_routes_are_not_under_the_rest_prefix(api_client, alice_token, run):
    query = {"run_id": run.run_id, "metric_key": "loss"}
    error(
        call(api_client, "get", "metrics/get-history-bulk", alice_token[1], query),
        404,
        "ENDPOINT_NOT_FOUND",
    )
    ok(call(api_client, "get", "metrics/get-history-bulk", alice_token[1], query, AJAX))


# --- logged models ------------------------------------------------------------------------------


def test_create_get_finalize_has_mlflows_shape(api_client, alice_token, run):
    model = create_model(
        api_client,
        alice_token[1],
        run,
        name="clf",
        model_type="classifier",
        params=[{"key": "C", "value": "1.0"}],
        tags=[{"key": "team", "value": "rl"}],
    )
    info = model["info"]
    assert info["model_id"].startswith("m-")
    assert info["experiment_id"] == str(run.experiment_id)
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["source_run_id"] == run.run_id
    assert info["model_type"] == "classifier"
    assert info["artifact_uri"] == (
        f"mlflow-artifacts:/{run.experiment_id}/models/{info['model_id']}/artifacts"
    )
    assert info["tags"] == [{"key": "team", "value": "rl"}]
    assert model["data"] == {"params": [{"key": "C", "value": "1.0"}]}
    model_id = info["model_id"]
    body = {"model_id": model_id, "status": "LOGGED_MODEL_READY"}
    done = ok(call(api_client, "patch", f"logged-models/{model_id}", alice_token[1], body))
    assert done["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    assert LoggedModel.objects.get(model_id=model_id).status == LoggedModelStatus.READY


def test_a_model_without_a_name_gets_one(api_client, alice_token, run):
    assert create_model(api_client, alice_token[1], run)["info"]["name"]


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "a/b"},
        {"name": "v1.0"},
        {"params": [{"key": "../x", "value": "1"}]},
        {"tags": [{"key": "k", "value": 3}]},
        {"model_type": 5},
    ],
)
def test_bad_model_input_is_400_and_writes_nothing(api_client, alice_token, run, fields):
    body = {"experiment_id": str(run.experiment_id), **fields}
    error(
        call(api_client, "post", "logged-models", alice_token[1], body),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert not LoggedModel.objects.exists()


def test_bad_status_is_400(api_client, alice_token, run):
    model_id = create_model(api_client, alice_token[1], run)["info"]["model_id"]
    for status in ("DONE", None, [1], True):
        error(
            call(
                api_client, "patch", f"logged-models/{model_id}", alice_token[1], {"status": status}
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        )
    assert LoggedModel.objects.get().status == LoggedModelStatus.PENDING


def test_tags_params_and_delete(api_client, alice_token, run):
    model_id = create_model(api_client, alice_token[1], run, params=[{"key": "a", "value": "1"}])[
        "info"
    ]["model_id"]
    url = f"logged-models/{model_id}"
    ok(
        call(
            api_client,
            "patch",
            f"{url}/tags",
            alice_token[1],
            {"tags": [{"key": "x", "value": "1"}, {"key": "x", "value": "2"}]},
        )
    )
    ok(
        call(
            api_client,
            "post",
            f"{url}/params",
            alice_token[1],
            {"params": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]},
        )
    )
    error(
        call(
            api_client,
            "post",
            f"{url}/params",
            alice_token[1],
            {"params": [{"key": "a", "value": "changed"}]},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    got = ok(call(api_client, "get", url, alice_token[1]))["model"]
    assert got["info"]["tags"] == [{"key": "x", "value": "2"}]
    assert got["data"]["params"] == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    ok(call(api_client, "delete", f"{url}/tags/x", alice_token[1]))
    error(
        call(api_client, "delete", f"{url}/tags/x", alice_token[1]), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    ok(call(api_client, "delete", url, alice_token[1], {"model_id": model_id}))
    error(call(api_client, "get", url, alice_token[1]), 404, "RESOURCE_DOES_NOT_EXIST")
    assert LoggedModel.objects.get().lifecycle == "deleted"


def test_unknown_model_is_404(api_client, alice_token):
    error(
        call(api_client, "get", "logged-models/m-nope", alice_token[1]),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_metrics_that_name_a_model_are_the_models_metrics(api_client, alice_token, run):
    model_id = create_model(api_client, alice_token[1], run)["info"]["model_id"]
    metric = {
        "key": "acc",
        "value": 0.5,
        "timestamp": 1,
        "step": 0,
        "model_id": model_id,
        "dataset_name": "d",
        "dataset_digest": "123",
    }
    ok(
        call(
            api_client,
            "post",
            "runs/log-batch",
            alice_token[1],
            {"run_id": run.run_id, "metrics": [metric, {**metric, "model_id": None, "key": "b"}]},
        )
    )
    ok(
        call(
            api_client,
            "post",
            "runs/log-metric",
            alice_token[1],
            {"run_id": run.run_id, **metric, "value": 0.7, "timestamp": 2},
        )
    )
    got = ok(call(api_client, "get", f"logged-models/{model_id}", alice_token[1]))["model"]
    assert got["data"]["metrics"] == [
        {**metric, "run_id": run.run_id},
        {**metric, "value": 0.7, "timestamp": 2, "run_id": run.run_id},
    ]
    assert Metric.objects.filter(run=run).count() == 3


def test_a_metric_for_an_unknown_model_writes_nothing(api_client, alice_token, run):
    metric = {"key": "acc", "value": 0.5, "timestamp": 1, "step": 0, "model_id": "m-nope"}
    error(
        call(
            api_client,
            "post",
            "runs/log-batch",
            alice_token[1],
            {"run_id": run.run_id, "metrics": [metric]},
        ),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert not Metric.objects.exists()
    assert not LoggedModelMetric.objects.exists()


def test_search_filters_orders_and_pages(api_client, alice_token, run):
    ids = []
    for i, name in enumerate(["a", "b", "c"]):
        model_id = create_model(
            api_client, alice_token[1], run, name=name, params=[{"key": "i", "value": str(i)}]
        )["info"]["model_id"]
        ids.append(model_id)
        metric = {"key": "acc", "value": i / 10, "timestamp": 1, "step": 0, "model_id": model_id}
        ok(
            call(
                api_client,
                "post",
                "runs/log-batch",
                alice_token[1],
                {"run_id": run.run_id, "metrics": [metric]},
            )
        )

    def search(**fields):
        body = {"experiment_ids": [str(run.experiment_id)], **fields}
        return ok(call(api_client, "post", "logged-models/search", alice_token[1], body))

    def names(body):
        return [m["info"]["name"] for m in body.get("models", [])]

    assert names(search(filter="metrics.acc >= 0.1")) == ["c", "b"]
    assert names(search(filter="name IN ('a', 'c') AND params.i != '2'")) == ["a"]
    assert names(search(filter="name LIKE 'b%'")) == ["b"]
    assert names(
        search(
            filter=f"source_run_id = '{run.run_id}'",
            order_by=[{"field_name": "metrics.acc", "ascending": True}],
        )
    ) == ["a", "b", "c"]
    assert names(search(order_by=[{"field_name": "name", "ascending": False}])) == ["c", "b", "a"]
    first = search(max_results=2, order_by=[{"field_name": "name"}])
    assert names(first) == ["a", "b"]
    rest = search(
        max_results=2, order_by=[{"field_name": "name"}], page_token=first["next_page_token"]
    )
    assert names(rest) == ["c"] and "next_page_token" not in rest


@pytest.mark.parametrize(
    "fields",
    [
        {"filter": "nope.acc > 1"},
        {"filter": "metrics.acc > 'x'"},
        {"filter": "name > 'x'"},
        {"filter": "name = 'a' OR name = 'b'"},
        {"filter": "unknown_attribute = 'a'"},
        {"order_by": [{"field_name": "params.x"}]},
        {"max_results": -1},
        {"page_token": "garbage"},
        {"datasets": [{"dataset_digest": "x"}]},
    ],
)
def test_bad_search_is_400(api_client, alice_token, run, fields):
    body = {"experiment_ids": [str(run.experiment_id)], **fields}
    error(
        call(api_client, "post", "logged-models/search", alice_token[1], body),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_outputs_and_inputs_show_on_the_run(api_client, alice_token, run):
    model_id = create_model(api_client, alice_token[1], run)["info"]["model_id"]
    ok(
        call(
            api_client,
            "post",
            "runs/outputs",
            alice_token[1],
            {"run_id": run.run_id, "models": [{"model_id": model_id, "step": 3}]},
        )
    )
    dataset = {
        "name": "d",
        "digest": "123",
        "source_type": "local",
        "source": "{}",
        "schema": "{}",
        "profile": "{}",
    }
    context = [{"key": "mlflow.data.context", "value": "train"}]
    inputs = {"run_id": run.run_id, "datasets": [{"tags": context, "dataset": dataset}]}
    ok(call(api_client, "post", "runs/log-inputs", alice_token[1], inputs))
    ok(call(api_client, "post", "runs/log-inputs", alice_token[1], inputs))
    expected_inputs = {"dataset_inputs": [{"tags": context, "dataset": dataset}]}
    expected_outputs = {"model_outputs": [{"model_id": model_id, "step": 3}]}
    got = ok(call(api_client, "get", "runs/get", alice_token[1], {"run_id": run.run_id}))["run"]
    assert got["inputs"] == expected_inputs
    assert got["outputs"] == expected_outputs
    plain = RunFactory(experiment=run.experiment)  # a run without inputs or outputs beside it
    body = {"experiment_ids": [str(run.experiment_id)]}
    found = ok(call(api_client, "post", "runs/search", alice_token[1], body))["runs"]
    searched = {r["info"]["run_id"]: r for r in found}
    assert searched[run.run_id]["inputs"] == expected_inputs
    assert searched[run.run_id]["outputs"] == expected_outputs
    assert (searched[plain.run_id]["inputs"], searched[plain.run_id]["outputs"]) == ({}, {})
    assert Dataset.objects.count() == RunInput.objects.count() == 1


def test_a_run_without_inputs_has_empty_inputs_and_outputs(api_client, alice_token, run):
    got = ok(call(api_client, "get", "runs/get", alice_token[1], {"run_id": run.run_id}))["run"]
    assert got["inputs"] == {} and got["outputs"] == {}


def test_datasets_are_shared_within_an_experiment(api_client, alice_token, run, alice):
    other = RunFactory(experiment=run.experiment, user=alice)
    dataset = {"name": "d", "digest": "1", "source_type": "local", "source": "s"}
    for r in (run, other):
        ok(
            call(
                api_client,
                "post",
                "runs/log-inputs",
                alice_token[1],
                {"run_id": r.run_id, "datasets": [{"dataset": dataset}, {"dataset": dataset}]},
            )
        )
    assert Dataset.objects.count() == 1
    assert RunInput.objects.count() == 2


@pytest.mark.parametrize(
    "datasets",
    [
        [{"dataset": {"name": "d"}}],
        [{"dataset": {"name": "d", "digest": "x" * 37}}],
        [{"dataset": {"name": "d", "digest": "1"}, "tags": [{"key": "..", "value": "x"}]}],
        ["not an object"],
    ],
)
def test_bad_inputs_are_400_and_write_nothing(api_client, alice_token, run, datasets):
    good = {"dataset": {"name": "ok", "digest": "1", "source_type": "t", "source": "s"}}
    error(
        call(
            api_client,
            "post",
            "runs/log-inputs",
            alice_token[1],
            {"run_id": run.run_id, "datasets": [good, *datasets]},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert not Dataset.objects.exists()


def test_search_datasets(api_client, alice_token, run):
    dataset = {"name": "d", "digest": "1", "source_type": "t", "source": "s"}
    tags = [{"key": "mlflow.data.context", "value": "eval"}]
    ok(
        call(
            api_client,
            "post",
            "runs/log-inputs",
            alice_token[1],
            {"run_id": run.run_id, "datasets": [{"dataset": dataset, "tags": tags}]},
        )
    )
    body = {"experiment_ids": [str(run.experiment_id)]}
    got = ok(call(api_client, "post", "experiments/search-datasets", alice_token[1], body, AJAX))
    assert got == {
        "dataset_summaries": [
            {"experiment_id": str(run.experiment_id), "name": "d", "digest": "1", "context": "eval"}
        ]
    }
    error(
        call(api_client, "post", "experiments/search-datasets", alice_token[1], {}, AJAX),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_get_history_bulk(api_client, alice_token, run, alice):
    other = RunFactory(experiment=run.experiment, user=alice)
    run_log_batch(run=run, metrics=[MetricIn("loss", 2.0, 20, 1), MetricIn("loss", 1.0, 10, 0)])
    run_log_batch(run=other, metrics=[MetricIn("loss", 3.0, 5, 0)])
    query = {"run_id": [run.run_id, other.run_id], "metric_key": "loss"}
    got = ok(call(api_client, "get", "metrics/get-history-bulk", alice_token[1], query, AJAX))
    expected = sorted(
        [
            (run.run_id, [(1.0, 10, 0), (2.0, 20, 1)]),
            (other.run_id, [(3.0, 5, 0)]),
        ]
    )
    assert [(m["run_id"], m["value"], m["timestamp"], m["step"]) for m in got["metrics"]] == [
        (rid, *point) for rid, points in expected for point in points
    ]
    error(
        call(
            api_client,
            "get",
            "metrics/get-history-bulk",
            alice_token[1],
            {"metric_key": "loss"},
            AJAX,
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_upload_and_get_artifact(api_client, alice_token, run, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    url = f"{AJAX}upload-artifact?run_uuid={run.run_id}&path=notes/a.txt"
    response = api_client.generic("POST", url, b"hello", "text/plain", **bearer(alice_token[1]))
    assert response.status_code == 200, response.content
    got = api_client.get(
        "/get-artifact", {"run_id": run.run_id, "path": "notes/a.txt"}, **bearer(alice_token[1])
    )
    assert b"".join(got.streaming_content) == b"hello"
    assert got["Content-Disposition"].startswith("attachment")
    empty = api_client.generic("POST", url, b"", "text/plain", **bearer(alice_token[1]))
    error(empty, 400, "INVALID_PARAMETER_VALUE")


def test_model_artifacts_are_proxied(api_client, alice_token, run, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    model = create_model(api_client, alice_token[1], run)
    model_id = model["info"]["model_id"]
    root = model["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    put = api_client.generic(
        "PUT",
        f"/api/2.0/mlflow-artifacts/artifacts/{root}/MLmodel",
        b"flavors:\n  sklearn: {}\n",
        "application/octet-stream",
        **bearer(alice_token[1]),
    )
    assert put.status_code == 200, put.content
    listed = ok(
        call(api_client, "get", f"logged-models/{model_id}/artifacts/directories", alice_token[1])
    )
    assert listed["files"] == [{"path": "MLmodel", "is_dir": False, "file_size": 23}]
    got = api_client.get(
        f"{AJAX}logged-models/{model_id}/artifacts/files",
        {"artifact_file_path": "MLmodel"},
        **bearer(alice_token[1]),
    )
    assert b"".join(got.streaming_content).startswith(b"flavors")
    stray = api_client.generic(
        "PUT",
        f"/api/2.0/mlflow-artifacts/artifacts/{run.experiment_id}/models/m-nope/artifacts/x",
        b"x",
        "application/octet-stream",
        **bearer(alice_token[1]),
    )
    error(stray, 404, "RESOURCE_DOES_NOT_EXIST")


# --- access ---------------------------------------------------------------------------------------


def test_charlie_cannot_see_or_touch_alices_models_and_datasets(
    api_client, alice_token, charlie_token, run
):
    model_id = create_model(api_client, alice_token[1], run)["info"]["model_id"]
    raw = charlie_token[1]
    for method, endpoint, body in [
        ("get", f"logged-models/{model_id}", None),
        ("patch", f"logged-models/{model_id}", {"status": "LOGGED_MODEL_READY"}),
        ("delete", f"logged-models/{model_id}", None),
        ("patch", f"logged-models/{model_id}/tags", {"tags": []}),
        ("post", f"logged-models/{model_id}/params", {"params": []}),
        ("get", f"logged-models/{model_id}/artifacts/directories", None),
        ("post", "logged-models", {"experiment_id": str(run.experiment_id)}),
        ("post", "runs/outputs", {"run_id": run.run_id, "models": []}),
        ("post", "runs/log-inputs", {"run_id": run.run_id}),
    ]:
        error(call(api_client, method, endpoint, raw, body), 404, "RESOURCE_DOES_NOT_EXIST")
    body = {"experiment_ids": [str(run.experiment_id)]}
    assert ok(call(api_client, "post", "logged-models/search", raw, body)) == {}
    assert ok(call(api_client, "post", "experiments/search-datasets", raw, body, AJAX)) == {}
    error(
        call(
            api_client,
            "get",
            "metrics/get-history-bulk",
            raw,
            {"run_id": run.run_id, "metric_key": "x"},
            AJAX,
        ),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_read_tokens_and_viewers_cannot_write(api_client, alice_token, bob_token, read_token, run):
    model_id = create_model(api_client, alice_token[1], run)["info"]["model_id"]
    for raw in (read_token, bob_token[1]):
        ok(call(api_client, "get", f"logged-models/{model_id}", raw))
        for method, endpoint, body in [
            ("post", "logged-models", {"experiment_id": str(run.experiment_id)}),
            ("patch", f"logged-models/{model_id}", {"status": "LOGGED_MODEL_READY"}),
            ("delete", f"logged-models/{model_id}", None),
            ("patch", f"logged-models/{model_id}/tags", {"tags": []}),
            ("delete", f"logged-models/{model_id}/tags/x", None),
            ("post", f"logged-models/{model_id}/params", {"params": []}),
            ("post", "runs/outputs", {"run_id": run.run_id, "models": []}),
            ("post", "runs/log-inputs", {"run_id": run.run_id}),
        ]:
            error(call(api_client, method, endpoint, raw, body), 403, "PERMISSION_DENIED")
    assert LoggedModel.objects.get().status == LoggedModelStatus.PENDING
    assert not RunModelLink.objects.exists()


def test_run_dataset_condition_finds_runs_by_their_datasets(api_client, alice_token, run, alice):
    from tracking.models import Run
    from tracking.selectors.datasets import run_dataset_condition

    other = RunFactory(experiment=run.experiment, user=alice)
    tags = [{"key": "mlflow.data.context", "value": "train"}]
    dataset = {"name": "iris", "digest": "abc", "source_type": "t", "source": "s"}
    ok(
        call(
            api_client,
            "post",
            "runs/log-inputs",
            alice_token[1],
            {"run_id": run.run_id, "datasets": [{"dataset": dataset, "tags": tags}]},
        )
    )

    def matching(key, comparator, value):
        runs = Run.objects.filter(run_dataset_condition(key, comparator, value))
        return set(runs.values_list("run_id", flat=True))

    assert matching("name", "=", "iris") == {run.run_id}
    assert matching("digest", "IN", ("abc", "x")) == {run.run_id}
    assert matching("context", "like", "tr%") == {run.run_id}
    assert matching("name", "=", "other") == set()
    assert other.run_id not in matching("name", "!=", "x")

    # The same through runs/search's filter grammar (the row path).
    for text, expected in [
        ("dataset.name = 'iris'", [run.run_id]),
        ("dataset.digest IN ('abc', 'x') and dataset.context LIKE 'tr%'", [run.run_id]),
        ("datasets.name ILIKE 'IRIS' and dataset.digest != 'abc'", []),
    ]:
        body = ok(
            call(
                api_client,
                "post",
                "runs/search",
                alice_token[1],
                {"experiment_ids": [str(run.experiment_id)], "filter": text},
            )
        )
        assert [r["info"]["run_id"] for r in body.get("runs", [])] == expected


def test_log_model_appends_to_the_runs_model_history(api_client, alice_token, run):
    model = {
        "run_id": run.run_id,
        "artifact_path": "m",
        "utc_time_created": "2026-01-01 00:00:00.000000",
        "flavors": {"sklearn": {"config": {"big": 1}, "v": "1"}},
        "signature": {"inputs": "[]"},
    }
    for _ in range(2):
        ok(
            call(
                api_client,
                "post",
                "runs/log-model",
                alice_token[1],
                {"run_id": run.run_id, "model_json": json.dumps(model)},
            )
        )
    history = json.loads(run.tags.get(key="mlflow.log-model.history").value)
    assert (
        history
        == [
            {
                "run_id": run.run_id,
                "artifact_path": "m",
                "utc_time_created": "2026-01-01 00:00:00.000000",
                "flavors": {"sklearn": {"v": "1"}},
            }
        ]
        * 2
    )
    for bad in ("{", json.dumps({"run_id": run.run_id}), "[]"):
        error(
            call(
                api_client,
                "post",
                "runs/log-model",
                alice_token[1],
                {"run_id": run.run_id, "model_json": bad},
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        )

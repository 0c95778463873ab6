"""MLflow's REST endpoints on the wire: shapes, error codes, access and query counts."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.models import AuditAction, AuditEvent, TokenScope
from tests.conftest import bearer
from tests.factories import ExperimentFactory, RunFactory, make_token
from tracking.batch import MetricIn, ParamIn, TagIn
from tracking.models import Experiment, LatestMetric, Lifecycle, Metric, Param, Run, RunTag
from tracking.services.ingest import run_log_batch

pytestmark = pytest.mark.django_db

API = "/api/2.0/mlflow/"


@pytest.fixture
def run(project, alice):
    run = RunFactory(experiment=ExperimentFactory(project=project), user=alice, name="base")
    run_log_batch(
        run=run,
        metrics=[MetricIn("loss", 0.5, 100, 0), MetricIn("loss", 0.25, 200, 1)],
        params=[ParamIn("lr", "0.01")],
        tags=[TagIn("team", "rl")],
    )
    run.experiment.tags.create(key="k", value="v")
    return run


@pytest.fixture
def alice_read_token(alice, project):
    return make_token(user=alice, project=project, scope=TokenScope.READ)


def call(client, method, endpoint, raw=None, data=None):
    headers = bearer(raw) if raw else {}
    if method == "get":
        return client.get(API + endpoint, data or {}, **headers)
    body = data if isinstance(data, str | bytes) else json.dumps(data or {})
    return client.generic(method.upper(), API + endpoint, body, "application/json", **headers)


def ok(response):
    assert response.status_code == 200, response.content
    return response.json()


def error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error_code"] == code, body
    assert body["message"]
    return body["message"]


# --- wire shapes ------------------------------------------------------------------------------


def test_run_get_has_mlflows_shape(api_client, alice_token, run):
    body = ok(call(api_client, "get", "runs/get", alice_token[1], {"run_id": run.run_id}))
    info, data = body["run"]["info"], body["run"]["data"]
    assert info["run_id"] == info["run_uuid"] == run.run_id
    assert info["experiment_id"] == str(run.experiment_id)
    assert info["user_id"] == "alice"
    assert info["lifecycle_stage"] == "active"
    assert isinstance(info["start_time"], int)
    assert "end_time" not in info
    assert data["metrics"] == [{"key": "loss", "value": 0.25, "timestamp": 200, "step": 1}]
    assert data["params"] == [{"key": "lr", "value": "0.01"}]
    assert {"key": "team", "value": "rl"} in data["tags"]


def test_run_uuid_is_accepted_for_run_id(api_client, alice_token, run):
    ok(call(api_client, "get", "runs/get", alice_token[1], {"run_uuid": run.run_id}))


def test_experiment_zero_is_the_projects_default(api_client, alice_token, default_experiment):
    body = ok(call(api_client, "get", "experiments/get", alice_token[1], {"experiment_id": "0"}))
    assert body["experiment"]["experiment_id"] == str(default_experiment.pk)
    assert body["experiment"]["name"] == "Default"


def test_experiment_create_and_get_by_name(api_client, alice_token, project):
    created = ok(call(api_client, "post", "experiments/create", alice_token[1], {"name": "e1"}))
    assert isinstance(created["experiment_id"], str)
    body = ok(
        call(
            api_client, "get", "experiments/get-by-name", alice_token[1], {"experiment_name": "e1"}
        )
    )
    assert body["experiment"]["experiment_id"] == created["experiment_id"]
    assert (
        body["experiment"]["artifact_location"] == f"mlflow-artifacts:/{created['experiment_id']}"
    )
    assert Experiment.objects.get(pk=created["experiment_id"]).project == project


def test_missing_experiment_name_is_resource_does_not_exist(api_client, alice_token, project):
    response = call(
        api_client, "get", "experiments/get-by-name", alice_token[1], {"experiment_name": "x"}
    )
    error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_duplicate_experiment_name_is_resource_already_exists(api_client, alice_token, project):
    ok(call(api_client, "post", "experiments/create", alice_token[1], {"name": "dup"}))
    response = call(api_client, "post", "experiments/create", alice_token[1], {"name": "dup"})
    error(response, 400, "RESOURCE_ALREADY_EXISTS")


def test_deleted_experiments_name_stays_reserved(api_client, alice_token, project):
    eid = ok(call(api_client, "post", "experiments/create", alice_token[1], {"name": "old"}))
    ok(call(api_client, "post", "experiments/delete", alice_token[1], eid))
    response = call(api_client, "post", "experiments/create", alice_token[1], {"name": "old"})
    assert "deleted" in error(response, 400, "RESOURCE_ALREADY_EXISTS")


def test_experiment_search_sees_only_the_tokens_project(
    api_client, alice_token, project, other_project
):
    body = ok(call(api_client, "post", "experiments/search", alice_token[1], {}))
    assert [e["name"] for e in body["experiments"]] == ["Default"]
    assert ok(call(api_client, "get", "experiments/search", alice_token[1], {}))["experiments"]


def test_run_create_records_the_authenticated_user_not_the_claimed_one(
    api_client, alice_token, default_experiment
):
    body = ok(
        call(
            api_client,
            "post",
            "runs/create",
            alice_token[1],
            {
                "experiment_id": "0",
                "user_id": "mallory",
                "run_name": "mine",
                "start_time": 1234,
                "tags": [{"key": "mlflow.user", "value": "mallory"}],
            },
        )
    )
    info = body["run"]["info"]
    assert info["user_id"] == "alice"
    assert info["run_name"] == "mine"
    assert info["start_time"] == 1234
    assert len(info["run_id"]) == 32
    assert info["artifact_uri"].endswith(f"/{info['run_id']}/artifacts")
    tags = {t["key"]: t["value"] for t in body["run"]["data"]["tags"]}
    assert tags["mlflow.user"] == "alice"


def test_run_update_sets_status_and_end_time(api_client, alice_token, run):
    body = ok(
        call(
            api_client,
            "post",
            "runs/update",
            alice_token[1],
            {"run_id": run.run_id, "status": "FINISHED", "end_time": 999},
        )
    )
    assert body["run_info"]["status"] == "FINISHED"
    assert body["run_info"]["end_time"] == 999


def test_unknown_status_is_invalid_and_named(api_client, alice_token, run):
    response = call(
        api_client, "post", "runs/update", alice_token[1], {"run_id": run.run_id, "status": "DONE"}
    )
    assert "status" in error(response, 400, "INVALID_PARAMETER_VALUE")


def test_log_batch_with_nan_and_infinity_round_trips(api_client, alice_token, run):
    # Python's json writes NaN bare; protobuf's JSON writes the strings. Both are accepted.
    metrics = (
        '[{"key": "a", "value": NaN, "timestamp": 1, "step": 0},'
        '{"key": "b", "value": "Infinity", "timestamp": "1", "step": "0"},'
        '{"key": "c", "value": "-Infinity", "timestamp": 1}]'
    )
    body = f'{{"run_id": "{run.run_id}", "metrics": {metrics}}}'
    ok(call(api_client, "post", "runs/log-batch", alice_token[1], body))
    metrics = ok(call(api_client, "get", "runs/get", alice_token[1], {"run_id": run.run_id}))
    values = {m["key"]: m["value"] for m in metrics["run"]["data"]["metrics"]}
    assert values["a"] == "NaN"
    assert values["b"] == "Infinity"
    assert values["c"] == "-Infinity"


def test_int64_fields_come_back_as_numbers(api_client, alice_token, run):
    big = 2**62
    ok(
        call(
            api_client,
            "post",
            "runs/log-metric",
            alice_token[1],
            {"run_id": run.run_id, "key": "big", "value": 1, "timestamp": big, "step": big},
        )
    )
    history = ok(
        call(
            api_client,
            "get",
            "metrics/get-history",
            alice_token[1],
            {"run_id": run.run_id, "metric_key": "big"},
        )
    )
    assert history["metrics"] == [{"key": "big", "value": 1.0, "timestamp": big, "step": big}]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"metrics": [{"key": "x", "value": 1, "timestamp": 2**63, "step": 0}]}, "timestamp"),
        ({"metrics": [{"key": "x", "value": "abc", "timestamp": 1}]}, "value"),
        ({"metrics": [{"key": "x", "value": 1}]}, "timestamp"),
        ({"metrics": [{"key": 5, "value": 1, "timestamp": 1}]}, "key"),
        ({"metrics": "nope"}, "metrics"),
        ({"metrics": ["nope"]}, "metrics"),
        ({"params": [{"key": "../up", "value": "1"}]}, "would resolve"),
        ({"params": [{"key": "p", "value": 3}]}, "value"),
        ({"params": [{"key": "p", "value": "1"}, {"key": "p", "value": "1"}]}, "Duplicate"),
        ({"tags": [{"key": "t", "value": "v" * 8001}]}, "8000"),
    ],
)
def test_bad_batches_are_400_naming_the_problem(api_client, alice_token, run, payload, field):
    response = call(
        api_client, "post", "runs/log-batch", alice_token[1], {"run_id": run.run_id, **payload}
    )
    assert field in error(response, 400, "INVALID_PARAMETER_VALUE")


def _point(key="k", value=0.5, step=0, timestamp=1):
    return {"key": key, "value": value, "timestamp": timestamp, "step": step}


@pytest.mark.parametrize(
    "odd_point, field",
    [
        (_point(step=True), "metrics[2].step"),
        (_point(step=2**63), "metrics[2].step"),
        (_point(timestamp=1.5), "metrics[2].timestamp"),
        (_point(value="high"), "metrics[2].value"),
        (_point(key=["k"]), "for parameter 'key' supplied"),
        (_point(key="a$b"), "'a$b'"),
    ],
)
def test_one_bad_point_among_good_ones_is_named(api_client, alice_token, run, odd_point, field):
    # The usual batch is checked a column at a time; one odd point sends it point by point.
    metrics = [_point(), _point(step=1), odd_point, _point(step=3)]
    before = run.metrics.count()
    response = call(
        api_client,
        "post",
        "runs/log-batch",
        alice_token[1],
        {"run_id": run.run_id, "metrics": metrics},
    )
    assert field in error(response, 400, "INVALID_PARAMETER_VALUE")
    assert run.metrics.count() == before


def test_points_of_every_json_form_are_stored_alike(api_client, alice_token, run):
    # Ints for values, strings for numbers and a missing step leave the column-wise check.
    metrics = [
        _point(),
        _point(value=2, step=1),
        _point(value="3.5", step="2"),
        {**_point(), "key": "n"},
    ]
    del metrics[3]["step"]
    ok(
        call(
            api_client,
            "post",
            "runs/log-batch",
            alice_token[1],
            {"run_id": run.run_id, "metrics": metrics},
        )
    )
    stored = sorted(run.metrics.filter(key__in=["k", "n"]).values_list("key", "step", "value"))
    assert stored == [("k", 0, 0.5), ("k", 1, 2.0), ("k", 2, 3.5), ("n", 0, 0.5)]


@pytest.mark.parametrize(
    "method, endpoint, payload",
    [
        ("get", "runs/get", {"run_id": "ab\x00"}),
        ("get", "experiments/get-by-name", {"experiment_name": "a\x00"}),
        ("post", "experiments/create", {"name": "a\x00"}),
        ("post", "runs/search", {"experiment_ids": ["0"], "filter": "params.a = '\x00'"}),
        ("post", "runs/log-parameter", {"run_id": "RUN", "key": "k", "value": "\x00"}),
        ("post", "runs/set-tag", {"run_id": "RUN", "key": "k", "value": "a\x00"}),
    ],
)
def test_nul_characters_are_400_not_a_database_error(
    api_client, alice_token, run, method, endpoint, payload
):
    payload = {k: run.run_id if v == "RUN" else v for k, v in payload.items()}
    error(
        call(api_client, method, endpoint, alice_token[1], payload), 400, "INVALID_PARAMETER_VALUE"
    )


def test_malformed_json_is_invalid_parameter_value(api_client, alice_token, run):
    response = call(api_client, "post", "runs/log-batch", alice_token[1], "{not json")
    assert "JSON" in error(response, 400, "INVALID_PARAMETER_VALUE")


def test_a_batch_over_one_megabyte_is_refused(api_client, alice_token, run):
    payload = {"run_id": run.run_id, "tags": [{"key": "t", "value": "v" * 1_000_001}]}
    response = call(api_client, "post", "runs/log-batch", alice_token[1], payload)
    assert "bytes" in error(response, 400, "INVALID_PARAMETER_VALUE")


def test_changing_a_param_is_400_saying_so(api_client, alice_token, run):
    response = call(
        api_client,
        "post",
        "runs/log-parameter",
        alice_token[1],
        {"run_id": run.run_id, "key": "lr", "value": "0.02"},
    )
    assert "Changing param values is not allowed" in error(response, 400, "INVALID_PARAMETER_VALUE")


def test_logging_to_a_deleted_run_is_400(api_client, alice_token, run):
    ok(call(api_client, "post", "runs/delete", alice_token[1], {"run_id": run.run_id}))
    response = call(
        api_client,
        "post",
        "runs/set-tag",
        alice_token[1],
        {"run_id": run.run_id, "key": "k", "value": "v"},
    )
    error(response, 400, "INVALID_PARAMETER_VALUE")


def test_run_delete_and_restore_are_audited(api_client, alice_token, run):
    ok(call(api_client, "post", "runs/delete", alice_token[1], {"run_id": run.run_id}))
    run.refresh_from_db()
    assert run.lifecycle == Lifecycle.DELETED and run.deleted_time
    ok(call(api_client, "post", "runs/restore", alice_token[1], {"run_id": run.run_id}))
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert AuditAction.RUN_DELETED in actions and AuditAction.RUN_RESTORED in actions


def test_tags_set_and_delete(api_client, alice_token, run):
    ok(
        call(
            api_client,
            "post",
            "runs/set-tag",
            alice_token[1],
            {"run_id": run.run_id, "key": "k", "value": "v"},
        )
    )
    ok(
        call(
            api_client,
            "post",
            "runs/delete-tag",
            alice_token[1],
            {"run_id": run.run_id, "key": "k"},
        )
    )
    assert not RunTag.objects.filter(run=run, key="k").exists()
    response = call(
        api_client, "post", "runs/delete-tag", alice_token[1], {"run_id": run.run_id, "key": "k"}
    )
    error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_log_inputs_stores_a_dataset_with_only_name_and_digest(api_client, alice_token, run):
    payload = {"run_id": run.run_id, "datasets": [{"dataset": {"name": "d", "digest": "x"}}]}
    assert ok(call(api_client, "post", "runs/log-inputs", alice_token[1], payload)) == {}
    assert run.dataset_inputs.get().dataset.name == "d"


def test_metric_history_pages(api_client, alice_token, run):
    run_log_batch(run=run, metrics=[MetricIn("p", float(i), 1000 + i, i) for i in range(25)])
    seen, token = [], None
    while True:
        query = {"run_id": run.run_id, "metric_key": "p", "max_results": 10}
        if token:
            query["page_token"] = token
        body = ok(call(api_client, "get", "metrics/get-history", alice_token[1], query))
        seen += [m["step"] for m in body["metrics"]]
        token = body.get("next_page_token")
        if not token:
            break
    assert seen == list(range(25))


def test_bad_page_token_is_400(api_client, alice_token, run):
    query = {"run_id": run.run_id, "metric_key": "loss", "page_token": "%%%"}
    error(
        call(api_client, "get", "metrics/get-history", alice_token[1], query),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_bulk_interval_samples_evenly_keeping_first_and_last(api_client, alice_token, run):
    other = RunFactory(experiment=run.experiment)
    for r in (run, other):
        run_log_batch(run=r, metrics=[MetricIn("s", float(i), i, i) for i in range(101)])
    query = {"run_ids": [run.run_id, other.run_id], "metric_key": "s", "max_results": 5}
    body = ok(call(api_client, "get", "metrics/get-history-bulk-interval", alice_token[1], query))
    by_run = {}
    for m in body["metrics"]:
        by_run.setdefault(m["run_id"], []).append(m["step"])
    # MLflow's NTILE buckets: the first row of each (the first bucket of 101 rows holds 21),
    # the last row in place of the last bucket's first.
    assert by_run == {run.run_id: [0, 21, 41, 61, 100], other.run_id: [0, 21, 41, 61, 100]}
    assert [m["run_id"] for m in body["metrics"]][::5] == [run.run_id, other.run_id]
    query.update(start_step=10, end_step=20, max_results=3)
    body = ok(call(api_client, "get", "metrics/get-history-bulk-interval", alice_token[1], query))
    assert sorted({m["step"] for m in body["metrics"]}) == [10, 14, 20]


def test_bulk_interval_samples_rows_as_mlflow(api_client, alice_token, run):
    # Steps 0-9, two points at step 9: MLflow keeps each NTILE bucket's first row and the last.
    points = [MetricIn("s", float(i), 1, i) for i in range(10)] + [MetricIn("s", 9.5, 2, 9)]
    run_log_batch(run=run, metrics=points)
    query = {"run_ids": [run.run_id], "metric_key": "s"}
    samples = {}
    for max_results in (1, 2, 5, 11, 20):
        body = ok(
            call(
                api_client,
                "get",
                "metrics/get-history-bulk-interval",
                alice_token[1],
                {**query, "max_results": max_results},
            )
        )
        samples[max_results] = [(m["step"], m["timestamp"]) for m in body["metrics"]]
    assert samples[1] == [(9, 2)]
    assert samples[2] == [(0, 1), (9, 2)]
    assert samples[5] == [(0, 1), (3, 1), (5, 1), (7, 1), (9, 2)]
    assert samples[11] == samples[20] == [(i, 1) for i in range(10)] + [(9, 2)]


def test_bulk_interval_limits_are_enforced(api_client, alice_token, run):
    query = {"run_ids": [run.run_id], "metric_key": "s", "max_results": 2501}
    response = call(api_client, "get", "metrics/get-history-bulk-interval", alice_token[1], query)
    error(response, 400, "INVALID_PARAMETER_VALUE")
    query = {"run_ids": [f"{i:032x}" for i in range(101)], "metric_key": "s"}
    response = call(api_client, "get", "metrics/get-history-bulk-interval", alice_token[1], query)
    error(response, 400, "INVALID_PARAMETER_VALUE")


def test_search_runs_filters_orders_and_pages(api_client, alice_token, default_experiment):
    for i in range(4):
        r = RunFactory(experiment=default_experiment)
        run_log_batch(run=r, metrics=[MetricIn("acc", i / 10, 1, 0)], params=[ParamIn("i", str(i))])
    payload = {
        "experiment_ids": ["0"],
        "filter": "metrics.acc >= 0.1",
        "order_by": ["metrics.acc DESC"],
        "max_results": 2,
    }
    body = ok(call(api_client, "post", "runs/search", alice_token[1], payload))
    assert [r["data"]["params"][0]["value"] for r in body["runs"]] == ["3", "2"]
    body = ok(
        call(
            api_client,
            "post",
            "runs/search",
            alice_token[1],
            {**payload, "page_token": body["next_page_token"]},
        )
    )
    assert [r["data"]["params"][0]["value"] for r in body["runs"]] == ["1"]
    assert "next_page_token" not in body


def test_bad_filter_is_400(api_client, alice_token, project):
    response = call(
        api_client, "post", "runs/search", alice_token[1], {"experiment_ids": ["0"], "filter": "x"}
    )
    error(response, 400, "INVALID_PARAMETER_VALUE")


def test_bad_view_type_is_400_naming_the_field(api_client, alice_token, project):
    response = call(
        api_client,
        "post",
        "runs/search",
        alice_token[1],
        {"experiment_ids": ["0"], "run_view_type": "SOME"},
    )
    assert "run_view_type" in error(response, 400, "INVALID_PARAMETER_VALUE")


def test_search_ignores_other_projects_experiments(api_client, alice_token, other_project, charlie):
    stranger = RunFactory(experiment=other_project.experiments.get(), user=charlie)
    body = ok(
        call(
            api_client,
            "post",
            "runs/search",
            alice_token[1],
            {"experiment_ids": [str(stranger.experiment_id)]},
        )
    )
    assert body == {}


def test_a_token_search_of_several_experiments_keeps_to_its_project(
    api_client, alice_token, default_experiment, other_project, charlie
):
    # The token's experiments are not looked up first: the search's own query keeps to its
    # project, across pages too.
    own = [RunFactory(experiment=default_experiment) for _ in range(3)]
    RunFactory(experiment=other_project.experiments.get(), user=charlie)
    ids = [str(default_experiment.pk), str(other_project.experiments.get().pk), "999999"]
    payload = {"experiment_ids": ids, "max_results": 2}
    first = ok(call(api_client, "post", "runs/search", alice_token[1], payload))
    payload["page_token"] = first["next_page_token"]
    second = ok(call(api_client, "post", "runs/search", alice_token[1], payload))
    found = [r["info"]["run_id"] for r in first["runs"] + second["runs"]]
    assert sorted(found) == sorted(run.run_id for run in own)
    assert "next_page_token" not in second


def test_a_token_search_is_two_queries(
    api_client, alice_token, default_experiment, django_assert_num_queries
):
    RunFactory(experiment=default_experiment)
    payload = {"experiment_ids": [str(default_experiment.pk)], "filter": "attributes.status != 'x'"}
    ok(call(api_client, "post", "runs/search", alice_token[1], payload))  # the token, cached
    # The page of runs (its experiments' project checked in it), then their details.
    with django_assert_num_queries(2):
        body = ok(call(api_client, "post", "runs/search", alice_token[1], payload))
    assert len(body["runs"]) == 1


def test_logged_models_search_without_models_is_empty(api_client, alice_token, run):
    body = {"experiment_ids": [str(run.experiment_id)]}
    assert ok(call(api_client, "post", "logged-models/search", alice_token[1], body)) == {}


def test_unknown_endpoint_is_json_404(api_client, alice_token):
    error(call(api_client, "post", "runs/nope", alice_token[1], {}), 404, "ENDPOINT_NOT_FOUND")


def test_health_and_server_info_need_no_login(client):
    assert client.get("/health").content == b"OK"
    assert client.get("/api/3.0/mlflow/server-info").json()["workspaces_enabled"] is False


def test_a_session_user_needs_a_token_for_project_scoped_calls(client, alice, run):
    client.force_login(alice)
    response = client.get(API + "experiments/get-by-name", {"experiment_name": "Default"})
    assert "token" in error(response, 400, "INVALID_PARAMETER_VALUE")
    assert client.get(API + "runs/get", {"run_id": run.run_id}).status_code == 200


# --- the triad ----------------------------------------------------------------------------------


def _writes(run):
    rid = run.run_id
    eid = str(run.experiment_id)
    return [
        ("runs/log-batch", {"run_id": rid, "metrics": [{"key": "x", "value": 1, "timestamp": 1}]}),
        ("runs/log-metric", {"run_id": rid, "key": "x", "value": 1, "timestamp": 1}),
        ("runs/log-parameter", {"run_id": rid, "key": "new", "value": "1"}),
        ("runs/set-tag", {"run_id": rid, "key": "k", "value": "v"}),
        ("runs/delete-tag", {"run_id": rid, "key": "team"}),
        ("runs/update", {"run_id": rid, "status": "FINISHED"}),
        ("runs/delete", {"run_id": rid}),
        ("runs/restore", {"run_id": rid}),
        ("runs/log-inputs", {"run_id": rid}),
        ("runs/create", {"experiment_id": eid}),
        ("experiments/update", {"experiment_id": eid, "new_name": "n"}),
        ("experiments/delete", {"experiment_id": eid}),
        ("experiments/restore", {"experiment_id": eid}),
        ("experiments/set-experiment-tag", {"experiment_id": eid, "key": "k", "value": "v"}),
        ("experiments/delete-experiment-tag", {"experiment_id": eid, "key": "k"}),
    ]


def _reads(run):
    rid = run.run_id
    return [
        ("runs/get", {"run_id": rid}),
        ("metrics/get-history", {"run_id": rid, "metric_key": "loss"}),
        ("artifacts/list", {"run_id": rid}),
        ("experiments/get", {"experiment_id": str(run.experiment_id)}),
    ]


WRITE_NAMES = [name for name, _ in _writes(RunFactory.build(experiment_id=1))]
READ_NAMES = [name for name, _ in _reads(RunFactory.build(experiment_id=1))]


@pytest.mark.parametrize("name", WRITE_NAMES)
def test_charlie_gets_404_for_writes_in_alices_project(api_client, charlie_token, run, name):
    payload = dict(_writes(run))[name]
    error(call(api_client, "post", name, charlie_token[1], payload), 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize("name", READ_NAMES)
def test_charlie_gets_404_for_reads_in_alices_project(api_client, charlie_token, run, name):
    payload = dict(_reads(run))[name]
    error(call(api_client, "get", name, charlie_token[1], payload), 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize("name", WRITE_NAMES)
def test_bob_the_viewer_cannot_write(api_client, bob_token, run, name):
    payload = dict(_writes(run))[name]
    error(call(api_client, "post", name, bob_token[1], payload), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("name", READ_NAMES)
def test_bob_the_viewer_can_read(api_client, bob_token, run, name):
    ok(call(api_client, "get", name, bob_token[1], dict(_reads(run))[name]))


@pytest.mark.parametrize("name", WRITE_NAMES)
def test_alices_read_token_cannot_write(api_client, alice_read_token, run, name):
    payload = dict(_writes(run))[name]
    error(call(api_client, "post", name, alice_read_token[1], payload), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("name", WRITE_NAMES + READ_NAMES + ["experiments/search"])
def test_anonymous_is_unauthenticated(api_client, run, name):
    method = "get" if name in READ_NAMES else "post"
    payload = {**dict(_writes(run)), **dict(_reads(run))}.get(name, {})
    error(call(api_client, method, name, None, payload), 401, "UNAUTHENTICATED")


def test_a_bad_token_is_unauthenticated(api_client, run):
    response = call(api_client, "get", "runs/get", "mlp_" + "x" * 40, {"run_id": run.run_id})
    error(response, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("name", WRITE_NAMES)
def test_alices_write_token_can_write(api_client, alice_token, run, name):
    ok(call(api_client, "post", name, alice_token[1], dict(_writes(run))[name]))


# --- query counts -------------------------------------------------------------------------------


def test_runs_get_query_count_is_pinned(
    api_client, alice_token, run, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        ok(call(api_client, "get", "runs/get", alice_token[1], {"run_id": run.run_id}))


def test_runs_search_query_count_does_not_grow_with_runs(
    api_client, alice_token, default_experiment, django_assert_max_num_queries
):
    for i in range(30):
        r = RunFactory(experiment=default_experiment)
        run_log_batch(
            run=r,
            metrics=[MetricIn("m", float(i), 1, 0)],
            params=[ParamIn("p", "1")],
            tags=[TagIn("t", "1")],
        )
    with django_assert_max_num_queries(12):
        body = ok(
            call(api_client, "post", "runs/search", alice_token[1], {"experiment_ids": ["0"]})
        )
    assert len(body["runs"]) == 30


def test_get_history_query_count_is_pinned(
    api_client, alice_token, run, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        ok(
            call(
                api_client,
                "get",
                "metrics/get-history",
                alice_token[1],
                {"run_id": run.run_id, "metric_key": "loss"},
            )
        )


def test_log_batch_query_count_is_pinned(
    api_client, alice_token, run, django_assert_max_num_queries
):
    payload = {
        "run_id": run.run_id,
        "metrics": [
            {"key": f"k{i % 20}", "value": i, "timestamp": i, "step": i} for i in range(150)
        ],
        "params": [{"key": f"p{i}", "value": "1"} for i in range(20)],
        "tags": [{"key": f"t{i}", "value": "1"} for i in range(20)],
    }
    with django_assert_max_num_queries(18):
        ok(call(api_client, "post", "runs/log-batch", alice_token[1], payload))
    assert Metric.objects.filter(run=run).count() == 152
    assert LatestMetric.objects.filter(run=run).count() == 21
    assert Param.objects.filter(run=run).count() == 21


# --- never a 5xx ----------------------------------------------------------------------------------


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    filter_string=st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda a, op, b: f"{a} {op} {b}",
            st.sampled_from(["metrics.m", "params.p", "tags.t", "attributes.status", "run_name"]),
            st.sampled_from(["=", "!=", ">", "<=", "LIKE", "ILIKE", "IN", "<>"]),
            st.one_of(st.text(max_size=20), st.integers().map(str), st.just("('a', 'b')")),
        ),
    ),
    order_by=st.lists(st.text(max_size=30), max_size=2),
)
def test_arbitrary_search_input_never_causes_a_server_error(
    alice_token, default_experiment, filter_string, order_by
):
    client = APIClient()
    payload = {"experiment_ids": ["0"], "filter": filter_string, "order_by": order_by}
    response = call(client, "post", "runs/search", alice_token[1], payload)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payload=st.dictionaries(
        st.sampled_from(["run_id", "metrics", "params", "tags", "key", "value", "timestamp"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
            max_leaves=8,
        ),
    )
)
def test_arbitrary_batches_never_cause_a_server_error(alice_token, run, payload):
    client = APIClient()
    payload.setdefault("run_id", run.run_id)
    for name in ("runs/log-batch", "runs/log-metric", "runs/set-tag", "experiments/create"):
        response = call(client, "post", name, alice_token[1], payload)
        assert response.status_code < 500, response.content


def test_experiments_of_other_projects_are_404(api_client, alice_token, other_project):
    stranger = ExperimentFactory(project=other_project)
    response = call(
        api_client, "get", "experiments/get", alice_token[1], {"experiment_id": str(stranger.pk)}
    )
    error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_run_ids_are_never_guessable_counters(api_client, alice_token, project):
    body = ok(call(api_client, "post", "runs/create", alice_token[1], {"experiment_id": "0"}))
    run_id = body["run"]["info"]["run_id"]
    assert int(run_id, 16) and Run.objects.filter(run_id=run_id).exists()


def test_unknown_endpoints_still_refuse_strangers_first(api_client):
    error(call(api_client, "post", "runs/nope", None, {}), 401, "UNAUTHENTICATED")


def test_errors_name_the_first_bad_field_in_mlflows_words(api_client, alice_token, run):
    # MLflow's server checks run_id before key and value, and says so in these words.
    response = call(
        api_client,
        "post",
        "runs/log-parameter",
        alice_token[1],
        {"run_id": 31, "key": "k", "value": 5},
    )
    assert error(response, 400, "INVALID_PARAMETER_VALUE") == (
        "Invalid value 31 for parameter 'run_id' supplied:  Hint: Value was of type 'int'. "
        "See the API docs for more information about request parameters."
    )
    response = call(api_client, "post", "experiments/create", alice_token[1], {})
    assert error(response, 400, "INVALID_PARAMETER_VALUE") == (
        "Missing value for required parameter 'name'. "
        "See the API docs for more information about request parameters."
    )
    response = call(api_client, "get", "runs/get", alice_token[1], {"run_id": "f" * 32})
    assert error(response, 404, "RESOURCE_DOES_NOT_EXIST") == f"Run with id={'f' * 32} not found"
    assert not run.params.filter(key="k").exists()


def test_experiment_artifact_location_must_be_a_string(api_client, alice_token, project):
    before = project.experiments.count()
    payload = {"name": "located", "artifact_location": 9.0}
    response = call(api_client, "post", "experiments/create", alice_token[1], payload)
    assert "'artifact_location'" in error(response, 400, "INVALID_PARAMETER_VALUE")
    assert project.experiments.count() == before
    payload["artifact_location"] = "s3://elsewhere"
    ok(call(api_client, "post", "experiments/create", alice_token[1], payload))


def test_a_thousand_run_ids_in_a_get_are_a_400_json(api_client, alice_token, run):
    query = {"run_ids": [run.run_id] * 1000, "metric_key": "m"}
    response = call(api_client, "get", "metrics/get-history-bulk-interval", alice_token[1], query)
    assert "at most 100 run_ids. Received 1000" in error(response, 400, "INVALID_PARAMETER_VALUE")
    query = {"run_ids": [run.run_id] * 10_001, "metric_key": "m"}
    response = call(api_client, "get", "metrics/get-history-bulk-interval", alice_token[1], query)
    assert "query parameters" in error(response, 400, "INVALID_PARAMETER_VALUE")


def test_a_null_param_value_in_a_batch_is_stored_empty_as_mlflow_does(api_client, alice_token, run):
    # MLflow 3.17.2's server reads a JSON null as protobuf's unset string: "" (not refused).
    payload = {"run_id": run.run_id, "params": [{"key": "p", "value": None}, {"key": "q"}]}
    ok(call(api_client, "post", "runs/log-batch", alice_token[1], payload))
    assert dict(run.params.filter(key__in=["p", "q"]).values_list("key", "value")) == {
        "p": "",
        "q": "",
    }


def test_get_history_of_a_key_without_points_is_empty_and_of_an_unknown_run_is_404(
    api_client, alice_token, run
):
    query = {"run_id": run.run_id, "metric_key": "never-logged"}
    assert ok(call(api_client, "get", "metrics/get-history", alice_token[1], query)) == {
        "metrics": []
    }
    missing = {"run_id": "0" * 32, "metric_key": "loss"}
    response = call(api_client, "get", "metrics/get-history", alice_token[1], missing)
    assert error(response, 404, "RESOURCE_DOES_NOT_EXIST") == f"Run with id={'0' * 32} not found"


def test_get_history_with_a_token_reads_the_points_in_one_query(
    api_client, alice_token, run, django_assert_num_queries
):
    query = {"run_id": run.run_id, "metric_key": "loss"}
    ok(call(api_client, "get", "metrics/get-history", alice_token[1], query))  # token cached
    with django_assert_num_queries(1):
        body = ok(call(api_client, "get", "metrics/get-history", alice_token[1], query))
    assert [m["value"] for m in body["metrics"]] == [0.5, 0.25]

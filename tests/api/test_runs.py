"""Runs through the native API: list with filters, search, order, cursor pages and columns."""

import pytest

from tracking.models import Lifecycle, Run, RunStatus

from .helpers import API, error_fields, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(alice, default_experiment):
    return [
        make_run(
            alice,
            default_experiment,
            name=f"trial-{i}",
            metrics={"acc": i / 10, "loss": 1 - i / 10},
            params={"lr": f"0.{i}", "seed": "1"},
            tags={"team": "rl" if i % 2 else "cv"},
            start_time=1_000_000 + i,
        )
        for i in range(5)
    ]


def runs_url(experiment) -> str:
    return f"{API}/experiments/{experiment.pk}/runs/"


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [run["name"] for run in response.json()["results"]]


def test_alice_lists_her_experiments_runs_newest_first(alice_api, runs, default_experiment):
    response = alice_api.get(runs_url(default_experiment))
    assert names(response) == [f"trial-{i}" for i in reversed(range(5))]
    first = response.json()["results"][0]
    assert first["params"] == {"lr": "0.4", "seed": "1"}
    assert first["metrics"] == {"acc": 0.4, "loss": 0.6}
    assert first["tags"]["team"] == "cv"
    assert first["user"] == "alice"


def test_bob_the_viewer_can_list_runs(bob_api, runs, default_experiment):
    assert len(names(bob_api.get(runs_url(default_experiment)))) == 5


def test_charlie_cannot_see_alices_runs(charlie_api, runs, default_experiment):
    response = charlie_api.get(runs_url(default_experiment))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert charlie_api.get(f"{API}/runs/{runs[0].run_id}/").status_code == 404


def test_anonymous_callers_get_401_in_the_native_error_shape(api_client, default_experiment):
    response = api_client.get(runs_url(default_experiment))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"name": "TRIAL-3"}, ["trial-3"]),
        ({"user": "alice"}, [f"trial-{i}" for i in reversed(range(5))]),
        ({"user": "bob"}, []),
        ({"start_time_min": 1_000_003}, ["trial-4", "trial-3"]),
        ({"start_time_max": 1_000_001}, ["trial-1", "trial-0"]),
        ({"filter": "metrics.acc > 0.25 and tags.team = 'rl'"}, ["trial-3"]),
        ({"filter": "params.lr = '0.2'"}, ["trial-2"]),
        ({"filter": "metrics.acc >= 0.2", "name": "trial-2"}, ["trial-2"]),
    ],
)
def test_filterset_and_mlflow_filter_select_runs(
    alice_api, runs, default_experiment, query, expected
):
    assert names(alice_api.get(runs_url(default_experiment), query)) == expected


def test_status_filter_accepts_several_statuses(alice_api, runs, default_experiment):
    Run.objects.filter(pk=runs[1].pk).update(status=RunStatus.FINISHED)
    Run.objects.filter(pk=runs[2].pk).update(status=RunStatus.FAILED)
    response = alice_api.get(runs_url(default_experiment) + "?status=FINISHED&status=FAILED")
    assert names(response) == ["trial-2", "trial-1"]


def test_deleted_runs_show_only_when_asked_for(alice_api, runs, default_experiment):
    Run.objects.filter(pk=runs[0].pk).update(lifecycle=Lifecycle.DELETED)
    assert "trial-0" not in names(alice_api.get(runs_url(default_experiment)))
    deleted = alice_api.get(runs_url(default_experiment), {"lifecycle": "deleted"})
    assert names(deleted) == ["trial-0"]
    assert len(names(alice_api.get(runs_url(default_experiment), {"lifecycle": "all"}))) == 5


def test_parent_filter_lists_child_runs(alice, alice_api, runs, default_experiment):
    child = make_run(
        alice, default_experiment, name="child", tags={"mlflow.parentRunId": runs[0].run_id}
    )
    response = alice_api.get(runs_url(default_experiment), {"parent": runs[0].run_id})
    assert names(response) == ["child"]
    assert response.json()["results"][0]["parent_run_id"] == runs[0].run_id
    assert child.run_id == response.json()["results"][0]["run_id"]


def test_order_by_a_metric_or_a_param(alice_api, runs, default_experiment):
    by_loss = alice_api.get(runs_url(default_experiment), {"order_by": "metrics.loss ASC"})
    assert names(by_loss) == [f"trial-{i}" for i in reversed(range(5))]
    by_lr = alice_api.get(runs_url(default_experiment), {"order_by": "params.lr ASC"})
    assert names(by_lr) == [f"trial-{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"filter": "metrics.acc >>> 1"}, "filter"),
        ({"order_by": "nonsense.key SIDEWAYS"}, "order_by"),
        ({"status": "SLEEPING"}, "status"),
        ({"start_time_min": "yesterday"}, "start_time_min"),
        ({"columns": "weights.w1"}, "columns"),
        ({"page_size": "0"}, "page_size"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_query_gets_400_naming_the_field(alice_api, runs, default_experiment, query, field):
    response = alice_api.get(runs_url(default_experiment), query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert field in error_fields(response)


def test_cursor_pages_cover_every_run_once(alice_api, runs, default_experiment):
    seen = []
    url = runs_url(default_experiment) + "?page_size=2"
    pages = 0
    while url:
        response = alice_api.get(url)
        seen += names(response)
        url = response.json()["next"]
        pages += 1
    assert pages == 3
    assert seen == [f"trial-{i}" for i in reversed(range(5))]


def test_a_run_started_meanwhile_does_not_shift_the_next_page(
    alice, alice_api, runs, default_experiment
):
    first = alice_api.get(runs_url(default_experiment), {"page_size": 2})
    make_run(alice, default_experiment, name="newcomer", start_time=2_000_000)
    second = alice_api.get(first.json()["next"])
    assert names(second) == ["trial-2", "trial-1"]


def test_cursor_pages_follow_a_custom_order(alice_api, runs, default_experiment):
    url = runs_url(default_experiment) + "?page_size=3&order_by=metrics.acc+ASC"
    first = alice_api.get(url)
    second = alice_api.get(first.json()["next"])
    assert names(first) + names(second) == [f"trial-{i}" for i in range(5)]
    assert second.json()["next"] is None


def test_a_cursor_does_not_fit_another_query(alice_api, runs, default_experiment):
    first = alice_api.get(runs_url(default_experiment), {"page_size": 2})
    cursor = first.json()["next"].split("cursor=")[1]
    response = alice_api.get(
        runs_url(default_experiment), {"cursor": cursor, "filter": "metrics.acc > 0"}
    )
    assert response.status_code == 400
    assert "cursor" in error_fields(response)


def test_columns_limit_params_and_metrics_to_those_asked_for(alice_api, runs, default_experiment):
    response = alice_api.get(runs_url(default_experiment), {"columns": "params.lr,metrics.acc"})
    first = response.json()["results"][0]
    assert first["params"] == {"lr": "0.4"}
    assert first["metrics"] == {"acc": 0.4}
    assert first["tags"] == {}
    empty = alice_api.get(runs_url(default_experiment), {"columns": ""}).json()["results"][0]
    assert empty["params"] == empty["metrics"] == {}


def test_run_list_query_count_does_not_grow_with_runs(
    alice, alice_api, default_experiment, django_assert_max_num_queries
):
    for i in range(30):
        make_run(alice, default_experiment, name=f"r{i}", metrics={"m": i}, params={"p": "1"})
    with django_assert_max_num_queries(9):
        response = alice_api.get(runs_url(default_experiment))
    assert len(names(response)) == 30


def test_retrieve_a_run(alice_api, runs):
    response = alice_api.get(f"{API}/runs/{runs[2].run_id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "trial-2"
    assert body["metrics"]["acc"] == 0.2
    assert body["description"] == ""


def test_alice_updates_name_status_and_description(alice_api, runs):
    response = alice_api.patch(
        f"{API}/runs/{runs[0].run_id}/",
        {"name": "renamed", "status": "FINISHED", "end_time": 1_000_100, "description": "ok"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["status"], body["end_time"]) == ("renamed", "FINISHED", 1_000_100)
    assert body["description"] == "ok"
    assert body["tags"]["mlflow.runName"] == "renamed"


def test_bob_cannot_update_a_run(bob_api, runs):
    response = bob_api.patch(f"{API}/runs/{runs[0].run_id}/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert bob_api.delete(f"{API}/runs/{runs[0].run_id}/").status_code == 403


def test_charlie_cannot_update_a_run(charlie_api, runs):
    response = charlie_api.patch(f"{API}/runs/{runs[0].run_id}/", {"name": "x"}, format="json")
    assert response.status_code == 404


def test_a_bad_status_gets_400_naming_status(alice_api, runs):
    response = alice_api.patch(f"{API}/runs/{runs[0].run_id}/", {"status": "ASLEEP"}, format="json")
    assert response.status_code == 400
    assert "status" in error_fields(response)


def test_delete_and_restore_a_run(alice_api, runs):
    url = f"{API}/runs/{runs[0].run_id}/"
    assert alice_api.delete(url).status_code == 204
    assert alice_api.get(url).json()["lifecycle"] == "deleted"
    assert alice_api.patch(url, {"name": "x"}, format="json").status_code == 400
    restored = alice_api.post(url + "restore/")
    assert restored.status_code == 200
    assert restored.json()["lifecycle"] == "active"


def test_alice_starts_a_run_and_bob_cannot(alice_api, bob_api, default_experiment):
    response = alice_api.post(
        runs_url(default_experiment), {"name": "fresh", "tags": {"a": "b"}}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["tags"]["a"] == "b"
    assert bob_api.post(runs_url(default_experiment), {}, format="json").status_code == 403


def test_filter_matches_dataset_inputs(alice_api, runs, default_experiment, charlie_api):
    from tracking.services.datasets import DatasetIn, run_log_inputs

    context = {"mlflow.data.context": "train"}
    run_log_inputs(run=runs[1], datasets=[DatasetIn("iris", "d1", "local", "s", tags=context)])
    run_log_inputs(run=runs[3], datasets=[DatasetIn("wine", "d2", "local", "s")])
    for text, expected in [
        ("dataset.name = 'iris'", ["trial-1"]),
        ("dataset.name IN ('iris', 'wine')", ["trial-3", "trial-1"]),
        ("dataset.digest LIKE 'd%' and dataset.name != 'iris'", ["trial-3"]),
        ("dataset.context = 'train' and metrics.acc > 0", ["trial-1"]),
        ("dataset.name = 'nope'", []),
    ]:
        assert names(alice_api.get(runs_url(default_experiment), {"filter": text})) == expected
    response = alice_api.get(runs_url(default_experiment), {"filter": "dataset.size = '1'"})
    assert response.status_code == 400
    assert "unknown dataset key" in response.content.decode()
    response = charlie_api.get(runs_url(default_experiment), {"filter": "dataset.name = 'iris'"})
    assert response.status_code == 404

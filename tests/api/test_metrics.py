"""Logging batches, metric summaries, raw histories and downsampled series."""

import pytest
from django.db import connection

from tracking.batch import MetricIn
from tracking.models import LatestMetric, Metric, Param
from tracking.services.ingest import run_log_batch
from tracking.services.summaries import summary_compute

from .helpers import API, error_fields, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(alice, default_experiment):
    return make_run(alice, default_experiment, name="trial")


BATCH = {
    "metrics": [
        {"key": "loss", "value": 0.5, "timestamp": 1000, "step": 1},
        {"key": "loss", "value": 0.25, "timestamp": 2000, "step": 2},
        {"key": "acc", "value": "NaN", "timestamp": 2000, "step": 2},
    ],
    "params": [{"key": "lr", "value": "0.01"}],
    "tags": [{"key": "team", "value": "rl"}],
}


def log(client, run, body):
    return client.post(f"{API}/runs/{run.run_id}/log/", body, format="json")


def test_alice_logs_a_batch(alice_api, run):
    assert log(alice_api, run, BATCH).status_code == 204
    latest = {m.key: m for m in LatestMetric.objects.filter(run=run)}
    assert latest["loss"].value == 0.25 and latest["loss"].step == 2
    assert latest["acc"].is_nan
    assert run.params.get(key="lr").value == "0.01"
    assert run.tags.get(key="team").value == "rl"


def test_a_retried_batch_writes_nothing_twice(alice_api, run):
    log(alice_api, run, BATCH)
    assert log(alice_api, run, BATCH).status_code == 204
    assert Metric.objects.filter(run=run).count() == 3


def test_bob_cannot_log_and_charlie_cannot_see_the_run(bob_api, charlie_api, run):
    assert log(bob_api, run, BATCH).status_code == 403
    assert log(charlie_api, run, BATCH).status_code == 404
    assert not Metric.objects.filter(run=run).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metrics": [{"key": "x", "value": i, "timestamp": 1} for i in range(1001)]}, "metrics"),
        ({"params": [{"key": f"p{i}", "value": "1"} for i in range(101)]}, "params"),
        ({"metrics": [{"key": "../up", "value": 1, "timestamp": 1}]}, "metrics[0].key"),
        ({"metrics": [{"key": "x", "value": "high", "timestamp": 1}]}, "metrics[0].value"),
        ({"metrics": [{"key": "x", "value": 1}]}, "metrics[0].timestamp"),
        ({"metrics": [{"key": "x", "value": 1, "timestamp": 2**64}]}, "metrics[0].timestamp"),
        ({"tags": "not-a-list"}, "tags"),
    ],
)
def test_a_bad_batch_gets_400_naming_the_field_and_writes_nothing(alice_api, run, body, field):
    response = log(alice_api, run, body)
    assert response.status_code == 400
    assert field in error_fields(response)
    assert not Metric.objects.filter(run=run).exists()


def test_changing_a_param_fails_the_whole_batch(alice_api, run):
    log(alice_api, run, {"params": [{"key": "lr", "value": "0.01"}]})
    response = log(
        alice_api,
        run,
        {
            "metrics": [{"key": "loss", "value": 1, "timestamp": 1}],
            "params": [{"key": "lr", "value": "0.02"}],
        },
    )
    assert response.status_code == 400
    assert "params" in error_fields(response)
    assert not Metric.objects.filter(run=run).exists()
    assert Param.objects.get(run=run, key="lr").value == "0.01"


def test_metrics_show_latest_values_and_the_summary_once_computed(alice_api, bob_api, run):
    # A run's first batch may come with its summaries (PostgreSQL); this is about a later one,
    # whose summaries wait for the worker.
    log(alice_api, run, {"metrics": [{"key": "warm-up", "value": 0, "timestamp": 0}]})
    log(alice_api, run, BATCH)
    before = {m["key"]: m for m in bob_api.get(f"{API}/runs/{run.run_id}/metrics/").json()}
    assert before["loss"]["latest_value"] == 0.25
    assert before["acc"]["latest_value"] == "NaN"
    assert before["loss"]["stale"] is True and before["loss"]["count"] is None
    summary_compute(run_pk=run.pk)
    after = {m["key"]: m for m in bob_api.get(f"{API}/runs/{run.run_id}/metrics/").json()}
    loss = after["loss"]
    assert (loss["count"], loss["min"], loss["max"], loss["mean"]) == (2, 0.25, 0.5, 0.375)
    assert (loss["first_step"], loss["last_step"], loss["nan_count"]) == (1, 2, 0)
    assert loss["stale"] is False and loss["computed_at"]
    assert after["acc"]["nan_count"] == 1


def test_charlie_cannot_read_metrics(charlie_api, run):
    assert charlie_api.get(f"{API}/runs/{run.run_id}/metrics/").status_code == 404
    url = f"{API}/runs/{run.run_id}/metrics/loss/history/"
    assert charlie_api.get(url).status_code == 404


def _log_points(run, key, values):
    run_log_batch(
        run=run,
        metrics=[
            MetricIn(key=key, value=v, timestamp=10_000 + i, step=i) for i, v in enumerate(values)
        ],
    )


def test_history_pages_through_raw_points(alice_api, run):
    _log_points(run, "train/loss", [float(i) for i in range(25)])
    url = f"{API}/runs/{run.run_id}/metrics/train/loss/history/?page_size=10"
    steps = []
    while url:
        body = alice_api.get(url).json()
        steps += [p["step"] for p in body["results"]]
        url = body["next"]
    assert steps == list(range(25))


def test_history_rejects_bad_paging(alice_api, run):
    url = f"{API}/runs/{run.run_id}/metrics/loss/history/"
    assert "page_size" in error_fields(alice_api.get(url, {"page_size": 0}))
    assert "cursor" in error_fields(alice_api.get(url, {"cursor": "%%%"}))
    assert "points" in error_fields(alice_api.get(url, {"points": 5001}))
    assert "x" in error_fields(alice_api.get(url, {"points": 10, "x": "epoch"}))
    assert "step_max" in error_fields(
        alice_api.get(url, {"points": 10, "step_min": 5, "step_max": 1})
    )


def test_downsampled_series_zooms_into_a_step_range(alice_api, run):
    _log_points(run, "loss", [float(i) for i in range(100)])
    url = f"{API}/runs/{run.run_id}/metrics/loss/history/"
    body = alice_api.get(url, {"points": 10}).json()
    assert len(body["buckets"]) == 10
    assert body["buckets"][0] == {
        "x": 9,
        "step": 9,
        "timestamp": 10_009,
        "last": 9.0,
        "min": 0.0,
        "max": 9.0,
        "count": 10,
    }
    zoomed = alice_api.get(url, {"points": 5, "step_min": 20, "step_max": 29}).json()
    assert [b["step"] for b in zoomed["buckets"]] == [21, 23, 25, 27, 29]
    by_time = alice_api.get(url, {"points": 1, "x": "time"}).json()
    assert by_time["buckets"][0]["x"] == 10_099
    relative = alice_api.get(url, {"points": 1, "x": "relative"}).json()
    assert relative["buckets"][0]["x"] == 10_099 - run.start_time


def _insert_million_points(run, spike_step: int) -> None:
    assert Metric._meta.db_table == "tracking_metric"
    if connection.vendor == "postgresql":
        sql = (
            "INSERT INTO tracking_metric (run_id, key, step, timestamp, value, is_nan) "
            "SELECT %s, 'loss', i, 1000 + i, CASE WHEN i = %s THEN 1000.0 ELSE 1.0 END, false "
            "FROM generate_series(0, 999999) AS i"
        )
    else:
        sql = (
            "INSERT INTO tracking_metric (run_id, key, step, timestamp, value, is_nan) "
            "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 999999) "
            "SELECT %s, 'loss', i, 1000 + i, CASE WHEN i = %s THEN 1000.0 ELSE 1.0 END, 0 FROM s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run.pk, spike_step])


def test_a_million_points_downsample_to_n_and_keep_the_spike(alice_api, run):
    _insert_million_points(run, spike_step=654_321)
    url = f"{API}/runs/{run.run_id}/metrics/loss/history/"
    buckets = alice_api.get(url, {"points": 500}).json()["buckets"]
    assert 0 < len(buckets) <= 500
    spiked = [b for b in buckets if b["max"] == 1000.0]
    assert len(spiked) == 1
    assert spiked[0]["min"] == 1.0
    assert sum(b["count"] for b in buckets) == 1_000_000


def test_several_runs_at_once(alice, alice_api, run, default_experiment):
    other = make_run(alice, default_experiment, name="other")
    _log_points(run, "loss", [1.0, 2.0, 3.0])
    _log_points(other, "loss", [5.0])
    response = alice_api.get(
        f"{API}/metrics/history/", {"runs": f"{run.run_id},{other.run_id}", "key": "loss"}
    )
    assert response.status_code == 200
    series = {s["run_id"]: s["buckets"] for s in response.json()["series"]}
    assert [b["last"] for b in series[run.run_id]] == [1.0, 2.0, 3.0]
    assert [b["last"] for b in series[other.run_id]] == [5.0]


def test_several_runs_refuses_what_charlie_cannot_see(charlie_api, run):
    response = charlie_api.get(f"{API}/metrics/history/", {"runs": run.run_id, "key": "loss"})
    assert response.status_code == 404


def test_several_runs_needs_runs_and_key(alice_api, run):
    fields = error_fields(alice_api.get(f"{API}/metrics/history/"))
    assert {"runs", "key"} <= set(fields)
    too_many = ",".join(f"{i:032x}" for i in range(101))
    response = alice_api.get(f"{API}/metrics/history/", {"runs": too_many, "key": "loss"})
    assert "runs" in error_fields(response)

"""CSV exports, streamed: the runs table and a metric's full history."""

import csv
import io

import pytest

from .helpers import API, client_for, error_fields, make_run
from .test_metrics import _insert_million_points

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(alice, default_experiment):
    return [
        make_run(
            alice,
            default_experiment,
            name=f"trial-{i}",
            metrics={"acc": i / 4, "loss": float("nan") if i == 0 else 1.0},
            params={"lr": f"0.{i}"},
            tags={"team": "rl"},
            start_time=1_000 + i,
        )
        for i in range(3)
    ]


def rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_runs_csv_has_the_requested_columns(alice_api, runs, default_experiment):
    response = alice_api.get(
        f"{API}/experiments/{default_experiment.pk}/runs.csv",
        {"columns": "params.lr,metrics.acc,metrics.loss"},
    )
    table = rows(response)
    assert table[0] == [
        "run_id",
        "name",
        "status",
        "start_time",
        "end_time",
        "lifecycle",
        "user",
        "params.lr",
        "metrics.acc",
        "metrics.loss",
    ]
    assert [r[1] for r in table[1:]] == ["trial-2", "trial-1", "trial-0"]
    assert table[3][7:] == ["0.0", "0.0", "NaN"]
    assert response["Content-Disposition"].startswith("attachment")


def test_runs_csv_without_columns_has_every_key_and_follows_filters(
    alice_api, runs, default_experiment
):
    table = rows(
        alice_api.get(
            f"{API}/experiments/{default_experiment.pk}/runs.csv",
            {"filter": "metrics.acc > 0.2", "order_by": "metrics.acc ASC"},
        )
    )
    assert "params.lr" in table[0] and "tags.team" in table[0] and "metrics.acc" in table[0]
    assert [r[1] for r in table[1:]] == ["trial-1", "trial-2"]


def test_runs_csv_refuses_charlie_and_bad_input(charlie_token, alice_api, default_experiment):
    url = f"{API}/experiments/{default_experiment.pk}/runs.csv"
    assert client_for(charlie_token[1]).get(url).status_code == 404
    assert "columns" in error_fields(alice_api.get(url, {"columns": "nope"}))
    assert "filter" in error_fields(alice_api.get(url, {"filter": "metrics.acc ~ 1"}))


def test_runs_csv_query_count_is_pinned(
    alice, alice_api, default_experiment, django_assert_max_num_queries
):
    for i in range(30):
        make_run(alice, default_experiment, name=f"r{i}", metrics={"m": i}, params={"p": "1"})
    with django_assert_max_num_queries(12):
        table = rows(alice_api.get(f"{API}/experiments/{default_experiment.pk}/runs.csv"))
    assert len(table) == 31


def test_history_csv_streams_a_million_points(alice, alice_api, default_experiment):
    run = make_run(alice, default_experiment)
    _insert_million_points(run, spike_step=10)
    response = alice_api.get(f"{API}/runs/{run.run_id}/metrics/loss/history.csv")
    assert response.status_code == 200
    assert response.streaming
    lines = iter(response.streaming_content)
    assert next(lines) == b"step,timestamp,value\r\n"
    assert next(lines) == b"0,1000,1.0\r\n"
    count = 2
    spike = None
    for line in lines:
        count += 1
        if line.startswith(b"10,"):
            spike = line
    assert count == 1_000_001
    assert spike == b"10,1010,1000.0\r\n"


def test_history_csv_writes_nan_and_refuses_charlie(alice, alice_api, charlie_token, runs):
    body = rows(alice_api.get(f"{API}/runs/{runs[0].run_id}/metrics/loss/history.csv"))
    assert body == [["step", "timestamp", "value"], ["0", "1000", "NaN"]]
    response = client_for(charlie_token[1]).get(
        f"{API}/runs/{runs[0].run_id}/metrics/loss/history.csv"
    )
    assert response.status_code == 404

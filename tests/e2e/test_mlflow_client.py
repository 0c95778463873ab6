"""The unmodified `mlflow` client against a live server, with only a URI and a token set."""

import math
import runpy
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from accounts.models import TokenScope
from tests.factories import make_token
from tracking.models import Metric as MetricRow
from tracking.models import Run

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tracking(live_server, monkeypatch, alice_token):
    """The client configured like a training job: tracking URI and alice's write token."""
    _, raw = alice_token
    use_token(monkeypatch, live_server, raw)
    yield MlflowClient()
    while mlflow.active_run():
        mlflow.end_run()


def use_token(monkeypatch, live_server, raw):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", raw)
    # Errors must surface at once, not after the client's backoff.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    mlflow.set_tracking_uri(live_server.url)


def test_the_fluent_flow_logs_everything(tracking, project, alice, tmp_path):
    experiment_id = mlflow.set_experiment("fluent").experiment_id
    assert mlflow.set_experiment("fluent").experiment_id == experiment_id
    (tmp_path / "notes.txt").write_text("hello")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "act": "relu"})
        mlflow.log_metric("loss", 0.5)
        mlflow.log_metric("loss", 0.25, step=1)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=1)
        mlflow.set_tag("team", "rl")
        mlflow.set_tags({"a": "1", "b": "2"})
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
        mlflow.log_artifact(str(tmp_path / "notes.txt"), artifact_path="deep/er")
    got = tracking.get_run(run.info.run_id)
    assert len(got.info.run_id) == 32
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "first"
    assert got.info.experiment_id == experiment_id
    assert got.info.user_id == "alice"
    assert got.data.params == {"lr": "0.01", "layers": "3", "act": "relu"}
    assert got.data.metrics == {"loss": 0.25, "acc": 0.9, "f1": 0.8}
    assert got.data.tags["team"] == "rl"
    assert got.data.tags["mlflow.user"] == "alice"
    assert [m.value for m in tracking.get_metric_history(run.info.run_id, "loss")] == [0.5, 0.25]
    assert Run.objects.get(run_id=run.info.run_id).experiment.project == project

    top = tracking.list_artifacts(run.info.run_id)
    assert [(f.path, f.is_dir) for f in top] == [("deep", True), ("notes.txt", False)]
    assert [f.path for f in tracking.list_artifacts(run.info.run_id, "deep/er")] == [
        "deep/er/notes.txt"
    ]
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="deep", dst_path=str(tmp_path / "dl")
    )
    assert (tmp_path / "dl" / "deep" / "er" / "notes.txt").read_text() == "hello"
    assert local.endswith("deep")


def test_nested_runs_record_their_parent(tracking):
    mlflow.set_experiment("nested")
    with mlflow.start_run() as parent, mlflow.start_run(nested=True) as child:
        pass
    assert Run.objects.get(run_id=child.info.run_id).parent.run_id == parent.info.run_id


def test_client_searches_filter_order_and_page(tracking):
    experiment_id = tracking.create_experiment("search")
    for i in range(5):
        run = tracking.create_run(experiment_id, run_name=f"r{i}")
        tracking.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", i / 10, 0, 0)],
            params=[Param("i", str(i))],
            tags=[RunTag("parity", "even" if i % 2 == 0 else "odd")],
        )
    found = tracking.search_runs(
        [experiment_id], "metrics.acc > 0.1 and tags.parity = 'even'", order_by=["metrics.acc DESC"]
    )
    assert [r.data.params["i"] for r in found] == ["4", "2"]
    page = tracking.search_runs([experiment_id], order_by=["params.i ASC"], max_results=2)
    assert [r.data.params["i"] for r in page] == ["0", "1"]
    second = tracking.search_runs(
        [experiment_id], order_by=["params.i ASC"], max_results=2, page_token=page.token
    )
    assert [r.data.params["i"] for r in second] == ["2", "3"]
    # The fluent API too (as a list: pandas is not a dependency here).
    fluent = mlflow.search_runs([experiment_id], "params.i = '3'", output_format="list")
    assert [r.data.params["i"] for r in fluent] == ["3"]


def test_long_metric_history_comes_back_whole_in_pages(tracking):
    run = tracking.create_run(tracking.create_experiment("long"))
    total = 30_000
    for start in range(0, total, 1000):
        tracking.log_batch(
            run.info.run_id,
            metrics=[Metric("x", float(i), 1000 + i, i) for i in range(start, start + 1000)],
        )
    history = tracking.get_metric_history(run.info.run_id, "x")
    assert len(history) == total
    assert [m.step for m in history] == list(range(total))
    assert tracking.get_run(run.info.run_id).data.metrics["x"] == total - 1


def test_tags_runs_and_experiments_can_be_deleted_and_restored(tracking):
    experiment_id = tracking.create_experiment("lifecycle")
    run = tracking.create_run(experiment_id)
    run_id = run.info.run_id
    tracking.set_tag(run_id, "gone", "soon")
    tracking.delete_tag(run_id, "gone")
    assert "gone" not in tracking.get_run(run_id).data.tags

    tracking.delete_run(run_id)
    assert tracking.get_run(run_id).info.lifecycle_stage == "deleted"
    assert tracking.search_runs([experiment_id]) == []
    assert len(tracking.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)) == 1
    tracking.restore_run(run_id)
    assert tracking.get_run(run_id).info.lifecycle_stage == "active"

    tracking.set_experiment_tag(experiment_id, "owner", "alice")
    assert tracking.get_experiment(experiment_id).tags["owner"] == "alice"
    tracking.delete_experiment(experiment_id)
    assert tracking.get_experiment(experiment_id).lifecycle_stage == "deleted"
    with pytest.raises(MlflowException) as info:
        tracking.create_experiment("lifecycle")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    tracking.restore_experiment(experiment_id)
    assert tracking.get_experiment_by_name("lifecycle").lifecycle_stage == "active"
    tracking.rename_experiment(experiment_id, "renamed")
    assert tracking.get_experiment(experiment_id).name == "renamed"


def test_missing_experiment_by_name_is_none(tracking):
    assert tracking.get_experiment_by_name("nope") is None


def test_changing_a_param_is_an_invalid_parameter_value(tracking):
    run = tracking.create_run("0")
    tracking.log_param(run.info.run_id, "lr", "0.1")
    tracking.log_param(run.info.run_id, "lr", "0.1")
    with pytest.raises(MlflowException) as info:
        tracking.log_param(run.info.run_id, "lr", "0.2")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_read_only_token_cannot_log(live_server, monkeypatch, alice, project):
    _, raw = make_token(user=alice, project=project, scope=TokenScope.READ)
    use_token(monkeypatch, live_server, raw)
    with pytest.raises(MlflowException) as info:
        MlflowClient().create_run("0")
    assert info.value.error_code == "PERMISSION_DENIED"


def test_another_projects_run_is_not_found(tracking, live_server, monkeypatch, charlie_token):
    run = tracking.create_run("0")
    use_token(monkeypatch, live_server, charlie_token[1])
    with pytest.raises(MlflowException) as info:
        MlflowClient().get_run(run.info.run_id)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_log_batch_sent_twice_leaves_the_same_rows(tracking):
    run = tracking.create_run("0")
    batch = dict(
        metrics=[Metric("m", 1.0, 5, 0), Metric("m", 2.0, 6, 1)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "1")],
    )
    tracking.log_batch(run.info.run_id, **batch)
    rows = sorted(
        MetricRow.objects.filter(run__run_id=run.info.run_id).values_list("step", "value")
    )
    tracking.log_batch(run.info.run_id, **batch)
    again = MetricRow.objects.filter(run__run_id=run.info.run_id).values_list("step", "value")
    assert sorted(again) == rows == [(0, 1.0), (1, 2.0)]


def test_nan_and_infinities_round_trip(tracking):
    run = tracking.create_run("0")
    now = int(time.time() * 1000)
    tracking.log_metric(run.info.run_id, "nan", math.nan, timestamp=now)
    tracking.log_metric(run.info.run_id, "pinf", math.inf, timestamp=now)
    tracking.log_batch(run.info.run_id, metrics=[Metric("ninf", -math.inf, now, 0)])
    metrics = tracking.get_run(run.info.run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["pinf"] == math.inf
    assert metrics["ninf"] == -math.inf
    assert math.isnan(tracking.get_metric_history(run.info.run_id, "nan")[0].value)


def test_the_example_training_script_runs_unchanged(tracking, capsys):
    script = Path(__file__).resolve().parents[2] / "examples" / "train_with_mlflow.py"
    runpy.run_path(str(script), run_name="__main__")
    experiment = tracking.get_experiment_by_name("examples")
    runs = tracking.search_runs([experiment.experiment_id])
    assert len(runs) == 3
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 2
    assert all(len(tracking.get_metric_history(r.info.run_id, "loss")) == 20 for r in children)
    assert [f.path for f in tracking.list_artifacts(children[0].info.run_id, "reports")] == [
        "reports/summary.json"
    ]
    assert "runs with loss < 0.5" in capsys.readouterr().out

"""Ray Tune's MLflowLoggerCallback, unchanged, logs a sweep into an MLPlatform project."""

import importlib.util
import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

try:
    import ray
except ImportError:  # only the integration extra installs Ray
    ray = None

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    # In CI a missing Ray is a broken environment and must fail, not skip.
    pytest.mark.skipif(
        ray is None and not os.environ.get("CI"),
        reason='Ray is not installed: pip install -e ".[integration]" to run this test',
    ),
]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ray_tune_mlflow.py"


def load_example():
    spec = importlib.util.spec_from_file_location("ray_tune_mlflow", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def ray_cluster():
    # Ray's own short temp dir: a deep pytest tmp_path overflows the 107-byte socket path limit.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_a_grid_search_logs_every_trial_as_a_finished_run(
    live_server, monkeypatch, alice_token, project, ray_cluster, tmp_path
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", alice_token[1])
    mlflow.set_tracking_uri(live_server.url)

    load_example().sweep(
        tracking_uri=live_server.url,
        experiment_name="tune-sweep",
        storage_path=str(tmp_path / "results"),
    )

    client = MlflowClient()
    experiment = client.get_experiment_by_name("tune-sweep")
    runs = client.search_runs([experiment.experiment_id], order_by=["params.lr ASC"])
    assert [r.data.params["lr"] for r in runs] == ["0.1", "0.5"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.info.user_id == "alice"
        assert run.data.params["epochs"] == "3"
        history = client.get_metric_history(run.info.run_id, "loss")
        assert len(history) == 3
        assert [m.step for m in history] == [1, 2, 3]
        assert history[-1].value < history[0].value

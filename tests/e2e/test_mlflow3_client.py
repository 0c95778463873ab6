"""MLflow 3's client against a live server: logged models, autolog, datasets and artifacts, with
only a URI and a token set, as a training script runs."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

from accounts.models import TokenScope
from tests.e2e.test_mlflow_client import use_token
from tests.factories import make_token
from tracking.models import Dataset, LoggedModel, LoggedModelStatus, RunInput

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tracking(live_server, monkeypatch, alice_token):
    _, raw = alice_token
    use_token(monkeypatch, live_server, raw)
    yield MlflowClient()
    while mlflow.active_run():
        mlflow.end_run()


class AddOne(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input + 1


def _data():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]})
    y = np.array([0, 0, 0, 1, 1, 1])
    return X, y


def test_pyfunc_model_is_logged_and_loaded_by_both_uris(tracking):
    mlflow.set_experiment("pyfunc")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="adder", python_model=AddOne())
    model = LoggedModel.objects.get(model_id=info.model_id)
    assert model.name == "adder"
    assert model.source_run.run_id == run.info.run_id
    assert model.status == LoggedModelStatus.READY
    frame = pd.DataFrame({"x": [1, 2]})
    by_id = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
    assert list(by_id.predict(frame)["x"]) == [2, 3]
    by_run = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/adder")
    assert list(by_run.predict(frame)["x"]) == [2, 3]
    got = tracking.get_run(run.info.run_id)
    assert [o.model_id for o in got.outputs.model_outputs] == [info.model_id]


def test_sklearn_model_with_input_example_and_search(tracking):
    experiment_id = mlflow.set_experiment("sklearn").experiment_id
    X, y = _data()
    clf = LogisticRegression().fit(X, y)
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        info = mlflow.sklearn.log_model(clf, name="clf", input_example=X.head(2))
        mlflow.log_metric("accuracy", 0.9, model_id=info.model_id)
    loaded = mlflow.sklearn.load_model(f"models:/{info.model_id}")
    assert list(loaded.predict(X)) == list(clf.predict(X))
    assert mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/clf").predict(X).tolist() == list(
        clf.predict(X)
    )
    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string="metrics.accuracy > 0.5 AND name = 'clf'",
        output_format="list",
    )
    assert [m.model_id for m in found] == [info.model_id]
    assert found[0].params["C"] == "1.0"
    assert found[0].metrics[0].key == "accuracy"
    assert (
        mlflow.search_logged_models(
            experiment_ids=[experiment_id],
            filter_string="metrics.accuracy > 0.95",
            output_format="list",
        )
        == []
    )
    model = tracking.get_logged_model(info.model_id)
    assert model.source_run_id == run.info.run_id
    assert {m.key: m.value for m in model.metrics} == {"accuracy": 0.9}


def test_sklearn_autolog_logs_params_metrics_and_the_model(tracking):
    mlflow.set_experiment("autolog")
    mlflow.sklearn.autolog()
    try:
        X, y = _data()
        with mlflow.start_run() as run:
            LogisticRegression(C=0.5).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    got = tracking.get_run(run.info.run_id)
    assert got.data.params["C"] == "0.5"
    assert "training_accuracy_score" in got.data.metrics
    models = LoggedModel.objects.filter(source_run__run_id=run.info.run_id)
    assert models.count() == 1
    assert models[0].status == LoggedModelStatus.READY
    # autolog logs the training set as an input of the run.
    assert RunInput.objects.filter(run__run_id=run.info.run_id).exists()


def test_log_input_shows_in_run_inputs_and_filters(tracking):
    experiment_id = mlflow.set_experiment("datasets").experiment_id
    X, _ = _data()
    dataset = mlflow.data.from_pandas(X, name="iris-ish")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
        mlflow.log_input(dataset, context="training")
    got = tracking.get_run(run.info.run_id)
    [dataset_input] = got.inputs.dataset_inputs
    assert dataset_input.dataset.name == "iris-ish"
    assert dataset_input.dataset.digest == dataset.digest
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "training"}
    assert Dataset.objects.filter(name="iris-ish").count() == 1
    [searched] = mlflow.search_runs(experiment_ids=[experiment_id], output_format="list")
    assert searched.inputs.dataset_inputs[0].dataset.digest == dataset.digest


def test_download_artifacts_of_the_whole_run_with_a_dot(tracking, tmp_path):
    mlflow.set_experiment("dot")
    (tmp_path / "a.txt").write_text("a")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "a.txt"), artifact_path="sub")
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path=".", dst_path=str(tmp_path / "dl")
    )
    assert (tmp_path / "dl" / "sub" / "a.txt").read_text() == "a"
    assert local


def test_read_token_cannot_create_a_model_and_other_projects_cannot_see_it(
    tracking, live_server, monkeypatch, alice, project, charlie_token
):
    experiment_id = mlflow.set_experiment("guarded").experiment_id
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="adder", python_model=AddOne())
    _, read_raw = make_token(user=alice, project=project, scope=TokenScope.READ)
    use_token(monkeypatch, live_server, read_raw)
    assert MlflowClient().get_logged_model(info.model_id).name == "adder"
    with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
        MlflowClient().create_logged_model(experiment_id=experiment_id, name="nope")
    use_token(monkeypatch, live_server, charlie_token[1])
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        MlflowClient().get_logged_model(info.model_id)

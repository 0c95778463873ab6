"""The model registry with MLflow's own client 3.17.2 against a live server: register, version,
alias, load by version and alias (files through the artifact proxy), search, and the limits
of a token."""

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from accounts.models import Role, TokenScope
from registry.models import ModelVersion, RegisteredModel
from tests.e2e.test_mlflow_client import use_token
from tests.factories import make_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tracking(live_server, monkeypatch, alice_token):
    _, raw = alice_token
    use_token(monkeypatch, live_server, raw)
    yield MlflowClient()
    while mlflow.active_run():
        mlflow.end_run()


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input + self.n


FRAME = pd.DataFrame({"x": [1, 2]})


def test_register_alias_load_search_and_a_token_cannot_delete(
    tracking, live_server, monkeypatch, project, alice
):
    mlflow.set_experiment("registry")
    with mlflow.start_run() as run:
        first = mlflow.pyfunc.log_model(name="adder", python_model=AddN(1))
    registered = mlflow.register_model(f"models:/{first.model_id}", "adder")
    assert registered.version == "1"
    assert registered.run_id == run.info.run_id

    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="adder", python_model=AddN(10), registered_model_name="adder")
    version2 = tracking.get_model_version("adder", "2")
    assert version2.source.startswith("models:/")

    tracking.set_registered_model_alias("adder", "champion", "1")
    assert tracking.get_model_version_by_alias("adder", "champion").version == "1"

    by_version = mlflow.pyfunc.load_model("models:/adder/2")
    assert list(by_version.predict(FRAME)["x"]) == [11, 12]
    by_alias = mlflow.pyfunc.load_model("models:/adder@champion")
    assert list(by_alias.predict(FRAME)["x"]) == [2, 3]

    found = tracking.search_registered_models(filter_string="name LIKE 'add%'")
    assert [m.name for m in found] == ["adder"]
    assert found[0].aliases == {"champion": "1"}
    versions = tracking.search_model_versions("name = 'adder'")
    assert sorted(v.version for v in versions) == ["1", "2"]

    # A write token is capped below manager: deleting is refused, nothing changes.
    with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
        tracking.delete_model_version("adder", "2")
    with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
        tracking.delete_registered_model("adder")
    assert ModelVersion.objects.count() == 2


def test_another_projects_token_cannot_see_or_load_the_model(
    tracking, live_server, monkeypatch, charlie, other_project
):
    mlflow.set_experiment("registry")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="adder", python_model=AddN(1))
    mlflow.register_model(f"models:/{info.model_id}", "adder")
    tracking.set_registered_model_alias("adder", "champion", "1")

    _, charlie_raw = make_token(user=charlie, project=other_project, scope=TokenScope.WRITE)
    use_token(monkeypatch, live_server, charlie_raw)
    theirs = MlflowClient()
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        theirs.get_registered_model("adder")
    with pytest.raises(MlflowException):
        mlflow.pyfunc.load_model("models:/adder@champion")
    assert theirs.search_registered_models() == []


def _register_two_versions() -> None:
    mlflow.set_experiment("registry")
    for n in (1, 2):
        with mlflow.start_run():
            mlflow.pyfunc.log_model(
                name="adder", python_model=AddN(n), registered_model_name="adder"
            )


def test_a_managers_manage_token_deletes_a_version_and_the_model(
    tracking, live_server, monkeypatch, alice, project
):
    _register_two_versions()
    _, manage_raw = make_token(user=alice, project=project, scope=TokenScope.MANAGE)
    use_token(monkeypatch, live_server, manage_raw)
    client = MlflowClient()

    client.delete_model_version("adder", "2")
    assert [v.version for v in client.search_model_versions("name = 'adder'")] == ["1"]
    client.delete_registered_model("adder")
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_registered_model("adder")
    assert not RegisteredModel.objects.exists()
    assert not ModelVersion.objects.exists()


def test_an_editors_manage_token_cannot_delete(tracking, live_server, monkeypatch, bob, project):
    _register_two_versions()
    # Made while bob managed the project; he is an editor now, so the token is one too.
    project.memberships.filter(user=bob).update(role=Role.EDITOR)
    _, manage_raw = make_token(user=bob, project=project, scope=TokenScope.MANAGE)
    use_token(monkeypatch, live_server, manage_raw)
    client = MlflowClient()

    with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
        client.delete_model_version("adder", "1")
    with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
        client.delete_registered_model("adder")
    assert ModelVersion.objects.count() == 2


def test_another_projects_manage_token_finds_nothing_to_delete(
    tracking, live_server, monkeypatch, charlie, other_project
):
    _register_two_versions()
    _, charlie_raw = make_token(user=charlie, project=other_project, scope=TokenScope.MANAGE)
    use_token(monkeypatch, live_server, charlie_raw)
    client = MlflowClient()

    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.delete_model_version("adder", "1")
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.delete_registered_model("adder")
    assert ModelVersion.objects.count() == 2

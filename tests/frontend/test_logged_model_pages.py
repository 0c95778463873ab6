"""Pages of MLflow 3's models and datasets: the run overview lists them, a model has its page
with how to load it, an experiment lists its models; charlie gets 404."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from accounts.access import Actor
from tests.factories import ExperimentFactory, RunFactory
from tracking.artifacts import artifact_storage
from tracking.services.datasets import DatasetIn, run_log_inputs
from tracking.services.logged_models import (
    ModelMetricIn,
    logged_model_create,
    logged_model_metrics_record,
)

pytestmark = pytest.mark.django_db

MLMODEL = b"""artifact_path: m
flavors:
  python_function:
    loader_module: mlflow.sklearn
  sklearn:
    sklearn_version: 1.5.0
model_id: x
"""


@pytest.fixture
def storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    return artifact_storage()


@pytest.fixture
def run(project, alice):
    return RunFactory(experiment=ExperimentFactory(project=project, name="exp"), user=alice)


@pytest.fixture
def model(run, alice, storage):
    model = logged_model_create(
        actor=Actor(user=alice),
        experiment=run.experiment,
        name="clf",
        source_run=run,
        params={"C": "1.0"},
        tags={"team": "rl"},
    )
    logged_model_metrics_record(
        run=run,
        metrics=[ModelMetricIn(model.model_id, "accuracy", 0.93, 1, 0, "iris", "abc")],
    )
    storage.save(f"{model.artifact_root}/MLmodel", ContentFile(MLMODEL))
    storage.save(f"{model.artifact_root}/model.pkl", ContentFile(b"\x80binary"))
    return model


def model_url(project, model, **query) -> str:
    url = reverse("model", kwargs={"slug": project.slug, "model_id": model.model_id})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_run_overview_lists_models_and_datasets(client, alice, project, run, model):
    run_log_inputs(
        run=run,
        datasets=[
            DatasetIn(
                name="iris",
                digest="abc",
                source_type="local",
                source="{}",
                schema='{"mlflow_colspec": []}',
                tags={"mlflow.data.context": "training"},
            )
        ],
    )
    client.force_login(alice)
    page = client.get(reverse("run", kwargs={"slug": project.slug, "run_id": run.run_id}))
    html = page.content.decode()
    assert page.status_code == 200
    assert model_url(project, model) in html
    assert "<code>python_function</code>, <code>sklearn</code>" in html
    assert "iris" in html and "abc" in html and "training" in html
    assert "mlflow_colspec" in html  # the schema, behind <details>


def test_model_page_shows_everything_and_the_load_line(client, alice, project, model, run):
    client.force_login(alice)
    page = client.get(model_url(project, model))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"mlflow.pyfunc.load_model(&quot;models:/{model.model_id}&quot;)" in html
    assert f"runs:/{run.run_id}/clf" in html
    assert "C</td>" in html and "1.0" in html and "team" in html
    assert "accuracy" in html and "0.93" in html and "iris" in html
    assert "sklearn_version" in html  # MLmodel is previewed
    assert "<script>" not in html  # no inline scripts: a CSP is coming
    pkl = client.get(model_url(project, model, path="model.pkl"))
    assert "No preview" in pkl.content.decode()
    download = reverse(
        "model_file_download", kwargs={"slug": project.slug, "model_id": model.model_id}
    )
    got = client.get(download + "?path=model.pkl")
    assert b"".join(got.streaming_content) == b"\x80binary"
    assert got["Content-Disposition"].startswith("attachment")
    assert client.get(download + "?path=../x").status_code == 400
    assert client.get(download + "?path=nope").status_code == 404


def test_experiment_lists_its_models(client, alice, project, model, run):
    client.force_login(alice)
    url = reverse(
        "experiment_models", kwargs={"slug": project.slug, "experiment_id": run.experiment_id}
    )
    page = client.get(url)
    assert page.status_code == 200
    assert model_url(project, model) in page.content.decode()
    experiment_page = client.get(
        reverse("experiment", kwargs={"slug": project.slug, "experiment_id": run.experiment_id})
    )
    assert url in experiment_page.content.decode()


def test_bob_views_the_model_pages(client, bob, project, model):
    client.force_login(bob)
    assert client.get(model_url(project, model)).status_code == 200


def test_charlie_gets_404_everywhere(client, charlie, other_project, project, model, run):
    client.force_login(charlie)
    for url in [
        model_url(project, model),
        reverse("model_file_download", kwargs={"slug": project.slug, "model_id": model.model_id})
        + "?path=MLmodel",
        reverse(
            "experiment_models",
            kwargs={"slug": project.slug, "experiment_id": run.experiment_id},
        ),
        # Under his own project's slug too: the model is not in it.
        reverse("model", kwargs={"slug": other_project.slug, "model_id": model.model_id}),
    ]:
        assert client.get(url).status_code == 404, url


def test_a_deleted_model_has_no_page(client, alice, project, model):
    from tracking.services.logged_models import logged_model_delete

    logged_model_delete(model=model)
    client.force_login(alice)
    assert client.get(model_url(project, model)).status_code == 404

"""Services and the model filter grammar underneath MLflow 3's endpoints."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.access import Actor
from tests.factories import ExperimentFactory, RunFactory
from tracking.errors import InvalidInput
from tracking.model_search import parse_model_filter
from tracking.models import Dataset, Lifecycle, LoggedModel, LoggedModelMetric, RunInput
from tracking.search import SearchError
from tracking.selectors.datasets import run_dataset_inputs
from tracking.services.datasets import DatasetIn, run_log_inputs
from tracking.services.experiments import experiment_delete, experiment_purge
from tracking.services.logged_models import (
    ModelMetricIn,
    logged_model_create,
    logged_model_metrics_record,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(project, alice):
    return RunFactory(experiment=ExperimentFactory(project=project), user=alice)


def test_the_filter_grammar_reads_mlflows_examples():
    parsed = parse_model_filter(
        "metrics.accuracy > 0.9 AND params.`learning rate` = '0.01' and name LIKE 'clf%' "
        "AND tags.team IN ('rl', 'cv') AND creation_time >= 1 AND model_type != \"x\""
    )
    assert [(c.kind, c.key, c.op, c.value) for c in parsed] == [
        ("metrics", "accuracy", ">", 0.9),
        ("params", "learning rate", "=", "0.01"),
        ("attributes", "name", "LIKE", "clf%"),
        ("tags", "team", "IN", ("rl", "cv")),
        ("attributes", "creation_time", ">=", 1.0),
        ("attributes", "model_type", "!=", "x"),
    ]
    assert parse_model_filter("") == parse_model_filter(None) == []


@pytest.mark.parametrize(
    "text",
    [
        "metrics.acc",
        "metrics.acc >",
        "metrics.acc LIKE 'x'",
        "name = 'a' AND",
        "name = 'a' name = 'b'",
        "tags.x IN 'a'",
        "tags.x IN (1, 2)",
        "bogus.x = 'a'",
        "name ~ 'a'",
        "'a' = name",
    ],
)
def test_the_filter_grammar_refuses_what_mlflow_refuses(text):
    with pytest.raises(SearchError):
        parse_model_filter(text)


def test_a_model_in_a_deleted_experiment_cannot_be_created(run, alice):
    experiment_delete(actor=Actor(alice), experiment=run.experiment)
    run.experiment.refresh_from_db()
    with pytest.raises(InvalidInput):
        logged_model_create(actor=Actor(alice), experiment=run.experiment, name="m")
    assert not LoggedModel.objects.exists()


def test_purging_an_experiment_removes_its_models_and_datasets(run, alice):
    model = logged_model_create(actor=Actor(alice), experiment=run.experiment, source_run=run)
    logged_model_metrics_record(run=run, metrics=[ModelMetricIn(model.model_id, "a", 1.0, 1, 0)])
    run_log_inputs(run=run, datasets=[DatasetIn("d", "1", "local", "s")])
    experiment_delete(actor=Actor(alice), experiment=run.experiment)
    run.experiment.refresh_from_db()
    experiment_purge(actor=Actor(alice), experiment=run.experiment)
    assert not LoggedModel.objects.exists()
    assert not LoggedModelMetric.objects.exists()
    assert not Dataset.objects.exists() and not RunInput.objects.exists()


def test_inputs_of_a_deleted_run_are_refused(run, alice):
    run.lifecycle = Lifecycle.DELETED
    run.save()
    with pytest.raises(InvalidInput):
        run_log_inputs(run=run, datasets=[DatasetIn("d", "1", "local", "s")])
    assert not Dataset.objects.exists()


def test_run_inputs_of_a_page_take_one_query(project, alice):
    experiment = ExperimentFactory(project=project)
    runs = [RunFactory(experiment=experiment, user=alice) for _ in range(5)]
    for r in runs:
        run_log_inputs(run=r, datasets=[DatasetIn("d", "1", "local", "s")])
    with CaptureQueriesContext(connection) as queries:
        inputs = run_dataset_inputs(run_pks=[r.pk for r in runs])
    assert len(queries) == 1
    assert all(len(rows) == 1 for rows in inputs.values())

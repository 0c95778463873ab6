"""CompiledRead: an ORM query compiled once gives the rows the queryset gives, for any values."""

import math

import pytest

from mlplatform.db.compiled import CompiledRead
from tests.factories import RunFactory
from tracking.batch import MetricIn
from tracking.models import Metric, Run
from tracking.selectors.metrics import metric_history_rows
from tracking.services.ingest import run_log_batch
from tracking.store import RunRef

pytestmark = pytest.mark.django_db


def points(run_id: str, project_id: int, key: str):
    return (
        Metric.objects.filter(
            run__run_id=run_id, run__experiment__project_id=project_id, key=key, is_nan__in=[0, 1]
        )
        .order_by("step", "timestamp")
        .values_list("step", "value", "is_nan")
    )


def test_the_compiled_query_gives_the_querysets_rows_for_any_values(default_experiment, project):
    runs = [RunFactory(experiment=default_experiment) for _ in range(2)]
    for i, run in enumerate(runs):
        values = [1.0 + i, math.nan, 3.0]
        run_log_batch(run=run, metrics=[MetricIn("loss", v, 10, s) for s, v in enumerate(values)])
    read = CompiledRead(points, run_id="sample-run", project_id=-1, key="sample-key")

    for run_id, project_id, key in (
        (runs[0].run_id, project.pk, "loss"),
        (runs[1].run_id, project.pk, "loss"),
        (runs[1].run_id, project.pk + 1, "loss"),  # another project: nothing
        (runs[0].run_id, project.pk, "acc"),
    ):
        expected = list(points(run_id, project.pk if project_id == project.pk else -9, key))
        rows = read.rows(run_id=run_id, project_id=project_id, key=key)
        assert rows == expected
    rows = read.rows(run_id=runs[1].run_id, project_id=project.pk, key="loss")
    # Converted as the ORM converts: a boolean on SQLite too, where the column is an integer.
    assert [type(row[2]) for row in rows] == [bool, bool, bool] and rows[1][2] is True


def test_samples_must_be_distinct_and_be_parameters():
    with pytest.raises(ValueError, match="distinct"):
        CompiledRead(points, run_id="x", project_id=1, key="x")
    with pytest.raises(ValueError, match="distinct"):
        CompiledRead(points, run_id=1.5, project_id=1, key="x")
    ignoring = CompiledRead(
        lambda run_id, key: Run.objects.filter(run_id=run_id).values_list("pk"),
        run_id="sample-run",
        key="sample-key",
    )
    with pytest.raises(ValueError, match="key"):
        ignoring.rows(run_id="a", key="b")


def test_a_tokens_first_history_page_is_the_runs_history(default_experiment, project):
    run = RunFactory(experiment=default_experiment)
    values = [0.5, math.nan, 0.25, 0.125]
    run_log_batch(run=run, metrics=[MetricIn("loss", v, 7, s) for s, v in enumerate(values)])
    ref = RunRef.in_project(run.run_id, project.pk)

    for limit in (None, 1, 3, 4, 5):
        by_ref = metric_history_rows(run=ref, key="loss", max_results=limit)
        assert by_ref == metric_history_rows(run=run, key="loss", max_results=limit)
    elsewhere = RunRef.in_project(run.run_id, project.pk + 1)
    assert metric_history_rows(run=elsewhere, key="loss") == ([], None)

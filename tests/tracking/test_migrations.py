"""Data steps of migrations, run for real between the two states they join."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_SEQ = ("tracking", "0005_search_covering_indexes")
AFTER_SEQ = ("tracking", "0006_metric_point_seq")


def _migrate(target=None):
    """Migrate to `target` (app, migration), or to the latest state; returns that state's apps."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = [target] if target else executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def at_0005():
    """The database as it was before points had a seq; put back to the latest state after."""
    apps = _migrate(BEFORE_SEQ)
    try:
        yield apps
    finally:
        _migrate()


@pytest.mark.django_db(transaction=True)
def test_0006_drops_only_summaries_that_were_stale(at_0005):
    Project = at_0005.get_model("accounts", "Project")
    Experiment = at_0005.get_model("tracking", "Experiment")
    Run = at_0005.get_model("tracking", "Run")
    Metric = at_0005.get_model("tracking", "Metric")
    LatestMetric = at_0005.get_model("tracking", "LatestMetric")
    MetricSummary = at_0005.get_model("tracking", "MetricSummary")

    project = Project.objects.create(slug="mig", name="Migration")
    experiment = Experiment.objects.create(project=project, name="e")
    run = Run.objects.create(experiment=experiment, run_id="a" * 32, metric_seq=2)
    other = Run.objects.create(experiment=experiment, run_id="b" * 32, metric_seq=1)
    for target, key, step, seq in [
        (run, "fresh", 0, 1),
        (run, "stale", 0, 1),
        (run, "stale", 1, 2),
        (other, "stale", 0, 1),
    ]:
        Metric.objects.create(run=target, key=key, step=step, timestamp=1, value=1.0)
        LatestMetric.objects.update_or_create(
            run=target, key=key, defaults={"value": 1.0, "step": step, "timestamp": 1, "seq": seq}
        )
    # "stale" on the first run was summarized at seq 1 and written again at seq 2; the same key
    # on the other run, and "fresh", are covered.
    for target, key in [(run, "fresh"), (run, "stale"), (other, "stale")]:
        MetricSummary.objects.create(run=target, key=key, count=1, seq=1)

    apps = _migrate(AFTER_SEQ)

    summaries = apps.get_model("tracking", "MetricSummary").objects
    assert sorted(summaries.values_list("run__run_id", "key")) == [
        ("a" * 32, "fresh"),
        ("b" * 32, "stale"),
    ]
    # Points stored before the migration take the column's default.
    assert set(apps.get_model("tracking", "Metric").objects.values_list("seq", flat=True)) == {0}


@pytest.mark.django_db(transaction=True)
def test_0006_reverses_to_0005(at_0005):
    _migrate(AFTER_SEQ)
    apps = _migrate(BEFORE_SEQ)

    fields = {field.name for field in apps.get_model("tracking", "Metric")._meta.get_fields()}
    assert "seq" not in fields
    with connection.cursor() as cursor:
        columns = {
            column.name
            for column in connection.introspection.get_table_description(cursor, "tracking_metric")
        }
    assert "seq" not in columns

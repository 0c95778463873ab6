"""The database itself refuses what the domain forbids, whichever code path writes."""

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Membership, Project, Role
from tests.factories import ExperimentFactory, ParamFactory, RunFactory, make_token
from tracking.models import (
    DEFAULT_EXPERIMENT_NAME,
    Experiment,
    ExperimentTag,
    LatestMetric,
    Metric,
    MetricSummary,
    Run,
    RunTag,
)
from tracking.services.projects import project_create

pytestmark = pytest.mark.django_db


def rejected(create) -> bool:
    """Whether the database raises IntegrityError for the write (and nothing is left of it)."""
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


@pytest.fixture
def run(default_experiment):
    return RunFactory(experiment=default_experiment)


def point(run, **fields) -> Metric:
    values = {"key": "loss", "step": 3, "timestamp": 1_700_000_000_000, "value": 0.5}
    return Metric(run=run, **(values | fields))


def test_experiment_names_are_unique_within_a_project(project, other_project):
    ExperimentFactory(project=project, name="sweep")

    assert rejected(lambda: Experiment.objects.create(project=project, name="sweep"))
    Experiment.objects.create(project=other_project, name="sweep")
    assert Experiment.objects.filter(name="sweep").count() == 2


def test_a_run_has_one_value_per_param_key(run):
    ParamFactory(run=run, key="lr", value="0.1")

    assert rejected(lambda: ParamFactory(run=run, key="lr", value="0.2"))
    ParamFactory(run=RunFactory(experiment=run.experiment), key="lr", value="0.2")


def test_a_run_has_one_value_per_tag_key(run):
    RunTag.objects.create(run=run, key="team", value="rl")

    assert rejected(lambda: RunTag.objects.create(run=run, key="team", value="cv"))


def test_an_experiment_has_one_value_per_tag_key(default_experiment):
    ExperimentTag.objects.create(experiment=default_experiment, key="team", value="rl")

    assert rejected(
        lambda: ExperimentTag.objects.create(experiment=default_experiment, key="team", value="cv")
    )


def test_an_exact_duplicate_point_is_stored_once(run):
    Metric.objects.bulk_create([point(run)], ignore_conflicts=True)
    Metric.objects.bulk_create([point(run), point(run)], ignore_conflicts=True)

    assert Metric.objects.filter(run=run).count() == 1
    # The point is its own primary key: a plain save() would update it in place.
    assert rejected(lambda: point(run).save(force_insert=True))


def test_a_point_differing_only_in_value_is_a_new_point(run):
    Metric.objects.bulk_create([point(run), point(run, value=0.6)], ignore_conflicts=True)

    assert sorted(Metric.objects.filter(run=run).values_list("value", flat=True)) == [0.5, 0.6]


def test_a_nan_point_is_deduplicated_too(run):
    nan = point(run, value=0.0, is_nan=True)
    Metric.objects.bulk_create([nan], ignore_conflicts=True)
    Metric.objects.bulk_create([point(run, value=0.0, is_nan=True)], ignore_conflicts=True)

    assert Metric.objects.filter(run=run, is_nan=True).count() == 1
    # A real 0.0 at the same step and time is a different point from NaN.
    Metric.objects.bulk_create([point(run, value=0.0)], ignore_conflicts=True)
    assert Metric.objects.filter(run=run).count() == 2


def test_a_run_has_one_latest_value_and_one_summary_per_key(run):
    LatestMetric.objects.create(run=run, key="loss", value=1.0, step=1, timestamp=1)
    MetricSummary.objects.create(run=run, key="loss", count=1)

    assert rejected(
        lambda: LatestMetric.objects.create(run=run, key="loss", value=2.0, step=2, timestamp=2)
    )
    assert rejected(lambda: MetricSummary.objects.create(run=run, key="loss", count=2))
    LatestMetric.objects.create(run=run, key="acc", value=2.0, step=2, timestamp=2)


def test_a_user_has_one_membership_per_project(project, bob):
    assert rejected(lambda: Membership.objects.create(project=project, user=bob, role=Role.EDITOR))


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (Membership, "role", "owner"),
        (Run, "status", "PAUSED"),
        (Run, "lifecycle", "archived"),
        (Experiment, "lifecycle", "archived"),
    ],
)
def test_check_constraints_reject_unknown_values(project, run, model, field, value):
    row = {Membership: project.memberships.first(), Run: run, Experiment: run.experiment}[model]

    assert rejected(lambda: model.objects.filter(pk=row.pk).update(**{field: value}))
    row.refresh_from_db()
    assert getattr(row, field) != value


def test_token_scope_is_read_or_write(alice, project):
    token, _raw = make_token(user=alice, project=project)

    assert rejected(lambda: type(token).objects.filter(pk=token.pk).update(scope="admin"))


def test_project_create_makes_one_default_experiment_and_its_creator_manager(alice, bob):
    project = project_create(slug="beta", name="Beta", owner=alice)

    assert list(project.experiments.values_list("name", flat=True)) == [DEFAULT_EXPERIMENT_NAME]
    assert list(project.memberships.values_list("user__username", "role")) == [
        ("alice", Role.MANAGER)
    ]
    assert rejected(
        lambda: Experiment.objects.create(project=project, name=DEFAULT_EXPERIMENT_NAME)
    )


def test_a_failed_project_create_leaves_nothing_behind(alice):
    project_create(slug="beta", name="Beta", owner=alice)
    with pytest.raises(ValueError, match="already exists"):
        project_create(slug="beta", name="Beta again", owner=alice)

    assert Project.objects.filter(slug="beta").count() == 1
    assert Experiment.objects.filter(project__slug="beta").count() == 1


def indexed_columns(model) -> list[list[str]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    # A primary key is always indexed, though SQLite's introspection reports it as neither.
    return [c["columns"] for c in found.values() if c["index"] or c["unique"] or c["primary_key"]]


def test_metric_history_of_one_key_in_step_order_is_indexed():
    assert any(cols[:3] == ["run_id", "key", "step"] for cols in indexed_columns(Metric))


def test_runs_of_an_experiment_by_start_time_are_indexed():
    # run_id too: the default order's tie-break, so a page needs no sort.
    assert ["experiment_id", "start_time", "run_id"] in indexed_columns(Run)


def test_latest_metrics_by_key_and_value_are_indexed():
    assert ["key", "value"] in indexed_columns(LatestMetric)

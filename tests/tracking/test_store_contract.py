"""The store's contract: its PostgreSQL implementation (one statement per write) and its
portable one (the ORM) write the same rows and refuse the same batches, for any input.

Both run here on PostgreSQL, where both can run; CI runs this file on PostgreSQL for real.
Each property drives the two implementations side by side, on a run of their own.
"""

from __future__ import annotations

from functools import partial

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from accounts.models import User
from tests.factories import ExperimentFactory, ProjectFactory, RunFactory
from tracking.batch import MetricColumns, ParamIn, TagIn
from tracking.errors import InvalidInput
from tracking.models import Experiment, LatestMetric, Lifecycle, Metric, Param, Run, RunTag
from tracking.store import RunRef, portable, postgresql

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="both implementations run on PostgreSQL only"
    ),
]

IMPLEMENTATIONS = {"portable": portable, "postgresql": postgresql}

point = st.tuples(
    st.sampled_from(["a", "b", "c d"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3),
    st.integers(0, 3),
)
batch = st.tuples(
    st.lists(point, max_size=12),
    st.dictionaries(st.sampled_from(["p", "q"]), st.sampled_from(["1", "2"])),
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "mlflow.runName"]), st.sampled_from(["x", "y"])),
        max_size=4,
    ),
)


def columns(points) -> MetricColumns:
    return MetricColumns(
        keys=[p[0] for p in points],
        values=[p[1] for p in points],
        timestamps=[p[2] for p in points],
        steps=[p[3] for p in points],
    )


def rows(run: Run) -> tuple:
    """Everything a batch can write to a run, without the run's own ids."""
    run = Run.objects.get(pk=run.pk)
    return (
        sorted(
            Metric.objects.filter(run=run).values_list(
                "key", "step", "timestamp", "value", "is_nan", "seq"
            )
        ),
        sorted(
            LatestMetric.objects.filter(run=run).values_list(
                "key", "step", "timestamp", "value", "is_nan", "seq"
            )
        ),
        sorted(Param.objects.filter(run=run).values_list("key", "value")),
        sorted(RunTag.objects.filter(run=run).values_list("key", "value")),
        run.name,
        run.metric_seq,
        run.status,
        run.end_time,
    )


def outcome(write, run: Run) -> tuple:
    """What a write answered, in terms that do not depend on which run it went to."""
    try:
        written = write()
    except InvalidInput as error:
        return ("refused", str(error).replace(run.run_id, "<run>"), error.field)
    if written is None:
        return ("no run",)
    if isinstance(written, Run):
        return ("finished", written.status, written.end_time, written.user_id)
    assert written.run_pk == run.pk
    return ("written", written.seq)


def twin_runs(**fields) -> dict[str, Run]:
    experiment = ExperimentFactory()
    return {
        name: RunFactory(experiment=experiment, name="start", **fields) for name in IMPLEMENTATIONS
    }


class TestLogBatch(HypothesisTestCase):
    @settings(max_examples=40, deadline=None)
    @given(st.lists(batch, min_size=1, max_size=4))
    def test_any_batches_write_the_same_rows_and_refuse_alike(self, batches):
        runs = twin_runs()
        for points, params, tags in batches:
            arguments = {
                "metrics": columns(points),
                "params": [ParamIn(k, v) for k, v in params.items()],
                "tags": [TagIn(k, v) for k, v in tags],
            }
            answers = {
                name: outcome(
                    partial(impl.log_batch, run=RunRef(pk=runs[name].pk), **arguments), runs[name]
                )
                for name, impl in IMPLEMENTATIONS.items()
            }
            assert answers["portable"] == answers["postgresql"]
        assert rows(runs["portable"]) == rows(runs["postgresql"])

    @settings(max_examples=10, deadline=None)
    @given(batch)
    def test_a_run_of_another_project_or_a_deleted_run_gets_nothing(self, one_batch):
        points, params, tags = one_batch
        runs = twin_runs()
        deleted = twin_runs(lifecycle=Lifecycle.DELETED)
        elsewhere = ProjectFactory()
        for name, impl in IMPLEMENTATIONS.items():
            for ref in [
                RunRef.in_project(runs[name].run_id, elsewhere.pk),
                RunRef.in_project(deleted[name].run_id, deleted[name].experiment.project_id),
                RunRef(pk=deleted[name].pk),
            ]:
                written = impl.log_batch(
                    run=ref,
                    metrics=columns(points),
                    params=[ParamIn(k, v) for k, v in params.items()],
                    tags=[TagIn(k, v) for k, v in tags],
                )
                assert written is None, name
        for group in (runs, deleted):
            assert rows(group["portable"]) == rows(group["postgresql"])
            assert not Metric.objects.filter(run__in=group.values()).exists()


class TestCreateRun(HypothesisTestCase):
    @settings(max_examples=20, deadline=None)
    @given(
        name=st.sampled_from(["trial", "a b", "ünï"]),
        start_time=st.integers(0, 2**62),
        tags=st.dictionaries(st.sampled_from(["mlflow.runName", "x", "y"]), st.just("v")),
        lifecycle=st.sampled_from(Lifecycle.values),
        same_project=st.booleans(),
    )
    def test_the_same_run_and_tags_or_nothing(
        self, name, start_time, tags, lifecycle, same_project
    ):
        experiment = ExperimentFactory(lifecycle=lifecycle)
        user = User.objects.create_user(f"u{User.objects.count()}")
        project_id = experiment.project_id if same_project else ProjectFactory().pk
        created = {}
        for impl_name, impl in IMPLEMENTATIONS.items():
            run = Run(experiment=experiment, name=name, start_time=start_time, user=user)
            created[impl_name] = (impl.create_run(run=run, tags=tags, project_id=project_id), run)
        (made, portable_run), (also_made, pg_run) = created.values()
        assert made == also_made == (same_project and lifecycle == Lifecycle.ACTIVE)
        if not made:
            assert not Run.objects.exists()
            return
        for run in (portable_run, pg_run):
            assert not run._state.adding and run.pk is not None
        fields = [
            field.attname
            for field in Run._meta.concrete_fields
            if field.attname not in ("id", "run_id")
        ]
        stored = [Run.objects.values(*fields).get(pk=run.pk) for run in (portable_run, pg_run)]
        assert stored[0] == stored[1]
        assert rows(portable_run) == rows(pg_run)
        assert dict(RunTag.objects.filter(run=pg_run).values_list("key", "value")) == tags


class TestFinishRun(HypothesisTestCase):
    @settings(max_examples=20, deadline=None)
    @given(
        status=st.sampled_from([None, "FINISHED", "FAILED", "KILLED"]),
        end_time=st.one_of(st.none(), st.integers(0, 2**62)),
        lifecycle=st.sampled_from(Lifecycle.values),
        by_pk=st.booleans(),
    )
    def test_the_same_fields_and_answer(self, status, end_time, lifecycle, by_pk):
        user = User.objects.create_user(f"u{User.objects.count()}")
        runs = twin_runs(lifecycle=lifecycle, user=user)
        answers = {}
        for name, impl in IMPLEMENTATIONS.items():
            run = runs[name]
            ref = (
                RunRef(pk=run.pk)
                if by_pk
                else RunRef.in_project(run.run_id, run.experiment.project_id)
            )
            answers[name] = outcome(
                lambda impl=impl, ref=ref: impl.finish_run(
                    run=ref, status=status, end_time=end_time
                ),
                run,
            )
        assert answers["portable"] == answers["postgresql"]
        assert rows(runs["portable"]) == rows(runs["postgresql"])


def test_the_postgresql_implementation_lists_every_column_of_the_models():
    """Its statements name columns from _meta: a new field of Run is written on create."""
    sql = postgresql._create_sql()
    for field in Run._meta.concrete_fields:
        if not field.primary_key:
            assert connection.ops.quote_name(field.column) in sql
    assert Experiment._meta.db_table in sql
